"""Footage that repeats itself: a stretch of a face's motion seen again, as it was (a loop)
or played backwards (a ping-pong).

A short real clip of a person, looped to the length of a dubbed voice, shows the person
blinking, moving the head and moving the mouth: it passes every per-frame liveness sign.
What it cannot hide is that the same motion comes back. Live footage never repeats a
moving face to within landmark jitter for :data:`WINDOW_S` seconds.

Each frame's face is described by every fourth mediapipe landmark over the clip's median
face height, twice: as placed in the frame (*raw*), and with position, size and in-plane
rotation removed by a Procrustes fit to the clip's first face (*aligned*: a loop whose
copies are zoomed, shifted or turned a little). Two frames match when the RMS distance of
their landmarks is at most :data:`MATCH_RAW` (:data:`MATCH_ALIGNED`) face heights. A
repetition is :data:`WINDOW_S` seconds of consecutive frames that match, frame by frame,
frames at least :data:`MIN_LAG_S` later (a loop) or the same frames in reverse order (a
ping-pong), while the face moves in that stretch (RMS deviation from the stretch's mean
shape at least :data:`MIN_MOTION_RAW` / :data:`MIN_MOTION_ALIGNED`; a face that holds
still matches itself anywhere and is not a repetition).

Where the thresholds come from (mediapipe 0.10.14, frames scaled to at most 640 px as the
consent check reads them; ``consent/README.md``): 67 real clips of the shared evaluation
media, and the first 2.5 s of each looped three times, played forward-back-forward, and
looped with each copy zoomed 2 %, turned 1° and shifted, all re-encoded by libx264.

What it does not find: a loop played at another speed, a segment shorter than
:data:`WINDOW_S`, copies warped more than a little, or different real clips of the same
person joined together.
"""

from __future__ import annotations

__all__ = [
    "MATCH_ALIGNED",
    "MATCH_RAW",
    "MIN_LAG_S",
    "MIN_MOTION_ALIGNED",
    "MIN_MOTION_RAW",
    "WINDOW_S",
    "Repetition",
    "find_repetition",
]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import InputError
from trustavatar.face.mesh import N_LANDMARKS, face_height

#: Length of the stretch that must repeat (seconds).
WINDOW_S: Final = 1.5
#: The second copy starts at least this long after the first (seconds).
MIN_LAG_S: Final = 0.25
#: Two frames match at this RMS landmark distance or less (face heights), raw / aligned.
MATCH_RAW: Final = 0.0095
MATCH_ALIGNED: Final = 0.0065
#: The face must move this much in the stretch (face heights), raw / aligned.
MIN_MOTION_RAW: Final = 0.008
MIN_MOTION_ALIGNED: Final = 0.005
#: Frames faster than this rate are thinned (frames per second).
_MAX_RATE: Final = 60.0
#: Rows of the distance matrix computed at a time (memory: this many times the frames).
_BLOCK: Final = 256
_SUBSET: Final = np.arange(0, N_LANDMARKS, 4)


@dataclass(frozen=True)
class Repetition:
    """A stretch of ``seconds`` from ``first_s`` that is seen again from ``second_s``
    (forward), or backwards ending at ``second_s`` (``reversed``). ``distance``: the worst
    frame-to-frame landmark distance in it (face heights); ``aligned``: found with the
    face's position, size and rotation removed."""

    first_s: float
    second_s: float
    seconds: float
    reversed: bool
    distance: float
    aligned: bool

    def describe(self) -> str:
        how = "played backwards" if self.reversed else "again"
        return (f"the face's motion from {self.first_s:.2f} s to "
                f"{self.first_s + self.seconds:.2f} s is seen {how} at {self.second_s:.2f} s "
                f"(landmarks within {self.distance:.4f} face heights: a looped clip)")

    def to_dict(self) -> dict[str, Any]:
        return {"first_s": round(self.first_s, 3), "second_s": round(self.second_s, 3),
                "seconds": round(self.seconds, 3), "reversed": self.reversed,
                "distance": round(self.distance, 5), "aligned": self.aligned}


def find_repetition(landmarks: Sequence[NDArray[np.floating] | None],
                    times: Sequence[float] | NDArray[np.floating]) -> Repetition | None:
    """The first repetition found in a face track, or None.

    ``landmarks``: per frame, ``(478, 2)`` pixel landmarks of the one face, or None where no
    face was found; ``times``: each frame's presentation time (s), increasing.
    """
    t = np.asarray(times, np.float64)
    if t.shape != (len(landmarks),):
        raise InputError(f"times must give one time per frame ({len(landmarks)}), got "
                         f"shape {t.shape}")
    if len(t) < 3:
        return None
    keep = _thinned(t)
    t = t[keep]
    rate = (len(t) - 1) / max(float(t[-1] - t[0]), 1e-9)
    window = max(2, round(WINDOW_S * rate))
    min_lag = max(1, round(MIN_LAG_S * rate))
    if len(t) < window + min_lag:
        return None
    points = np.full((len(t), len(_SUBSET), 2), np.nan)
    heights = []
    for row, i in enumerate(keep):
        lm = landmarks[i]
        if lm is not None:
            if getattr(lm, "shape", None) != (N_LANDMARKS, 2):
                raise InputError(f"landmarks must be ({N_LANDMARKS}, 2), got "
                                 f"{getattr(lm, 'shape', None)}")
            points[row] = np.asarray(lm, np.float64)[_SUBSET]
            heights.append(face_height(lm))
    if not heights:
        return None
    points /= max(float(np.median(heights)), 1e-6)
    seen = np.isfinite(points[:, 0, 0])
    for aligned, match, min_motion in ((False, MATCH_RAW, MIN_MOTION_RAW),
                                       (True, MATCH_ALIGNED, MIN_MOTION_ALIGNED)):
        shapes = _aligned(points, seen) if aligned else points
        found = _search(shapes.reshape(len(t), -1), seen, window, min_lag, match,
                         min_motion)
        if found is not None:
            (a, b, backwards), distance = found
            return Repetition(
                first_s=float(t[a]), second_s=float(t[b]),
                seconds=float(t[a + window - 1] - t[a]) + 1.0 / rate, reversed=backwards,
                distance=distance, aligned=aligned)
    return None


def _thinned(t: NDArray[np.float64]) -> NDArray[np.intp]:
    """Indices of the frames kept: every frame up to :data:`_MAX_RATE`, else spaced by at
    least its interval."""
    keep = [0]
    for i in range(1, len(t)):
        if t[i] - t[keep[-1]] >= 1.0 / _MAX_RATE - 1e-6:
            keep.append(i)
    return np.asarray(keep, np.intp)


def _aligned(points: NDArray[np.float64], seen: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Each face moved, scaled and turned onto the first one (orthogonal Procrustes), at
    the first face's size."""
    out = np.full_like(points, np.nan)
    centred = points[seen] - points[seen].mean(axis=1, keepdims=True)
    size = np.sqrt((centred ** 2).sum(axis=2).mean(axis=1))
    unit = centred / np.maximum(size, 1e-9)[:, None, None]
    reference = unit[0]
    u, _, vt = np.linalg.svd(np.einsum("npi,pj->nij", unit, reference))
    rotation = u @ vt
    out[seen] = np.einsum("npi,nij->npj", unit, rotation) * size[0]
    return out


def _search(shapes: NDArray[np.float64], seen: NDArray[np.bool_], window: int, min_lag: int,
            match: float, min_motion: float) -> tuple[tuple[int, int, bool], float] | None:
    """The first window of ``window`` frames matching, frame by frame, frames at least
    ``min_lag`` later, forward or backwards, while moving at least ``min_motion``.
    Returns ((first start, second start, backwards), worst distance)."""
    n, dim = shapes.shape
    count = dim // 2
    x = np.where(seen[:, None], shapes, 0.0)
    squares = (x * x).sum(axis=1)
    motion = _window_motion(x, squares, seen, window, count)
    # run[j]: consecutive matches along the diagonal (forward) or anti-diagonal (backwards)
    # ending at (i, j); carried from row to row.
    forward = np.zeros(n, np.int32)
    backward = np.zeros(n, np.int32)
    columns = np.arange(n)
    limit = match * match * count
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(n, start + _BLOCK))
        block = squares[rows, None] + squares[None, :] - 2.0 * (x[rows] @ x.T)
        block[~seen[rows], :] = np.inf
        block[:, ~seen] = np.inf
        for offset, i in enumerate(range(rows.start, rows.stop)):
            ok = (block[offset] <= limit) & (columns - i >= min_lag)
            forward = np.where(ok, np.concatenate(([0], forward[:-1])) + 1, 0)
            backward = np.where(ok, np.concatenate((backward[1:], [0])) + 1, 0)
            first = i - window + 1
            if first < 0 or motion[first] < min_motion:
                continue
            for runs, backwards in ((forward, False), (backward, True)):
                hits = np.flatnonzero(runs >= window)
                if hits.size:
                    j = int(hits[0])
                    second = j - window + 1 if not backwards else j
                    return (first, second, backwards), _worst(
                        x, first, j, window, backwards, count)
    return None


def _window_motion(x: NDArray[np.float64], squares: NDArray[np.float64],
                   seen: NDArray[np.bool_], window: int, count: int) -> NDArray[np.float64]:
    """RMS landmark deviation from the mean shape of each window of frames (by its first
    frame); 0 where a frame of the window has no face."""
    sums = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    sq = np.concatenate([[0.0], np.cumsum(squares)])
    missing = np.concatenate([[0], np.cumsum(~seen)])
    k = np.arange(len(x) - window + 1)
    mean = (sums[k + window] - sums[k]) / window
    var = (sq[k + window] - sq[k]) / window - (mean * mean).sum(axis=1)
    motion = np.sqrt(np.clip(var, 0.0, None) / count)
    motion[missing[k + window] - missing[k] > 0] = 0.0
    return np.concatenate([motion, np.zeros(window - 1)])


def _worst(x: NDArray[np.float64], first: int, end: int, window: int, backwards: bool,
           count: int) -> float:
    """The largest landmark distance between the window from ``first`` and its copy, which
    ends at column ``end``."""
    a = x[first:first + window]
    b = x[end - window + 1:end + 1] if not backwards else x[end:end + window][::-1]
    return float(np.sqrt(((a - b) ** 2).sum(axis=1).max() / count))
