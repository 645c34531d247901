"""Blink analyzer: eye-aspect-ratio series → blinks → rate with a confidence interval.

Per face frame the eye aspect ratio (EAR, Soukupová & Čech) of both eyes is averaged and
divided by the open-eye level (rolling 80th percentile over 10 s within a track segment),
so head pose and eye shape cancel. A *blink* is a dip below 0.8 of the open level that
reaches below 0.6 and lasts 50 ms–1 s (longer closures are counted apart); its onset is the
first frame below 0.8 and its duration the time below 0.8.

Figures: ``blinks``, ``rate_per_min`` with an exact Poisson 95 % interval
(``rate_ci_low``, ``rate_ci_high``), ``median_duration_ms``, inter-blink intervals
(``ibi_mean_s``, ``ibi_cv``), ``long_closures``, ``face_seconds``.

Norms (``shared/notes/detection.md``): about 17/min at rest and 26/min talking, 95 % of
people between 10.5 and 32.5/min; blinks last 100–400 ms. A rate needs at least 60 s of
face: with less the status is ``insufficient-footage`` and there is no score. ``score`` is
0 when the rate's interval overlaps the normal range and the median duration is normal, and
grows (in doublings beyond the norm) when the whole interval lies outside it; it is never
negative — normal blinking is not evidence of authenticity. Dubbing tools (Wav2Lip,
MuseTalk, LatentSync) keep the upper face, so blinks say nothing about a mouth-only edit;
they help against whole-face generators (single-image animators).
"""

from __future__ import annotations

__all__ = ["BLINK_NORMS", "BlinkAnalyzer", "BlinkEvent", "blink_score", "detect_blinks",
           "poisson_interval"]

import math
import time
from array import array
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaincinv

from trustavatar._series_filters import rolling_percentile
from trustavatar.detector.analyzers.base import Analyzer, Reference, ScanContext
from trustavatar.detector.crops import eye_aspect_ratio
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary

#: Physiological norms used for the score.
BLINK_NORMS: Final = {
    "rate_rest_per_min": 17.0, "rate_talking_per_min": 26.0,
    "rate_low_per_min": 10.5, "rate_high_per_min": 32.5,
    "duration_low_ms": 100.0, "duration_high_ms": 400.0,
    "min_face_seconds": 60.0,
}
_CLOSING, _CLOSED = 0.8, 0.6
_MIN_S, _MAX_S = 0.05, 1.0


@dataclass(frozen=True)
class BlinkEvent:
    """One blink: onset (s from the first frame), duration (s), depth (min relative EAR)."""

    onset: float
    duration: float
    depth: float


def poisson_interval(count: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate: ``count`` events in ``exposure`` units."""
    if exposure <= 0:
        return (0.0, math.inf)
    alpha = 1.0 - level
    # the chi-squared quantiles of the textbook form, chi2.ppf(q, 2k) / 2, written as the
    # gamma quantiles they are (scipy.special: scipy.stats takes ~0.7 s to import)
    low = gammaincinv(count, alpha / 2) if count > 0 else 0.0
    high = gammaincinv(count + 1, 1 - alpha / 2)
    return float(low / exposure), float(high / exposure)


def detect_blinks(times: NDArray[np.float64], ear: NDArray[np.float64], *,
                  fps: float = 25.0) -> tuple[list[BlinkEvent], int]:
    """Blinks in one continuous segment: ``times`` ``(N,)`` s, ``ear`` ``(N,)``.

    Returns (blinks, long closures). The open-eye level is a rolling 80th percentile over
    10 s (the segment's own when shorter).
    """
    n = len(ear)
    if n < 5:
        return [], 0
    size = max(5, min(n, round(10.0 * fps)) | 1)
    baseline = rolling_percentile(ear, 80, size)
    rel = ear / np.maximum(baseline, 1e-6)
    below = rel < _CLOSING
    blinks: list[BlinkEvent] = []
    long = 0
    dt = float(np.median(np.diff(times))) if n > 1 else 1.0 / fps
    i = 0
    while i < n:
        if not below[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and below[j + 1]:
            j += 1
        depth = float(rel[i:j + 1].min())
        duration = float(times[j] - times[i]) + dt
        if depth < _CLOSED and i > 0 and j < n - 1:  # whole dip inside the segment
            if _MIN_S <= duration <= _MAX_S:
                blinks.append(BlinkEvent(float(times[i]), duration, depth))
            elif duration > _MAX_S:
                long += 1
        i = j + 1
    return blinks, long


def blink_score(figures: dict[str, Any], reference: Reference | None = None) -> float | None:
    """Distance outside the norms in doublings (0 inside them); None under 60 s of face."""
    if (figures.get("face_seconds") or 0.0) < BLINK_NORMS["min_face_seconds"]:
        return None
    low, high = figures.get("rate_ci_low"), figures.get("rate_ci_high")
    score = 0.0
    if high is not None and high < BLINK_NORMS["rate_low_per_min"]:
        score += math.log2(BLINK_NORMS["rate_low_per_min"] / max(high, 0.5))
    if low is not None and low > BLINK_NORMS["rate_high_per_min"]:
        score += math.log2(low / BLINK_NORMS["rate_high_per_min"])
    dur = figures.get("median_duration_ms")
    if dur is not None and (figures.get("blinks") or 0) >= 5:
        if dur < BLINK_NORMS["duration_low_ms"]:
            score += math.log2(BLINK_NORMS["duration_low_ms"] / max(dur, 1.0))
        elif dur > BLINK_NORMS["duration_high_ms"]:
            score += math.log2(dur / BLINK_NORMS["duration_high_ms"])
    return score


#: Points of the eye-aspect-ratio series kept for a report's plot.
EAR_SERIES_POINTS = 600


def ear_series(times: NDArray[np.float64], ear: NDArray[np.float64],
               points: int = EAR_SERIES_POINTS) -> list[list[float]]:
    """``[[t, ear], …]``, at most ``points`` long: each bucket of frames keeps its minimum,
    so a blink (a dip) survives the thinning."""
    n = len(times)
    if n == 0:
        return []
    k = max(1, -(-n // points))
    out = []
    for i in range(0, n, k):
        j = i + int(np.argmin(ear[i:i + k]))
        out.append([round(float(times[j]), 3), round(float(ear[j]), 4)])
    return out


class BlinkAnalyzer(Analyzer):
    """See the module docstring. Keeps three numbers per face frame (no images)."""

    name = "blink"
    version = "2"

    def begin(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._t = array("d")
        self._ear = array("f")
        self._seg = array("i")
        self._busy = 0.0

    def update(self, obs: FaceObservation) -> None:
        if obs.landmarks is None:
            return
        t0 = time.perf_counter()
        r, left = eye_aspect_ratio(obs.landmarks)
        self._t.append(obs.time)
        self._ear.append((r + left) / 2.0)
        self._seg.append(obs.segment)
        self._busy += time.perf_counter() - t0

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        t0 = time.perf_counter()
        times = np.frombuffer(self._t, np.float64) if len(self._t) else np.zeros(0)
        ear = np.frombuffer(self._ear, np.float32).astype(np.float64) if len(self._ear) \
            else np.zeros(0)
        seg = np.frombuffer(self._seg, np.int32) if len(self._seg) else np.zeros(0, np.int32)
        fps = self._ctx.video.fps
        blinks: list[BlinkEvent] = []
        ibis: list[float] = []
        long = 0
        for s in np.unique(seg):
            sel = seg == s
            found, n_long = detect_blinks(times[sel], ear[sel], fps=fps)
            long += n_long
            blinks.extend(found)
            onsets = [b.onset for b in found]
            ibis.extend(np.diff(onsets).tolist())
        minutes = track.face_seconds / 60.0
        n = len(blinks)
        low, high = poisson_interval(n, minutes) if minutes > 0 else (None, None)
        durations = [b.duration * 1000.0 for b in blinks]
        figures: dict[str, Any] = {
            "face_seconds": track.face_seconds,
            "blinks": n,
            "rate_per_min": n / minutes if minutes > 0 else None,
            "rate_ci_low": low, "rate_ci_high": high,
            "median_duration_ms": float(np.median(durations)) if durations else None,
            "ibi_mean_s": float(np.mean(ibis)) if ibis else None,
            "ibi_cv": float(np.std(ibis) / np.mean(ibis)) if len(ibis) >= 2 else None,
            "long_closures": long,
            "ear_median": float(np.median(ear)) if ear.size else None,
            "onsets_s": [round(b.onset, 3) for b in blinks[:500]],
            "durations_ms": [round(d, 1) for d in durations[:500]],
            "ear_series": ear_series(times, ear),
            "scope": "whole-face generation; not applicable to mouth-only edits (dubbing)",
        }
        score = blink_score(figures)
        reasons: list[str] = []
        if not len(times):
            status, score = AnalyzerStatus.NOT_APPLICABLE, None
            reasons.append("no face found")
        elif score is None:
            status = AnalyzerStatus.INSUFFICIENT
            reasons.append(f"insufficient footage: {track.face_seconds:.0f} s of face; a "
                           f"blink rate needs at least {BLINK_NORMS['min_face_seconds']:.0f} s")
        else:
            status = AnalyzerStatus.OK
            rate = figures["rate_per_min"]
            if score > 0:
                reasons.append(
                    f"blinking is outside human norms: {rate:.1f}/min (95% interval "
                    f"{low:.1f}–{high:.1f}; people: 10.5–32.5/min), median blink "
                    f"{figures['median_duration_ms'] or 0:.0f} ms (people: 100–400 ms)")
        reasons.append("blinks are not evidence about mouth-only edits (dubbing keeps the "
                       "upper face)")
        windows = self._windows(times, blinks)
        return AnalyzerResult(self.name, self.version, status, score, figures, tuple(reasons),
                              windows, self._busy + time.perf_counter() - t0)

    def _windows(self, times: NDArray[np.float64], blinks: list[BlinkEvent]
                 ) -> tuple[WindowScore, ...]:
        if not times.size:
            return ()
        w = self._ctx.window
        idx = (times // w).astype(int)
        counts = np.bincount([int(b.onset // w) for b in blinks], minlength=idx.max() + 1)
        ear = np.frombuffer(self._ear, np.float32)
        out = []
        for i in np.unique(idx):
            sel = idx == i
            out.append(WindowScore(i * w, (i + 1) * w, None, {
                "blinks": int(counts[i]), "ear_median": float(np.median(ear[sel]))}))
        return tuple(out)
