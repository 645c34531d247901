"""Detector fixtures, made here from the packaged sample portrait and synthetic media.

Every clip is written by PyAV in a temporary folder; nothing third-party is used.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fixtures.synthetic_media import make_video
from PIL import Image

from trustavatar.detector import ScanResult, scan
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import TrustStore
from trustavatar.watermark import Watermark, payload_for

FPS = 25


def portrait(size: int = 256) -> np.ndarray:
    img = np.array(Image.open(sample_portrait_path()).convert("RGB"))
    if img.shape[0] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img



def write_faststart_clip(path: Path, frames: int = 60) -> Path:
    """A 128 px clip whose header comes first (MP4 'faststart'), with motion so that every
    frame costs bytes: a copy cut in half keeps a header that lists every frame."""
    face = portrait(128)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 128, 128, "yuv420p"
        v.options = {"preset": "ultrafast", "g": "10"}
        for i in range(frames):
            frame = np.roll(face, i, axis=1)
            out.mux(v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(v.encode())
    return path


def write_clip(path: Path, frames: Sequence[np.ndarray] | Callable[[int], np.ndarray], *,
               n: int | None = None, fps: int = FPS, audio: np.ndarray | None = None,
               times: Sequence[float] | None = None, crf: int = 18) -> Path:
    """Encode frames (H.264 + optional AAC mono 16 kHz). ``times`` gives each frame's
    timestamp in seconds (variable frame rate)."""
    get = frames if callable(frames) else (lambda i: frames[i])
    count = n if n is not None else len(frames)  # type: ignore[arg-type]
    first = get(0)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": str(crf)}
        if times is not None:
            v.codec_context.time_base = Fraction(1, 1000)
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(get(i)), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            out.mux(v.encode(frame))
        out.mux(v.encode())
        if a is not None and audio is not None:
            for k in range(0, len(audio), 1024):
                f = av.AudioFrame.from_ndarray(audio[None, k:k + 1024].astype(np.float32),
                                               format="fltp", layout="mono")
                f.sample_rate, f.pts = 16000, k
                out.mux(a.encode(f))
            out.mux(a.encode())
    return path


def tone(seconds: float, *, level: float = 0.2) -> np.ndarray:
    t = np.arange(round(seconds * 16000)) / 16000
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def set_display_rotation(path: Path, degrees_clockwise: int) -> None:
    """Write a display matrix into the first track header (like a phone's rotate flag)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    off = i + 8 + (8 if version == 0 else 16) + (8 if version == 0 else 12) + 8 + 8
    one, minus = 0x00010000, (-0x00010000) & 0xFFFFFFFF
    a, b, c, d = {90: (0, one, minus, 0), 180: (minus, 0, 0, minus),
                  270: (0, minus, one, 0)}[degrees_clockwise]
    data[off:off + 36] = struct.pack(">9I", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small test clips, made once per session."""
    d = tmp_path_factory.mktemp("detector-clips")
    face = portrait()
    blank = make_video(d / "noface.mp4", seconds=1.0, size=(160, 120), audio=False)
    few = [face if i < 12 else np.full_like(face, 90) for i in range(100)]
    return {
        "portrait": write_clip(d / "portrait.mp4", [face] * 50, audio=tone(2.0)),
        "portrait_mute": write_clip(d / "portrait_mute.mp4", [face] * 25),
        "noface": blank,
        "few_faces": write_clip(d / "few.mp4", few),
        "tiny": write_clip(d / "tiny.mp4", [portrait(96)] * 25),
    }


@pytest.fixture(scope="session")
def no_trust() -> TrustStore:
    return TrustStore.of()


@pytest.fixture(scope="session")
def scanned(clips: dict[str, Path], no_trust: TrustStore) -> Callable[[str], ScanResult]:
    """Scan a session clip once; later calls return the same result."""
    cache: dict[str, ScanResult] = {}

    def get(name: str) -> ScanResult:
        if name not in cache:
            cache[name] = scan(clips[name], trust=no_trust)
        return cache[name]

    return get


PAYLOAD = payload_for("urn:c2pa:test-manifest")


def watermarked(path: Path, seconds: float = 2.0) -> Path:
    """The sample portrait, still, marked with :data:`PAYLOAD` (H.264)."""
    mark = Watermark(PAYLOAD)
    face = portrait()
    return write_clip(path, lambda i: mark.apply(face), n=int(seconds * 25))


def listed_in_ledger(home_path: Path, payload: bytes = PAYLOAD) -> Home:
    """A home whose ledger has one generation row with the watermark ``payload``."""
    from tests.ledger.ledgertools import make_entry
    from trustavatar.registry import Registry, append_generation

    home = Home.resolve(home_path)
    with Registry.for_home(home) as registry:
        append_generation(registry, make_entry(watermark_payload=payload.hex()))
    return home
