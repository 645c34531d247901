from __future__ import annotations

import hashlib

from tests.clitools import invoke
from tests.watermark.media import decode, encode


def test_demo_runs_end_to_end_and_twice(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    r = invoke(capsys, "demo", "--out", out, "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["ok"] is True
    assert [s["step"] for s in d["steps"]] == [
        "signing identity", "consent issued", "consent verified", "video generated",
        "provenance verified", "tampered copy detected"]
    assert d["provenance"]["state"] == "trusted"
    assert d["provenance"]["consent"]["consent_id"] == d["consent"]["consent_id"]
    assert d["steps"][-1]["state"] == "invalid"
    first_identity = d["steps"][0]["certificate"]
    # a re-encoded copy loses its manifest; its watermark still names the generation
    copy = encode(decode(out / "sample-avatar.mp4"), tmp_path / "copy.mp4", crf=23)
    home = ["--home", str(out / "home")]
    r = invoke(capsys, *home, "provenance", "verify", copy, "--json")
    assert r.code == 4, r.err  # the exit code says what the manifest is: absent
    mark = r.json()["watermark"]
    assert mark["present"] and mark["confirmed_by"] == "ledger"
    (row,) = mark["ledger_rows"]
    assert row["consent_id"] == d["consent"]["consent_id"] and row["this_file"] is False
    assert row["output_sha256"] == hashlib.sha256((out / "sample-avatar.mp4").read_bytes()
                                                  ).hexdigest()
    assert row["consent_status"]["status"] == "valid"
    r = invoke(capsys, *home, "provenance", "verify", copy)
    assert "this home's ledger lists it" in r.out and "ledger row 1" in r.out
    # a home whose ledger does not list it: a claim; the signed original: not read
    r = invoke(capsys, "--home", tmp_path / "elsewhere", "provenance", "verify", copy, "--json")
    assert r.json()["watermark"]["confirmed_by"] is None
    assert r.json()["watermark"]["ledger_note"].startswith("no ledger in the home")
    assert not (tmp_path / "elsewhere").exists()
    r = invoke(capsys, *home, "provenance", "verify", out / "sample-avatar.mp4", "--json")
    assert r.code == 0 and r.json()["watermark"] is None
    r = invoke(capsys, *home, "provenance", "verify", copy, "--no-watermark", "--json")
    assert r.code == 4 and r.json()["watermark"] is None

    # a second run reuses the identity (never overwrites it)
    r = invoke(capsys, "demo", "--out", out)
    assert r.code == 0 and "demo passed" in r.out
    assert first_identity in r.out
    assert sorted(p.name for p in out.iterdir()) == [
        "home", "release.txt", "sample-avatar.mp4", "sample-avatar.tampered.mp4",
        "sample.consent.json"]


def test_demo_refuses_a_home_it_would_not_use(tmp_path, capsys) -> None:
    r = invoke(capsys, "--home", tmp_path / "mine", "demo", "--out", tmp_path / "demo")
    assert r.code == 2 and "drop --home" in r.err
    assert not (tmp_path / "mine").exists() and not (tmp_path / "demo").exists()
