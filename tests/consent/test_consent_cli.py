"""``trustavatar consent …`` in-process: exit codes, output, files left behind."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from tests.clitools import invoke

from trustavatar._cli import cli
from trustavatar._cli import consent as consent_cli

#: a well-formed consent id no home has
UNKNOWN_ID = "0b8f2c1e-4a4e-4f6b-9d1e-2a3b4c5d6e7f"


@pytest.fixture(autouse=True, scope="module")
def _consent_group_registered():
    # Until trustavatar._cli registers the consent group itself (idempotent afterwards).
    if "consent" not in cli.commands:
        cli.add_command(consent_cli.command)
    yield


@pytest.fixture
def h(tmp_path, capsys):
    home = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *home, "keys", "init", "--org", "CLI Org").code == 0
    return home


@pytest.fixture
def issued(h, tmp_path, capsys, faces, release):
    out = tmp_path / "eileen.consent.json"
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name",
               "Eileen Collins", "--release", release, "--purpose", "avatar-generation",
               "--purpose", "training", "--language", "en", "--operator", "Op", "--out", out,
               "--json")
    assert r.code == 0, r.err
    return out, r.json()


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trustavatar: error: "), err
    return lines[0]


def test_issue_verify_revoke_verify(h, issued, capsys, faces) -> None:
    out, result = issued
    cid = result["consent"]["consent_id"]
    assert result["ok"] and result["artifact_sha256"]
    assert result["consent"]["purposes"] == ["avatar-generation", "training"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    r = invoke(capsys, *h, "consent", "verify", out, "--face", faces["portrait"],
               "--purpose", "training", "--language", "en-GB")
    assert r.code == 0, r.err
    assert f"consent {cid} is valid for Eileen Collins" in r.out
    for words in ("signature verifies", "issuer trusted: CLI Org", "not revoked according to "
                  "the local registry", "in scope: purpose 'training'", "face matches"):
        assert words in r.out

    r = invoke(capsys, *h, "consent", "verify", out, "--json")
    assert r.code == 0 and r.json()["valid"] is True
    assert r.json()["grant"]["consent_id"] == cid and r.json()["grant"]["face_distance"] is None

    r = invoke(capsys, *h, "consent", "revoke", cid, "--reason", "withdrew", "--json")
    assert r.code == 0 and r.json()["revocation"]["consent_id"] == cid
    assert r.json()["already_revoked"] is False

    r = invoke(capsys, *h, "consent", "verify", out)
    assert r.code == 3 and r.out == ""
    assert "was revoked at" in _one_error_line(r.err)

    r = invoke(capsys, *h, "consent", "verify", out, "--json")
    assert r.code == 3 and r.json()["error"]["type"] == "ConsentRevokedError"
    assert r.json()["valid"] is False and r.json()["ok"] is False  # as "valid": true above

    r = invoke(capsys, *h, "consent", "list", "--json")
    assert r.code == 0
    assert [(c["consent_id"], c["status"]) for c in r.json()["consents"]] == [(cid, "revoked")]


def test_third_party_checks_an_exported_revocation_list(h, issued, tmp_path, capsys) -> None:
    out, result = issued
    cid = result["consent"]["consent_id"]
    verifier = ["--home", str(tmp_path / "verifier")]
    assert invoke(capsys, *verifier, "keys", "init", "--org", "Verifier").code == 0
    root = tmp_path / "home" / "keys" / "root-ca.pem"
    assert invoke(capsys, *verifier, "keys", "trust", "add", root).code == 0
    assert invoke(capsys, *verifier, "consent", "verify", out).code == 0

    assert invoke(capsys, *h, "consent", "revoke", cid, "--reason", "withdrew").code == 0
    rl = tmp_path / "revocations.json"
    r = invoke(capsys, *h, "consent", "revocations", "export", "--out", rl, "--json")
    assert r.code == 0 and r.json()["revocations"] == 1

    r = invoke(capsys, *verifier, "consent", "verify", out, "--revocations", rl)
    assert r.code == 3 and "revocation list issued" in _one_error_line(r.err)

    forged = json.loads(rl.read_bytes())
    forged["payload"]["revocations"] = []
    import rfc8785

    rl.write_bytes(rfc8785.dumps(forged))
    r = invoke(capsys, *verifier, "consent", "verify", out, "--revocations", rl)
    assert r.code == 3 and "signature does not verify" in _one_error_line(r.err)


def test_rejections_exit_3(h, tmp_path, capsys, faces, release) -> None:
    out = tmp_path / "short.json"
    assert invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "E",
                  "--release", release, "--valid-days", "1", "--out", out).code == 0
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    r = invoke(capsys, *h, "consent", "verify", out, "--at", later)
    assert r.code == 3 and "expired at" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "verify", out, "--purpose", "advertising")
    assert r.code == 3
    assert _one_error_line(r.err) == ("trustavatar: error: purpose 'advertising' not in scope "
                                      "['avatar-generation']")
    r = invoke(capsys, *h, "consent", "verify", out, "--face", faces["other_person"])
    assert r.code == 3 and "face does not match" in _one_error_line(r.err)
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01garbage")
    r = invoke(capsys, *h, "consent", "verify", garbage, "--json")
    assert r.code == 3 and r.json()["error"]["type"] == "ConsentMalformedError"


def test_input_errors_exit_2_and_leave_no_file(h, tmp_path, capsys, faces, release) -> None:
    r = invoke(capsys, *h, "consent", "verify", tmp_path / "missing.json")
    assert r.code == 2 and "cannot read consent artifact" in _one_error_line(r.err)

    out = tmp_path / "out.json"
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "E",
               "--release", tmp_path / "no-release.pdf", "--out", out)
    assert r.code == 2 and "does not exist" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["no_face"], "--name", "E",
               "--release", release, "--out", out)
    assert r.code == 2 and "no face found" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "E",
               "--release", release, "--language", "not a language", "--out", out)
    assert r.code == 2 and "invalid language" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "E",
               "--release", release, "--valid-days", "3", "--not-after", "2030-01-01T00:00:00Z",
               "--out", out)
    assert r.code == 2 and "not both" in _one_error_line(r.err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []
    r = invoke(capsys, *h, "consent", "list", "--json")
    assert r.json()["consents"] == []  # nothing recorded by the failed issues

    r = invoke(capsys, *h, "consent", "verify", release, "--at", "2030-01-01T00:00:00")
    assert r.code == 2 and "has no time zone" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "revoke", UNKNOWN_ID, "--reason", "x")
    assert r.code == 2 and f"no consent {UNKNOWN_ID!r}" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "revoke", "no-such-id", "--reason", "x")
    assert r.code == 2 and "'no-such-id' is not a consent id" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "revoke", "x" * 5000, "--reason", "x")  # not echoed whole
    assert r.code == 2 and "… (5000 characters)' is not a" in _one_error_line(r.err)


def test_out_is_not_overwritten_without_force(h, issued, capsys, faces, release) -> None:
    out, _ = issued
    before = out.read_bytes()
    args = ["consent", "issue", "--face", faces["portrait"], "--name", "E", "--release",
            release, "--out", out]
    r = invoke(capsys, *h, *args)
    assert r.code == 2 and "exists already" in _one_error_line(r.err)
    assert out.read_bytes() == before
    assert invoke(capsys, *h, *args, "--force").code == 0
    assert out.read_bytes() != before


def test_list_and_export_on_an_empty_home(tmp_path, capsys) -> None:
    h = ["--home", str(tmp_path / "empty")]
    r = invoke(capsys, *h, "consent", "list")
    assert r.code == 0 and "no consents recorded" in r.out
    r = invoke(capsys, *h, "consent", "revocations", "export", "--out", tmp_path / "rl.json")
    assert r.code == 1 and "no signing identity" in _one_error_line(r.err)
    assert not (tmp_path / "rl.json").exists()
    # an identity but no registry (a mistyped --home): no list saying "nothing revoked"
    assert invoke(capsys, *h, "keys", "init").code == 0
    r = invoke(capsys, *h, "consent", "revocations", "export", "--out", tmp_path / "rl.json")
    assert r.code == 2 and "no registry at" in _one_error_line(r.err)
    assert not (tmp_path / "rl.json").exists()
    assert not (tmp_path / "empty" / "registry.sqlite3").exists()


@pytest.mark.parametrize("args", [
    ("issue", "--not-before", "9999-12-31T00:00:00Z"),
    ("issue", "--not-before", "0001-01-01T00:00:00+01:00"),
    ("issue", "--not-after", "9999-12-31T23:59:59-05:00"),
    ("issue", "--not-before", "0500-01-01T00:00:00Z", "--not-after", "0600-01-01T00:00:00Z"),
    ("issue", "--not-before", "8990-01-01T00:00:00Z", "--valid-days", "36500"),
    ("issue", "--not-after", "2020-01-01T00:00:00Z"),  # expired before it is issued
    # begun before it is issued: verify would refuse that time ("it did not exist yet")
    ("issue", "--not-before", "2026-01-01T00:00:00Z"),
    ("challenge", "--not-after", "9999-12-31T23:59:59-05:00"),
])
def test_times_out_of_range_are_bad_input(h, capsys, faces, release, tmp_path, args) -> None:
    out = tmp_path / "x.consent.json"
    cmd, *rest = args
    common = (["--face", faces["portrait"], "--name", "A", "--release", release, "--out", out]
              if cmd == "issue" else ["--subject", "A"])
    r = invoke(capsys, *h, "consent", cmd, *common, *rest, "--json")
    assert r.code == 2, r.err
    _one_error_line(r.err)
    assert not out.exists()
    assert invoke(capsys, *h, "consent", "list", "--json").json()["consents"] == []


def test_verify_at_a_time_out_of_range(h, issued, capsys) -> None:
    out, _ = issued
    for at in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z"):
        r = invoke(capsys, *h, "consent", "verify", out, "--at", at)
        assert r.code == 2 and "outside the supported years" in _one_error_line(r.err)


def test_outputs_never_replace_inputs_or_half_issue(h, capsys, faces, release, tmp_path,
                                                    monkeypatch) -> None:
    base = ["consent", "issue", "--face", faces["portrait"], "--name", "A", "--release",
            release]
    monkeypatch.chdir(tmp_path)
    for out, words in (("", "the output path is empty"),
                       (".", "is a directory"),  # Click's own check
                       (faces["portrait"], "is also the input --face"),
                       (release, "is also the input --release")):
        before = Path(out).read_bytes() if Path(out).is_file() else None
        r = invoke(capsys, *h, *base, "--out", out, "--force")
        assert r.code == 2 and words in r.err, (out, r.err)
        if before is not None:
            assert Path(out).read_bytes() == before
    # nothing was recorded for an artifact that was never written
    assert invoke(capsys, *h, "consent", "list", "--json").json()["consents"] == []
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "A",
               "--release", empty, "--out", tmp_path / "a.json")
    assert r.code == 2 and "is empty" in _one_error_line(r.err)


def test_revoke_in_a_home_without_registry_creates_nothing(capsys, tmp_path) -> None:
    home = tmp_path / "typo-home"
    r = invoke(capsys, "--home", home, "consent", "revoke", UNKNOWN_ID, "--reason", "x")
    assert r.code == 2 and "no registry" in _one_error_line(r.err)
    r = invoke(capsys, "--home", home, "consent", "list")  # an empty list, and why
    assert r.code == 0 and "no registry at " in r.out and "(wrong --home?)" in r.out
    r = invoke(capsys, "--home", home, "consent", "list", "--json")
    assert r.json()["registry_found"] is False and r.json()["consents"] == []
    assert not home.exists()


@pytest.mark.parametrize("command", ["issue", "revocations", "checkpoint", "sign"])
def test_an_out_that_appears_while_the_command_runs_is_not_replaced(
        h, issued, capsys, faces, release, tmp_path, monkeypatch, media, command) -> None:
    """``--out`` is checked when the command starts and again when its output is moved in:
    a file that appeared in between (another run, the user) is kept without --force. The
    file appears here as soon as the signing key is unlocked, after the first check."""
    from trustavatar.keys import Keystore
    from trustavatar.registry import Registry

    out = tmp_path / "late.json"
    unlock = Keystore.signing_key

    def unlock_then_someone_writes(self, passphrase=None):
        key = unlock(self, passphrase)
        out.write_text("theirs")
        return key

    monkeypatch.setattr(Keystore, "signing_key", unlock_then_someone_writes)
    args = {
        "issue": ["consent", "issue", "--face", faces["portrait"], "--name", "E", "--release",
                  release, "--out", out],
        "revocations": ["consent", "revocations", "export", "--out", out],
        "checkpoint": ["ledger", "checkpoint", "--out", out],
        "sign": ["provenance", "sign", media["jpeg"], "--out", out.with_suffix(".jpg")],
    }[command]
    if command == "sign":
        out = out.with_suffix(".jpg")
    home = Path(h[1])
    with Registry.open(home / "registry.sqlite3") as reg:
        consents = reg.query("SELECT COUNT(*) FROM consents")[0][0]
    r = invoke(capsys, *h, *args)
    line = _one_error_line(r.err)  # (sign's own check at its start may be the one to see it)
    assert r.code == 2 and ("appeared while the output was being made" in line
                            or "exists already; not replaced" in line), line
    assert out.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with Registry.open(home / "registry.sqlite3") as reg:  # nothing recorded either
        assert reg.query("SELECT COUNT(*) FROM consents")[0][0] == consents
    r = invoke(capsys, *h, *args, "--force")
    assert r.code == 0, r.err
    assert out.read_bytes() != b"theirs"


def test_export_writes_the_stored_artifact_byte_for_byte(h, issued, capsys, tmp_path) -> None:
    out, result = issued
    cid = result["consent"]["consent_id"]
    copy = tmp_path / "copy.json"
    r = invoke(capsys, *h, "consent", "export", cid, "--out", copy, "--json")
    assert r.code == 0, r.err
    assert copy.read_bytes() == out.read_bytes()
    assert r.json()["artifact_sha256"] == result["artifact_sha256"]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    r = invoke(capsys, *h, "consent", "verify", copy)
    assert r.code == 0, r.err
    # bad input: an unknown id, an output that exists, a home with no registry
    r = invoke(capsys, *h, "consent", "export", UNKNOWN_ID, "--out", tmp_path / "n.json")
    assert r.code != 0 and f"no consent {UNKNOWN_ID!r}" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "export", cid.upper(), "--out", tmp_path / "up.json")
    assert r.code == 0, r.err  # the same id, copied in capitals
    assert not (tmp_path / "n.json").exists()
    r = invoke(capsys, *h, "consent", "export", cid, "--out", copy)
    assert r.code == 2 and "exists already" in _one_error_line(r.err)
    r = invoke(capsys, "--home", tmp_path / "elsewhere", "consent", "export", cid, "--out",
               tmp_path / "e.json")
    assert r.code == 2 and "no registry" in _one_error_line(r.err)


def test_an_issued_consent_whose_artifact_cannot_be_written_says_how_to_get_it(
        h, capsys, faces, release, tmp_path, monkeypatch) -> None:
    """Recorded first, then written: an --out that appears in between is kept, and the
    error names the recorded consent and the command that writes its artifact."""
    out = tmp_path / "late.json"
    record = consent_cli.record_consent

    def record_then_someone_writes(*args, **kwargs):
        done = record(*args, **kwargs)
        out.write_text("theirs")
        return done

    monkeypatch.setattr(consent_cli, "record_consent", record_then_someone_writes)
    r = invoke(capsys, *h, "consent", "issue", "--face", faces["portrait"], "--name", "E",
               "--release", release, "--out", out, "--json")
    assert r.code == 2 and out.read_text() == "theirs"
    message = r.json()["error"]["message"]
    cid = message.split()[1]
    assert f"{out} appeared while the consent was issued and was kept" in message
    assert message.endswith(f"trustavatar --home {h[1]} consent export {cid} --out FILE")
    monkeypatch.undo()
    r = invoke(capsys, *h, "consent", "export", cid, "--out", tmp_path / "got.json")
    assert r.code == 0, r.err
    assert invoke(capsys, *h, "consent", "verify", tmp_path / "got.json").code == 0


def test_a_dangling_link_at_out_is_an_existing_output(h, issued, capsys, tmp_path) -> None:
    """It was taken as free at the start and refused only at the end, as a file that
    'appeared while the output was being made' (after a whole scan or audit)."""
    _, result = issued
    link = tmp_path / "dangling.json"
    link.symlink_to(tmp_path / "nowhere")
    r = invoke(capsys, *h, "consent", "export", result["consent"]["consent_id"], "--out", link)
    assert r.code == 2 and "exists already (use --force" in _one_error_line(r.err)
    r = invoke(capsys, *h, "consent", "export", result["consent"]["consent_id"], "--out", link,
               "--force")
    assert r.code == 0 and not link.is_symlink() and link.read_bytes()


def test_an_end_past_the_signing_certificate_is_shown_as_capped(
        h, tmp_path, capsys, faces, release) -> None:
    """--not-after beyond the signing certificate: the consent ends with the certificate,
    and the output says so (it printed the earlier end without a word)."""
    args = [*h, "consent", "issue", "--face", faces["portrait"], "--name", "Eileen Collins",
            "--release", release, "--not-after", "2199-01-01T00:00:00Z"]
    r = invoke(capsys, *args, "--out", tmp_path / "long.json", "--json")
    assert r.code == 0, r.err
    record = r.json()["consent"]
    assert r.json()["asked_until"] == "2199-01-01T00:00:00Z"
    assert record["valid_until"] == record["not_after"] < "2199"  # signed with the cap
    r = invoke(capsys, *args, "--out", tmp_path / "long2.json")
    assert r.code == 0, r.err
    assert f"valid {record['not_before'][:4]}" in r.out
    assert ("asked until 2199-01-01T00:00:00Z, but a consent holds only while its signing "
            "certificate does") in " ".join(r.out.split())
