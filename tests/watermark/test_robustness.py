"""The watermark survives what a video meets after it leaves the generator."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image
from tests.watermark.media import PAYLOAD, decode, encode

from trustavatar.errors import WatermarkError
from trustavatar.watermark import Watermark, read_watermark

KEY = b"robustness test key"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory, clip) -> Path:
    """The marked clip as the generator ships it: H.264 CRF 18."""
    wm = Watermark(PAYLOAD, key=KEY)
    return encode([wm.apply(f) for f in clip], tmp_path_factory.mktemp("ship") / "out.mp4",
                  crf=18)


def test_downscaled_to_half_and_reencoded(tmp_path: Path, shipped: Path) -> None:
    small = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in decode(shipped)]
    reading = read_watermark(encode(small, tmp_path / "half.mp4", crf=23), key=KEY)
    assert reading.payload == PAYLOAD


def test_upscaled_to_another_aspect_ratio(shipped: Path) -> None:
    frames = (cv2.resize(f, (480, 270), interpolation=cv2.INTER_LINEAR) for f in decode(shipped))
    assert read_watermark(frames, key=KEY).payload == PAYLOAD


def test_first_half_second_trimmed_and_reencoded(tmp_path: Path, shipped: Path) -> None:
    frames = decode(shipped)[12:]
    reading = read_watermark(encode(frames, tmp_path / "trim.mp4", crf=23), key=KEY)
    assert reading.payload == PAYLOAD
    assert reading.frames_used == len(frames)


def test_every_frame_through_jpeg_quality_50(shipped: Path) -> None:
    def jpeg(frame: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=50)
        return np.asarray(Image.open(buffer).convert("RGB"))

    assert read_watermark((jpeg(f) for f in decode(shipped)), key=KEY).payload == PAYLOAD


def test_brightness_offset_cancels(shipped: Path) -> None:
    frames = (np.clip(f.astype(int) + 12, 0, 255).astype(np.uint8) for f in decode(shipped))
    assert read_watermark(frames, key=KEY).payload == PAYLOAD


def test_another_container_and_codec(tmp_path: Path, shipped: Path) -> None:
    path = tmp_path / "out.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.bit_rate = 400_000
        for frame in decode(shipped):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    assert read_watermark(path, key=KEY).payload == PAYLOAD


def test_source_of_the_wrong_kind() -> None:
    with pytest.raises(WatermarkError, match="video path or an iterable of frames, got bytes"):
        read_watermark(b"\x00\x00")


@pytest.mark.slow
def test_weaker_strength_still_reads_unattacked(clip) -> None:
    wm = Watermark(PAYLOAD, key=KEY, strength=0.5)
    assert read_watermark([wm.apply(f) for f in clip], key=KEY).payload == PAYLOAD


@pytest.mark.slow
@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
def test_round_trip_at_generator_sizes(tmp_path: Path, clip, size: tuple[int, int]) -> None:
    wm = Watermark(PAYLOAD, key=KEY)
    frames = [wm.apply(cv2.resize(f, size, interpolation=cv2.INTER_CUBIC)) for f in clip[:25]]
    reading = read_watermark(encode(frames, tmp_path / "hd.mp4", crf=28), key=KEY)
    assert reading.payload == PAYLOAD


@pytest.mark.parametrize(("turn", "named"), [
    (lambda f: f[:, ::-1], "mirrored"),
    (lambda f: np.rot90(f, -1), "turned 90° clockwise"),
    (lambda f: np.rot90(f, 1), "turned 90° counter-clockwise"),
    (lambda f: f[::-1, ::-1], "turned 180°"),
    (lambda f: np.rot90(f, -1)[:, ::-1], "turned 90° clockwise and mirrored"),
])
def test_mirrored_or_turned_and_reencoded(tmp_path: Path, shipped: Path, turn,
                                          named: str) -> None:
    """Mirroring is how uploads dodge matching; a turn is a lost or applied rotation flag.
    The reader undoes each on the cell grid (the frame is never turned)."""
    frames = [np.ascontiguousarray(turn(f)) for f in decode(shipped)]
    reading = read_watermark(encode(frames, tmp_path / "turned.mp4", crf=23), key=KEY)
    assert reading.present and reading.payload == PAYLOAD
    assert reading.orientation == named
    assert reading.orientation_note == f", in frames {named}"
    # as shipped, it reads as written; p counts the eight orientations read
    plain = read_watermark(shipped, key=KEY)
    assert plain.orientation == "as written" and plain.payload == PAYLOAD
    assert plain.orientation_note == ""
    assert plain.p_value == pytest.approx(min(1.0, 8 * np.exp(-plain.z_score ** 2 / 2)))
