"""Reading video frames with PyAV, one at a time (memory flat in video length)."""

from __future__ import annotations

__all__ = ["VideoInfo", "iter_frames", "probe"]

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from trustavatar.errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    duration: float
    frames: int  #: an estimate where the container does not say
    has_audio: bool


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"video {p} does not exist or is not a file")
    try:
        return av.open(str(p))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p} is not a readable video: {e}") from e


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    with _open(path) as c:
        if not c.streams.video:
            raise InputError(f"{path} has no video stream")
        v = c.streams.video[0]
        fps = float(v.average_rate or v.guessed_rate or 25)
        duration = float(v.duration * v.time_base) if v.duration and v.time_base else (
            c.duration / 1e6 if c.duration else 0.0)
        frames = v.frames or round(duration * fps)
        return VideoInfo(str(path), v.codec_context.width, v.codec_context.height, fps,
                         duration, frames, bool(c.streams.audio))


def iter_frames(
    path: str | os.PathLike[str], *, size: tuple[int, int] | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3) uint8`` RGB frames; resized to ``size`` (width, height) if given.

    A file that breaks off part-way ends the iteration at the last good frame.
    """
    with _open(path) as c:
        if not c.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in c.decode(stream):
                img = frame.to_ndarray(format="rgb24")
                if size is not None and (img.shape[1], img.shape[0]) != size:
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                yield img
        except av.FFmpegError as e:
            if not isinstance(e, av.error.EOFError):
                return
