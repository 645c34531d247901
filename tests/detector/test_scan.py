"""``scan`` end to end on generated clips: real mediapipe, PyAV, c2pa and watermark."""

from __future__ import annotations

import json
import threading

import av
import cv2
import numpy as np
import pytest
from fixtures.mp4_boxes import find_box

from tests.detector.conftest import (
    PAYLOAD,
    listed_in_ledger,
    portrait,
    tone,
    watermarked,
    write_clip,
    write_faststart_clip,
)
from trustavatar import provenance as pv
from trustavatar.detector import AnalyzerStatus, Verdict, scan
from trustavatar.errors import DetectionError, VideoInputError
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.watermark import Watermark, payload_for


def test_a_still_portrait_video_gives_a_full_result(scanned):
    r = scanned("portrait")
    assert r.verdict in set(Verdict) and r.decided_by == "fusion"
    assert r.probability is not None and 0.0 <= r.probability <= 1.0
    assert set(r.analyzers) == {"blink", "frequency", "lipsync", "motion", "provenance", "sync"}
    assert r.track["frames"] == 50 and r.track["face_fraction"] == 1.0
    freq = r.analyzers["frequency"]
    assert freq.status is AnalyzerStatus.OK and freq.figures["frames_used"] == 50
    assert [(w.start, w.end) for w in freq.timeline] == [(0.0, 2.0)] or len(freq.timeline) == 1
    blink = r.analyzers["blink"]
    assert blink.status is AnalyzerStatus.INSUFFICIENT and blink.score is None
    assert "insufficient footage" in blink.reasons[0]
    assert any("not evidence about mouth-only edits" in x for x in blink.reasons)
    prov = r.analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "absent" and prov.figures["watermark_present"] is False
    assert not prov.decisive and "not evidence of authenticity" in prov.reasons[-1]
    assert r.timeline and r.timeline[0].face_fraction == 1.0
    doc = json.loads(r.to_json())
    assert doc["verdict"] == r.verdict.value and doc["video"]["width"] == 256
    assert len(doc["video"]["sha256"]) == 64


def test_no_audio_and_silent_audio_make_sync_not_applicable(scanned, clips, no_trust, tmp_path):
    mute = scanned("portrait_mute").analyzers["sync"]
    assert mute.status is AnalyzerStatus.NOT_APPLICABLE and mute.score is None
    assert "no audio track" in mute.reasons[0]
    silent = write_clip(tmp_path / "silent.mp4", [portrait(192)] * 25, audio=np.zeros(16000))
    r = scan(silent, trust=no_trust, analyzers=["sync"])
    assert r.analyzers["sync"].status is AnalyzerStatus.NOT_APPLICABLE
    assert "silent" in r.analyzers["sync"].reasons[0]
    still = scanned("portrait").analyzers["sync"]  # a still face over a tone: no accusation
    assert still.score in (None, 0.0) and not still.figures.get("sustained_offset")


def test_no_face_anywhere_is_inconclusive_without_a_probability(scanned):
    r = scanned("noface")
    assert r.verdict is Verdict.INCONCLUSIVE and r.probability is None
    assert r.decided_by == "none" and "no face was found" in r.reasons[0]
    assert r.track["frames_with_face"] == 0
    assert r.analyzers["frequency"].status is AnalyzerStatus.NOT_APPLICABLE


def test_a_face_in_a_few_frames_is_never_called_authentic(scanned):
    r = scanned("few_faces")
    assert 0.1 < r.track["face_fraction"] < 0.3
    assert r.verdict is not Verdict.LIKELY_AUTHENTIC
    faces = [w.face_fraction for w in r.timeline]
    assert len(faces) == 2 and faces[0] > 0 and faces[-1] == 0.0


def test_tiny_clips_and_4k_clips_are_handled(scanned, no_trust, tmp_path):
    tiny = scanned("tiny")
    assert tiny.verdict in set(Verdict) and tiny.video["width"] == 96
    big = np.zeros((2160, 3840, 3), np.uint8)
    big[:, 840:3000] = cv2.resize(portrait(), (2160, 2160))
    path = write_clip(tmp_path / "uhd.mp4", [big] * 4, crf=35)
    r = scan(path, trust=no_trust, analyzers=["frequency", "blink"])
    assert r.video["width"] == 3840 and r.track["frames_with_face"] == 4
    assert r.track["median_face_height_px"] > 600  # measured in source pixels


def test_scan_options_limit_and_report_progress(clips, no_trust):
    seen: list[float] = []
    r = scan(clips["portrait"], trust=no_trust, analyzers=["frequency"], max_seconds=1.0,
             progress=seen.append)
    assert r.track["frames"] == 25 and list(r.analyzers) == ["frequency"]
    assert seen and seen[-1] == 1.0
    r = scan(clips["portrait_mute"], trust=no_trust, analyzers=["blink"], device="cuda")
    assert r.device == "cuda" and any("ran on the CPU" in w for w in r.warnings)
    with pytest.raises(DetectionError, match="device must be one of cpu, cuda"):
        scan(clips["portrait_mute"], trust=no_trust, device="tpu")
    with pytest.raises(VideoInputError, match="no such file"):
        scan(clips["portrait"].with_name("missing.mp4"), trust=no_trust)


def test_a_video_whose_frames_do_not_decode_is_an_error_not_a_hang(clips, no_trust, tmp_path):
    # The container is intact, the coded frames are zeros: nothing decodes. The watermark
    # reader then fails on the end of the stream itself; its thread once waited for a
    # second end marker forever (so did a whole batch).
    data = bytearray(clips["portrait_mute"].read_bytes())
    off, size = find_box(bytes(data), "mdat")
    data[off + 8:off + size] = bytes(size - 8)
    broken = tmp_path / "zeros.mp4"
    broken.write_bytes(bytes(data))
    done: list[BaseException] = []

    def run() -> None:
        try:
            scan(broken, trust=no_trust)
        except BaseException as e:
            done.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "scan hangs on a video with no decodable frame"
    assert done and isinstance(done[0], VideoInputError), done
    assert "no decodable video frames" in str(done[0])


def test_a_watermark_nothing_confirms_is_a_claim_not_proof(no_trust, tmp_path):
    """The mark's key is public (the generator is open source): anyone can add it to real
    footage. A mark alone made any video 'likely-manipulated, p = 1.00, decided by
    provenance', a way to discredit a real video, which an untrusted manifest never was."""
    r = scan(watermarked(tmp_path / "wm.mp4"), trust=no_trust, home=tmp_path / "empty",
             analyzers=["provenance", "frequency"])
    prov = r.analyzers["provenance"]
    assert not prov.decisive and prov.figures["watermark_present"] is True
    assert prov.figures["watermark_payload"] == PAYLOAD.hex()
    assert prov.figures["watermark_confirmed_by"] is None
    assert prov.figures["watermark_ledger_note"].startswith("no ledger in the home")
    assert r.decided_by == "fusion" and r.verdict is not Verdict.LIKELY_AUTHENTIC
    assert any("claimed, not verified" in x and "key is public" in x for x in r.reasons)
    assert not (tmp_path / "empty").exists()  # a scan creates no home


def test_a_watermark_this_homes_ledger_lists_is_decisive(no_trust, tmp_path):
    home = listed_in_ledger(tmp_path / "home")
    r = scan(watermarked(tmp_path / "wm.mp4"), trust=no_trust, home=home,
             analyzers=["provenance", "frequency"])
    prov = r.analyzers["provenance"]
    assert prov.decisive and prov.figures["watermark_confirmed_by"] == "ledger"
    assert prov.figures["watermark_ledger_rows"] == [1]
    assert r.verdict is Verdict.LIKELY_MANIPULATED and r.probability == 1.0
    assert r.decided_by == "provenance" and "this home's ledger lists it: row 1" in r.reasons[0]
    other = listed_in_ledger(tmp_path / "other", payload_for("urn:c2pa:another"))
    r = scan(watermarked(tmp_path / "wm.mp4"), trust=no_trust, home=other,
             analyzers=["provenance"])
    assert not r.analyzers["provenance"].decisive


def test_a_trusted_ai_manifest_is_decisive_and_an_untrusted_one_is_not(clips, no_trust,
                                                                       tmp_path):
    home = Home.resolve(tmp_path / "home")
    keystore = Keystore.create(home, organisation="Detector Test Org")
    signed = tmp_path / "signed.mp4"
    pv.sign(clips["portrait_mute"], signed, key=keystore.signing_key(),
            trust=keystore.trust_store())
    r = scan(signed, trust=keystore.trust_store(), analyzers=["provenance", "frequency"])
    prov = r.analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "trusted" and prov.figures["ai_generated"] is True
    assert r.verdict is Verdict.LIKELY_MANIPULATED and r.decided_by == "provenance"
    assert "trusted C2PA manifest" in r.reasons[0]
    r = scan(signed, trust=no_trust, analyzers=["provenance", "frequency"])
    assert r.analyzers["provenance"].figures["c2pa_state"] == "valid-untrusted"
    assert not r.analyzers["provenance"].decisive and r.decided_by == "fusion"
    assert r.verdict is not Verdict.LIKELY_AUTHENTIC
    assert any("not decisive" in x for x in r.reasons)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"analyzers": "blink"}, r"a sequence of names, not one string: \['blink'\]"),
    ({"window": 0}, r"window must be 0.5-60 seconds, got 0"),
    ({"window": float("nan")}, r"window must be"),
    ({"window": -1}, r"window must be"),
    ({"max_seconds": 0}, r"max_seconds must be a positive number"),
    ({"max_seconds": float("nan")}, r"max_seconds must be a positive number"),
    ({"max_seconds": "1"}, r"max_seconds must be a positive number"),
    ({"max_side": 1.5}, r"max_side must be a whole number"),
    ({"progress": 5}, r"progress must be a callable, got int"),
    ({"analyzers": ["blink"], "analyzer_options": {"blnk": {}}}, r"for blnk, which is not "
                                                                   r"selected \(blink\)"),
    ({"analyzers": ["blink"], "analyzer_options": {"blink": 5}}, r"must be a mapping"),
])
def test_wrong_scan_arguments_are_named_before_any_work(clips, no_trust, kwargs, says):
    with pytest.raises(DetectionError, match=says):
        scan(clips["portrait"], trust=no_trust, **kwargs)


@pytest.mark.parametrize(("kwargs", "says"), [
    # a path for trust was read by the provenance analyzer as "manifest unreadable"
    ({"trust": "/some/home/trust"}, r"trust must be a TrustStore .*, got str"),
    ({"device": "tpu"}, r"device must be one of cpu, cuda, got 'tpu'"),
])
def test_wrong_trust_or_device_is_named_once_before_any_file(clips, kwargs, says):
    from trustavatar.detector import scan_many

    with pytest.raises(DetectionError, match=says):
        scan(clips["portrait"], **kwargs)
    with pytest.raises(DetectionError, match=says):
        list(scan_many([clips["portrait"], clips["portrait"]], **kwargs))


def test_scan_many_wants_a_sequence_of_paths(clips):
    from trustavatar.detector import scan_many

    with pytest.raises(VideoInputError, match="a sequence of paths, not one path"):
        list(scan_many(str(clips["portrait"])))
    for nothing in (None, 5):
        with pytest.raises(VideoInputError, match="takes a sequence of paths, got"):
            list(scan_many(nothing))  # type: ignore[arg-type]
    with pytest.raises(DetectionError, match="workers must be a whole number from 1"):
        list(scan_many([clips["portrait"]], workers=0))
    with pytest.raises(VideoInputError, match="the video must be a path, got int"):
        scan(5)  # type: ignore[arg-type]


def test_a_decoy_stream_placed_first_does_not_hide_the_video(no_trust, tmp_path):
    """Only the first video stream was scanned: a grey decoy stream placed before a
    watermarked AI video made the file 'inconclusive, no face' (exit 0)."""

    mark = Watermark(PAYLOAD)
    face = mark.apply(portrait())
    path = tmp_path / "decoy.mp4"
    with av.open(str(path), "w") as out:
        decoy = out.add_stream("libx264", rate=25)
        decoy.width, decoy.height, decoy.pix_fmt = 320, 240, "yuv420p"
        real = out.add_stream("libx264", rate=25)
        real.width, real.height, real.pix_fmt = face.shape[1], face.shape[0], "yuv420p"
        grey = np.full((240, 320, 3), 90, np.uint8)
        for _ in range(40):
            out.mux(decoy.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
            out.mux(real.encode(av.VideoFrame.from_ndarray(face, format="rgb24")))
        for s in (decoy, real):
            out.mux(s.encode())
    home = listed_in_ledger(tmp_path / "home")
    r = scan(path, trust=no_trust, home=home, analyzers=["provenance", "frequency"])
    assert r.verdict is Verdict.LIKELY_MANIPULATED and r.decided_by == "provenance"
    assert r.video["stream"] == 1 and r.video["video_streams"] == 2
    assert r.warnings[0].startswith("the file holds 2 video streams, each scanned: #0 (320x240")
    only = scan(path, trust=no_trust, home=home, analyzers=["provenance"], stream=0)
    assert only.verdict is not Verdict.LIKELY_MANIPULATED and only.video["stream"] == 0
    with pytest.raises(VideoInputError, match="no video stream #5"):
        scan(path, trust=no_trust, analyzers=["provenance"], stream=5)


def test_cover_art_is_not_a_video(tmp_path):
    """An MP3 whose ID3 tag holds a picture opened as a one-frame 'video' and was scanned."""
    import io
    import struct

    from PIL import Image

    song = tmp_path / "plain.mp3"
    with av.open(str(song), "w") as out:
        a = out.add_stream("libmp3lame", rate=16000)
        a.layout = "mono"
        t = tone(1.0)
        for k in range(0, len(t), 1152):
            f = av.AudioFrame.from_ndarray(t[None, k:k + 1152], format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, k
            out.mux(a.encode(f))
        out.mux(a.encode())
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(jpeg, "JPEG")
    payload = b"\x00image/jpeg\x00\x03cover\x00" + jpeg.getvalue()
    apic = b"APIC" + struct.pack(">I", len(payload)) + b"\0\0" + payload
    size = bytes((len(apic) >> s) & 0x7F for s in (21, 14, 7, 0))  # ID3 "syncsafe"
    raw = song.read_bytes()
    if raw[:3] == b"ID3":  # the encoder's own tag goes: one tag, ours
        raw = raw[10 + (raw[6] << 21 | raw[7] << 14 | raw[8] << 7 | raw[9]):]
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x03\x00\x00" + size + apic + raw)
    with av.open(str(path)) as c:
        assert c.streams.video[0].disposition & av.stream.Disposition.attached_pic
    with pytest.raises(VideoInputError, match="only a still picture"):
        scan(path, analyzers=["frequency"])


def test_a_trusted_manifest_confirms_its_watermark_and_a_broken_one_is_named(no_trust,
                                                                             tmp_path):
    home = Home.resolve(tmp_path / "home")
    keystore = Keystore.create(home, organisation="Detector Test Org")
    signed = tmp_path / "signed.mp4"
    pv.sign(watermarked(tmp_path / "wm.mp4"), signed, key=keystore.signing_key(),
            trust=keystore.trust_store(),
            generation=pv.GenerationBinding("gen-1", PAYLOAD.hex()))
    r = scan(signed, trust=keystore.trust_store(), home=home, analyzers=["provenance"])
    prov = r.analyzers["provenance"]
    assert prov.decisive and prov.figures["watermark_confirmed_by"] == "manifest"
    assert any("the payload the trusted manifest binds" in x for x in prov.reasons)
    # the file changed after signing: the signer is trusted, the manifest does not verify
    data = bytearray(signed.read_bytes())
    off, size = find_box(bytes(data), "mdat")
    data[off + size // 2] ^= 0xFF
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    r = scan(broken, trust=keystore.trust_store(), home=home, analyzers=["provenance"])
    prov = r.analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "invalid" and not prov.decisive
    said = " ".join(prov.reasons)
    assert "does not verify" in said and "signer is not trusted" not in said, said


def test_a_look_alike_signer_is_named_in_the_scan(clips, tmp_path):
    """Another home of the same organisation name signs with our names but not our root:
    provenance verify said "possible impersonation"; scan's reasons now say it too."""
    ours = Keystore.create(Home.resolve(tmp_path / "ours"), organisation="Detector Test Org")
    theirs = Keystore.create(Home.resolve(tmp_path / "theirs"),
                             organisation="Detector Test Org")
    signed = tmp_path / "signed.mp4"
    pv.sign(clips["portrait_mute"], signed, key=theirs.signing_key(),
            trust=theirs.trust_store())
    r = scan(signed, trust=ours.trust_store(), home=ours.home, analyzers=["provenance"])
    prov = r.analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "valid-untrusted" and not prov.decisive
    assert prov.figures["impersonates"]
    assert any("possible impersonation" in x for x in r.reasons), r.reasons
    assert pv.verify(signed, trust=ours.trust_store()).impersonates  # the Python API too


def test_a_look_alike_signer_is_named_when_it_declares_no_ai(clips, tmp_path):
    """The same look-alike, but its manifest declares a camera capture (no AI generation):
    "possible impersonation" was said only for a manifest that declared AI generation."""
    from trustavatar.provenance import _c2pa

    ours = Keystore.create(Home.resolve(tmp_path / "ours"), organisation="Detector Test Org")
    theirs = Keystore.create(Home.resolve(tmp_path / "theirs"),
                             organisation="Detector Test Org")
    captured = {"label": "c2pa.actions.v2", "data": {"actions": [{
        "action": "c2pa.created", "digitalSourceType":
            "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}
    definition = {"claim_generator_info": [{"name": "a camera", "version": "1"}],
                  "title": "signed.mp4", "assertions": [captured]}
    signed = tmp_path / "signed.mp4"
    with _c2pa.builder(definition, _c2pa.context(theirs.trust_store())) as b, \
            clips["portrait_mute"].open("rb") as src, signed.open("w+b") as dst:
        b.sign(_c2pa.signer(theirs.signing_key(), None), "video/mp4", src, dst)
    r = scan(signed, trust=ours.trust_store(), home=ours.home, analyzers=["provenance"])
    prov = r.analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "valid-untrusted" and not prov.decisive
    assert prov.figures["ai_generated"] is False and prov.figures["impersonates"]
    assert any("possible impersonation" in x and "Detector Test Org" in x
               for x in prov.reasons), prov.reasons


def test_a_copy_cut_short_says_why_its_manifest_is_unknown(no_trust, tmp_path):
    # faststart: the header first, so the frames before the cut still decode
    path = write_faststart_clip(tmp_path / "fast.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    prov = scan(cut, trust=no_trust, analyzers=["provenance"]).analyzers["provenance"]
    assert prov.figures["c2pa_state"] == "unsupported-format"  # not "absent": never signed
    assert "truncated MP4 file (cut short)" in prov.figures["c2pa_error"]


def test_a_listed_payload_in_a_ledger_that_does_not_verify_is_not_proof(no_trust, tmp_path):
    """A row edited after it was written (here its operator) could say anything, the file
    it names included: the look-up checks the chain before a listed payload counts."""
    from tests.ledger.ledgertools import Attacker

    home = listed_in_ledger(tmp_path / "home")
    clip = watermarked(tmp_path / "wm.mp4")
    Attacker(home.registry_path).run("UPDATE generation_ledger SET operator = 'mallory'")
    r = scan(clip, trust=no_trust, home=home, analyzers=["provenance"])
    prov = r.analyzers["provenance"]
    assert not prov.decisive and prov.figures["watermark_confirmed_by"] is None
    assert prov.figures["watermark_ledger_rows"] == [1]
    assert "ledger does not verify (row 1 was edited" in prov.figures["watermark_ledger_note"]
    assert r.verdict is not Verdict.LIKELY_MANIPULATED or r.decided_by != "provenance"
