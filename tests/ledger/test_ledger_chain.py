"""The generation ledger on a real SQLite registry: appending, reading, and every way of
tampering with the file that the chain (or a kept head) must show."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from tests.ledger.ledgertools import T0, Attacker, h, hash_row, make_entry

from trustavatar.errors import CheckpointSignatureError, InputError, RegistryError
from trustavatar.keys import Keystore
from trustavatar.registry import (
    GENESIS_HASH,
    MIGRATIONS,
    LedgerEntry,
    Registry,
    append_generation,
    export_head,
    find_by_manifest,
    find_by_output,
    find_by_watermark,
    get_generation,
    list_generations,
    load_checkpoint,
    verify_ledger,
)

HASHED = ("created_at", "operator", "consent_id", "consent_artifact_sha256", "mode", "inputs",
          "output_path", "output_sha256", "manifest_label", "watermark_payload", "qa",
          "prev_hash")


def signing_now() -> dt.datetime:
    """A signing time inside the validity of the keys a test made: now, to the second. (A
    time taken once at import, when the tests are collected, came before keys made minutes
    later on a busy machine, which are not valid yet then.)"""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def kinds(report) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in report.problems]


# --- appending and reading ------------------------------------------------------------


def test_three_rows_chain_and_verify(registry, fill) -> None:
    rows = fill(3)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    report = verify_ledger(registry)
    assert report.ok and report.problems == () and report.rows == 3
    assert (report.head_seq, report.head_hash) == (3, rows[-1].row_hash)
    assert not report.tail_checked
    assert verify_ledger(registry).head_hash == report.head_hash  # stable
    assert verify_ledger(registry, expected_head=rows[-1].row_hash).ok
    assert verify_ledger(registry, expected_head=rows[0].row_hash).ok  # an older head: appends


def test_row_hash_is_sha256_of_jcs_of_the_stored_columns(registry, fill, attacker) -> None:
    rows = fill(2)
    for row in rows:
        stored = attacker.row(row.seq)
        assert stored["row_hash"] == hash_row(stored) == row.row_hash
        assert stored["inputs"] == json.dumps(dict(row.entry.inputs), separators=(",", ":"),
                                              sort_keys=True)
    # Golden value: the hash definition must not drift (it would break every ledger).
    assert rows[0].row_hash == "1e814f3d8c49fda1d8e31a13a48724d4dc0dd6a56844314e2fb1f642ea1ad21a"
    assert h("trustavatar.generation-ledger.v1") == GENESIS_HASH


def test_rows_read_back_equal_what_was_appended(registry, fill) -> None:
    rows = fill(3)
    assert list_generations(registry) == rows
    assert get_generation(registry, 2) == rows[1]
    assert get_generation(registry, 4) is None
    assert rows[0].created_at == T0 + dt.timedelta(minutes=1)
    assert rows[0].to_dict()["created_at"] == "2025-03-01T09:31:00Z"
    assert rows[0].to_dict()["qa"] == {"identity_distance": 0.31, "passed": True,
                                       "sync_offset_ms": 20}


def test_list_since_and_lookups(registry, fill) -> None:
    rows = fill(3)
    assert list_generations(registry, since=T0 + dt.timedelta(minutes=2)) == rows[1:]
    assert list_generations(registry, since=T0 + dt.timedelta(hours=1)) == []
    assert find_by_output(registry, h("output 2")) == [rows[1]]
    assert find_by_output(registry, h("output 2").upper()) == [rows[1]]
    assert find_by_manifest(registry, "urn:c2pa:00000003-test") == [rows[2]]
    assert find_by_watermark(registry, "0000000000000001") == [rows[0]]
    assert find_by_output(registry, h("nothing")) == []
    with pytest.raises(InputError, match="SHA-256"):
        find_by_output(registry, "abc")
    with pytest.raises(InputError, match="timezone-aware"):
        list_generations(registry, since=dt.datetime(2025, 1, 1))


def test_qa_is_canonical_json_and_reads_back_normalised(registry) -> None:
    row = append_generation(registry, make_entry(qa={"b": 1.0, "a": [1e21, -0.0], "c": None}),
                            at=T0)
    assert row.entry.qa_json == '{"a":[1e+21,0],"b":1,"c":null}'
    assert get_generation(registry, 1).entry.qa == {"a": [1e21, 0], "b": 1, "c": None}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("consent_artifact_sha256", "abc", "consent_artifact_sha256 must be a SHA-256"),
    ("output_sha256", h("x").upper(), "output_sha256 must be a SHA-256"),
    ("inputs", {"face": "nope"}, r"inputs\['face'\] must be a SHA-256"),
    ("inputs", {}, "inputs must be a non-empty mapping"),
    ("mode", "audio", "mode must be 'photo' or 'video'"),
    ("operator", "  ", "operator must be a non-empty string"),
    ("operator", "a\nb", "control characters"),
    ("watermark_payload", "xyz", "watermark_payload must be lowercase hex"),
    ("watermark_payload", "abc", "watermark_payload must be lowercase hex"),
    ("qa", {"x": math.nan}, "qa is not JSON-able"),
    ("qa", {"x": {1, 2}}, "qa is not JSON-able"),
    ("qa", [1, 2], "qa must be a mapping"),
])
def test_entry_validation(field, value, message) -> None:
    with pytest.raises(InputError, match=message):
        make_entry(**{field: value})


def test_an_operator_with_invisible_characters_is_not_appended_but_reads_back(
        registry) -> None:
    """The rule is for rows written from now on: a row written before it still reads."""
    with pytest.raises(InputError, match=r"operator must not contain invisible format "
                                         r"characters \(it holds U\+202E"):
        append_generation(registry, make_entry(operator="ad\u202emin"), at=T0)
    assert make_entry(operator="ad\u202emin").operator == "ad\u202emin"
    append_generation(registry, make_entry(operator="Mohammad\u200cReza"), at=T0)  # a joiner


def test_entry_accepts_path_and_no_watermark(tmp_path) -> None:
    entry = make_entry(output_path=tmp_path / "x.jpg", watermark_payload=None, mode="photo")
    assert entry.output_path == str(tmp_path / "x.jpg") and entry.watermark_payload is None


def test_append_needs_an_aware_time(registry) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        append_generation(registry, make_entry(), at=dt.datetime(2025, 1, 1))
    with pytest.raises(InputError, match="expected a LedgerEntry"):
        append_generation(registry, {"operator": "x"})  # type: ignore[arg-type]


def test_empty_ledger_verifies_with_zero_rows(registry, signing_key, trust) -> None:
    report = verify_ledger(registry)
    assert report.ok and report.rows == 0 and report.head_seq == 0
    assert report.head_hash == GENESIS_HASH
    checkpoint = export_head(registry, signing_key)
    assert load_checkpoint(checkpoint, trust=trust).seq == 0
    assert verify_ledger(registry, checkpoint=checkpoint, trust=trust,
                         expected_head=GENESIS_HASH).ok


def test_migration_2_applies_to_a_version_1_registry(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    Registry.open(path, migrations=MIGRATIONS[:1]).close()
    with Registry.open(path) as reg:
        assert reg.schema_version() == len(MIGRATIONS)
        assert append_generation(reg, make_entry(), at=T0).seq == 1


# --- the triggers: guards against accidents -------------------------------------------


def test_triggers_refuse_update_delete_and_out_of_sequence_inserts(registry, fill) -> None:
    rows = fill(2)
    with pytest.raises(RegistryError, match="rows cannot be updated"), \
            registry.transaction() as conn:
        conn.execute("UPDATE generation_ledger SET operator = 'someone else' WHERE seq = 1")
    with pytest.raises(RegistryError, match="rows cannot be deleted"), \
            registry.transaction() as conn:
        conn.execute("DELETE FROM generation_ledger WHERE seq = 2")
    stored = {k: v for k, v in rows[1].to_dict().items()}
    stored.update(inputs=rows[1].entry.inputs_json, qa=rows[1].entry.qa_json)
    for seq, prev in ((2, rows[1].prev_hash), (4, rows[1].row_hash), (3, h("other"))):
        values = {**stored, "seq": seq, "prev_hash": prev}
        with pytest.raises(RegistryError, match="next seq and head hash"), \
                registry.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO generation_ledger ({', '.join(values)})"
                f" VALUES ({', '.join('?' * len(values))})", tuple(values.values()))
    assert list_generations(registry) == rows
    assert verify_ledger(registry).ok


# --- tampering with the file ----------------------------------------------------------


@pytest.mark.parametrize("column", HASHED)
def test_editing_any_column_is_detected(registry, fill, attacker: Attacker, column) -> None:
    fill(3)
    value = attacker.row(2)[column]
    changed = {"mode": "photo", "inputs": json.dumps({"face": h("x")}),
               "qa": '{"passed":false}', "watermark_payload": None,
               "created_at": "2025-03-01T09:00:00Z"}.get(column, h("forged"))
    assert changed != value
    attacker.run(f"UPDATE generation_ledger SET {column} = ? WHERE seq = 2", (changed,))
    report = verify_ledger(registry)
    assert not report.ok
    assert kinds(report) == [(2, "edited")]
    assert report.problems[0].detail == "row 2 was edited after it was written"


def test_a_value_of_another_type_is_an_edit(registry, fill, attacker) -> None:
    fill(2)
    attacker.run("UPDATE generation_ledger SET operator = ? WHERE seq = 1", (b"\x00blob",))
    assert kinds(verify_ledger(registry)) == [(1, "edited")]
    with pytest.raises(RegistryError, match="ledger row 1 is damaged"):
        list_generations(registry)


def test_edit_with_the_row_hash_recomputed(registry, fill, attacker) -> None:
    fill(3)
    row = attacker.row(2)
    row["output_sha256"] = h("a different video")
    row["row_hash"] = hash_row(row)
    attacker.run("UPDATE generation_ledger SET output_sha256 = ?, row_hash = ? WHERE seq = 2",
                 (row["output_sha256"], row["row_hash"]))
    report = verify_ledger(registry)
    assert kinds(report) == [(2, "edited")]
    assert report.problems[0].detail.startswith("row 2 was edited after it was written")


def test_delete_a_middle_row(registry, fill, attacker) -> None:
    fill(4)
    attacker.run("DELETE FROM generation_ledger WHERE seq = 2")
    report = verify_ledger(registry)
    assert kinds(report) == [(2, "deleted")]
    assert report.problems[0].detail == "row 2 was deleted"


def test_delete_rows_and_renumber_the_rest(registry, fill, attacker) -> None:
    fill(5)
    attacker.run("DELETE FROM generation_ledger WHERE seq IN (2, 3)")
    attacker.move(4, 2)
    attacker.move(5, 3)
    report = verify_ledger(registry)
    assert kinds(report) == [(2, "deleted")]
    assert "rows 2 to 3 were deleted and the later rows renumbered" in report.problems[0].detail


def test_delete_the_first_row(registry, fill, attacker) -> None:
    fill(3)
    attacker.run("DELETE FROM generation_ledger WHERE seq = 1")
    assert kinds(verify_ledger(registry)) == [(1, "deleted")]


def test_swap_two_rows(registry, fill, attacker) -> None:
    fill(4)
    attacker.move(2, 1000)
    attacker.move(3, 2)
    attacker.move(1000, 3)
    report = verify_ledger(registry)
    assert kinds(report) == [(2, "reordered"), (3, "reordered")]
    assert report.problems[0].detail == (
        "row 2 holds the entry written as row 3: rows were reordered")


def test_swap_two_rows_data_but_not_their_hashes(registry, fill, attacker) -> None:
    fill(3)
    a, b = attacker.row(2), attacker.row(3)
    data = [c for c in HASHED if c != "prev_hash"]
    for row, other in ((2, b), (3, a)):
        attacker.run(f"UPDATE generation_ledger SET {', '.join(f'{c} = ?' for c in data)}"
                     f" WHERE seq = {row}", [other[c] for c in data])
    assert kinds(verify_ledger(registry)) == [(2, "edited"), (3, "edited")]


def _forge_after(attacker: Attacker, seq: int, *, rehash: bool) -> None:
    """Shift rows after ``seq`` up by one and insert a forged row as ``seq + 1``."""
    last = attacker.run("SELECT MAX(seq) FROM generation_ledger")[0][0]
    for s in range(last, seq, -1):
        attacker.move(s, s + 1)
    forged = attacker.row(seq)
    forged.update(seq=seq + 1, prev_hash=forged["row_hash"], output_sha256=h("forged video"),
                  output_path="/srv/out/forged.mp4", created_at="2025-03-01T09:32:30Z")
    forged["row_hash"] = hash_row(forged) if rehash else h("whatever")
    attacker.insert(forged)


@pytest.mark.parametrize("rehash", [True, False], ids=["hash-recomputed", "hash-wrong"])
def test_insert_a_forged_row_in_the_middle(registry, fill, attacker, rehash) -> None:
    fill(4)
    _forge_after(attacker, 2, rehash=rehash)
    report = verify_ledger(registry)
    assert kinds(report) == [(3, "inserted")]
    assert report.problems[0].detail == "row 3 was inserted after the ledger was written"


def test_insert_a_forged_first_row(registry, fill, attacker) -> None:
    fill(2)
    for s in (2, 1):
        attacker.move(s, s + 1)
    forged = attacker.row(2)
    forged.update(seq=1, prev_hash=GENESIS_HASH, output_sha256=h("forged"))
    forged["row_hash"] = hash_row(forged)
    attacker.insert(forged)
    assert kinds(verify_ledger(registry)) == [(1, "inserted")]


def test_delete_the_last_row(registry, fill, attacker, signing_key, trust) -> None:
    rows = fill(3)
    now = signing_now()
    checkpoint = export_head(registry, signing_key, at=now)
    attacker.run("DELETE FROM generation_ledger WHERE seq = 3")
    # 1. the chain alone cannot tell a shorter ledger from an older one
    alone = verify_ledger(registry)
    assert alone.ok and alone.head_seq == 2 and not alone.tail_checked
    # 2. a head hash kept by the auditor
    report = verify_ledger(registry, expected_head=rows[-1].row_hash)
    assert kinds(report) == [(None, "truncated")] and report.tail_checked
    assert "rows were removed from the end" in report.problems[0].detail
    # 3. a signed checkpoint
    report = verify_ledger(registry, checkpoint=checkpoint, trust=trust)
    assert kinds(report) == [(3, "truncated")]
    assert report.problems[0].detail == (
        "row 3 is missing: the ledger had 3 rows when the checkpoint was signed "
        f"({now:%Y-%m-%dT%H:%M:%SZ}); rows were removed from the end")
    assert report.checkpoint is not None and report.checkpoint.seq == 3


def test_a_rewritten_tail_is_seen_only_against_a_kept_head(
    registry, fill, attacker, signing_key, trust
) -> None:
    rows = fill(3)
    checkpoint = export_head(registry, signing_key, at=signing_now())
    # Rewrite row 2 and re-chain row 3: every hash recomputed.
    prev = rows[0].row_hash
    for seq in (2, 3):
        row = attacker.row(seq)
        row.update(prev_hash=prev, operator="someone else")
        row["row_hash"] = prev = hash_row(row)
        attacker.run("DELETE FROM generation_ledger WHERE seq = ?", (seq,))
        attacker.insert(row)
    assert verify_ledger(registry).ok
    assert kinds(verify_ledger(registry, expected_head=rows[-1].row_hash)) == [
        (None, "truncated")]
    report = verify_ledger(registry, checkpoint=checkpoint, trust=trust)
    assert kinds(report) == [(3, "truncated")]
    assert "differs from the checkpoint" in report.problems[0].detail


# --- checkpoints ----------------------------------------------------------------------


def test_checkpoint_round_trip_and_later_appends(registry, fill, signing_key, trust) -> None:
    rows = fill(2)
    now = signing_now()
    data = export_head(registry, signing_key, at=now)
    cp = load_checkpoint(data, trust=trust)
    assert (cp.seq, cp.head_hash, cp.issuer_organisation) == (2, rows[-1].row_hash, "Test Org")
    assert cp.signed_at == now and cp.anchor_sha256
    append_generation(registry, make_entry(3), at=now)
    report = verify_ledger(registry, checkpoint=data, trust=trust)
    assert report.ok and report.rows == 3 and report.checkpoint == cp


def test_checkpoint_from_an_untrusted_key_is_an_error(registry, fill, trust, tmp_path) -> None:
    from trustavatar.home import Home

    fill(2)
    stranger = Keystore.create(Home.resolve(tmp_path / "stranger"), organisation="Stranger Org")
    data = export_head(registry, stranger.signing_key(), at=signing_now())
    with pytest.raises(CheckpointSignatureError, match=r"not signed by a trusted key: signer .* "
                                                       r"does not chain to a trusted root"):
        verify_ledger(registry, checkpoint=data, trust=trust)
    assert verify_ledger(registry, checkpoint=data, trust=stranger.trust_store()).ok


def test_checkpoint_altered_or_malformed_is_an_error(registry, fill, signing_key, trust) -> None:
    fill(3)
    data = export_head(registry, signing_key, at=signing_now())
    assert b'"seq":3' in data
    with pytest.raises(CheckpointSignatureError,
                       match="ledger checkpoint: signature does not verify"):
        verify_ledger(registry, checkpoint=data.replace(b'"seq":3', b'"seq":2'), trust=trust)
    with pytest.raises(InputError, match="not a ledger checkpoint: not valid JSON"):
        verify_ledger(registry, checkpoint=b"{nope", trust=trust)
    with pytest.raises(InputError, match="needs a trust store"):
        verify_ledger(registry, checkpoint=data)
    with pytest.raises(InputError, match="expected head must be a SHA-256"):
        verify_ledger(registry, expected_head="feed")


def test_no_checkpoint_is_signed_over_a_broken_ledger(registry, fill, attacker,
                                                      signing_key) -> None:
    fill(3)
    attacker.run("UPDATE generation_ledger SET operator = 'x' WHERE seq = 2")
    with pytest.raises(RegistryError, match=r"the ledger is broken \(row 2 was edited"):
        export_head(registry, signing_key)


def test_unreadable_ledger_raises(registry, fill, attacker) -> None:
    from trustavatar.errors import RegistryDamagedError

    fill(1)
    attacker.run("DROP TABLE generation_ledger")
    # a RegistryError still; named for what happened (every row deleted with the table)
    with pytest.raises(RegistryDamagedError, match="has no ledger table: the ledger was "
                                                   "deleted"):
        verify_ledger(registry)


def test_entries_are_frozen() -> None:
    entry = make_entry()
    with pytest.raises(AttributeError):
        entry.operator = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.inputs["face"] = h("x")  # type: ignore[index]
    assert isinstance(entry, LedgerEntry)


def test_listing_can_skip_a_damaged_row_for_an_audit(registry, fill, attacker) -> None:
    fill(3)
    attacker.run("UPDATE generation_ledger SET inputs = 'not json' WHERE seq = 2")
    with pytest.raises(RegistryError, match="ledger row 2 is damaged"):
        list_generations(registry)
    assert [r.seq for r in list_generations(registry, skip_damaged=True)] == [1, 3]
    assert not verify_ledger(registry).ok


def _rebuild_without_constraints(attacker: Attacker) -> None:
    """What someone with the file can do: the table made again with no types or checks."""
    cols = ("seq, created_at, operator, consent_id, consent_artifact_sha256, mode, inputs, "
            "output_path, output_sha256, manifest_label, watermark_payload, qa, prev_hash, "
            "row_hash")
    attacker.run("CREATE TABLE loose AS SELECT * FROM generation_ledger")
    attacker.run("DROP TABLE generation_ledger")
    attacker.run(f"CREATE TABLE generation_ledger ({cols})")
    attacker.run("INSERT INTO generation_ledger SELECT * FROM loose")
    attacker.run("DROP TABLE loose")


@pytest.mark.parametrize(("stored", "shown"), [
    (3.5, "3.5"), (3.0, "3.0"), ("three", "'three'"), ("3", "'3'"), (None, "NULL"),
    (b"\x03", "b'\\x03'"),
])
def test_a_row_number_that_is_not_a_stored_integer_is_an_edit(registry, fill, attacker,
                                                             stored, shown) -> None:
    # it read as intact (3.5 truncated to 3; '3' hashed as 3) or crashed (NULL, 'three')
    fill(5)
    _rebuild_without_constraints(attacker)
    attacker.run("UPDATE generation_ledger SET seq = ? WHERE seq = 3", (stored,))
    report = verify_ledger(registry)
    assert not report.ok and report.rows == 5
    assert kinds(report) == [(3, "edited")], report.problems
    assert report.problems[0].detail == (
        f"row 3 was edited after it was written: its row number is stored as {shown}, not as "
        "a whole number")
    assert report.head_seq == 5
    with pytest.raises(RegistryError, match="is damaged: row numbers are whole numbers"):
        list_generations(registry)
    assert [r.seq for r in list_generations(registry, skip_damaged=True)] == [1, 2, 4, 5]


def test_rows_with_odd_numbers_anywhere_are_all_edits(registry, fill, attacker) -> None:
    fill(4)
    _rebuild_without_constraints(attacker)
    attacker.run("UPDATE generation_ledger SET seq = 'x' WHERE seq = 1")
    attacker.run("UPDATE generation_ledger SET seq = NULL WHERE seq = 4")
    report = verify_ledger(registry)
    assert kinds(report) == [(1, "edited"), (4, "edited")], report.problems
    # a row put in with an odd number and no place in the chain: an edit at the end
    attacker.run("UPDATE generation_ledger SET seq = 1 WHERE seq = 'x'")
    attacker.run("UPDATE generation_ledger SET seq = 4 WHERE seq IS NULL")
    assert verify_ledger(registry).ok
    attacker.run("INSERT INTO generation_ledger SELECT 'extra', created_at, operator, "
                 "consent_id, consent_artifact_sha256, mode, inputs, output_path, "
                 "output_sha256, manifest_label, watermark_payload, qa, 'nowhere', row_hash "
                 "FROM generation_ledger WHERE seq = 2")
    report = verify_ledger(registry)
    assert kinds(report) == [(5, "edited")], report.problems
    assert "stored as 'extra'" in report.problems[0].detail


def test_a_checkpoint_signed_before_the_low_s_rule_still_verifies(
    registry, fill, signing_key, trust
) -> None:
    """Before signatures were made low-S, about half were high-S: a checkpoint kept
    off-machine then read as forged (exit 3). Only consent artifacts, identified by their
    bytes, need one byte form."""
    import rfc8785
    from tests.keys.pki import P256_N, b64url, from_b64url

    fill(2)
    checkpoint = export_head(registry, signing_key, at=signing_now())
    envelope = json.loads(checkpoint)
    raw = from_b64url(envelope["signature"]["value"])
    s = int.from_bytes(raw[32:], "big")
    envelope["signature"]["value"] = b64url(raw[:32] + (P256_N - s).to_bytes(32, "big"))
    high_s = rfc8785.dumps(envelope)
    assert high_s != checkpoint
    report = verify_ledger(registry, checkpoint=high_s, trust=trust)
    assert report.ok and report.checkpoint is not None and report.checkpoint.seq == 2


def test_the_watermark_look_up_takes_what_the_reader_gives(tmp_path) -> None:
    """README: read_watermark(path).payload (bytes) and a home's folder went straight in,
    and failed as 'the ledger could not be read' or an AttributeError."""
    from tests.detector.conftest import PAYLOAD, listed_in_ledger

    from trustavatar.errors import InputError
    from trustavatar.registry import find_by_watermark_in

    home = listed_in_ledger(tmp_path / "home")
    for payload in (PAYLOAD, PAYLOAD.hex(), f" {PAYLOAD.hex().upper()} "):
        for where in (home, home.root, str(home.root)):
            rows, note = find_by_watermark_in(where, payload)
            assert [r.seq for r in rows] == [1] and note is None
    assert find_by_watermark_in(None, PAYLOAD) == (
        [], "no trustavatar home to look the payload up in")
    for wrong, says in ((5, "bytes or hex, got int"), ("zz", "must be hex")):
        with pytest.raises(InputError, match=says):
            find_by_watermark_in(home, wrong)  # type: ignore[arg-type]
