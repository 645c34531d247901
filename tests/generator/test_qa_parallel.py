"""QA measured beside the renderer: the second process, the finishing thread, the detector
boxes placed from the face mesh, and the read-back of the encoded file. All for real
(mediapipe, dlib, a child Python, PyAV)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from trustavatar.errors import GenerationError, InputError
from trustavatar.face import load_image, sample_portrait_path
from trustavatar.face.mesh import FaceMesh
from trustavatar.generator.deform import MouthPose
from trustavatar.generator.encode import VideoWriter, check_written
from trustavatar.generator.finishing import FrameFinisher
from trustavatar.generator.qa import BoxFromMesh, identity_embedding, reference_for_qa
from trustavatar.generator.qa_process import (
    InProcessMeter,
    PacketDecoder,
    QAProcess,
    measured_in_parallel,
)
from trustavatar.generator.render import PhotoRenderer
from trustavatar.watermark import Watermark

SIZE = 256


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """30 rendered frames of the sample face (mouth opening and closing, head turning a
    little), the reference image and its landmarks."""
    import cv2

    img = load_image(sample_portrait_path())
    img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
    assert lm is not None
    renderer = PhotoRenderer(img, lm)
    frames = [renderer.render(MouthPose(gap=0.05 * (1 + np.sin(i / 3)),
                                        roll=0.08 * np.sin(i / 7), dx=0.03 * np.sin(i / 5)))
              for i in range(30)]
    return frames, img, lm


def _encoded(frames: list[np.ndarray], path) -> tuple[list[list[bytes]], bytes]:
    """Encode ``frames``: the packets of each ``write`` (and of the final flush), and the
    decoder configuration."""
    with VideoWriter(path, width=SIZE, height=SIZE, fps=25, audio=None, threads=1) as w:
        batches = [w.write(f) for f in frames]
        batches.append(w.finish())
        return batches, w.extradata


def test_the_qa_process_measures_what_the_in_process_meter_measures(tmp_path, clip) -> None:
    frames, img, lm = clip
    _, boxes = reference_for_qa(img, lm)
    batches, extradata = _encoded(frames, tmp_path / "c.mp4")
    assert extradata and sum(map(len, batches)) == len(frames)
    assert any(not b for b in batches[:-1])  # the encoder holds frames back: packets lag
    wanted = [3, 15, 27]
    face_px = float(np.linalg.norm(lm[10] - lm[152]))
    with InProcessMeter() as here:
        here.begin(len(frames), wanted, face_px, boxes)
        for b in batches:
            here.add_packets(b, extradata)
        a = here.result()
    with QAProcess() as there:
        there.begin(len(frames), wanted, face_px, boxes)
        for b in batches:
            there.add_packets(b, extradata)
        b_ = there.result()
    assert a.frames == b_.frames == len(frames) and a.missing == b_.missing == 0
    np.testing.assert_allclose(a.openings, b_.openings, atol=1e-6)
    assert np.ptp(a.openings) > 0.02  # the mouth was seen moving
    assert sorted(a.embeddings) == sorted(b_.embeddings) == wanted
    for i in wanted:
        np.testing.assert_allclose(a.embeddings[i], b_.embeddings[i], atol=1e-6)
    assert there.cpu_s > 0 and here.cpu_s > 0 and there.local_cpu_s == 0
    # what was measured is the file: its packets (length-prefixed there, start codes in
    # the encoder's output) decode to the very same frames
    with av.open(str(tmp_path / "c.mp4")) as container:
        stream = container.streams.video[0]
        stored = [bytes(p) for p in container.demux(stream) if p.size]
        stored_config = bytes(stream.codec_context.extradata)

    def decoded(packets: list[bytes], config: bytes) -> list[np.ndarray]:
        dec = PacketDecoder()
        return [f for p in packets for f in dec.decode(p, config)] + dec.flush()

    from_file = decoded(stored, stored_config)
    measured = decoded([p for b in batches for p in b], extradata)
    assert len(from_file) == len(measured) == len(frames)
    assert all(np.array_equal(x, y) for x, y in zip(from_file, measured, strict=True))


def test_a_qa_process_that_dies_is_a_clear_error(tmp_path, clip) -> None:
    frames, _, _ = clip
    batches, extradata = _encoded(frames, tmp_path / "d.mp4")
    with QAProcess() as meter:
        meter.begin(len(frames), [], None)
        meter._proc.kill()  # the child dies mid-way (as if killed by the OOM killer)
        for b in batches:
            meter.add_packets(b, extradata)
        with pytest.raises(GenerationError, match="QA process"):
            meter.result()
    # garbage instead of H.264: the child fails, and says so
    with QAProcess() as meter:
        meter.begin(len(frames), [], None)
        meter.add_packets([b"\x00\x00\x00\x05hello"] * 3, b"\x01not-an-avcC")
        with pytest.raises(GenerationError, match="QA process failed"):
            meter.result()


def test_parallel_measuring_is_for_long_or_large_outputs() -> None:
    assert not measured_in_parallel(75, 256, 256)      # a 3 s test clip
    assert not measured_in_parallel(250, 256, 256)     # 10 s, small: measuring in-process
    assert measured_in_parallel(1500, 256, 256)
    assert measured_in_parallel(250, 512, 512)
    assert not measured_in_parallel(100, 1280, 720)    # 4 s


def test_boxes_follow_the_face_and_embed_like_the_detector(clip) -> None:
    frames, img, lm = clip
    ref, boxes = reference_for_qa(img, lm)
    again = boxes.box(lm)
    assert ref.box is not None
    assert max(abs(a - b) for a, b in zip(again, ref.box, strict=True)) <= 1
    moved = boxes.box(lm * 2 + 10)  # the same face, twice as large and shifted
    assert moved.right - moved.left == pytest.approx(2 * (again.right - again.left), abs=2)
    assert moved.left == pytest.approx(2 * again.left + 10, abs=2)
    # on rendered frames (the head turns and moves), placing the box from the mesh gives
    # the detector's distances within a few hundredths
    with FaceMesh(video=False) as mesh:
        for i in (5, 20):
            flm = mesh.detect(frames[i])
            by_detector = identity_embedding(frames[i], 200).distance(ref)
            by_mesh = identity_embedding(frames[i], 200, landmarks=flm,
                                         boxes=boxes).distance(ref)
            assert abs(by_detector - by_mesh) < 0.03, (i, by_detector, by_mesh)
    assert BoxFromMesh(**{k: float(v) for k, v in vars(boxes).items()}) == boxes


def test_the_encoded_file_is_read_back(tmp_path, clip) -> None:
    frames, _, _ = clip
    out = tmp_path / "v.mp4"
    _encoded(frames[:10], out)
    assert check_written(out, frames=10, first=frames[0]) > 35
    with pytest.raises(GenerationError, match="holds 10 frames, 11 were written"):
        check_written(out, frames=11, first=frames[0])
    with pytest.raises(GenerationError, match="differs from the frame encoded"):
        check_written(out, frames=10, first=255 - frames[0])
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(GenerationError, match="cannot be read back"):
        check_written(tmp_path / "junk.mp4", frames=10, first=frames[0])
    # swapped colours or a shifted picture are caught; the grain of a noisy photo, which
    # the encoder drops at CRF 18 (~24 dB at full size), is not a fault
    for wrong in (frames[0][:, :, ::-1], np.roll(frames[0], 6, axis=1)):
        with pytest.raises(GenerationError, match="differs from the frame encoded"):
            check_written(out, frames=10, first=np.ascontiguousarray(wrong))
    rng = np.random.default_rng(0)
    grainy = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8)
              for f in frames[:10]]
    _encoded(grainy, tmp_path / "grainy.mp4")
    assert check_written(tmp_path / "grainy.mp4", frames=10, first=grainy[0]) > 30


def test_the_finishing_thread_watermarks_encodes_measures_and_reports_failures(
        tmp_path, clip) -> None:
    frames, _, _ = clip
    mark = Watermark(bytes(8))
    out = tmp_path / "f.mp4"
    with VideoWriter(out, width=SIZE, height=SIZE, fps=25, audio=None) as w, \
            InProcessMeter() as meter:
        meter.begin(len(frames), [], None)
        with FrameFinisher(mark, w, meter) as fin:
            for f in frames:
                fin.put(f)
        measured = meter.result()
    assert measured.frames == len(frames) == w.frames and measured.missing == 0
    assert fin.first is not None and np.array_equal(fin.first, mark.apply(frames[0]))
    assert set(fin.cpu) == {"watermark_s", "encode_s", "qa_s"} and fin.cpu["qa_s"] > 0
    assert check_written(out, frames=len(frames), first=fin.first) > 35
    # a failure on the thread (here: a frame the encoder refuses) reaches the caller
    with VideoWriter(tmp_path / "g.mp4", width=SIZE, height=SIZE, fps=25, audio=None) as w, \
            InProcessMeter() as meter:
        meter.begin(4, [], None)
        with pytest.raises(InputError, match="frame must be"), \
                FrameFinisher(mark, w, meter) as fin:
            fin.put(frames[0])
            fin.put(np.zeros((SIZE, SIZE + 2, 3), np.uint8))
            for f in frames[:4]:
                fin.put(f)


def test_a_qa_process_not_needed_after_all_goes_quietly() -> None:
    """The QA process starts before the consent gate; when the gate refuses, it is
    stopped before it was told what to measure."""
    with QAProcess() as meter:
        pass
    assert meter._proc.poll() is not None
    with InProcessMeter() as early, pytest.raises(GenerationError, match="before begin"):
        early.add_packets([b"x"], b"")


def test_a_sync_check_that_cannot_run_says_why() -> None:
    from trustavatar.generator.qa import SYNC_MIN_FRAMES, Measurements, assess

    moving = 0.05 + 0.04 * np.sin(np.arange(50) / 2.0)
    few = Measurements(openings=moving[:SYNC_MIN_FRAMES - 1].astype(np.float32),
                       embeddings={}, unfound=[])
    report = assess(few, planned_gap=moving, fps=25.0, references={})
    assert report.sync_correlation is None
    assert any(n.startswith("sync not checked: the mouth was measured in 9 frame")
               for n in report.notes)
    still = Measurements(openings=moving.astype(np.float32), embeddings={}, unfound=[])
    report = assess(still, planned_gap=np.full(50, 0.02), fps=25.0, references={})
    assert report.sync_correlation is None
    assert any("planned mouth barely moves" in n for n in report.notes)
    report = assess(still, planned_gap=moving, fps=25.0, references={})
    assert report.sync_correlation is not None and report.sync_correlation > 0.9
    assert report.sync_offset_frames == 0
    assert not any(n.startswith("sync not checked") for n in report.notes)


def test_a_full_disk_is_a_generation_error_not_an_internal_one() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does: the writer's
    OSError reached the CLI as an internal error (exit 70)."""
    writer = VideoWriter("/dev/full", width=64, height=64, fps=25, audio=None)
    with pytest.raises(GenerationError, match="cannot write the video /dev/full: No space"), \
            writer:
        for i in range(60):
            writer.write(np.full((64, 64, 3), i, np.uint8))
