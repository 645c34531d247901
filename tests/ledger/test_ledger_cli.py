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
from trustavatar.registry import Registry, append_generation


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
    for args in (["ledger", "verify"], ["ledger", "list"], ["consent", "list"]):
        r = invoke(capsys, *h, *args)
        assert r.code == 1 and "is empty (0 bytes)" in r.err, (args, r.err)
    assert registry.read_bytes() == b""  # reading wrote no schema into it
    import sqlite3

    registry.unlink()
    sqlite3.connect(registry).execute("CREATE TABLE other (x)").connection.close()
    r = invoke(capsys, *h, "ledger", "verify")
    assert r.code == 1 and "has no trustavatar tables" in r.err


def test_a_row_number_beyond_sqlites_integers_is_a_usage_error(h, capsys) -> None:
    r = invoke(capsys, *h, "ledger", "show", str(2 ** 63))
    assert r.code == 2 and "SEQ" in r.err
