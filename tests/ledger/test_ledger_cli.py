"""``trustavatar ledger …`` in-process: exit codes, plain-words problems, JSON output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.clitools import invoke
from tests.ledger.ledgertools import T0, Attacker, make_entry

from trustavatar._cli import cli
from trustavatar._cli import ledger as ledger_cli
from trustavatar.home import Home
from trustavatar.registry import Registry, append_generation, list_generations


@pytest.fixture(autouse=True, scope="module")
def _ledger_group_registered():
    # Until trustavatar._cli registers the ledger group itself (idempotent afterwards).
    if "ledger" not in cli.commands:
        cli.add_command(ledger_cli.command)
    yield


@pytest.fixture(autouse=True)
def _no_passphrase_env(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TRUSTAVATAR_PASSPHRASE", raising=False)
    monkeypatch.setenv("TRUSTAVATAR_HOME", str(tmp_path / "default-home"))


@pytest.fixture
def h(tmp_path, capsys) -> list[str]:
    """A home with a signing identity and a ledger of three rows."""
    home = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *home, "keys", "init", "--org", "CLI Org").code == 0
    with Registry.for_home(Home.resolve(tmp_path / "home")) as reg:
        for i in (1, 2, 3):
            append_generation(reg, make_entry(i), at=T0 + dt.timedelta(days=i))
    return home


@pytest.fixture
def attacker(tmp_path) -> Attacker:
    return Attacker(Home.resolve(tmp_path / "home").registry_path)


def test_verify_intact_then_broken(h, attacker, capsys) -> None:
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 0, r.err
    assert r.out.startswith("ledger intact: 3 row(s), head row 3")
    assert "rows removed from the end cannot be seen from the chain alone" in r.out
    data = invoke(capsys, *h, "ledger", "verify", "--json").json()
    assert data["ok"] is True and data["rows"] == 3 and data["problems"] == []

    attacker.run("UPDATE generation_ledger SET operator = 'nobody' WHERE seq = 2")
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 3
    assert r.out.splitlines()[:2] == ["ledger BROKEN: 1 problem(s) in 3 row(s)",
                                      "  ✗ row 2 was edited after it was written"]
    r = invoke(capsys, *h, "ledger", "verify", "--json")
    assert r.code == 3
    assert r.json()["ok"] is False
    assert r.json()["problems"] == [
        {"seq": 2, "kind": "edited", "detail": "row 2 was edited after it was written"}]


def test_list_and_show(h, capsys) -> None:
    r = invoke(capsys, *h, "ledger", "list", "--json")
    assert r.code == 0
    rows = r.json()["rows"]
    assert [row["seq"] for row in rows] == [1, 2, 3]
    assert rows[0]["output_path"] == "/srv/out/clip-1.mp4" and rows[0]["mode"] == "video"
    assert set(rows[0]) >= {"created_at", "operator", "consent_id", "consent_artifact_sha256",
                            "inputs", "output_sha256", "manifest_label", "watermark_payload",
                            "qa", "prev_hash", "row_hash"}
    r = invoke(capsys, *h, "ledger", "list", "--since", "2025-03-03", "--json")
    assert [row["seq"] for row in r.json()["rows"]] == [2, 3]
    r = invoke(capsys, *h, "ledger", "list")
    assert r.code == 0 and len(r.out.splitlines()) == 3 and "/srv/out/clip-2.mp4" in r.out
    assert invoke(capsys, *h, "ledger", "list", "--since", "2025-03-03T00:00").code == 2
    r = invoke(capsys, *h, "ledger", "list", "--since", "20250303", "--json")  # ISO basic date
    assert [row["seq"] for row in r.json()["rows"]] == [2, 3]
    r = invoke(capsys, *h, "ledger", "list", "--since", "9999-12-31T23:59:59-05:00")
    assert r.code == 2 and "outside the supported years" in r.err

    r = invoke(capsys, *h, "ledger", "show", "2", "--json")
    assert r.code == 0 and r.json()["row"]["seq"] == 2
    r = invoke(capsys, *h, "ledger", "show", "2")
    assert r.code == 0 and "output_path: /srv/out/clip-2.mp4" in r.out


def test_list_shows_the_rows_that_read_and_names_the_damaged_ones(h, attacker, capsys):
    """One damaged row made 'ledger list' list nothing (exit 1)."""
    attacker.run("UPDATE generation_ledger SET inputs = 'not json' WHERE seq = 2")
    r = invoke(capsys, *h, "ledger", "list")
    assert r.code == 3 and len(r.out.splitlines()) == 2 and "clip-3.mp4" in r.out
    assert r.err == ("trustavatar: error: 1 ledger row(s) damaged, not listed: 2 (run "
                     "'trustavatar ledger verify')\n")
    r = invoke(capsys, *h, "ledger", "list", "--json")
    assert r.code == 3 and r.json()["ok"] is False and r.json()["damaged_rows"] == ["2"]
    assert [row["seq"] for row in r.json()["rows"]] == [1, 3]
    # showing that row says the same (it was exit 1, a failed operation)
    r = invoke(capsys, *h, "ledger", "show", "2", "--json")
    assert r.code == 3 and r.json()["error"]["type"] == "LedgerBrokenError"
    assert "ledger row 2 is damaged" in r.err


def test_show_a_missing_row(h, capsys) -> None:
    r = invoke(capsys, *h, "ledger", "show", "99")
    assert r.code == 2
    assert r.err == "trustavatar: error: no row 99 in the ledger\n"
    r = invoke(capsys, *h, "ledger", "show", "99", "--json")
    assert r.code == 2 and r.json()["error"]["type"] == "InputError"


def test_no_registry(tmp_path, capsys) -> None:
    home = ["--home", str(tmp_path / "empty")]
    r = invoke(capsys, *home, "ledger", "verify")
    assert r.code == 2 and "no registry at" in r.err
    assert invoke(capsys, *home, "ledger", "list", "--json").json()["rows"] == []


def test_checkpoint_and_truncation(h, attacker, tmp_path, capsys) -> None:
    out = tmp_path / "head.json"
    r = invoke(capsys, *h, "ledger", "checkpoint", "--out", out, "--json")
    assert r.code == 0, r.err
    cp = r.json()["checkpoint"]
    assert cp["seq"] == 3 and cp["issuer_organisation"] == "CLI Org" and out.is_file()
    assert invoke(capsys, *h, "ledger", "checkpoint", "--out", out).code == 2  # no --force
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 0 and "checked against the checkpoint of row 3 signed by CLI Org" in r.out

    attacker.run("DELETE FROM generation_ledger WHERE seq = 3")
    assert invoke(capsys, *h, "ledger", "verify").code == 0  # the chain alone cannot tell
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 3 and "  ✗ row 3 is missing" in r.out
    r = invoke(capsys, *h, "ledger", "verify", "--head", cp["head_hash"], "--json")
    assert r.code == 3 and r.json()["problems"][0]["kind"] == "truncated"
    r = invoke(capsys, *h, "ledger", "checkpoint", "--out", out, "--force")
    assert r.code == 0 and "row 2" in r.out  # the ledger as it is now


def test_checkpoint_signed_elsewhere_is_refused(h, tmp_path, capsys) -> None:
    other = ["--home", str(tmp_path / "other")]
    assert invoke(capsys, *other, "keys", "init", "--org", "Other Org").code == 0
    with Registry.for_home(Home.resolve(tmp_path / "other")) as reg:
        append_generation(reg, make_entry(), at=T0)
    out = tmp_path / "other-head.json"
    assert invoke(capsys, *other, "ledger", "checkpoint", "--out", out).code == 0
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 3  # a checkpoint that does not verify: verification failed
    assert r.err.startswith("trustavatar: error: the ledger checkpoint is not signed by a "
                            "trusted key")
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", Path(tmp_path / "none.json"))
    assert r.code == 2 and "cannot read checkpoint" in r.err
    # trusted, but another organisation's ledger: said so, not "rows were removed"
    assert invoke(capsys, *h, "keys", "trust", "add",
                  tmp_path / "other" / "keys" / "root-ca.pem").code == 0
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 3 and "signed by 'Other Org'" in r.err, r.err
    assert "another ledger's checkpoint" in r.err and "removed" not in r.err


def test_checkpoint_never_replaces_the_registry(h, tmp_path, capsys) -> None:
    registry = tmp_path / "home" / "registry.sqlite3"
    before = registry.read_bytes()
    r = invoke(capsys, *h, "ledger", "checkpoint", "--out", registry, "--force")
    assert r.code == 2 and "is the trustavatar home's registry (registry.sqlite3)" in r.err
    assert registry.read_bytes() == before
    assert invoke(capsys, *h, "ledger", "verify").code == 0


def test_reading_commands_work_on_a_registry_they_cannot_write(h, tmp_path, capsys,
                                                               monkeypatch) -> None:
    import trustavatar.registry.db as db

    # What a read-only folder looks like to a non-root user (root may write anywhere).
    monkeypatch.setattr(db.os, "access", lambda path, mode: mode != db.os.W_OK)
    registry = tmp_path / "home" / "registry.sqlite3"
    Path(f"{registry}-wal").unlink(missing_ok=True)  # checkpointed when the writer closed
    r = invoke(capsys, *h, "ledger", "verify", "--json")
    assert r.code == 0 and r.json()["rows"] == 3
    r = invoke(capsys, *h, "ledger", "list", "--json")
    assert [row["seq"] for row in r.json()["rows"]] == [1, 2, 3]
    assert invoke(capsys, *h, "consent", "list", "--json").code == 0
    # rows still in the write-ahead log cannot be read that way: said, not silently missed
    Path(f"{registry}-wal").write_bytes(b"\0" * 32)
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 1 and "-wal" in r.err and "copy the folder somewhere writable" in r.err


def test_an_emptied_registry_is_not_an_intact_empty_ledger(h, tmp_path, capsys) -> None:
    registry = tmp_path / "home" / "registry.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{registry}{suffix}").unlink(missing_ok=True)
    registry.write_bytes(b"")
    # 'ledger verify': every row is gone, a broken chain (3); the other commands fail (1)
    for args in (["ledger", "verify"], ["ledger", "list"], ["consent", "list"]):
        r = invoke(capsys, *h, *args)
        code = 3 if args == ["ledger", "verify"] else 1
        assert r.code == code and "is empty (0 bytes)" in r.err, (args, r.err)
    assert registry.read_bytes() == b""  # reading wrote no schema into it
    import sqlite3

    registry.unlink()
    sqlite3.connect(registry).execute("CREATE TABLE other (x)").connection.close()
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 3 and "has no trustavatar tables" in r.err


def test_a_row_number_beyond_sqlites_integers_is_a_usage_error(h, capsys) -> None:
    r = invoke(capsys, *h, "ledger", "show", str(2 ** 63))
    assert r.code == 2 and "SEQ" in r.err


# --- a row number that is not an integer (it read as intact, or crashed) ---------------


def test_a_row_number_that_is_not_an_integer_exits_3(h, attacker, capsys) -> None:
    from tests.ledger.test_ledger_chain import _rebuild_without_constraints

    _rebuild_without_constraints(attacker)
    for stored in (2.5, "three", None):
        attacker.run("UPDATE generation_ledger SET seq = ? WHERE row_hash = "
                     "(SELECT row_hash FROM generation_ledger ORDER BY rowid LIMIT 1 OFFSET 1)",
                     (stored,))
        r = invoke(capsys, *h, "ledger", "verify")
        assert r.code == 3, (stored, r.err)
        assert "  ✗ row 2 was edited after it was written: its row number is stored as " in r.out
        r = invoke(capsys, *h, "ledger", "verify", "--json")
        assert r.code == 3 and r.json()["problems"][0]["kind"] == "edited"
        r = invoke(capsys, *h, "ledger", "list")  # the other rows listed, this one named
        assert r.code == 3 and "1 ledger row(s) damaged, not listed: " in r.err, r.err
        assert "/srv/out/clip-1.mp4" in r.out


# --- a wiped or damaged ledger is a broken chain for 'ledger verify' -------------------


def test_a_dropped_ledger_table_is_a_broken_chain(h, attacker, capsys) -> None:
    attacker.run("DROP TABLE generation_ledger")
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 3, r.err
    assert r.err.startswith("trustavatar: error: ledger BROKEN: the registry ")
    assert "has no ledger table: the ledger was deleted" in r.err and len(r.err.splitlines()) == 1
    r = invoke(capsys, *h, "ledger", "verify", "--json")
    assert r.code == 3 and r.json()["error"]["exit_code"] == 3
    assert r.json()["error"]["type"] == "LedgerBrokenError"
    assert invoke(capsys, *h, "ledger", "list").code == 1  # other commands keep their error


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_registry_file_is_a_broken_chain(h, tmp_path, capsys, damage) -> None:
    registry = tmp_path / "home" / "registry.sqlite3"
    with Registry.open(registry) as reg:  # enough rows for a file of several pages
        for i in range(4, 60):
            append_generation(reg, make_entry(i), at=T0 + dt.timedelta(days=i))
    data = registry.read_bytes()
    assert len(data) > 8192
    registry.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"x" * len(data))
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 3, r.err
    assert "ledger BROKEN" in r.err and "SQLite database" in r.err
    assert len(r.err.splitlines()) == 1


def test_a_registry_that_cannot_be_opened_is_still_a_failed_operation(h, tmp_path, capsys,
                                                                      monkeypatch) -> None:
    import sqlite3

    import trustavatar.registry.db as db

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(db.sqlite3, "connect", refuse)
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 1 and "BROKEN" not in r.err, r.err


def test_verify_help_documents_the_exit_codes(h, capsys) -> None:
    r = invoke(capsys, "ledger", "verify", "--help")
    assert r.code == 0
    text = " ".join(r.out.split())
    for line in ("0 the chain is intact", "3 the chain is broken", "the ledger table or the "
                 "registry file is gone or damaged", "2 bad input", "1 the registry cannot be "
                 "opened"):
        assert line in text, text


# --- reading never writes: no journal-mode switch, no migration -------------------------


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_commands_leave_a_delete_mode_copy_as_it_is(h, tmp_path, capsys) -> None:
    import shutil
    import sqlite3

    registry = tmp_path / "home" / "registry.sqlite3"
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(registry, copy / "registry.sqlite3")
    conn = sqlite3.connect(copy / "registry.sqlite3")
    assert conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    conn.close()
    before = _sha(copy / "registry.sqlite3")
    home = ["--home", str(copy)]
    r = invoke(capsys, *home, "ledger", "verify", "--json")
    assert r.code == 0 and r.json()["rows"] == 3
    assert [x["seq"] for x in invoke(capsys, *home, "ledger", "list", "--json").json()["rows"]
            ] == [1, 2, 3]
    assert invoke(capsys, *home, "ledger", "show", "2").code == 0
    assert invoke(capsys, *home, "consent", "list", "--json").code == 0
    assert _sha(copy / "registry.sqlite3") == before  # not switched to WAL, not migrated
    conn = sqlite3.connect(copy / "registry.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert sorted(p.name for p in copy.iterdir()) == ["registry.sqlite3"]
    # the ledger look-up of watermark payloads (scan, provenance verify) opens it the same way
    from trustavatar.registry import find_by_watermark_in

    rows, why = find_by_watermark_in(Home.resolve(copy), make_entry(2).watermark_payload or "")
    assert why is None and [row.seq for row in rows] == [2]
    assert _sha(copy / "registry.sqlite3") == before


def test_reading_commands_see_rows_still_in_the_write_ahead_log(h, tmp_path, capsys) -> None:
    registry = tmp_path / "home" / "registry.sqlite3"
    writer = Registry.open(registry)
    try:
        writer.query("PRAGMA wal_autocheckpoint=0")  # rows 4, 5 stay in the -wal file
        for i in (4, 5):
            append_generation(writer, make_entry(i), at=T0 + dt.timedelta(days=i))
        wal = Path(f"{registry}-wal")
        assert wal.stat().st_size > 0
        before = _sha(registry)
        r = invoke(capsys, *h, "ledger", "verify", "--json")
        assert r.code == 0 and r.json()["rows"] == 5 and r.json()["head_seq"] == 5
        rows = invoke(capsys, *h, "ledger", "list", "--json").json()["rows"]
        assert [x["seq"] for x in rows] == [1, 2, 3, 4, 5]
        assert _sha(registry) == before
        with Registry.open(registry, read_only=True) as reader:
            assert reader.journal_mode() == "wal"
            assert len(list_generations(reader)) == 5
    finally:
        writer.close()


def test_a_reading_command_does_not_migrate_an_older_registry(tmp_path, capsys) -> None:
    from trustavatar.registry import MIGRATIONS

    home = tmp_path / "old"
    home.mkdir()
    registry = home / "registry.sqlite3"
    with Registry.open(registry, migrations=MIGRATIONS[:-1]) as reg:
        for i in (1, 2):
            append_generation(reg, make_entry(i), at=T0 + dt.timedelta(days=i))
    before = _sha(registry)
    for args in (["ledger", "verify"], ["ledger", "list"], ["consent", "list"]):
        r = invoke(capsys, "--home", home, *args)
        assert r.code == 1, (args, r.err)
        assert (f"has schema version {len(MIGRATIONS) - 1}, this trustavatar reads version "
                f"{len(MIGRATIONS)}: a reading command does not upgrade it") in r.err
    assert _sha(registry) == before
    with Registry.open(registry) as reg:  # opened for writing once: migrated
        assert reg.schema_version() == len(MIGRATIONS)
    assert invoke(capsys, "--home", home, "ledger", "verify").code == 0


def test_a_tampered_schema_is_named_not_migrated_over(h, attacker, tmp_path, capsys) -> None:
    # its migrations forgotten, the tables still there: migrating failed with "table
    # consent_challenges already exists"
    attacker.run("DELETE FROM schema_migrations WHERE version > 2")
    before = _sha(tmp_path / "home" / "registry.sqlite3")
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 1 and "has schema version 2" in r.err and "already exists" not in r.err
    assert _sha(tmp_path / "home" / "registry.sqlite3") == before


# --- a checkpoint must be this home's own ------------------------------------------------


def test_a_checkpoint_of_another_home_of_the_same_name_is_refused(h, tmp_path, capsys) -> None:
    twin = ["--home", str(tmp_path / "twin")]
    assert invoke(capsys, *twin, "keys", "init", "--org", "CLI Org").code == 0
    with Registry.for_home(Home.resolve(tmp_path / "twin")) as reg:
        for i in (1, 2, 3):  # a ledger of its own: row 3 differs from ours
            append_generation(reg, make_entry(i + 10), at=T0 + dt.timedelta(days=i))
    out = tmp_path / "twin-head.json"
    assert invoke(capsys, *twin, "ledger", "checkpoint", "--out", out).code == 0
    assert invoke(capsys, *h, "keys", "trust", "add",
                  tmp_path / "twin" / "keys" / "root-ca.pem").code == 0
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 3, r.err
    assert "which is not this home's (nor one it retired)" in r.err
    assert "another ledger's checkpoint" in r.err
    assert "cut back" not in r.out + r.err and "removed" not in r.err
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out, "--json")
    assert r.code == 3 and r.json()["error"]["type"] == "CheckpointSignatureError"


def test_a_checkpoint_signed_before_keys_init_force_still_counts(h, attacker, tmp_path,
                                                                 capsys) -> None:
    out = tmp_path / "head.json"
    assert invoke(capsys, *h, "ledger", "checkpoint", "--out", out).code == 0
    assert invoke(capsys, *h, "keys", "init", "--org", "CLI Org", "--force").code == 0
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 0, r.err  # signed under the retired root: still this home's
    attacker.run("DELETE FROM generation_ledger WHERE seq = 3")
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 3 and "  ✗ row 3 is missing" in r.out
