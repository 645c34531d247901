"""Decoding a video for scanning: one frame at a time, with timestamps and rotation applied.

Frames come out as :class:`DecodedFrame` — ``image`` ``(H, W, 3) uint8`` RGB, already
rotated upright (display-matrix rotation) and downscaled so that its longer side is at most
``max_side`` pixels — with a presentation timestamp in seconds from the stream's start, so
variable-frame-rate video is handled by time, never by frame count. Memory is flat in the
video's length: nothing but the current frame is held.

A file that breaks off part-way (truncated, damaged packets) yields every frame that decodes
and sets :attr:`FrameReader.damaged`; a file with no decodable frame at all raises
:class:`~trustavatar.errors.VideoInputError`.
"""

from __future__ import annotations

__all__ = ["DecodedFrame", "FrameReader", "VideoProbe", "probe_video"]

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np
from numpy.typing import NDArray

from trustavatar._files import ffmpeg_path
from trustavatar.errors import VideoInputError
from trustavatar.provenance.formats import iso_media_cut_short
from trustavatar.video_io import (
    Decoding,
    FrameClock,
    as_displayed,
    audio_offset,
    display_size,
    is_still_image,
    main_video_stream,
    stream_facts,
    video_streams,
)


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video (before decoding it).

    ``width``/``height`` are the displayed size (after rotation). ``rotation`` is the
    clockwise angle (0, 90, 180, 270) applied to decoded frames to show them upright.
    ``audio_offset`` is the audio stream's start minus the video stream's start (seconds).
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float
    frames_estimate: int
    rotation: int
    has_audio_stream: bool
    audio_offset: float
    #: the number of the video stream described (``av``'s stream index)
    stream: int = 0
    #: every video stream of the file that is not an attached picture
    video_streams: tuple[int, ...] = (0,)

    def to_dict(self) -> dict[str, object]:
        return {
            "container": self.container, "codec": self.codec, "width": self.width,
            "height": self.height, "fps": round(self.fps, 3), "duration_s": round(self.duration, 3),
            "frames_estimate": self.frames_estimate, "rotation": self.rotation,
            "has_audio_stream": self.has_audio_stream, "stream": self.stream,
            "video_streams": len(self.video_streams),
        }


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One frame: ``image`` ``(H, W, 3) uint8`` RGB (upright, maybe downscaled).

    ``time`` is seconds from the video stream's start (:class:`FrameClock`); ``scale`` is
    image pixels per source pixel (1.0 unless the frame was downscaled).
    """

    index: int
    time: float
    image: NDArray[np.uint8]
    scale: float


def _open(path: Path) -> av.container.InputContainer:
    # 1. a regular, readable file
    if not path.exists():
        raise VideoInputError(f"cannot read video {path}: no such file")
    if not path.is_file():
        raise VideoInputError(f"cannot read video {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise VideoInputError(f"cannot read video {path}: permission denied")
    # 2. a container FFmpeg recognises
    try:
        container = av.open(ffmpeg_path(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoInputError(f"{path} is not a video FFmpeg can read, or is damaged") from e
    # 3. a video, not a still image
    if is_still_image(container):
        container.close()
        raise VideoInputError(f"{path} is a still image, not a video")
    try:
        main_video_stream(container, path, VideoInputError)
    except VideoInputError:
        container.close()
        raise
    return container


def _stream(c: av.container.InputContainer, path: Path, index: int | None
            ) -> av.video.stream.VideoStream:
    """The video stream numbered ``index`` in the file (default: the first that is not an
    attached picture)."""
    streams = video_streams(c)
    if index is None:
        return streams[0]
    for s in streams:
        if s.index == index:
            return s
    raise VideoInputError(f"{path} has no video stream #{index} "
                          f"(its video streams: {', '.join(f'#{s.index}' for s in streams)})")


def probe_video(path: str | os.PathLike[str], stream: int | None = None) -> VideoProbe:
    """Read a video's container facts, of its video stream numbered ``stream`` (default:
    the first; :attr:`VideoProbe.video_streams` lists them all). Raises
    :class:`VideoInputError` for anything that is not a readable video with a video
    stream."""
    p = Path(path)
    with _open(p) as c:
        v = _stream(c, p, stream)
        f = stream_facts(c, v, p)
        return VideoProbe(
            path=str(p), container=c.format.name, codec=v.codec_context.name,
            width=f.width, height=f.height, fps=f.fps, duration=f.duration,
            frames_estimate=f.frames, rotation=f.rotation,
            has_audio_stream=bool(c.streams.audio), audio_offset=audio_offset(c, v),
            stream=v.index, video_streams=tuple(s.index for s in video_streams(c)),
        )


class FrameReader:
    """Iterate a video's frames as :class:`DecodedFrame` (see the module docstring).

    ``max_side`` bounds the longer side of the frames handed out (larger frames are
    downscaled by FFmpeg while converting to RGB). ``max_seconds`` stops after that much
    video. After iteration, :attr:`frames` is the count, :attr:`damaged` says whether
    decoding hit errors, :attr:`last_time` is the last timestamp, and :attr:`longest_gap`
    the longest time between two frames (s), after frame :attr:`gap_after` (a video that
    pauses, or whose timestamps jump).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_side: int = 1280,
                 max_seconds: float | None = None, stream: int | None = None) -> None:
        if max_side < 32:
            raise VideoInputError(f"max_side must be at least 32, got {max_side}")
        self.path = Path(path)
        self.max_side = max_side
        self.max_seconds = max_seconds
        self.stream = stream
        self._shown = self._stored = (0, 0)
        self.frames = 0
        self.damaged = False
        self.bad_packets = 0
        self.last_time = 0.0
        self.longest_gap = 0.0
        self.gap_after = -1

    def __iter__(self) -> Iterator[DecodedFrame]:
        with _open(self.path) as c:
            stream = _stream(c, self.path, self.stream)
            stream.thread_type = "AUTO"
            self._shown = display_size(stream)
            self._stored = (stream.codec_context.width, stream.codec_context.height)
            clock = FrameClock.of(stream)
            decoding = Decoding(c, stream)
            try:
                for frame in decoding:
                    # 1. a timestamp in seconds from the stream's start, never going back
                    t = clock.time(frame)
                    if self.max_seconds is not None and t >= self.max_seconds:
                        return
                    # 2. upright and at most max_side pixels
                    image, scale = self._convert(frame)
                    if self.frames and t - self.last_time > self.longest_gap:
                        self.longest_gap, self.gap_after = t - self.last_time, self.frames - 1
                    self.frames += 1
                    self.last_time = t
                    yield DecodedFrame(self.frames - 1, t, image, scale)
            finally:
                self.damaged = self.damaged or decoding.damaged
                self.bad_packets += decoding.bad_packets
            if self.frames == 0:
                raise VideoInputError(f"{self.path} has no decodable video frames")
            if iso_media_cut_short(self.path):
                self.damaged = True  # the demuxer stopped quietly where the data ends

    def _convert(self, frame: av.VideoFrame) -> tuple[NDArray[np.uint8], float]:
        w, h = frame.width, frame.height
        sw, sh = self._shown if (w, h) == self._stored else (w, h)  # anamorphic: as shown
        scale = min(1.0, self.max_side / max(sw, sh))
        if scale < 1.0 or (sw, sh) != (w, h):
            tw, th = max(2, round(sw * scale)), max(2, round(sh * scale))
            image = np.asarray(frame.reformat(width=tw, height=th, format="rgb24",
                                              interpolation="AREA").to_ndarray(), np.uint8)
            scale = min(tw / w, th / h)  # anamorphic: the direction not stretched
        else:
            image = np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)
        return as_displayed(image, frame), scale
