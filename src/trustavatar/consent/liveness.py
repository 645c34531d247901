"""Liveness of a recorded consent clip, from face landmarks and the clip's speech.

Four signs that a live face was filmed, each with a documented threshold:

* **A natural blink.** The eye aspect ratio (EAR, Soukupová & Čech 2016: the eyelid gap
  over the eye width, mediapipe points :attr:`~trustavatar.face.mesh.Region.EAR_R` /
  ``EAR_L``, both eyes averaged) drops below :data:`EYE_CLOSING` of its open level (the
  clip's 75th percentile), reaches :data:`BLINK_DEPTH` or less, and opens again within
  :data:`BLINK_MIN_S` to :data:`BLINK_MAX_S` seconds. At least :data:`MIN_BLINKS`.
* **Head micro-motion.** The nose tip moves: the standard deviation of its position,
  over face height, is at least :data:`HEAD_MOTION_MIN`. A still image has none.
* **Mouth motion that tracks the speech.** The inner-lip gap over face height varies
  (standard deviation at least :data:`MOUTH_MOTION_MIN`) and correlates with the speech
  level of the audio (Pearson, best lag within ±:data:`SYNC_MAX_LAG_S`) at least
  :data:`MOUTH_SYNC_MIN`.
* **Footage that does not repeat itself.** No stretch of the face's motion is seen again,
  as it was or played backwards (:func:`trustavatar.face.repetition.find_repetition`): a
  short real clip looped to the length of a dubbed voice blinks, moves the head and moves
  the mouth, and fails here.

Everything is timed by each frame's presentation time, not by its number: a phone that
drops frames in low light (variable frame rate) keeps its blinks' lengths, and the mouth
track is resampled by time onto the speech level's frames, which start where the audio
track starts on the video's clock (an audio track may start later than the video). Over a
constant-rate clip whose audio starts with the video the two grids coincide.

Where the thresholds come from (measured with mediapipe 0.10.14 on the real talking-face
clips of the shared evaluation media and on our own renders; ``consent/README.md``): real
blinks bring the EAR to 0.06-0.55 of its open level, landmark jitter to 0.73-0.80 for a
frame or two; real heads move 0.005-0.4 face heights, a static image 0; real mouths vary
by 0.009-0.05 face heights. Mouth-speech correlation is a weak sign on its own (34 real
talking clips: median 0.30, one below 0.10; audio and video of different clips: median
0.16, 60 % at or above 0.10), so its bar is low: it rejects a mouth that moves against
the speech, not a good dub. A still or frozen mouth fails on mouth motion.

What this does **not** prove: that the face is not synthetic. Our own generator's photo
mode blinks, moves the head and moves the mouth with the speech, and passes. These checks
stop replays of a still photo, a static image video and a frozen face, nothing more.
"""

from __future__ import annotations

__all__ = [
    "BLINK_DEPTH",
    "BLINK_MAX_S",
    "BLINK_MIN_S",
    "EYE_CLOSING",
    "HEAD_MOTION_MIN",
    "MIN_BLINKS",
    "MIN_FACE_FRACTION",
    "MOUTH_MOTION_MIN",
    "MOUTH_SYNC_MIN",
    "SYNC_MAX_LAG_S",
    "LivenessResult",
    "analyse_liveness",
    "eye_aspect_ratio",
]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from trustavatar._correlation import best_lag_correlation
from trustavatar._series_filters import gaussian_smooth
from trustavatar.errors import InputError
from trustavatar.face.mesh import N_LANDMARKS, Region, face_height, mouth_opening
from trustavatar.face.repetition import Repetition, find_repetition

#: A blink starts when the EAR falls below this fraction of its open level …
EYE_CLOSING: Final = 0.80
#: … and counts when it reaches this fraction or less (real blinks: 0.06-0.55; landmark
#: jitter: 0.73-0.80; our renderer's blinks, as mediapipe sees them: 0.62-0.67).
BLINK_DEPTH: Final = 0.70
#: A blink lasts this long below :data:`EYE_CLOSING` (shorter: jitter; longer: looking
#: down or closing the eyes, not a blink). Seconds.
BLINK_MIN_S: Final = 0.06
BLINK_MAX_S: Final = 0.60
MIN_BLINKS: Final = 1
#: Head micro-motion: standard deviation of the nose-tip position over face height
#: (x and y combined). Real clips: 0.005 and up; a static image: 0.
HEAD_MOTION_MIN: Final = 0.002
#: Mouth motion: standard deviation of the inner-lip gap over face height. Real speakers:
#: 0.009-0.05; a still face: below 0.001.
MOUTH_MOTION_MIN: Final = 0.004
#: Mouth-speech correlation at the best lag within ±:data:`SYNC_MAX_LAG_S`. Real talking
#: clips: 33 of 34 at or above it (median 0.30); audio and video of different clips: 60 %.
MOUTH_SYNC_MIN: Final = 0.10
SYNC_MAX_LAG_S: Final = 0.12
#: The face must be found in at least this fraction of the frames.
MIN_FACE_FRACTION: Final = 0.80
#: Open-eye level: this percentile of the clip's EAR.
_OPEN_PERCENTILE: Final = 75
#: Speech level below the clip's loud frames (95th percentile) that counts as silence (dB).
_SPEECH_RANGE_DB: Final = 40.0


def eye_aspect_ratio(landmarks: NDArray[np.floating]) -> float:
    """Mean eye aspect ratio of both eyes of one face (``landmarks: (478, 2)``)."""
    _check_landmarks(landmarks)
    values = []
    for idx in (Region.EAR_R, Region.EAR_L):
        p = landmarks[idx].astype(np.float64)
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        values.append(vertical / max(2.0 * float(np.linalg.norm(p[0] - p[3])), 1e-6))
    return float(np.mean(values))


def _check_landmarks(landmarks: NDArray[np.floating]) -> None:
    shape = getattr(landmarks, "shape", None)
    if shape is None or tuple(shape) != (N_LANDMARKS, 2):
        raise InputError(f"landmarks must be ({N_LANDMARKS}, 2), got {shape}")


@dataclass(frozen=True)
class LivenessResult:
    """Liveness figures of a clip.

    ``blinks``: start times (s) of the blinks counted; ``deepest_blink``: the lowest EAR
    over its open level (1.0: the eyes never closed); ``head_motion`` and
    ``mouth_motion`` in face heights; ``mouth_sync``: the correlation (None without
    speech); ``repetition``: a stretch of the footage seen twice (a loop), if any;
    ``failures``: one line per failed sign (empty when live).
    """

    frames: int
    fps: float
    face_frames: int
    ear_open: float | None
    blinks: tuple[float, ...]
    deepest_blink: float | None
    head_motion: float | None
    mouth_motion: float | None
    mouth_sync: float | None
    mouth_lag_s: float | None
    failures: tuple[str, ...]
    repetition: Repetition | None = None

    @property
    def blink_rate_per_min(self) -> float:
        seconds = self.frames / self.fps if self.fps else 0.0
        return 60.0 * len(self.blinks) / seconds if seconds else 0.0

    @property
    def failure(self) -> str | None:
        return "; ".join(self.failures) if self.failures else None

    def figures(self) -> dict[str, Any]:
        def r(x: float | None, n: int = 4) -> float | None:
            return None if x is None else round(float(x), n)

        return {
            "frames": self.frames,
            "face_frames": self.face_frames,
            "blinks": len(self.blinks),
            "blink_times_s": [round(t, 2) for t in self.blinks],
            "blink_rate_per_min": round(self.blink_rate_per_min, 1),
            "deepest_blink": r(self.deepest_blink, 3),
            "head_motion": r(self.head_motion),
            "mouth_motion": r(self.mouth_motion),
            "mouth_sync": r(self.mouth_sync, 3),
            "mouth_lag_s": r(self.mouth_lag_s, 3),
            "repetition": None if self.repetition is None else self.repetition.to_dict(),
            "thresholds": {
                "min_blinks": MIN_BLINKS, "blink_depth": BLINK_DEPTH,
                "head_motion": HEAD_MOTION_MIN, "mouth_motion": MOUTH_MOTION_MIN,
                "mouth_sync": MOUTH_SYNC_MIN,
            },
        }


def analyse_liveness(
    landmarks: Sequence[NDArray[np.floating] | None],
    *,
    fps: float,
    speech_level: NDArray[np.floating] | None,
    times: Sequence[float] | NDArray[np.floating] | None = None,
    speech_start: float = 0.0,
) -> LivenessResult:
    """Measure blinks, head motion and mouth-speech tracking.

    ``landmarks``: per frame, ``(478, 2)`` landmarks of the one face, or None where no
    face was found. ``times``: each frame's presentation time in seconds, increasing
    (default ``i / fps``: a constant frame rate). ``fps``: the clip's (nominal) frame rate.
    ``speech_level``: the speech-band level of the audio in dB per ``1 / fps`` seconds
    (:func:`trustavatar.generator.audio.frame_energy` at ``fps``), its first value at
    ``speech_start`` seconds on the frames' clock (where the audio track starts relative to
    the video), or None when the clip has no usable audio (the mouth is then not compared
    with speech).
    """
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}")
    n = len(landmarks)
    t = _frame_times(times, n, fps)
    if not np.isfinite(speech_start):
        raise InputError(f"speech_start must be finite, got {speech_start}")
    present = [lm for lm in landmarks if lm is not None]
    for lm in present:
        _check_landmarks(lm)
    failures: list[str] = []
    if n == 0 or len(present) < max(2, MIN_FACE_FRACTION * n):
        shown = f"{len(present)} of {n}" if n else "0"
        return LivenessResult(n, fps, len(present), None, (), None, None, None, None, None,
                              (f"the face is visible in only {shown} frames (need "
                               f"{MIN_FACE_FRACTION:.0%})",))
    nan = np.full(2, np.nan)
    ear = np.array([np.nan if lm is None else eye_aspect_ratio(lm) for lm in landmarks])
    height = np.array([np.nan if lm is None else face_height(lm) for lm in landmarks])
    mouth = np.array([np.nan if lm is None else mouth_opening(lm) for lm in landmarks])
    nose = np.array([nan if lm is None else lm[Region.NOSE_TIP] for lm in landmarks],
                    dtype=np.float64)

    # 1. Blinks.
    ear_open = float(np.nanpercentile(ear, _OPEN_PERCENTILE))
    ratio = ear / max(ear_open, 1e-6)
    blinks, deepest = _blinks(ratio, t)
    if len(blinks) < MIN_BLINKS:
        failures.append(f"no natural blink: the eyes closed to {deepest:.2f} of their open "
                        f"level at most (a blink reaches {BLINK_DEPTH} within "
                        f"{BLINK_MIN_S:g}-{BLINK_MAX_S:g} s); got {len(blinks)} blinks, "
                        f"need {MIN_BLINKS}")

    # 2. Head micro-motion.
    scale = float(np.nanmedian(height))
    head = float(np.linalg.norm(np.nanstd(nose, axis=0))) / max(scale, 1e-6)
    if head < HEAD_MOTION_MIN:
        failures.append(f"no head motion: {head:.4f} face heights < {HEAD_MOTION_MIN}")

    # 3. Mouth motion, and its correlation with the speech level.
    mouth_motion = float(np.nanstd(mouth))
    if mouth_motion < MOUTH_MOTION_MIN:
        failures.append(f"the mouth does not move: {mouth_motion:.4f} face heights < "
                        f"{MOUTH_MOTION_MIN}")
    sync: float | None = None
    lag_s: float | None = None
    if speech_level is not None:
        sync, lag = _mouth_sync(mouth, t, np.asarray(speech_level, np.float64),
                                float(speech_start), fps)
        lag_s = None if lag is None else lag / fps
        if sync is None or sync < MOUTH_SYNC_MIN:
            shown = "not measurable" if sync is None else f"{sync:.2f}"
            failures.append(f"the mouth does not follow the speech: correlation {shown} < "
                            f"{MOUTH_SYNC_MIN}")

    # 4. Footage that repeats itself (a loop).
    repetition = find_repetition(landmarks, t)
    if repetition is not None:
        failures.append(f"the footage repeats itself: {repetition.describe()}")
    return LivenessResult(
        frames=n, fps=fps, face_frames=len(present), ear_open=ear_open, blinks=blinks,
        deepest_blink=deepest, head_motion=head, mouth_motion=mouth_motion, mouth_sync=sync,
        mouth_lag_s=lag_s, failures=tuple(failures), repetition=repetition,
    )


def _frame_times(times: Sequence[float] | NDArray[np.floating] | None, n: int,
                 fps: float) -> NDArray[np.float64]:
    if times is None:
        return np.arange(n, dtype=np.float64) / fps
    t = np.asarray(times, np.float64)
    if t.shape != (n,):
        raise InputError(f"times must give one time per frame ({n}), got shape {t.shape}")
    if not np.isfinite(t).all() or (n > 1 and not (np.diff(t) > 0).all()):
        raise InputError("frame times must be finite and increasing")
    return t


def _blinks(ratio: NDArray[np.float64],
            times: NDArray[np.float64]) -> tuple[tuple[float, ...], float]:
    """Start times of the blinks in ``ratio`` (EAR over its open level; NaN: no face) of the
    frames shown at ``times`` and the deepest dip of any length. A closure lasts from its
    first closed frame to the first open one."""
    closed = np.nan_to_num(ratio, nan=1.0) < EYE_CLOSING
    deepest = float(np.nanmin(ratio)) if np.isfinite(ratio).any() else 1.0
    out: list[float] = []
    i, n = 0, len(ratio)
    while i < n:
        if not closed[i]:
            i += 1
            continue
        j = i
        while j < n and closed[j]:
            j += 1
        if j < n:  # a run cut off by the end of the clip is not a complete blink
            # to the microsecond: (j - i) / fps of a constant rate, whatever the rounding
            seconds = round(float(times[j] - times[i]), 6)
            depth = float(np.nanmin(ratio[i:j]))
            if depth <= BLINK_DEPTH and BLINK_MIN_S <= seconds <= BLINK_MAX_S:
                out.append(float(times[i]))
        i = j
    return tuple(out), min(deepest, 1.0)


def _mouth_sync(mouth: NDArray[np.float64], times: NDArray[np.float64],
                level: NDArray[np.float64], start: float,
                fps: float) -> tuple[float | None, int | None]:
    """Best Pearson correlation of the (smoothed) mouth opening with the speech level within
    ±:data:`SYNC_MAX_LAG_S`, and its lag in speech frames (positive: the mouth leads).

    The mouth opening (one value per frame, at ``times``) is resampled by time onto the
    speech level's frames (``level[k]`` at ``start + k / fps``), where the video is there;
    a speech frame counts as seeing the mouth when the frame nearest it in time has a face.
    """
    grid = start + np.arange(len(level), dtype=np.float64) / fps
    eps = 1e-6  # timestamps are rounded to their time base
    inside = np.flatnonzero((grid >= times[0] - eps) & (grid <= times[-1] + eps))
    if inside.size < 10:
        return None, None
    span = slice(int(inside[0]), int(inside[-1]) + 1)
    grid, level = grid[span], level[span]
    valid = np.isfinite(mouth)
    if valid.sum() < 2:
        return None, None
    seen = np.interp(grid, times, valid.astype(np.float64)) > 0.5
    if seen.sum() < 10:
        return None, None
    m = np.interp(grid, times[valid], mouth[valid])
    m[~seen] = float(np.median(m[seen]))
    loud = float(np.percentile(level, 95))
    s = np.clip(level, loud - _SPEECH_RANGE_DB, None)
    m, s = gaussian_smooth(m, 1.0), gaussian_smooth(s, 1.0)
    m[~seen] = np.nan  # smoothed over the filled gaps; correlated where a face was seen
    best = best_lag_correlation(m, s, max(1, round(SYNC_MAX_LAG_S * fps)))
    return (None, None) if best is None else (best[1], -best[0])
