from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.mp4_boxes import flip_byte_in
from tests.clitools import invoke


@pytest.fixture
def h(tmp_path):
    return ["--home", str(tmp_path / "home")]


def test_sign_and_verify_exit_codes(tmp_path, capsys, media, h) -> None:
    assert invoke(capsys, *h, "keys", "init", "--org", "CLI Org").code == 0
    out = tmp_path / "signed.mp4"
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out,
               "--ingredient", media["jpeg"], "--json")
    assert r.code == 0, r.err
    signed = r.json()
    assert signed["ok"] and signed["manifest_label"].startswith("urn:c2pa:")

    r = invoke(capsys, *h, "provenance", "verify", out)
    assert r.code == 0 and "trusted" in r.out and "AI-generated: yes" in r.out
    assert "no trusted timestamp" in r.out

    r = invoke(capsys, *h, "provenance", "verify", out, "--json")
    d = r.json()
    assert d["state"] == "trusted" and d["ai_generated"] is True
    assert d["ingredients"][0]["title"] == "image.jpg"

    # unsigned → 4 (absent), untrusted → 5, tampered → 3
    assert invoke(capsys, *h, "provenance", "verify", media["mp4"]).code == 4
    other = ["--home", str(tmp_path / "other")]
    assert invoke(capsys, *other, "keys", "init").code == 0
    r = invoke(capsys, *other, "provenance", "verify", out, "--json")
    assert r.code == 5 and r.json()["state"] == "valid-untrusted"
    flip_byte_in(out, "mdat")
    r = invoke(capsys, *h, "provenance", "verify", out)
    assert r.code == 3 and "INVALID" in r.out and "changed after signing" in r.out


def test_sign_without_keystore_is_one_clear_line(tmp_path, capsys, media, h) -> None:
    out = tmp_path / "o.mp4"
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out)
    assert r.code == 1
    assert r.err.strip().splitlines() == [
        f"trustavatar: error: no signing identity in {tmp_path / 'home'} "
        "(run 'trustavatar keys init')"
    ]
    assert not out.exists()


def test_wrong_passphrase_leaves_no_file(tmp_path, capsys, media, h, monkeypatch) -> None:
    monkeypatch.setenv("PW", "right one")
    assert invoke(capsys, *h, "keys", "init", "--passphrase-env", "PW").code == 0
    monkeypatch.setenv("PW", "wrong one")
    out = tmp_path / "o.mp4"
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out,
               "--passphrase-env", "PW", "--json")
    assert r.code == 1 and "wrong passphrase" in r.err
    assert r.json() == {"ok": False, "error": {"type": "PassphraseError",
                                               "message": r.json()["error"]["message"],
                                               "exit_code": 1}}
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out)
    assert r.code == 1 and "is encrypted" in r.err
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out,
               "--passphrase-env", "UNSET_VARIABLE_XYZ")
    assert r.code == 2 and "UNSET_VARIABLE_XYZ" in r.err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"plain text, not media", b"\x00" * 64])
def test_bad_inputs(tmp_path, capsys, h, content) -> None:
    assert invoke(capsys, *h, "keys", "init").code == 0
    src = tmp_path / "in.mp4"
    src.write_bytes(content)
    out = tmp_path / "out.mp4"
    for args in (("provenance", "sign", src, "--out", out), ("provenance", "verify", src)):
        r = invoke(capsys, *h, *args)
        assert r.code == 2, r.err
        assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("trustavatar: error:")
    assert not out.exists()
    r = invoke(capsys, *h, "provenance", "verify", tmp_path / "missing.mp4")
    assert r.code == 2 and "cannot read" in r.err


def test_keys_cli(tmp_path, capsys, h) -> None:
    r = invoke(capsys, *h, "keys", "init", "--org", "Acme", "--json")
    assert r.code == 0 and r.json()["identity"]["organisation"] == "Acme"
    r = invoke(capsys, *h, "keys", "init")
    assert r.code == 1 and "exists already" in r.err
    r = invoke(capsys, *h, "keys", "show", "--json")
    assert r.json()["identity"]["algorithm"] == "ES256"
    assert len(r.json()["trust_anchors"]) == 1
    # a third-party root
    other = ["--home", str(tmp_path / "third")]
    invoke(capsys, *other, "keys", "init", "--org", "Third")
    root = tmp_path / "third" / "keys" / "root-ca.pem"
    r = invoke(capsys, *h, "keys", "trust", "add", root, "--label", "third-party")
    assert r.code == 0
    r = invoke(capsys, *h, "keys", "trust", "list", "--json")
    assert {a["label"] for a in r.json()["anchors"]} == {"Acme-root", "third-party"}
    # the same root again, under another name: trusted once
    r = invoke(capsys, *h, "keys", "trust", "add", root, "--label", "again", "--json")
    assert r.code == 0 and r.json()["already_trusted"] is True
    assert r.json()["anchor"]["label"] == "third-party"
    r = invoke(capsys, *h, "keys", "trust", "list", "--json")
    assert len(r.json()["anchors"]) == 2
    r = invoke(capsys, *h, "keys", "trust", "add", root, "--label", "L" * 300)
    assert r.code == 2 and "label is longer than 100" in r.err
    # removing: by label or SHA-256 prefix; never this home's own root
    r = invoke(capsys, *h, "keys", "trust", "remove", "Acme-root")
    assert r.code == 2 and "this home's own root" in r.err
    r = invoke(capsys, *h, "keys", "trust", "remove", "nobody")
    assert r.code == 2 and "no trust anchor labelled 'nobody'" in r.err
    third = next(a for a in invoke(capsys, *h, "keys", "trust", "list", "--json").json()[
        "anchors"] if a["label"] == "third-party")
    r = invoke(capsys, *h, "keys", "trust", "remove", third["sha256"][:12], "--json")
    assert r.code == 0 and r.json()["removed"]["label"] == "third-party"
    r = invoke(capsys, *h, "keys", "trust", "list", "--json")
    assert [a["label"] for a in r.json()["anchors"]] == ["Acme-root"]
    assert not Path(third["path"]).exists()
    leaf = tmp_path / "third" / "keys" / "signing-chain.pem"
    r = invoke(capsys, *h, "keys", "trust", "add", leaf)
    assert r.code == 2 and "exactly one certificate" in r.err
    # a root 'keys init --force' retired stays too: what it signed still verifies here
    old = invoke(capsys, *h, "keys", "show", "--json").json()["trust_anchors"][0]["sha256"]
    assert invoke(capsys, *h, "keys", "init", "--org", "Acme", "--force").code == 0
    r = invoke(capsys, *h, "keys", "trust", "remove", old[:12])
    assert r.code == 2 and "a root of this home's own, retired" in r.err
    r = invoke(capsys, *h, "keys", "trust", "remove", old[:12], "--force")  # its key leaked
    assert r.code == 0 and "warning: removing a root this home retired" in r.err


def test_keys_import_cli(tmp_path, capsys, h, monkeypatch) -> None:
    ca = ["--home", str(tmp_path / "ca")]
    invoke(capsys, *ca, "keys", "init", "--org", "External CA")
    kd = tmp_path / "ca" / "keys"
    monkeypatch.setenv("NEWPW", "s3cret")
    r = invoke(capsys, *h, "keys", "import", "--chain", kd / "signing-chain.pem",
               "--key", kd / "signing-key.pem", "--passphrase-env", "NEWPW", "--json")
    assert r.code == 0, r.err
    assert r.json()["identity"]["source"] == "imported"
    assert r.json()["identity"]["key_encrypted"] is True
    r = invoke(capsys, *h, "keys", "import", "--chain", kd / "root-ca.pem",
               "--key", kd / "root-ca-key.pem", "--force")
    assert r.code == 2 and "cannot sign C2PA manifests" in r.err
    # replacing the encrypted identity with a key stored in clear is said
    r = invoke(capsys, *h, "keys", "import", "--chain", kd / "signing-chain.pem",
               "--key", kd / "signing-key.pem", "--force")
    assert r.code == 0 and "warning: the signing key is stored unencrypted" in r.err


def test_config_tsa_url(capsys, h, media, tmp_path) -> None:
    assert invoke(capsys, *h, "config", "set", "tsa_url", "http://127.0.0.1:9/tsa").code == 0
    # nothing listens there: the error names the output and the TSA, not a temporary file
    assert invoke(capsys, *h, "keys", "init").code == 0
    r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", tmp_path / "t.jpg")
    assert r.code == 1 and "C2PA signing of t.jpg failed" in r.err, r.err
    assert "timestamp authority http://127.0.0.1:9/tsa" in r.err and ".part" not in r.err
    assert not (tmp_path / "t.jpg").exists()
    assert invoke(capsys, *h, "config", "show", "--json").json()["config"]["tsa_url"] == (
        "http://127.0.0.1:9/tsa")
    for bad in ("ftp://x", "http://", "http://time stamp.example/", "https://a.example/\n",
                "http://[::1", "http://[zz]/", "http://host:99999/", "http://host:abc/",
                "https://a.example/\u200b", "file:///etc/passwd"):  # (some were exit 70)
        r = invoke(capsys, *h, "config", "set", "tsa_url", bad)
        assert r.code == 2 and "http(s) URL" in r.err, bad
    # a hand-edited file is refused where it is used, and can be put right with the CLI
    config = tmp_path / "home" / "config.toml"
    for edited in ('tsa_url = 5\n', 'tsa_url = "file:///etc/passwd"\n'):
        config.write_text(edited)
        r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", tmp_path / "u.jpg")
        assert r.code == 1 and "config unset tsa_url" in r.err, r.err
        assert invoke(capsys, *h, "config", "unset", "tsa_url").code == 0
    config.write_text('tsa_url = 5\n')
    assert invoke(capsys, *h, "config", "set", "tsa_url", "http://127.0.0.1:9/tsa").code == 0
    # the organisation is the signing identity's ('keys init --org'), not a setting
    for args in (["colour", "blue"], ["organisation", "Studio"]):
        r = invoke(capsys, *h, "config", "set", *args)
        assert r.code == 2 and "unknown config key" in r.err
    r = invoke(capsys, *h, "config", "set", "colour", "blue")
    assert r.code == 2 and "unknown config key" in r.err
    assert invoke(capsys, *h, "config", "unset", "tsa_url").code == 0
    assert invoke(capsys, *h, "config", "show", "--json").json()["config"]["tsa_url"] is None


def test_unreachable_tsa_fails_signing_cleanly(tmp_path, capsys, media, h) -> None:
    invoke(capsys, *h, "keys", "init")
    invoke(capsys, *h, "config", "set", "tsa_url", "http://127.0.0.1:9/tsa")
    out = tmp_path / "o.mp4"
    r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out)
    assert r.code == 1 and "C2PA signing" in r.err
    assert not out.exists()


def test_damaged_unsigned_file_is_bad_input_not_tampering(tmp_path, capsys, media, h) -> None:
    assert invoke(capsys, *h, "keys", "init").code == 0
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(media["jpeg"].read_bytes()[:600])
    r = invoke(capsys, *h, "provenance", "verify", truncated, "--json")
    assert r.code == 2 and "truncated or damaged JPEG" in r.json()["error"]["message"]
    # a signed file cut short is tampering: its manifest is still there
    signed = tmp_path / "signed.jpg"
    assert invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", signed).code == 0
    data = signed.read_bytes()
    signed.write_bytes(data[:-200])
    r = invoke(capsys, *h, "provenance", "verify", signed)
    assert r.code == 3 and "INVALID" in r.out


def test_sign_refuses_to_replace_another_file(tmp_path, capsys, media, h) -> None:
    assert invoke(capsys, *h, "keys", "init").code == 0
    keep = tmp_path / "keep.wav"
    keep.write_bytes(b"precious")
    r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", keep)
    assert r.code == 2 and "exists already (use --force" in r.err
    assert keep.read_bytes() == b"precious"
    r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", keep, "--ingredient",
               keep, "--force")
    assert r.code == 2 and "is also the input --ingredient" in r.err
    # a JPEG is not written under a WAV's name
    r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", keep, "--force")
    assert r.code == 2 and "would hold JPEG: name it keep.jpg" in r.err
    assert keep.read_bytes() == b"precious"
    keep_jpg = tmp_path / "keep.jpg"
    keep_jpg.write_bytes(b"precious")
    assert invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", keep_jpg,
                  "--force").code == 0
    # signing in place needs no --force
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(media["jpeg"].read_bytes())
    assert invoke(capsys, *h, "provenance", "sign", copy, "--out", copy).code == 0
    assert invoke(capsys, *h, "provenance", "verify", copy).code == 0


def test_no_output_replaces_or_joins_the_homes_keys_trust_or_registry(tmp_path, capsys, media,
                                                                      h) -> None:
    assert invoke(capsys, *h, "keys", "init").code == 0
    home = tmp_path / "home"
    key = home / "keys" / "signing-key.pem"
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    for out in (key, home / "keys" / "new.mp4", home / "trust" / "anchor.pem"):
        r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", out, "--force")
        assert r.code == 2 and "in the trustavatar home's" in r.err, (out, r.err)
    copy = home / "keys" / "copy.jpg"  # even signing in place, which needs no --force
    copy.write_bytes(media["jpeg"].read_bytes())
    r = invoke(capsys, *h, "provenance", "sign", copy, "--out", copy)
    assert r.code == 2 and "keys folder (its signing key and certificates)" in r.err
    copy.unlink()
    r = invoke(capsys, *h, "consent", "revocations", "export", "--out", key, "--force")
    assert r.code == 2 and "in the trustavatar home's keys folder" in r.err
    # the home's settings and registry files, also before they exist
    for name in ("config.toml", "registry.sqlite3", "registry.sqlite3-wal"):
        assert not (home / name).exists()
        r = invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out", home / name)
        assert r.code == 2 and "is the trustavatar home's" in r.err, (name, r.err)
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert invoke(capsys, *h, "provenance", "sign", media["mp4"], "--out",
                  tmp_path / "fine.mp4").code == 0


def test_replacing_an_encrypted_identity_with_a_plain_one_is_said(tmp_path, capsys, h,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("PW", "s3cret")
    assert invoke(capsys, *h, "keys", "init", "--passphrase-env", "PW").code == 0
    monkeypatch.delenv("TRUSTAVATAR_PASSPHRASE", raising=False)
    r = invoke(capsys, *h, "keys", "init", "--force")
    assert r.code == 0 and "had an encrypted key; this one's is not encrypted" in r.err
    r = invoke(capsys, *h, "keys", "init", "--force", "--passphrase-env", "PW")
    assert r.code == 0 and "warning" not in r.err


def test_paths_no_file_can_have_and_links_to_the_input_are_named(tmp_path, capsys, media,
                                                                 h) -> None:
    assert invoke(capsys, *h, "keys", "init").code == 0
    src = tmp_path / "v.mp4"
    src.write_bytes(media["mp4"].read_bytes())
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    for args in ((src, "--out", link), (link, "--out", link)):  # neither signs the file
        r = invoke(capsys, *h, "provenance", "sign", *args)
        assert r.code == 2 and "is a symbolic link to the input" in r.err, r.err
    assert link.is_symlink() and src.read_bytes() == media["mp4"].read_bytes()
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for out in (tmp_path / ("a" * 252 + ".mp4"), tmp_path / "/".join(["d" * 200] * 21) / "x.mp4",
                loop / "x.mp4"):
        r = invoke(capsys, *h, "provenance", "sign", src, "--out", out, "--json")
        assert r.code == 2 and r.json()["error"]["type"] == "InputError", r.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "link.mp4", "loop", "v.mp4"]


def test_an_error_line_shows_a_file_name_with_escapes(tmp_path, capsys, h) -> None:
    # a right-to-left override in a name turned the rest of the error line around
    r = invoke(capsys, *h, "provenance", "verify", tmp_path / "evil\u202egpj.mp4")
    assert r.code == 2 and "evil\\u202egpj.mp4" in r.err and "\u202e" not in r.err


def test_verify_says_when_a_video_cannot_carry_the_watermark(tmp_path, capsys, h) -> None:
    """Frames under the watermark's 64 px: the reading fails, the verdict does not."""
    import numpy as np
    from tests.watermark.media import encode

    small = encode([np.full((48, 48, 3), 90 + i, np.uint8) for i in range(10)],
                   tmp_path / "small.mp4", crf=23)
    r = invoke(capsys, *h, "provenance", "verify", small, "--json")
    assert r.code == 4, r.err
    mark = r.json()["watermark"]
    assert mark["read"] is False and "64" in mark["error"]
    r = invoke(capsys, *h, "provenance", "verify", small)
    assert r.code == 4 and "watermark: not read (" in r.out
    assert not (tmp_path / "home").exists()  # verifying creates no home


def test_verify_names_the_ledger_row_of_a_marked_copy_only_when_the_chain_holds(
        tmp_path, capsys) -> None:
    from tests.detector.conftest import PAYLOAD, listed_in_ledger, watermarked
    from tests.ledger.ledgertools import Attacker

    home = listed_in_ledger(tmp_path / "home")
    clip = watermarked(tmp_path / "wm.mp4")
    h = ["--home", str(home.root)]
    r = invoke(capsys, *h, "provenance", "verify", clip, "--json")
    assert r.code == 4, r.err
    mark = r.json()["watermark"]
    assert mark["payload"] == PAYLOAD.hex() and mark["confirmed_by"] == "ledger"
    assert [row["seq"] for row in mark["ledger_rows"]] == [1] and mark["ledger_note"] is None
    assert mark["ledger_rows"][0]["consent_status"]["in_registry"] is False
    Attacker(home.registry_path).run("UPDATE generation_ledger SET operator = 'mallory'")
    r = invoke(capsys, *h, "provenance", "verify", clip, "--json")
    mark = r.json()["watermark"]
    assert r.code == 4 and mark["confirmed_by"] is None
    assert "ledger does not verify (row 1 was edited" in mark["ledger_note"]
    r = invoke(capsys, *h, "provenance", "verify", clip)
    assert "claimed, not verified: this home's ledger does not verify" in r.out
    assert "ledger row 1 (as stored, not verified)" in r.out


def test_verify_reads_fewer_frames_of_larger_video() -> None:
    """750 frames of 4K took 44 s to decode for a mark that reads at full strength (z 9.2,
    its maximum) from 25 of them: the frames read follow the pixels."""
    from trustavatar._cli.provenance import watermark_frames

    assert watermark_frames(512, 512) == watermark_frames(1280, 720) == 750
    assert watermark_frames(1920, 1080) == 333
    assert watermark_frames(3840, 2160) == watermark_frames(7680, 4320) == 100
    assert watermark_frames(0, 0) == 750
