"""``keys trust remove``: a root is named by its label or by at least 8 hex digits of its
SHA-256, and a shorter prefix is told so instead of "no trust anchor"."""

from __future__ import annotations

from tests.clitools import invoke


def test_a_sha256_prefix_needs_eight_hex_digits(tmp_path, capsys) -> None:
    h = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *h, "keys", "init", "--org", "Home").code == 0
    other = ["--home", str(tmp_path / "third")]
    assert invoke(capsys, *other, "keys", "init", "--org", "Third").code == 0
    root = tmp_path / "third" / "keys" / "root-ca.pem"
    assert invoke(capsys, *h, "keys", "trust", "add", root, "--label", "third").code == 0
    digest = next(a["sha256"] for a in invoke(capsys, *h, "keys", "trust", "list",
                                              "--json").json()["anchors"]
                  if a["label"] == "third")

    r = invoke(capsys, *h, "keys", "trust", "remove", digest[:7])
    assert r.code == 2
    assert "7 hex digits are too few for the start of a SHA-256: give at least 8" in r.err, r.err
    assert r.err.count("\n") == 1  # one line
    r = invoke(capsys, *h, "keys", "trust", "remove", digest[:7].upper(), "--json")
    assert r.code == 2 and "give at least 8" in r.json()["error"]["message"]
    # a name that is no prefix at all says what a prefix needs too
    r = invoke(capsys, *h, "keys", "trust", "remove", "nobody")
    assert r.code == 2 and "no trust anchor labelled 'nobody'" in r.err
    assert "a SHA-256 prefix needs at least 8 hex digits" in r.err
    # still trusted; 8 digits name it (the library's own rule: TrustStore.matching)
    labels = [a["label"] for a in invoke(capsys, *h, "keys", "trust", "list",
                                         "--json").json()["anchors"]]
    assert "third" in labels
    r = invoke(capsys, *h, "keys", "trust", "remove", digest[:8], "--json")
    assert r.code == 0 and r.json()["removed"]["label"] == "third"


def test_the_help_says_how_long_a_prefix_must_be(capsys) -> None:
    r = invoke(capsys, "keys", "trust", "remove", "--help")
    assert r.code == 0 and "at least 8" in " ".join(r.out.split())


def test_the_list_tells_this_homes_current_root_from_a_retired_one(tmp_path, capsys) -> None:
    """After 'keys init --force' both roots carried the same label, one line each, and
    nothing said which one 'keys trust remove LABEL' would refuse."""
    h = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *h, "keys", "init", "--org", "Home").code == 0
    assert invoke(capsys, *h, "keys", "init", "--org", "Home", "--force").code == 0
    other = ["--home", str(tmp_path / "third")]
    assert invoke(capsys, *other, "keys", "init", "--org", "Third").code == 0
    root = tmp_path / "third" / "keys" / "root-ca.pem"
    assert invoke(capsys, *h, "keys", "trust", "add", root, "--label", "third").code == 0
    anchors = invoke(capsys, *h, "keys", "trust", "list", "--json").json()["anchors"]
    assert sorted((a["label"], a["own"]) for a in anchors) == [
        ("Home-root", "current"), ("Home-root", "retired"), ("third", None)]
    r = invoke(capsys, *h, "keys", "trust", "list")
    assert "Home-root (this home's root): " in r.out
    assert "Home-root (this home's, retired): " in r.out
