"""``provenance verify`` as a person reads it: claims marked as claims, a look-alike signer
named as one, the bound consent's status, control characters escaped."""

from __future__ import annotations

import shutil
from pathlib import Path

from fixtures.mp4_boxes import flip_byte_in
from tests.clitools import invoke

from trustavatar import provenance as pv
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.provenance.model import (
    ProvenanceReport,
    Signer,
    ValidationState,
    check_signer_names,
)

CLAIMED = "(claimed, not verified)"


def _home(tmp_path: Path, name: str, org: str, capsys) -> list[str]:
    args = ["--home", str(tmp_path / name)]
    assert invoke(capsys, *args, "keys", "init", "--org", org).code == 0
    return args


def _sign(home: list[str], src: Path, dst: Path, ingredient: Path) -> Path:
    ks = Keystore.open(Home.resolve(home[1]))
    pv.sign(src, dst, key=ks.signing_key(), trust=ks.trust_store(),
            consent=pv.ConsentBinding("consent-1234", "ab" * 32),
            ingredients=[pv.Ingredient.from_file(ingredient)])
    return dst


def _lines(out: str, start: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith(start)]


def test_unverified_claims_are_marked_as_claims(tmp_path, capsys, media) -> None:
    ours = _home(tmp_path, "ours", "CLI Org", capsys)
    other = _home(tmp_path, "other", "Other Org", capsys)
    signed = _sign(other, media["mp4"], tmp_path / "signed.mp4", media["jpeg"])
    # trusted where it was signed: nothing marked
    r = invoke(capsys, *other, "provenance", "verify", signed)
    assert r.code == 0 and CLAIMED not in r.out and "what the file claims" not in r.out
    assert _lines(r.out, "consent:") == [
        f"consent: consent-1234 (artifact sha256 {'ab' * 8}…)"]
    # valid but untrusted here: every value is what the file claims
    r = invoke(capsys, *ours, "provenance", "verify", signed)
    assert r.code == 5, r.err
    for start in ("AI-generated: yes", "consent: consent-1234", "ingredient: image.jpg",
                  "signer: 'Other Org trustavatar signer'", "AI training / data mining"):
        found = _lines(r.out, start)
        assert found and all(line.endswith(CLAIMED) for line in found), (start, r.out)
    assert "what follows is what the file claims: its signature is not trusted, so none of it " \
           "is verified" in r.out
    assert "add its root with 'trustavatar keys trust add'" in r.out  # a stranger: fine
    # invalid: the same
    bad = tmp_path / "bad.mp4"
    shutil.copy(signed, bad)
    flip_byte_in(bad, "mdat")
    r = invoke(capsys, *other, "provenance", "verify", bad)
    assert r.code == 3
    for start in ("AI-generated: yes", "consent: consent-1234", "ingredient: image.jpg"):
        assert _lines(r.out, start)[0].endswith(CLAIMED), (start, r.out)
    assert "its signature does not hold" in r.out


def test_a_look_alike_signer_is_named_as_one(tmp_path, capsys, media) -> None:
    # another key under exactly our root's and signer's names
    ours = _home(tmp_path, "ours", "CLI Org", capsys)
    twin = _home(tmp_path, "twin", "CLI Org", capsys)
    signed = _sign(twin, media["mp4"], tmp_path / "signed.mp4", media["jpeg"])
    r = invoke(capsys, *ours, "provenance", "verify", signed)
    assert r.code == 5, r.err
    summary = r.out.splitlines()[0]
    assert "is NOT trusted: its name matches the trusted identity 'CLI Org trustavatar " \
           "signer', but its certificate does not chain to that identity's root (possible " \
           "impersonation: do not trust this signer)" in " ".join(r.out.split())
    assert "keys trust add" not in r.out, summary
    d = invoke(capsys, *ours, "provenance", "verify", signed, "--json").json()
    assert d["impersonates"] == "CLI Org trustavatar signer"
    assert "keys trust add" not in d["summary"]
    # a home with no identity of its own still knows its trust anchors' names
    bare = ["--home", str(tmp_path / "bare")]
    assert invoke(capsys, *bare, "keys", "trust", "add",
                  tmp_path / "ours" / "keys" / "root-ca.pem").code == 0
    d = invoke(capsys, *bare, "provenance", "verify", signed, "--json").json()
    assert d["state"] == "valid-untrusted" and d["impersonates"] == "CLI Org"
    # the twin's own verification trusts it: no warning
    d = invoke(capsys, *twin, "provenance", "verify", signed, "--json").json()
    assert d["state"] == "trusted" and d["impersonates"] is None


def test_check_signer_names_rules() -> None:
    def report(state, cn, issuer, failures=()):
        return ProvenanceReport("x.mp4", "video/mp4", state, failures=failures,
                                signer=Signer(cn, issuer, "Es256"))

    names = ["Studio trustavatar signer", "Studio"]
    # matched case-folded and Unicode-normalised (a full-width letter)
    r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "STUDIO trustavatar "
                                  "signer", "Elsewhere"), names)
    assert r.impersonates == "Studio trustavatar signer"
    r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "x", "\uff33tudio"), names)
    assert r.impersonates == "Studio"
    assert "keys trust add" not in r.summary and "possible impersonation" in r.summary
    assert check_signer_names(report(ValidationState.VALID_UNTRUSTED, "Other", "Other"),
                              names).impersonates is None
    # invisible format characters do not tell a name apart: zero-width space and joiner,
    # word joiner, byte order mark, soft hyphen, a left-to-right mark
    for hidden in ("Stu\u200bdio", "Stu\u200ddio\u2060", "\ufeffStudio", "Stu\u00addio",
                   "Studio\u200e"):
        r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "x", hidden), names)
        assert r.impersonates == "Studio", ascii(hidden)
    r = check_signer_names(report(ValidationState.VALID_UNTRUSTED,
                                  "Studio\u200b trustavatar signer", "x"), names)
    assert r.impersonates == "Studio trustavatar signer"
    # letters of another script that look like Latin ones (Unicode's confusables): a
    # Cyrillic а, о, Ѕ; a Greek Ο; both ways round for a name in Cyrillic
    for alike in ("Studi\u043e", "\u0405tudio", "Stu\u0501io",
                  "Stud\u0456o", "STUDI\u039f"):
        r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "x", alike), names)
        assert r.impersonates == "Studio", ascii(alike)
    cyrillic = ["\u0421\u0442\u0443\u0434\u0438\u044f"]  # Студия
    r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "x",
                                  "C\u0442\u0443\u0434\u0438\u044f"), cyrillic)  # Latin C
    assert r.impersonates == cyrillic[0]
    # other letters still tell names apart
    for other in ("Studios", "Stadio", "M\u00fcller", "\u0421\u0442\u0443\u0434"):
        r = check_signer_names(report(ValidationState.VALID_UNTRUSTED, "x", other), names)
        assert r.impersonates is None, ascii(other)
    # a trusted signer's manifest tampered with is invalid, not an impersonation
    tampered = report(ValidationState.INVALID, "Studio trustavatar signer", "Studio",
                      (pv.Failure("assertion.bmffHash.mismatch", "changed"),))
    assert check_signer_names(tampered, names).impersonates is None
    untrusted = report(ValidationState.INVALID, "Studio trustavatar signer", "Studio",
                       (pv.Failure("signingCredential.untrusted", "untrusted"),
                        pv.Failure("assertion.bmffHash.mismatch", "changed")))
    r = check_signer_names(untrusted, names)
    assert r.impersonates == "Studio trustavatar signer"
    assert r.summary.startswith("INVALID manifest: untrusted; changed; its name matches")
    trusted = report(ValidationState.TRUSTED, "Studio trustavatar signer", "Studio")
    assert check_signer_names(trusted, names) is trusted


def _portrait_video(path: Path, frames: int = 10) -> Path:
    """A short H.264 video of the packaged sample portrait (the consenting subject)."""
    import av
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(sample_portrait_path()).convert("RGB"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def test_signing_binds_a_consent_only_to_its_subjects_face(tmp_path, capsys, media) -> None:
    """Any consent was bound to any media: a research-only consent, or one of another
    person, to a video, signed as trusted."""
    from fixtures.faces import write_second_person

    home = _home(tmp_path, "home", "CLI Org", capsys)
    release = tmp_path / "release.pdf"
    release.write_bytes(b"%PDF-1.7 release\n")
    artifacts = {}
    for name, extra in (("avatar", ()), ("research", ("--purpose", "research"))):
        artifacts[name] = tmp_path / f"{name}.consent.json"
        r = invoke(capsys, *home, "consent", "issue", "--face", sample_portrait_path(),
                   "--name", "Eileen Collins", "--release", release, "--out",
                   artifacts[name], *extra)
        assert r.code == 0, r.err
    face_video = _portrait_video(tmp_path / "portrait.mp4")
    ok = invoke(capsys, *home, "provenance", "sign", face_video, "--out", tmp_path / "a.mp4",
                "--consent", artifacts["avatar"])
    assert ok.code == 0, ok.err
    research = invoke(capsys, *home, "provenance", "sign", face_video, "--out",
                      tmp_path / "b.mp4", "--consent", artifacts["research"])
    assert research.code == 3 and "avatar-generation" in research.err, research.err
    other = invoke(capsys, *home, "provenance", "sign", write_second_person(tmp_path),
                   "--out", tmp_path / "c.jpg", "--consent", artifacts["avatar"])
    assert other.code == 3 and "does not match the consenting subject" in other.err
    faceless = invoke(capsys, *home, "provenance", "sign", media["mp4"], "--out",
                      tmp_path / "d.mp4", "--consent", artifacts["avatar"])
    assert faceless.code == 2 and "shows exactly one face" in faceless.err
    assert not any((tmp_path / n).exists() for n in ("b.mp4", "c.jpg", "d.mp4"))


def test_a_trusted_manifest_shows_its_consents_status_here(tmp_path, capsys, media) -> None:
    home = _home(tmp_path, "home", "CLI Org", capsys)
    release = tmp_path / "release.pdf"
    release.write_bytes(b"%PDF-1.7 release\n")
    artifact = tmp_path / "c.consent.json"
    r = invoke(capsys, *home, "consent", "issue", "--face", sample_portrait_path(), "--name",
               "Eileen Collins", "--release", release, "--out", artifact, "--json")
    assert r.code == 0, r.err
    consent_id = r.json()["consent"]["consent_id"]
    signed = tmp_path / "signed.mp4"
    face_video = _portrait_video(tmp_path / "portrait.mp4")
    assert invoke(capsys, *home, "provenance", "sign", face_video, "--out", signed,
                  "--consent", artifact).code == 0
    r = invoke(capsys, *home, "provenance", "verify", signed)
    assert r.code == 0
    assert _lines(r.out, "in this home's registry:")[0].startswith(
        "in this home's registry: valid (until ")
    assert invoke(capsys, *home, "consent", "revoke", consent_id, "--reason",
                  "withdrawn").code == 0
    registry = Home.resolve(home[1]).registry_path
    before = registry.read_bytes()
    r = invoke(capsys, *home, "provenance", "verify", signed)
    assert r.code == 0  # the manifest still holds; the consent behind it does not
    assert _lines(r.out, "in this home's registry:")[0].startswith(
        "in this home's registry: REVOKED on ")
    d = invoke(capsys, *home, "provenance", "verify", signed, "--json").json()
    assert d["consent_status"]["status"] == "revoked" and d["consent_status"]["revoked_at"]
    assert d["consent_status"]["artifact_matches"] is True
    assert registry.read_bytes() == before  # looked up read-only
    # a home that does not hold the consent says so
    other = _home(tmp_path, "other", "Other Org", capsys)
    assert invoke(capsys, *other, "keys", "trust", "add",
                  tmp_path / "home" / "keys" / "root-ca.pem").code == 0
    d = invoke(capsys, *other, "provenance", "verify", signed, "--json").json()
    assert d["state"] == "trusted" and d["consent_status"]["in_registry"] is False


def test_control_characters_in_a_manifest_are_escaped(tmp_path, capsys, media) -> None:
    home = _home(tmp_path, "home", "CLI Org", capsys)
    # an ingredient named with C1 controls (CSI, NEL) and a line separator
    odd = tmp_path / "a\u009b31mb\u0085c\u2028d\u2029e.jpg"
    shutil.copy(media["jpeg"], odd)
    signed = _sign(home, media["mp4"], tmp_path / "signed.mp4", odd)
    r = invoke(capsys, *home, "provenance", "verify", signed)
    assert r.code == 0
    assert "ingredient: a\\x9b31mb\\x85c\\u2028d\\u2029e.jpg" in r.out
    assert not any(ch in r.out for ch in "\u009b\u0085\u2028\u2029")
