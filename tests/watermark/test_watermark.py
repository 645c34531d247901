"""The video watermark: round trips through real H.264 encoding, absence, keys, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from tests.watermark.media import PAYLOAD, decode, encode

from trustavatar.errors import InputError, ProvenanceInputError, WatermarkError
from trustavatar.watermark import (
    DEFAULT_KEY,
    Watermark,
    WatermarkReader,
    WatermarkReading,
    payload_for,
    read_watermark,
)

KEY = b"test key, not secret"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.fixture(scope="module")
def marked(clip: list[np.ndarray]) -> list[np.ndarray]:
    wm = Watermark(PAYLOAD, key=KEY)
    return [wm.apply(f) for f in clip]


def test_round_trip_survives_reencoding_at_crf30(tmp_path: Path, marked) -> None:
    shipped = encode(marked, tmp_path / "shipped.mp4", crf=18)
    reencoded = encode(decode(shipped), tmp_path / "crf30.mp4", crf=30)
    reading = read_watermark(reencoded, key=KEY)
    assert isinstance(reading, WatermarkReading)
    assert reading.present is True
    assert reading.payload == PAYLOAD
    assert reading.frames_used == len(marked)
    assert reading.z_score >= 5
    assert reading.p_value < 1e-5
    assert reading.bit_errors_corrected is not None


def test_unmarked_video_is_absent(tmp_path: Path, clip) -> None:
    reading = read_watermark(encode(clip, tmp_path / "plain.mp4", crf=18), key=KEY)
    assert reading.present is False
    assert reading.payload is None
    assert reading.bit_errors_corrected is None
    assert abs(reading.z_score) < 4


def test_wrong_key_reads_absent(marked) -> None:
    reading = read_watermark(marked, key=b"another key")
    assert reading.present is False
    assert reading.payload is None


def test_default_key_is_not_the_test_key(marked) -> None:
    assert read_watermark(marked).present is False
    assert read_watermark(marked, key=KEY).present is True
    assert DEFAULT_KEY != KEY


def test_different_payload_reads_back_different(clip) -> None:
    other = bytes.fromhex("fedcba9876543210")
    frames = [Watermark(other, key=KEY).apply(f) for f in clip[:12]]
    reading = read_watermark(frames, key=KEY)
    assert reading.payload == other != PAYLOAD


def test_marking_is_invisible_by_psnr_and_changes_only_luma(clip, marked) -> None:
    for original, out in zip(clip[::10], marked[::10], strict=True):
        assert out.shape == original.shape and out.dtype == np.uint8
        assert psnr(original, out) >= 40.0
        delta = out.astype(int) - original
        margin = int(np.abs(delta).max())
        unclipped = ((original >= margin) & (original <= 255 - margin)).all(axis=2)
        assert (delta[..., 0] == delta[..., 1])[unclipped].all()
        assert (delta[..., 1] == delta[..., 2])[unclipped].all()


def test_apply_is_stateless_and_leaves_its_input_alone(clip) -> None:
    wm = Watermark(PAYLOAD, key=KEY)
    frame = clip[3].copy()
    first = wm.apply(frame)
    wm.apply(clip[20])
    np.testing.assert_array_equal(frame, clip[3])
    np.testing.assert_array_equal(wm.apply(frame), first)


def test_odd_sizes_and_a_size_change_mid_stream(clip) -> None:
    wm = Watermark(PAYLOAD, key=KEY)
    frames = [wm.apply(np.ascontiguousarray(f[:201, :143])) for f in clip[:10]]
    frames += [wm.apply(f) for f in clip[10:20]]
    assert read_watermark(frames[:10], key=KEY).payload == PAYLOAD
    assert read_watermark(frames[10:], key=KEY).payload == PAYLOAD


def test_reader_streams_and_stops_at_max_frames(marked) -> None:
    taken = []

    def frames():
        for f in marked:
            taken.append(1)
            yield f

    reading = read_watermark(frames(), key=KEY, max_frames=5)
    assert reading.frames_used == 5
    assert len(taken) == 6  # the sixth is pulled to learn that the limit is reached


def test_push_reader_reads_what_read_watermark_reads(marked) -> None:
    reader = WatermarkReader(key=KEY, max_frames=8)
    assert not reader.full
    for frame in marked:  # frames after the eighth are ignored
        reader.add(frame)
    assert reader.full and reader.frames == 8
    reading = reader.reading()
    assert reading == read_watermark(marked, key=KEY, max_frames=8)
    assert reading.payload == PAYLOAD and reading.frames_used == 8


def test_push_reader_refuses_bad_frames_limits_and_no_frames(clip) -> None:
    reader = WatermarkReader()
    with pytest.raises(WatermarkError, match="no frames"):
        reader.reading()
    with pytest.raises(WatermarkError, match=r"frame 0 is 300x48 pixels; a watermark needs"):
        reader.add(np.zeros((48, 300, 3), np.uint8))
    reader.add(clip[0])
    with pytest.raises(WatermarkError, match=r"frame 1 must be \(H, W, 3\) uint8 RGB"):
        reader.add(clip[1][..., :2])
    assert reader.frames == 1 and not reader.reading().present
    for bad in (0, -3, True, 1.5):
        with pytest.raises(WatermarkError, match="max_frames must be a positive integer"):
            WatermarkReader(max_frames=bad)
    with pytest.raises(WatermarkError, match="non-empty bytes"):
        WatermarkReader(key=b"")


def test_reads_a_4d_array(marked) -> None:
    assert read_watermark(np.stack(marked[:8]), key=KEY).payload == PAYLOAD


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (np.zeros((128, 128), np.uint8), r"\(H, W, 3\) uint8 RGB, got \(128, 128\) uint8"),
        (np.zeros((128, 128, 4), np.uint8), r"got \(128, 128, 4\) uint8"),
        (np.zeros((128, 128, 3), np.float32), r"got \(128, 128, 3\) float32"),
        (np.zeros((48, 300, 3), np.uint8), r"300x48 pixels; a watermark needs at least 64x64"),
        ([[0, 0, 0]], r"got list"),
    ],
)
def test_bad_frame_is_refused_with_actual_and_expected(frame, match: str) -> None:
    with pytest.raises(WatermarkError, match=match):
        Watermark(PAYLOAD).apply(frame)


def test_bad_frame_in_a_reading_names_its_index(clip) -> None:
    frames = [clip[0], clip[1][..., :2]]
    with pytest.raises(WatermarkError, match=r"frame 1 must be \(H, W, 3\) uint8 RGB"):
        read_watermark(frames)


@pytest.mark.parametrize(
    ("payload", "match"),
    [(b"12345", "8 bytes, got 5 bytes"), ("0123456789abcdef", "8 bytes, got str")],
)
def test_bad_payload(payload, match: str) -> None:
    with pytest.raises(WatermarkError, match=match):
        Watermark(payload)


@pytest.mark.parametrize("strength", [0, -0.5, 1.5, float("nan")])
def test_bad_strength(strength: float) -> None:
    with pytest.raises(WatermarkError, match=r"strength must be in \(0, 1\]"):
        Watermark(PAYLOAD, strength=strength)


@pytest.mark.parametrize("key", [b"", "text", None])
def test_bad_key(key) -> None:
    with pytest.raises(WatermarkError, match="key must be non-empty bytes"):
        Watermark(PAYLOAD, key=key)
    with pytest.raises(WatermarkError, match="key must be non-empty bytes"):
        read_watermark([], key=key)


def test_unreadable_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(ProvenanceInputError, match=r"junk\.mp4 is not a video that can be decoded"):
        read_watermark(junk)
    with pytest.raises(InputError, match="no such file"):
        read_watermark(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="is a directory"):
        read_watermark(tmp_path)


def test_file_without_video(media) -> None:
    with pytest.raises(InputError, match="no video stream"):
        read_watermark(media["wav"])


def test_no_frames_at_all() -> None:
    with pytest.raises(WatermarkError, match="no frames"):
        read_watermark([])


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(InputError) as info:
        read_watermark(tmp_path / "junk.mp4")
    assert "\n" not in str(info.value)


# --- payload_for and the public surface --------------------------------------------------


def test_payload_for_is_the_first_8_bytes_of_sha256() -> None:
    label = "urn:c2pa:3f6c1a8e-0000-4000-8000-000000000001"
    assert payload_for(label) == hashlib.sha256(label.encode()).digest()[:8]
    assert len(payload_for("x")) == 8
    with pytest.raises(WatermarkError, match="non-empty string"):
        payload_for("")


def test_repr_never_shows_the_key() -> None:
    text = repr(Watermark(PAYLOAD, key=b"super secret"))
    assert "secret" not in text and PAYLOAD.hex() in text


def test_public_api_surface() -> None:
    import trustavatar.watermark as wm

    assert sorted(wm.__all__) == sorted([
        "DEFAULT_KEY", "MIN_SIDE", "PAYLOAD_BYTES", "VideoSource", "Watermark",
        "WatermarkReader", "WatermarkReading",
        "Z_PAYLOAD", "Z_PRESENT", "payload_for", "read_watermark",
    ])
    for name in wm.__all__:
        assert hasattr(wm, name), name


def test_every_video_stream_of_a_file_is_read(tmp_path: Path, clip, marked) -> None:
    """A decoy stream placed first (unmarked, or too small to read) hid the watermarked
    one: only the first stream was read (the audit and the demo read files this way)."""
    import av

    def two_streams(path: Path, first: list[np.ndarray], second: list[np.ndarray]) -> Path:
        with av.open(str(path), "w") as out:
            streams = []
            for frames in (first, second):
                s = out.add_stream("libx264", rate=25)
                s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
                s.options = {"crf": "18"}
                streams.append(s)
            for a, b in zip(first, second, strict=False):
                out.mux(streams[0].encode(av.VideoFrame.from_ndarray(a, format="rgb24")))
                out.mux(streams[1].encode(av.VideoFrame.from_ndarray(b, format="rgb24")))
            for s in streams:
                out.mux(s.encode())
        return path

    grey = [np.full((48, 48, 3), 90, np.uint8)] * len(marked)  # below the 64 px minimum
    for decoy in (clip, grey):
        reading = read_watermark(two_streams(tmp_path / "decoy.mp4", decoy, marked), key=KEY)
        assert reading.present and reading.payload == PAYLOAD
    assert not read_watermark(two_streams(tmp_path / "none.mp4", clip, clip), key=KEY).present
    with pytest.raises(WatermarkError, match="48x48 pixels"):
        read_watermark(two_streams(tmp_path / "small.mp4", grey, grey), key=KEY)
