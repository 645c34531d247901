"""Streaming H.264 + AAC MP4 writer (PyAV). Frames go out as they come; audio is
interleaved with the video, so memory stays flat in the length of the video."""

from __future__ import annotations

__all__ = ["VideoWriter"]

import os
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from trustavatar.errors import GenerationError, InputError
from trustavatar.generator.audio import Audio

_AAC_FRAME = 1024


class VideoWriter:
    """Write ``(H, W, 3) uint8`` RGB frames at ``fps`` with ``audio`` muxed alongside."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: float,
        audio: Audio | None,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        if width % 2 or height % 2:
            raise InputError(f"frame size must be even for H.264, got {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        try:
            self._out = av.open(str(path), "w", format="mp4")
        except (OSError, av.FFmpegError) as e:
            raise GenerationError(f"cannot write {path}: {e}") from e
        rate = Fraction(fps).limit_denominator(1001)
        self._video = self._out.add_stream("libx264", rate=rate)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._audio = audio
        self._astream = None
        self._apos = 0
        if audio is not None:
            self._astream = self._out.add_stream("aac", rate=audio.sample_rate)
            self._astream.layout = "mono"

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise InputError(f"frame must be ({self.height}, {self.width}, 3) uint8, "
                             f"got {frame.shape} {frame.dtype}")
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        self._out.mux(self._video.encode(vf))
        self.frames += 1
        self._push_audio(self.frames / self.fps)

    def _push_audio(self, until_s: float | None) -> None:
        if self._audio is None or self._astream is None:
            return
        samples = self._audio.samples
        sr = self._audio.sample_rate
        end = len(samples) if until_s is None else min(len(samples), int(until_s * sr))
        while self._apos + _AAC_FRAME <= end or (until_s is None and self._apos < end):
            chunk = samples[self._apos:self._apos + _AAC_FRAME].astype(np.float32)
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            af.sample_rate = sr
            af.pts = self._apos
            self._out.mux(self._astream.encode(af))
            self._apos += len(chunk)

    def close(self) -> None:
        try:
            self._out.mux(self._video.encode())
            if self._astream is not None:
                self._push_audio(None)
                self._out.mux(self._astream.encode())
        finally:
            self._out.close()

    def abort(self) -> None:
        self._out.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self.abort()
