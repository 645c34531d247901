from __future__ import annotations

from tests.clitools import invoke


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
