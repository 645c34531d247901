"""Reading video frames with PyAV, one at a time (memory flat in video length).

Frames come out as displayed: a display-matrix rotation (a phone's "rotate" flag) is
applied, and :func:`probe` reports the displayed width and height.
"""

from __future__ import annotations

__all__ = [
    "MAX_BAD_PACKETS",
    "Decoding",
    "StreamFacts",
    "VideoInfo",
    "as_displayed",
    "clockwise_turn",
    "first_frame_turn",
    "iter_frames",
    "probe",
    "stream_facts",
    "upright",
]

import contextlib
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np

from trustavatar._files import ffmpeg_path
from trustavatar.errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    duration: float
    frames: int  #: an estimate where the container does not say
    #: how many audio streams the file holds (the first is read)
    audio_streams: int
    #: the numbers of the video streams that are not attached pictures (the first is read)
    video_streams: tuple[int, ...] = (0,)
    #: where the audio starts relative to the video (s; see :func:`audio_offset`)
    audio_offset: float = 0.0

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"video {p} does not exist or is not a file")
    try:
        return av.open(ffmpeg_path(p))
    except (av.FFmpegError, OSError) as e:
        # FFmpeg's own words ("Invalid data found when processing input"), not its
        # "[Errno 1094995529] ... : 'path'" form
        raise InputError(f"{p} is not a readable video: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{p} is not a readable video: {e}") from e


def clockwise_turn(rotation: float) -> int:
    """FFmpeg's display-matrix angle (``frame.rotation``, counter-clockwise degrees) → the
    clockwise turn (0, 90, 180 or 270) that shows the picture upright."""
    if not math.isfinite(rotation):
        return 0
    return round(-rotation / 90.0) % 4 * 90


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """``image`` turned clockwise by ``turn`` degrees (a multiple of 90)."""
    return np.ascontiguousarray(np.rot90(image, k=-turn // 90)) if turn else image


def as_displayed(image: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """``image`` (decoded from ``frame``) as a player shows it: turned, and mirrored where
    the display matrix says so, by FFmpeg's own rule (its autorotate, fftools 6.1). A
    mirrored matrix reads as a 180° turn (``frame.rotation``): turned alone, a mirrored
    video came out upside down ("no face found … sideways?")."""
    turn = clockwise_turn(frame.rotation)
    m = _display_matrix(frame)
    if m is None:
        return upright(image, turn)
    a, c, d = m[0], m[3], m[4]
    if turn == 90:
        shown = image.transpose(1, 0, 2) if c > 0 else np.rot90(image, -1)
    elif turn == 180:
        shown = image[:, ::-1] if a < 0 else image
        shown = shown[::-1] if d < 0 else shown
    elif turn == 270:
        shown = np.rot90(image, -1)[::-1] if c < 0 else np.rot90(image, 1)
    else:
        shown = image[::-1] if d < 0 else image
    return image if shown is image else np.ascontiguousarray(shown)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (nine int32: a b u c d v x y w), or None."""
    try:
        data = frame.side_data.get("DISPLAYMATRIX")
    except (AttributeError, KeyError, ValueError):
        return None
    if data is None:
        return None
    raw = bytes(cast(Any, data))  # (a buffer; PyAV's stubs say so from 18.1.1 on)
    return struct.unpack("=9i", raw[:36]) if len(raw) >= 36 else None


def video_streams(c: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """``c``'s video streams that are moving pictures FFmpeg can decode: an attached
    picture (an MP3's or MKV's cover art) is not one, nor a stream in a codec this FFmpeg
    does not know (no player shows it either; PyAV gives it no codec context)."""
    attached = av.stream.Disposition.attached_pic
    return [s for s in c.streams.video
            if not s.disposition & attached and s.codec_context is not None]


def main_video_stream(c: av.container.InputContainer, path: str | os.PathLike[str],
                      error: type[InputError] = InputError) -> av.video.stream.VideoStream:
    """The video stream of ``c`` (opened from ``path``) to use: the first that is not an
    attached picture. Raises ``error`` (an :class:`InputError`) when there is none."""
    streams = video_streams(c)
    if not streams:
        if any(s.codec_context is None for s in c.streams.video):
            raise error(f"{path} has its video in a codec FFmpeg cannot decode (unknown "
                        "or not built in): convert it to H.264, for instance")
        if c.streams.video:
            raise error(f"{path} holds only a still picture (cover art), not a video")
        raise error(f"{path} has no video stream")
    return streams[0]


def audio_offset(c: av.container.InputContainer, video: av.video.stream.VideoStream
                 ) -> float:
    """Where ``c``'s first audio stream starts relative to ``video`` (seconds; positive:
    the sound starts later, and plays in sync only on the video's clock). 0 without one."""
    v_start = (float(video.start_time * video.time_base)
               if video.start_time is not None and video.time_base else 0.0)
    if c.streams.audio:
        a = c.streams.audio[0]
        if a.start_time is not None and a.time_base:  # (known codec or not: the clock)
            return float(a.start_time * a.time_base) - v_start
    return 0.0


def display_size(stream: av.video.stream.VideoStream) -> tuple[int, int]:
    """``(width, height)`` of ``stream``'s pictures as shown (before any rotation): stored
    pixels stretched by the sample aspect ratio (anamorphic video: 384x512 at 4:3 shows as
    512x512; taken as stored, a face came out a quarter too narrow)."""
    w, h = stream.codec_context.width, stream.codec_context.height
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0 or sar == 1 or not 0.25 <= sar <= 4:
        return w, h
    return (round(w * sar), h) if sar > 1 else (w, round(h / sar))


def first_frame_turn(c: av.container.InputContainer,
                     stream: av.video.stream.VideoStream | None = None) -> int:
    """The clockwise turn of the first frame of ``stream`` (default: ``c``'s first video
    stream; PyAV reads the display matrix per frame; 0 when no frame decodes)."""
    for frame in Decoding(c, stream or c.streams.video[0]):  # past undecodable packets
        return clockwise_turn(frame.rotation)
    return 0


#: FFmpeg demuxers of still images: a JPEG opens as a one-frame "video".
IMAGE_FORMATS = frozenset(("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe",
                           "tiff_pipe", "gif", "gif_pipe", "svg_pipe", "pam_pipe", "ppm_pipe",
                           "pgm_pipe"))


def is_still_image(c: av.container.InputContainer) -> bool:
    """Whether FFmpeg opened ``c`` as a still image rather than a video."""
    return not IMAGE_FORMATS.isdisjoint(c.format.name.split(","))


@dataclass(frozen=True)
class StreamFacts:
    """What the container says of one video stream: frames per second (25 when it does not
    say), duration in seconds, frame count (estimated from those two where not given), the
    displayed size (sample aspect ratio and rotation applied) and the clockwise rotation."""

    fps: float
    duration: float
    frames: int
    width: int
    height: int
    rotation: int


def nominal_fps(v: av.video.stream.VideoStream) -> float:
    """The frame rate ``v`` declares (its average, else FFmpeg's guess, else its time base's
    rate), 25 when it declares none: one rule for the probes and :class:`FrameClock`."""
    return float(v.average_rate or v.guessed_rate or v.base_rate or 0) or 25.0


def stream_facts(c: av.container.InputContainer, v: av.video.stream.VideoStream,
                 path: str | os.PathLike[str]) -> StreamFacts:
    """:class:`StreamFacts` of ``v``, a stream of ``c`` opened from ``path`` (one rule for
    every probe: the generator's, the consent clip's and the detector's)."""
    fps = nominal_fps(v)
    duration = float(v.duration * v.time_base) if v.duration and v.time_base else (
        c.duration / 1e6 if c.duration else 0.0)
    if duration <= 0:  # not in the header (a browser's live WebM): from the packets
        duration = _demuxed_seconds(path, v.index)
    duration = max(duration, 0.0)
    width, height = display_size(v)
    rotation = first_frame_turn(c, v)
    if rotation in (90, 270):
        width, height = height, width
    return StreamFacts(fps, duration, int(v.frames or round(duration * fps)), width, height,
                       rotation)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Container facts of a video; :class:`InputError` for a still image or no video stream."""
    with _open(path) as c:
        if is_still_image(c):
            raise InputError(f"{path} is a still image, not a video")
        v = main_video_stream(c, path)
        f = stream_facts(c, v, path)
        return VideoInfo(str(path), f.width, f.height, f.fps, f.duration, f.frames,
                         len(c.streams.audio), tuple(s.index for s in video_streams(c)),
                         audio_offset(c, v))


def _demuxed_seconds(path: str | os.PathLike[str], index: int) -> float:
    """The span of stream ``index``'s packets in seconds (first start to last end),
    read without decoding: for files whose header gives no duration."""
    first: int | None = None
    end: int | None = None
    with _open(path) as c:
        stream = c.streams[index]
        with contextlib.suppress(av.FFmpegError):
            for packet in c.demux(stream):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
        if first is None or end is None or not stream.time_base:
            return 0.0
        return float((end - first) * stream.time_base)


class FrameClock:
    """Each decoded frame's presentation time in seconds from the stream's start
    (``origin``, the stream's ``start_time``: frames that did not decode at the start leave
    a gap rather than pulling every later frame earlier, against the sound), or from the
    first frame's time when the stream gives no start or the first frame comes before it.
    Never going back: a frame without a timestamp is put one nominal frame (``step`` s)
    after the previous one, and one whose time repeats or goes back 1 ms after it. Shared
    by :func:`iter_timed_frames` and the detector's frame reader."""

    def __init__(self, step: float, origin: float | None = None) -> None:
        self._step = step
        self._origin = origin
        self._start: float | None = None
        self._previous = -math.inf

    @classmethod
    def of(cls, stream: av.video.stream.VideoStream) -> FrameClock:
        """The clock of ``stream``: its nominal frame step and its start time."""
        rate = nominal_fps(stream)
        origin = (float(stream.start_time * stream.time_base)
                  if stream.start_time is not None and stream.time_base else None)
        return cls(1.0 / rate, origin)

    def time(self, frame: av.VideoFrame) -> float:
        t = frame.time
        timed = t is not None and math.isfinite(t)
        if self._start is None:
            origin = self._origin
            self._start = (t if timed and (origin is None or t < origin - 1e-3)
                           else origin if origin is not None else 0.0)
        if timed:
            now = max(t - self._start, 0.0) if self._previous == -math.inf else t - self._start
        else:
            now = self._previous + self._step if math.isfinite(self._previous) else 0.0
        if now <= self._previous:
            now = self._previous + 1e-3
        self._previous = now
        return now


#: Consecutive undecodable packets after which a file counts as broken off.
MAX_BAD_PACKETS = 32


class Decoding:
    """The decoded frames of ``stream`` (of ``c``), packet by packet: a packet that does not
    decode (damage, the missing reference frames of a clip cut between key frames) is
    skipped, as players do, until :data:`MAX_BAD_PACKETS` in a row say the file broke off.
    Afterwards :attr:`damaged` says whether anything was skipped or decoding stopped early,
    and :attr:`bad_packets` how many packets were skipped. Shared by
    :func:`iter_timed_frames` and the detector's frame reader."""

    def __init__(self, c: av.container.InputContainer, stream: av.video.stream.VideoStream
                 ) -> None:
        self._c, self._stream = c, stream
        self.damaged = False
        self.bad_packets = 0

    def __iter__(self) -> Iterator[av.VideoFrame]:
        bad = 0
        try:
            for packet in self._c.demux(self._stream):
                try:
                    decoded = packet.decode()
                except (av.FFmpegError, OSError):
                    self.damaged = True
                    self.bad_packets += 1
                    bad += 1
                    if bad > MAX_BAD_PACKETS:
                        return
                    continue
                bad = 0
                yield from decoded
        except (av.FFmpegError, OSError):
            self.damaged = True  # broken off part-way: what decoded stands


def iter_frames(
    path: str | os.PathLike[str], *, size: tuple[int, int] | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3) uint8`` RGB frames; resized to ``size`` (width, height) if given.

    A file that breaks off part-way ends the iteration at the last good frame.
    """
    for _, img in iter_timed_frames(path, size=size):
        yield img


def iter_timed_frames(
    path: str | os.PathLike[str], *, size: tuple[int, int] | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(seconds, frame)``: each frame of :func:`iter_frames` with its presentation
    time from the stream's start (:class:`FrameClock`). Variable-frame-rate footage (a phone
    dropping to half rate in low light) keeps its timing only through these times."""
    with _open(path) as c:
        stream = main_video_stream(c, path)
        stream.thread_type = "AUTO"
        clock = FrameClock.of(stream)
        shown = display_size(stream)
        stored = (stream.codec_context.width, stream.codec_context.height)
        for frame in Decoding(c, stream):
            t = clock.time(frame)
            img: np.ndarray = np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)
            if shown != stored and (frame.width, frame.height) == stored:
                img = np.asarray(cv2.resize(img, shown, interpolation=cv2.INTER_AREA
                                            if shown[0] * shown[1] < stored[0] * stored[1]
                                            else cv2.INTER_LINEAR), np.uint8)
            img = as_displayed(img, frame)
            if size is not None and (img.shape[1], img.shape[0]) != size:
                img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA),
                                 np.uint8)
            yield t, img
