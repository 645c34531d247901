"""Helpers of the watermark tests: real H.264 encoding and decoding with PyAV."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np

SIZE = (256, 256)
PAYLOAD = bytes.fromhex("0123456789abcdef")


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def encode(frames: Iterable[np.ndarray], path: Path, *, crf: int, fps: int = 25) -> Path:
    """H.264 (libx264, yuv420p) at the given CRF, like a re-encoding platform would."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf)}
        for i, frame in enumerate(frames):
            if i == 0:
                stream.width, stream.height = frame.shape[1], frame.shape[0]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def textured(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Add a fixed fine texture (like skin, hair, a backdrop) to the plain synthetic clip."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, frames[0].shape[:2]).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    texture *= 8 / texture.std()
    return [np.clip(f + texture[..., None], 0, 255).astype(np.uint8) for f in frames]
