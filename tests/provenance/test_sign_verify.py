from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures.mp4_boxes import find_box, flip_byte_in, top_level_boxes, transplant_manifest
from fixtures.synthetic_media import remux

from trustavatar import provenance as pv
from trustavatar.errors import (
    ProvenanceInputError,
    ProvenanceVerificationError,
    UnsupportedFormatError,
)
from trustavatar.home import Home
from trustavatar.keys import Keystore, SigningKey, TrustStore

BINDING = pv.ConsentBinding("3f6c1a8e-0000-4000-8000-000000000001", "ab" * 32)
S = pv.ValidationState


def _sign(src: Path, dst: Path, key: SigningKey, trust: TrustStore, **kw) -> pv.SignResult:
    return pv.sign(src, dst, key=key, trust=trust, consent=BINDING, **kw)


def test_mp4_round_trip_declares_everything(tmp_path, media, signing_key, trust) -> None:
    out = tmp_path / "signed.mp4"
    ingredient = pv.Ingredient.from_file(media["jpeg"], title="face.jpg")
    result = _sign(media["mp4"], out, signing_key, trust, ingredients=[ingredient])
    assert result.manifest_label.startswith("urn:c2pa:")
    report = pv.verify(out, trust=trust)
    assert report.state is S.TRUSTED
    assert report.require_trusted() is report
    assert report.failures == ()
    assert report.ai_generated is True
    assert report.digital_source_types == (pv.SourceType.TRAINED_ALGORITHMIC_MEDIA.uri,)
    assert report.consent == BINDING
    assert report.ingredients == (ingredient,)
    assert report.signer and report.signer.common_name == "Test Org trustavatar signer"
    assert report.claim_generator and report.claim_generator.startswith("trustavatar ")
    assert set(report.training_mining.values()) == {"notAllowed"}
    assert len(report.training_mining) == 4
    assert report.timestamp is None and "no trusted timestamp" in (report.timestamp_note or "")
    assert report.manifest_label == result.manifest_label
    d = report.to_dict()
    assert d["state"] == "trusted" and d["consent"]["consent_id"] == BINDING.consent_id


def test_composite_declares_an_edit(tmp_path, media, signing_key, trust) -> None:
    out = tmp_path / "dub.mp4"
    pv.sign(media["mp4"], out, key=signing_key, trust=trust,
            source_type=pv.SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)
    report = pv.verify(out, trust=trust)
    assert report.state is S.TRUSTED and report.ai_generated
    assert report.digital_source_types == (
        pv.SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.uri,)
    assert report.consent is None


def test_unknown_root_is_valid_but_untrusted(tmp_path, media, signing_key, trust) -> None:
    out = tmp_path / "signed.mp4"
    _sign(media["mp4"], out, signing_key, trust)
    stranger = Keystore.create(Home.resolve(tmp_path / "stranger"), organisation="Stranger")
    for other in (stranger.trust_store(), TrustStore(())):
        report = pv.verify(out, trust=other)
        assert report.state is S.VALID_UNTRUSTED
        assert [f.code for f in report.failures] == ["signingCredential.untrusted"]
        assert "not in the trust store" in report.summary
        with pytest.raises(ProvenanceVerificationError, match="not in the trust store"):
            report.require_trusted()


@pytest.mark.parametrize("box", ["mdat", "moov"])
def test_flipped_byte_in_the_video_is_invalid(tmp_path, media, signing_key, trust, box) -> None:
    out = tmp_path / "signed.mp4"
    _sign(media["mp4"], out, signing_key, trust)
    flip_byte_in(out, box)
    report = pv.verify(out, trust=trust)
    assert report.state is S.INVALID
    assert "assertion.bmffHash.mismatch" in [f.code for f in report.failures]
    assert "changed after signing" in report.summary
    with pytest.raises(ProvenanceVerificationError, match="INVALID"):
        report.require_trusted()


def test_a_damaged_manifest_box_or_a_cut_copy_is_invalid_and_claims_nothing(
        tmp_path, media, signing_key, trust) -> None:
    out = tmp_path / "signed.mp4"
    _sign(media["mp4"], out, signing_key, trust)
    data = out.read_bytes()
    off, _ = find_box(data, "uuid")
    box = bytearray(data)
    box[off + 8] ^= 1  # the C2PA box's type UUID: c2pa no longer finds the store in it
    unlocated = tmp_path / "unlocated.mp4"
    unlocated.write_bytes(bytes(box))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) - 100])  # the manifest whole, the end of the file gone
    for path, codes in ((unlocated, ["manifest.unlocated"]),
                        (cut, ["file.cut_short", "manifest.unreadable"])):
        report = pv.verify(path, trust=trust)
        assert report.state is S.INVALID and [f.code for f in report.failures] == codes
        assert not report.read and report.ai_generated is None  # nothing was read
        assert report.timestamp_note is None


def test_transplanted_manifest_is_invalid(tmp_path, media, signing_key, trust) -> None:
    a, b, out = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "forged.mp4"
    _sign(media["mp4"], a, signing_key, trust)
    _sign(media["mp4b"], b, signing_key, trust)
    transplant_manifest(a, b, out)
    report = pv.verify(out, trust=trust)
    assert report.state is S.INVALID
    assert "assertion.bmffHash.mismatch" in [f.code for f in report.failures]


def test_remuxed_copy_has_no_manifest(tmp_path, media, signing_key, trust) -> None:
    signed, copy = tmp_path / "signed.mp4", tmp_path / "remuxed.mp4"
    _sign(media["mp4"], signed, signing_key, trust)
    remux(signed, copy)
    assert "uuid" not in [b[0] for b in top_level_boxes(copy.read_bytes())]
    report = pv.verify(copy, trust=trust)
    assert report.state is S.ABSENT
    assert report.ai_generated is None
    assert "provenance unknown" in report.summary and "not evidence" in report.summary
    with pytest.raises(ProvenanceVerificationError, match="no C2PA manifest"):
        report.require_trusted()


@pytest.mark.parametrize("kind", ["jpeg", "png", "wav"])
def test_still_and_audio_formats_round_trip(tmp_path, media, signing_key, trust, kind) -> None:
    out = tmp_path / f"signed{media[kind].suffix}"
    result = _sign(media[kind], out, signing_key, trust)
    assert result.mime == {"jpeg": "image/jpeg", "png": "image/png", "wav": "audio/wav"}[kind]
    report = pv.verify(out, trust=trust)
    assert report.state is S.TRUSTED and report.consent == BINDING
    # flip a byte of the original content (found in the signed file by its neighbourhood)
    original = media[kind].read_bytes()
    needle = original[len(original) * 3 // 4: len(original) * 3 // 4 + 32]
    data = bytearray(out.read_bytes())
    at = data.find(needle)
    assert at > 0
    data[at + 16] ^= 0x55
    out.write_bytes(bytes(data))
    bad = pv.verify(out, trust=trust)
    assert bad.state is S.INVALID
    assert "assertion.dataHash.mismatch" in [f.code for f in bad.failures]


def test_unsigned_files_are_absent(media, trust) -> None:
    for kind in ("mp4", "jpeg", "png", "wav"):
        assert pv.verify(media[kind], trust=trust).state is S.ABSENT


def test_garbage_appended_to_a_signed_mp4_does_not_crash(tmp_path, media, signing_key, trust):
    out = tmp_path / "signed.mp4"
    _sign(media["mp4"], out, signing_key, trust)
    out.write_bytes(out.read_bytes() + b"\x00\x00\x00\x10junkjunkjunkjunk")
    report = pv.verify(out, trust=trust)
    assert report.state is not S.TRUSTED


def test_sign_in_place(tmp_path, media, signing_key, trust) -> None:
    p = tmp_path / "v.mp4"
    shutil.copy(media["mp4"], p)
    p.chmod(0o440)  # the file's permissions stay as the user set them
    _sign(p, p, signing_key, trust)
    assert pv.verify(p, trust=trust).state is S.TRUSTED
    assert p.stat().st_mode & 0o777 == 0o440


def test_unsupported_and_missing_inputs_leave_nothing(tmp_path, signing_key, trust) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("hello, not a video")
    out = tmp_path / "out.mp4"
    with pytest.raises(UnsupportedFormatError, match="not a supported format"):
        pv.sign(txt, out, key=signing_key, trust=trust)
    with pytest.raises(ProvenanceInputError, match="cannot read"):
        pv.sign(tmp_path / "missing.mp4", out, key=signing_key, trust=trust)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFormatError, match="is empty"):
        pv.verify(empty, trust=trust)
    with pytest.raises(ProvenanceInputError, match="directory"):
        pv.verify(tmp_path, trust=trust)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4", "home", "notes.txt"]


def test_truncated_mp4_fails_cleanly_without_output(tmp_path, media, signing_key, trust) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(media["mp4"].read_bytes()[:500])
    out = tmp_path / "out.mp4"
    with pytest.raises(UnsupportedFormatError, match="truncated or damaged MP4"):
        pv.sign(broken, out, key=signing_key, trust=trust)
    # no manifest in what is left is not "never signed": one may have been cut off
    with pytest.raises(UnsupportedFormatError, match=r"truncated MP4 file \(cut short\)"):
        pv.verify(broken, trust=trust)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_quicktime_is_named(tmp_path) -> None:
    mov = tmp_path / "clip.mov"
    mov.write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ")
    with pytest.raises(UnsupportedFormatError, match="QuickTime MOV"):
        pv.detect_format(mov)


def test_binding_and_ingredient_validate_their_values() -> None:
    from trustavatar.errors import InputError

    with pytest.raises(InputError, match="64 lowercase hex"):
        pv.ConsentBinding("id", "xyz")
    with pytest.raises(InputError, match="non-empty"):
        pv.ConsentBinding("", "ab" * 32)
    with pytest.raises(InputError, match="relationship"):
        pv.Ingredient("t", "ab" * 32, relationship="stolenFrom")


@pytest.mark.parametrize("kind", ["jpeg", "png", "wav"])
def test_truncated_stills_and_audio_are_refused(tmp_path, media, signing_key, trust, kind) -> None:
    broken = tmp_path / f"broken{media[kind].suffix}"
    data = media[kind].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / f"out{media[kind].suffix}"
    with pytest.raises(UnsupportedFormatError, match="truncated or damaged"):
        pv.sign(broken, out, key=signing_key, trust=trust)
    assert not out.exists()


@pytest.mark.parametrize("odd", [
    {"label": "cawg.training-mining", "data": {"entries": ["x"]}},
    {"label": "cawg.training-mining", "data": "not an object"},
    {"label": "cawg.training-mining", "data": {"entries": {"cawg.ai_training": "x"}}},
    {"label": "org.trustavatar.generation", "data": 5},
    {"label": "org.trustavatar.consent", "data": ["a", "list"]},
    {"label": "org.example.anything", "data": {"a": [1, {"b": None}]}},
])
def test_a_foreign_manifest_of_any_shape_is_reported_not_crashed_on(
        tmp_path, media, signing_key, trust, odd) -> None:
    """What a manifest declares is the file's: a field of an unexpected JSON type is read
    as absent. (A training-mining assertion whose entries were a list made verify, and so
    every scan of the file, fail with an AttributeError: the file escaped scanning.)"""
    from trustavatar.provenance import _c2pa

    created = {"label": "c2pa.actions.v2", "data": {"actions": [{
        "action": "c2pa.created",
        "digitalSourceType": pv.SourceType.TRAINED_ALGORITHMIC_MEDIA.uri}]}}
    definition = {"claim_generator_info": [{"name": "elsewhere", "version": "1"}],
                  "title": "odd.mp4", "assertions": [created, odd]}
    out = tmp_path / "odd.mp4"
    with _c2pa.builder(definition, _c2pa.context(trust)) as b, \
            media["mp4"].open("rb") as src, out.open("w+b") as dst:
        b.sign(_c2pa.signer(signing_key, None), "video/mp4", src, dst)
    report = pv.verify(out, trust=trust)
    assert report.state is S.TRUSTED, report.failures
    assert report.claim_generator == "elsewhere 1" and report.consent is None
    assert report.to_dict()["state"] == "trusted"


_SIGN_WITH_A_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
from trustavatar import provenance as pv
from trustavatar.errors import SigningError
from trustavatar.keys import Keystore
from trustavatar._atomic import atomic_output
home, src, dst = sys.argv[1:4]
ks = Keystore.open(home)
key, trust = ks.signing_key(), ks.trust_store()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (Path(src).stat().st_size // 2, resource.RLIM_INFINITY))
try:
    pv.sign(src, dst, key=key, trust=trust, title="Promo clip")
except SigningError as e:
    print(e)
try:  # signing into a temporary of the caller's (as generate does): named as the output
    with atomic_output(dst) as tmp:
        pv.sign(src, tmp, key=key, trust=trust)
except SigningError as e:
    print(e)
"""


@pytest.mark.parametrize("kind", ["mp4", "jpeg"])
def test_an_output_that_cannot_be_written_is_named_with_the_reason(tmp_path, media, keystore,
                                                                   kind) -> None:
    """A full disk or a quota fails c2pa's writes, which it reported in its own words
    ("UntrackedPointer", "JPEG write error"). A file size limit fails the writes for
    real here, as a full disk does."""
    import subprocess
    import sys

    dst = tmp_path / f"out{media[kind].suffix}"
    said = subprocess.run(
        [sys.executable, "-c", _SIGN_WITH_A_SIZE_LIMIT, str(keystore.home.root),
         str(media[kind]), str(dst)], capture_output=True, text=True, check=True).stdout
    assert said.splitlines() == [f"cannot write {dst.name} in {tmp_path}: File too large"] * 2
    assert not dst.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_signing_over_a_manifest_keeps_it_as_the_parent_with_its_validation(
        tmp_path, media, signing_key, trust) -> None:
    first, again = tmp_path / "first.mp4", tmp_path / "again.mp4"
    first_label = _sign(media["mp4"], first, signing_key, trust).manifest_label
    assert pv.verify(first, trust=trust).parent is None  # it had none
    result = _sign(first, again, signing_key, trust)
    assert result.parent == pv.ParentManifest("first.mp4", first_label, "trusted")
    report = pv.verify(again, trust=trust)
    assert report.state is S.TRUSTED and report.parent == result.parent
    assert report.to_dict()["parent"]["state"] == "trusted"
    assert result.to_dict()["format"] == report.to_dict()["format"] == "video/mp4"
    flip_byte_in(first, "mdat")  # a tampered file signed again is trusted, and says so
    laundered = tmp_path / "laundered.mp4"
    parent = _sign(first, laundered, signing_key, trust).parent
    assert parent is not None and parent.state == "invalid"
    assert parent.failures == ("assertion.bmffHash.mismatch",)
    assert pv.verify(laundered, trust=trust).parent == parent


def test_ctrl_c_inside_c2pa_waits_for_the_signing_and_leaves_nothing(
        tmp_path, media, signing_key, trust, monkeypatch) -> None:
    """The signal arrives in c2pa's write callback (Python called from Rust): its exception
    was lost there (a wrong error, or none), or the process aborted with a Rust panic."""
    import importlib
    import signal

    sign_module = importlib.import_module("trustavatar.provenance.sign")

    write = sign_module._Output.write
    sent: list[bool] = []

    def write_and_interrupt(self, data: bytes) -> int:
        if not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)
        return write(self, data)

    monkeypatch.setattr(sign_module._Output, "write", write_and_interrupt)
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        _sign(media["mp4"], out, signing_key, trust)
    assert sent and sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_a_manifest_that_cannot_be_read_is_not_signed_over(tmp_path, media, signing_key,
                                                           trust) -> None:
    """Signing over it would drop it without a trace: the laundering the parent closes."""
    signed = tmp_path / "signed.mp4"
    _sign(media["mp4"], signed, signing_key, trust)
    data = bytearray(signed.read_bytes())
    off, _ = find_box(bytes(data), "uuid")
    data[off + 8] ^= 1  # c2pa no longer finds the store: verify says invalid, unlocated
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    with pytest.raises(ProvenanceInputError, match="holds a C2PA manifest that cannot be read"):
        _sign(damaged, out, signing_key, trust)
    # and a source with a manifest has one parent: that manifest
    face = pv.Ingredient.from_file(media["jpeg"], title="face.jpg", relationship="parentOf")
    with pytest.raises(ProvenanceInputError, match="cannot be its parent too"):
        _sign(signed, out, signing_key, trust, ingredients=[face])
    assert not out.exists()


def test_appended_bytes_are_not_a_cut_and_a_signed_picture_inside_is_not_the_manifest(
        tmp_path, media, signing_key, trust) -> None:
    import struct

    plain = media["mp4"].read_bytes()
    for tail in (b"abc", b"\x00\x01\x00\x00" + bytes(range(128, 164))):  # 3 and 40 bytes
        appended = tmp_path / "appended.mp4"
        appended.write_bytes(plain + tail)
        assert pv.verify(appended, trust=trust).state is S.ABSENT  # not "cut short", exit 2
    picture = tmp_path / "signed.jpg"
    _sign(media["jpeg"], picture, signing_key, trust)
    art = picture.read_bytes()
    carrying = tmp_path / "carrying.mp4"
    carrying.write_bytes(plain + struct.pack(">I", 8 + len(art)) + b"free" + art)
    assert pv.verify(carrying, trust=trust).state is S.ABSENT  # the picture's, not the file's


@pytest.mark.parametrize("name", ["signed.jpg", "signed.mov", "signed.mkv", "signed.webm"])
def test_an_output_named_for_another_format_is_refused(tmp_path, media, signing_key, trust,
                                                       name) -> None:
    from trustavatar.errors import InputError

    with pytest.raises(InputError, match=r"named like another format, but it would hold MP4"):
        _sign(media["mp4"], tmp_path / name, signing_key, trust)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_overwrite_false_refuses_an_existing_output_before_any_work(tmp_path, media,
                                                                     signing_key, trust) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"mine")
    from trustavatar.errors import InputError

    with pytest.raises(InputError, match=r"exists already; not replaced"):
        _sign(media["mp4"], out, signing_key, trust, overwrite=False)
    assert out.read_bytes() == b"mine"


@pytest.mark.parametrize(("kind", "marker", "renamed"), [
    ("jpeg", b"\xff\xeb", b"\xff\xec"), ("png", b"caBX", b"caBY"), ("wav", b"C2PA", b"C2PB")])
def test_a_picture_or_sound_whose_store_box_is_damaged_is_not_absent(
        tmp_path, media, signing_key, trust, kind, marker, renamed) -> None:
    signed = tmp_path / f"signed{media[kind].suffix}"
    _sign(media[kind], signed, signing_key, trust)
    data = signed.read_bytes()
    damaged = tmp_path / f"damaged{media[kind].suffix}"
    damaged.write_bytes(data.replace(marker, renamed, 1))
    report = pv.verify(damaged, trust=trust)
    assert report.state is S.INVALID and [f.code for f in report.failures] == [
        "manifest.unlocated"]
    with pytest.raises(ProvenanceInputError, match="holds a C2PA manifest that cannot be read"):
        _sign(damaged, tmp_path / f"again{media[kind].suffix}", signing_key, trust)


def test_what_follows_a_file_or_damages_it_is_told_apart(tmp_path, media, signing_key,
                                                         trust) -> None:
    """Review of this session's own change: a signed picture appended after an unsigned one
    (a Motion Photo's video, say) is not the file's store; a line of text appended after an
    MP4 is not a cut; a box whose size is broken is damage (exit 2), not "absent"."""
    signed = tmp_path / "signed.jpg"
    _sign(media["jpeg"], signed, signing_key, trust)
    carrying = tmp_path / "carrying.jpg"
    carrying.write_bytes(media["jpeg"].read_bytes() + signed.read_bytes())
    assert pv.verify(carrying, trust=trust).state is S.ABSENT
    plain = media["mp4"].read_bytes()
    noted = tmp_path / "noted.mp4"
    noted.write_bytes(plain + b"-- appended note: exported by tool X --\n")
    assert pv.verify(noted, trust=trust).state is S.ABSENT
    broken = bytearray(plain)
    off, _ = find_box(plain, "mdat")
    broken[off:off + 4] = (3).to_bytes(4, "big")  # a box size no box can have
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(broken))
    with pytest.raises(UnsupportedFormatError, match="truncated or damaged MP4"):
        pv.verify(damaged, trust=trust)
