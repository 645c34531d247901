"""Decoding (timestamps, rotation, damage), face tracking and aligned crops, for real."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from fixtures.synthetic_media import make_image, make_wav

from tests.detector.conftest import portrait, set_display_rotation, write_clip, write_faststart_clip
from trustavatar import video_io
from trustavatar.detector import (
    FaceTracker,
    FrameReader,
    MouthAligner,
    MouthStacker,
    align_mouth,
    eye_aspect_ratio,
    eye_landmarks,
    probe_video,
)
from trustavatar.detector.crops import similarity_to_template
from trustavatar.errors import DetectionError, InputError, VideoInputError
from trustavatar.face.mesh import FaceMesh


@pytest.fixture(scope="module")
def landmarks() -> np.ndarray:
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(portrait())
    assert lm is not None
    return lm


def test_not_a_video_is_a_clear_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(VideoInputError, match="not a video FFmpeg can read"):
        probe_video(text)
    with pytest.raises(VideoInputError, match="still image"):
        probe_video(make_image(tmp_path / "still.jpg"))
    with pytest.raises(VideoInputError, match="has no video stream"):
        probe_video(make_wav(tmp_path / "speech.wav"))
    with pytest.raises(VideoInputError, match="no such file"):
        probe_video(tmp_path / "missing.mp4")
    assert issubclass(VideoInputError, InputError) and issubclass(VideoInputError, DetectionError)


def test_rotation_metadata_is_applied(tmp_path):
    face = np.zeros((320, 256, 3), np.uint8)
    face[32:288] = portrait()
    stored = np.ascontiguousarray(np.rot90(face, 1))  # the camera stored it sideways
    path = write_clip(tmp_path / "phone.mp4", [stored] * 5)
    set_display_rotation(path, 90)
    info = probe_video(path)
    assert info.rotation == 90 and (info.width, info.height) == (256, 320)
    frames = list(FrameReader(path))
    assert frames[0].image.shape == (320, 256, 3)
    with FaceTracker() as tracker:
        assert tracker.observe(frames[0]).landmarks is not None  # upright again
    # the reader the generator (face videos) and consent recording (phone clips) use
    plain = video_io.probe(path)
    assert (plain.width, plain.height) == (256, 320)
    first = next(video_io.iter_frames(path))
    assert first.shape == (320, 256, 3)
    assert np.abs(first.astype(int) - face.astype(int)).mean() < 8  # upright, not sideways


def test_variable_frame_rate_uses_timestamps(tmp_path):
    times = np.cumsum([0.0] + [0.02 if i % 2 else 0.06 for i in range(39)])
    path = write_clip(tmp_path / "vfr.mp4", [portrait(192)] * 40, times=times)
    frames = list(FrameReader(path))
    got = np.array([f.time for f in frames])
    assert len(frames) == 40
    np.testing.assert_allclose(got, times, atol=2e-3)
    with FaceTracker() as tracker:
        for f in frames:
            tracker.observe(f)
        summary = tracker.summary(frame_duration=0.04)
    assert summary.frames_with_face == 40
    assert summary.face_seconds == pytest.approx(times[-1] + 0.04, abs=0.01)
    assert summary.segments == 1


def test_a_jump_in_the_timestamps_is_neither_face_time_nor_silent(tmp_path, no_trust):
    """A real clip whose timestamps jumped an hour after frame 19 was 'likely-manipulated,
    p = 1.00, blinking outside human norms': the hour counted as face time (a review,
    session 22). The jump is left out and warned about."""
    from trustavatar.detector import scan

    times = [i * 0.04 for i in range(20)] + [3600.0 + i * 0.04 for i in range(20)]
    path = write_clip(tmp_path / "jump.mp4", [portrait(192)] * 40, times=times)
    reader = FrameReader(path)
    with FaceTracker() as tracker:
        for f in reader:
            tracker.observe(f)
        # the file's average rate is 40 frames an hour: the last frame counts for 0.5 s
        summary = tracker.summary(frame_duration=3600.0 / 40)
    assert reader.longest_gap == pytest.approx(3600.0 - 19 * 0.04, abs=0.01)
    assert reader.gap_after == 19
    assert summary.face_seconds == pytest.approx(38 * 0.04 + 0.5 + 0.5, abs=0.01)
    result = scan(path, trust=no_trust)
    assert any("timestamps jump by 3599.2 s after frame 19" in w for w in result.warnings)
    assert result.track["face_seconds"] < 3


def test_large_frames_are_downscaled_and_truncated_files_keep_what_decodes(tmp_path):
    big = cv2.resize(portrait(), (1600, 1600))
    path = tmp_path / "big.mkv"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 1600, 1600, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "30", "g": "5"}
        for _ in range(20):
            out.mux(v.encode(av.VideoFrame.from_ndarray(big, format="rgb24")))
        out.mux(v.encode())
    reader = FrameReader(path, max_side=640)
    first = next(iter(reader))
    assert first.image.shape == (640, 640, 3) and first.scale == pytest.approx(0.4)
    cut = tmp_path / "cut.mkv"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    reader = FrameReader(cut)
    n = sum(1 for _ in reader)
    assert 0 < n < 20
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(data[:200])
    with pytest.raises(VideoInputError):
        list(FrameReader(empty))


def test_a_copy_cut_short_under_a_complete_header_is_marked_damaged(tmp_path):
    # MP4 'faststart': the header comes first and lists every frame; a copy cut in half
    # decodes its first frames and then simply ends, with no decoding error
    path = write_faststart_clip(tmp_path / "fast.mp4")
    whole = FrameReader(path)
    assert sum(1 for _ in whole) == 60 and not whole.damaged
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reader = FrameReader(cut)
    n = sum(1 for _ in reader)
    assert 0 < n < 45 and reader.damaged
    early = FrameReader(path, max_seconds=0.5)
    assert len(list(early)) < 15 and not early.damaged  # stopping early is not damage


def test_mouth_crop_is_aligned_whatever_the_roll(landmarks):
    img = portrait()
    crop = align_mouth(img, landmarks, size=64)
    grey = align_mouth(img, landmarks, size=96, grey=True)
    assert crop.image.shape == (64, 64, 3) and crop.image.dtype == np.uint8
    assert grey.image.shape == (96, 96)
    # the mouth corners land where the template puts them
    corners = crop.to_crop(landmarks[[61, 291]])
    assert np.all(np.abs(corners[:, 1] - 64 * (0.872 - 0.95 + 0.75) / 1.5) < 4)
    # rotate the whole picture by 20°: the aligned crop hardly changes
    m = cv2.getRotationMatrix2D((128, 128), 20, 1.0)
    rotated = cv2.warpAffine(img, m, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    with FaceMesh(video=False) as mesh:
        lm_r = mesh.detect(rotated)
    assert lm_r is not None
    again = align_mouth(rotated, lm_r, size=64, grey=True).image.astype(float)
    base = align_mouth(img, landmarks, size=64, grey=True).image.astype(float)
    assert np.corrcoef(again.ravel(), base.ravel())[0, 1] > 0.9
    def roll(lm: np.ndarray) -> float:
        m = similarity_to_template(lm)
        return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))

    assert abs(abs(roll(lm_r) - roll(landmarks)) - 20) < 3


def test_aligner_smooths_and_resets(landmarks):
    img = portrait()
    aligner = MouthAligner(size=64, smoothing=0.8)
    a = aligner(img, landmarks, new_segment=True)
    shifted = landmarks + np.array([6.0, 0.0], np.float32)
    b = aligner(img, shifted)
    moved = b.to_crop(shifted[[1]])[0] - a.to_crop(landmarks[[1]])[0]
    assert 0 < abs(moved[0]) < 6 * 64 / 40  # follows, but only part of the way
    c = aligner(img, shifted, new_segment=True)
    np.testing.assert_allclose(c.matrix, align_mouth(img, shifted).matrix)
    with pytest.raises(DetectionError, match=r"landmarks must be \(478, 2\)"):
        align_mouth(img, landmarks[:10])


def test_eye_landmarks_and_aspect_ratio(landmarks):
    eyes = eye_landmarks(landmarks)
    assert eyes.right.shape == (6, 2) and eyes.left.shape == (6, 2)
    r, left = eye_aspect_ratio(landmarks)
    assert 0.15 < r < 0.5 and 0.15 < left < 0.5
    closed = landmarks.copy()
    for lids, corners in (((160, 158, 153, 144), (33, 133)), ((385, 387, 373, 380), (362, 263))):
        closed[list(lids)] = landmarks[list(corners)].mean(0)  # lids meet on the eye's axis
    assert max(eye_aspect_ratio(closed)) < 0.05


def test_mouth_stacks_follow_the_track_and_never_span_a_cut(landmarks):
    img = portrait()
    stacker = MouthStacker(length=4, stride=2, size=32)
    out = [stacker.push(img, landmarks, new_segment=(i == 0)) for i in range(8)]
    stacks = [s for s in out if s is not None]
    assert [i for i, s in enumerate(out) if s is not None] == [3, 5, 7]
    assert stacks[0].shape == (4, 32, 32) and stacks[0].dtype == np.uint8
    assert stacker.push(img, None) is None  # the face is lost: start over
    assert [stacker.push(img, landmarks) for _ in range(3)] == [None, None, None]
    assert stacker.push(img, landmarks) is not None
