"""Reading: accumulate per-unit lattice agreement over frames, decode, decide."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, TypeAlias

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar._files import ffmpeg_path
from trustavatar.errors import ProvenanceInputError, WatermarkError
from trustavatar.video_io import Decoding, video_streams
from trustavatar.watermark._code import CODED_BITS, decode
from trustavatar.watermark._embed import DEFAULT_KEY, check_frame, check_key
from trustavatar.watermark._layout import (
    MIN_SIDE,
    STEP,
    UNITS,
    Layout,
    cell_means,
    layout_for,
    project,
    whiten,
)

#: Presence is declared when the pilot z-score reaches this (false alarm ≈ 2.9e-7 for each
#: of the :data:`ORIENTATIONS` read, ≈ 2.3e-6 in all) …
Z_PRESENT: Final = 5.0
#: … or when the payload's CRC checks and the z-score reaches this (≈ 1.3e-3 × 2**-16).
Z_PAYLOAD: Final = 3.0

#: The ways a frame can have been turned or mirrored that the reader undoes (the eight
#: symmetries of the frame's cell grid, which spans the whole frame whatever its shape): a
#: video mirrored to dodge matching, or turned when its rotation flag was lost or applied.
#: Each maps the observed grid back to the grid as written.
ORIENTATIONS: Final[tuple[tuple[str, Callable[[NDArray[np.float32]], NDArray[np.float32]]],
                          ...]] = (
    ("as written", lambda g: g),
    ("mirrored", lambda g: g[:, ::-1]),
    ("upside down", lambda g: g[::-1, :]),
    ("turned 180°", lambda g: g[::-1, ::-1]),
    ("turned 90° clockwise", lambda g: np.rot90(g, 1)),
    ("turned 90° counter-clockwise", lambda g: np.rot90(g, -1)),
    ("turned 90° clockwise and mirrored", lambda g: g.T),
    ("turned 90° counter-clockwise and mirrored", lambda g: np.rot90(g, 2).T),
)

#: What :func:`read_watermark` reads: a video file path, or frames ``(H, W, 3) uint8`` RGB
#: (any iterable, including a ``(T, H, W, 3)`` array).
VideoSource: TypeAlias = str | os.PathLike[str] | Iterable[NDArray[np.uint8]]


@dataclass(frozen=True)
class WatermarkReading:
    """What :func:`read_watermark` found.

    ``present`` — a watermark made with this key is in the video (decided on ``z_score``,
    see :data:`Z_PRESENT`; a false alarm on unmarked video has probability ≈ ``p_value``).
    ``payload`` — the 8 bytes embedded, only when their CRC checks (else ``None``: absent,
    or present but too damaged to read). ``z_score`` — the pilot statistic: distributed
    N(0, 1) on video not marked with this key, whatever the content. ``frames_used`` —
    frames read. ``bit_errors_corrected`` — coded bits (of 172) the error-correcting code
    had to overrule, when a payload was read. ``orientation`` — how the frames had been
    turned or mirrored (one of :data:`ORIENTATIONS`' names; the strongest reading of all
    of them is reported, and ``p_value`` counts all of them).
    """

    present: bool
    payload: bytes | None
    z_score: float
    p_value: float
    frames_used: int
    bit_errors_corrected: int | None = None
    orientation: str = "as written"

    @property
    def orientation_note(self) -> str:
        """``", in frames mirrored"`` (and so on) for frames read turned or mirrored, to
        follow a statement of the reading; ``""`` for frames as written."""
        return "" if self.orientation == ORIENTATIONS[0][0] else f", in frames {self.orientation}"


class Accumulator:
    """Streaming state of a reading: one running sum per unit; memory flat in video length.

    Each frame adds ``cos(2π (projection / STEP − dither))`` per unit: +1 on the lattice
    of bit 0, −1 on that of bit 1. On video not marked with this key the keyed dither is
    independent of the content, so each unit's sum is symmetric around 0 and independent
    of the others: that is what makes the false-alarm rate independent of the content.
    """

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._sums = np.zeros((len(ORIENTATIONS), UNITS))
        self.frames = 0

    def add_luma(self, luma: NDArray[np.float32]) -> None:
        """Add one frame's luma, ``(H, W) float32`` in 8-bit levels (read in every one of
        :data:`ORIENTATIONS`: the grid's cells are turned, not the frame)."""
        grid = whiten(cell_means(luma))
        for k, (_, undo) in enumerate(ORIENTATIONS):
            p = project(np.ascontiguousarray(undo(grid)), self._layout)
            self._sums[k] += np.cos(2.0 * np.pi * (p / STEP - self._layout.dither))
        self.frames += 1

    def sums_for(self, orientation: str) -> NDArray[np.float64]:
        """The per-unit sums so far of the frames read in ``orientation`` (one of
        :data:`ORIENTATIONS`' names; a copy)."""
        return self._sums[[name for name, _ in ORIENTATIONS].index(orientation)].copy()

    def reading(self) -> WatermarkReading:
        return decide_oriented(self._sums, self.frames)


def decide_oriented(sums: NDArray[np.float64], frames: int) -> WatermarkReading:
    """The strongest of the readings of each of :data:`ORIENTATIONS` (``sums``: one row
    each, in that order): present first, then a payload read, then the z-score; its
    p-value multiplied by the number of orientations read."""
    readings = [replace(decide(row, frames), orientation=name)
                for (name, _), row in zip(ORIENTATIONS, sums, strict=True)]
    best = max(readings, key=lambda r: (r.present, r.payload is not None, r.z_score))
    return replace(best, p_value=min(1.0, best.p_value * len(ORIENTATIONS)))


def decide(sums: NDArray[np.float64], frames: int) -> WatermarkReading:
    """Turn per-unit sums into a reading: pilot z-score, Viterbi decode, CRC, thresholds."""
    pilot = sums[CODED_BITS:]
    norm = math.sqrt(float(np.sum(pilot * pilot)))
    z = float(np.sum(pilot)) / norm if norm > 0 else 0.0
    # cos > 0 means "near the lattice of bit 0"; the decoder wants > 0 for bit 1.
    payload, corrected = decode(-sums[:CODED_BITS])
    if payload is not None and z < Z_PAYLOAD:
        payload = None
    present = z >= Z_PRESENT or payload is not None
    return WatermarkReading(
        present=present,
        payload=payload,
        z_score=z,
        p_value=math.exp(-z * z / 2.0) if z > 0 else 1.0,
        frames_used=frames,
        bit_errors_corrected=corrected if payload is not None else None,
    )


def read_watermark(source: VideoSource, *, key: bytes = DEFAULT_KEY,
                   max_frames: int | None = None) -> WatermarkReading:
    """Look for a watermark made with ``key`` in a video.

    ``source`` is a video file (any container and codec PyAV decodes; decoded as a
    stream, never held in memory) or an iterable of ``(H, W, 3) uint8`` RGB frames.
    ``max_frames`` stops after that many frames (all by default).

    A file with several video streams (cover art aside) has each read on its own, and the
    strongest reading is returned: a watermarked stream cannot hide behind a decoy one.
    (The chance of a false alarm grows with the number of streams: ≈ 2.3e-6 each, the
    eight :data:`ORIENTATIONS` read.)

    Absent is not an error: it returns ``present=False``. Raises
    :class:`~trustavatar.errors.ProvenanceInputError` (an ``InputError``) if the file is
    missing or not a decodable video, :class:`~trustavatar.errors.WatermarkError` for a
    bad frame, a bad key or no frames at all.
    """
    if isinstance(source, str | os.PathLike):
        return _read_file(Path(source), key, max_frames)
    reader = WatermarkReader(key=key, max_frames=max_frames)
    _feed(reader, source)
    return reader.reading()


def _read_file(path: Path, key: bytes, max_frames: int | None) -> WatermarkReading:
    """The strongest reading over ``path``'s video streams (errors only when none reads)."""
    readings: list[WatermarkReading] = []
    failures: list[ProvenanceInputError | WatermarkError] = []
    for index in range(_stream_count(path)):
        reader = WatermarkReader(key=key, max_frames=max_frames)
        try:
            for luma in _file_lumas(path, max_frames, index):
                reader._add_luma(luma)
            readings.append(reader.reading())
        except (ProvenanceInputError, WatermarkError) as e:
            failures.append(e)
    if not readings:
        raise failures[0]
    return max(readings, key=lambda r: (r.present, r.payload is not None, r.z_score))


def _feed(reader: WatermarkReader, source: VideoSource) -> None:
    """Add ``source``'s frames to ``reader`` until it is full."""
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | bytearray):
        for frame in source:
            if reader.full:
                break
            reader.add(frame)
    else:
        raise WatermarkError(
            f"source must be a video path or an iterable of frames, got {type(source).__name__}")


class WatermarkReader:
    """:func:`read_watermark` fed one frame at a time, for a caller that decodes the video
    itself and uses the frames for other work as well (one decoding instead of two).

    >>> reader = WatermarkReader(max_frames=150)  # doctest: +SKIP
    >>> for frame in frames:  # (H, W, 3) uint8 RGB  # doctest: +SKIP
    ...     reader.add(frame)
    >>> reader.reading().present  # doctest: +SKIP

    Frames after ``max_frames`` are ignored (:attr:`full` says when more would be).
    Memory is flat: one running sum per unit.
    """

    def __init__(self, *, key: bytes = DEFAULT_KEY, max_frames: int | None = None) -> None:
        if max_frames is not None and (isinstance(max_frames, bool)
                                       or not isinstance(max_frames, int) or max_frames < 1):
            raise WatermarkError(f"max_frames must be a positive integer, got {max_frames!r}")
        self._accumulator = Accumulator(layout_for(check_key(key)))
        self._max_frames = max_frames

    @property
    def frames(self) -> int:
        """Frames added so far."""
        return self._accumulator.frames

    @property
    def full(self) -> bool:
        """``max_frames`` frames have been added: further ones are ignored."""
        return self._max_frames is not None and self.frames >= self._max_frames

    def add(self, frame: NDArray[np.uint8]) -> None:
        """Add one ``(H, W, 3) uint8`` RGB frame. Raises
        :class:`~trustavatar.errors.WatermarkError` for anything else, or a frame smaller
        than a watermark (64 px a side)."""
        if not self.full:
            self._add_luma(_luma(frame, where=f"frame {self.frames}"))

    def _add_luma(self, luma: NDArray[np.float32]) -> None:
        self._accumulator.add_luma(luma)

    def reading(self) -> WatermarkReading:
        """What the frames added so far say. Raises
        :class:`~trustavatar.errors.WatermarkError` when no frame was added."""
        if self.frames == 0:
            raise WatermarkError("no frames to read a watermark from")
        return self._accumulator.reading()


def _luma(frame: object, *, where: str) -> NDArray[np.float32]:
    rgb = check_frame(frame, where=where)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise ProvenanceInputError(f"cannot read video {path}: no such file")
    if path.is_dir():
        raise ProvenanceInputError(f"cannot read video {path}: it is a directory")
    try:
        return av.open(ffmpeg_path(path))
    except (av.error.FFmpegError, OSError) as e:
        raise ProvenanceInputError(f"{path} is not a video that can be decoded") from e


def _stream_count(path: Path) -> int:
    """How many video streams ``path`` has, not counting attached pictures (cover art);
    :class:`ProvenanceInputError` when there is none."""
    with _open(path) as container:
        count = len(video_streams(container))
    if not count:
        raise ProvenanceInputError(f"{path} has no video stream")
    return count


def _file_lumas(path: Path, max_frames: int | None, index: int = 0
                ) -> Iterator[NDArray[np.float32]]:
    """The luma of the frames of ``path``'s video stream ``index`` (cover art not counted)."""
    count = 0
    with _open(path) as container:
        stream = video_streams(container)[index]
        stream.thread_type = "AUTO"
        # packet by packet, past damage, as generate and scan read a video
        for frame in Decoding(container, stream):
            if max_frames is not None and count >= max_frames:
                return
            if min(frame.width, frame.height) < MIN_SIDE:
                raise WatermarkError(
                    f"video {path} is {frame.width}x{frame.height} pixels; reading a "
                    f"watermark needs at least {MIN_SIDE}x{MIN_SIDE}")
            # swscale converts any pixel format / range to full-range 8-bit luma.
            yield frame.to_ndarray(format="gray").astype(np.float32)
            count += 1
    if count == 0:
        raise ProvenanceInputError(f"video {path} has no decodable frames")
