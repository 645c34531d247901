"""Motion analyzer: landmark dynamics after removing the head's pose.

Every face frame's landmarks are mapped into the canonical template (the similarity of
:mod:`trustavatar.detector.crops` removes head roll, position and size), so what is left is
the face's own motion. Per 2 s window:

- ``mouth_jitter``: log10 of the mean frame-to-frame *acceleration* of the lip landmarks
  over that of the eyebrows — frame-by-frame mouth synthesis tends to tremble where a real
  mouth moves smoothly (frames 40 ms apart; accelerations are per second squared, so
  variable frame rates compare);
- ``mouth_speed``: mean lip-landmark speed (template units per second);
- ``head_speed``: speed of the head pose (roll in radians, log-scale, translation in
  inter-ocular distances, per second) — whole-frame generators move the head little and
  smoothly.

Figures are medians over windows. ``score`` is ``z(mouth_jitter)`` against real footage
(None without a reference); it uses landmarks only, so it does not depend on resolution or
codec as pixel statistics do.
"""

from __future__ import annotations

__all__ = ["MotionAnalyzer", "motion_score"]

import math
import time
from typing import Any, Final

import numpy as np

from trustavatar.detector.analyzers.base import (
    Analyzer,
    Reference,
    ScanContext,
    WindowAccumulator,
    median_figures,
    robust_z,
)
from trustavatar.detector.crops import similarity_to_template
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary
from trustavatar.face.mesh import Region

_LIPS: Final = np.concatenate([Region.LIPS_OUTER, Region.LIPS_INNER])
_BROWS: Final = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46,
                          300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
FIGURES: Final = ("mouth_jitter", "mouth_speed", "head_speed")


def motion_score(figures: dict[str, Any], reference: Reference) -> float | None:
    """``z(mouth_jitter)`` against real footage."""
    return robust_z(figures.get("mouth_jitter"), reference.get("motion.mouth_jitter"))


class MotionAnalyzer(Analyzer):
    """See the module docstring."""

    name = "motion"
    version = "2"

    def begin(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._acc = WindowAccumulator(ctx.window, self._reduce)
        self._prev: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        self._frames = 0
        self._busy = 0.0

    def _reduce(self, index: int, values: dict[str, list[float]]) -> WindowScore:
        w = self._ctx.window
        acc_m, acc_b = values.get("acc_mouth", []), values.get("acc_brow", [])
        figs: dict[str, Any] = {"mouth_jitter": None}
        if len(acc_m) >= 5 and np.mean(acc_b) > 0:
            figs["mouth_jitter"] = float(math.log10(np.mean(acc_m) / np.mean(acc_b)))
        figs.update(median_figures({k: v for k, v in values.items()
                                    if k in ("mouth_speed", "head_speed")}, min_count=5))
        return WindowScore(index * w, (index + 1) * w,
                           motion_score(figs, self._ctx.reference), figs)

    def update(self, obs: FaceObservation) -> None:
        if obs.landmarks is None:
            self._prev = []
            return
        t0 = time.perf_counter()
        if obs.new_segment:
            self._prev = []
        m = similarity_to_template(obs.landmarks)
        pts = obs.landmarks.astype(np.float64) @ m[:, :2].T + m[:, 2]
        scale = float(np.hypot(m[0, 0], m[1, 0]))  # template units per pixel = 1 / IOD
        # head pose: roll, log size, and the eye midpoint's position in inter-ocular units
        centre = np.linalg.solve(m[:, :2], -m[:, 2]) * scale
        pose = np.array([math.atan2(m[1, 0], m[0, 0]), math.log(scale),
                         centre[0], centre[1]])
        self._prev.append((obs.time, pts[_LIPS], pts[_BROWS], pose))
        self._prev = self._prev[-3:]
        self._frames += 1
        if len(self._prev) == 3:
            (t0_, m0, b0, _), (t1, m1, b1, p1), (t2, m2, b2, p2) = self._prev
            d1, d2 = max(t1 - t0_, 1e-3), max(t2 - t1, 1e-3)
            vm1, vm2 = (m1 - m0) / d1, (m2 - m1) / d2
            vb1, vb2 = (b1 - b0) / d1, (b2 - b1) / d2
            dt = (d1 + d2) / 2.0
            dp = (p2 - p1) / d2
            self._acc.add(obs.time, {
                "acc_mouth": float(np.linalg.norm((vm2 - vm1) / dt, axis=1).mean()),
                "acc_brow": float(np.linalg.norm((vb2 - vb1) / dt, axis=1).mean()),
                "mouth_speed": float(np.linalg.norm(vm2, axis=1).mean()),
                "head_speed": float(abs(dp[0]) + abs(dp[1]) + math.hypot(dp[2], dp[3])),
            })
        self._busy += time.perf_counter() - t0

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        windows = tuple(self._acc.close())
        figures: dict[str, Any] = {}
        for k in FIGURES:
            vals = [w.figures[k] for w in windows if w.figures.get(k) is not None]
            figures[k] = float(np.median(vals)) if vals else None
        figures["windows"] = len(windows)
        if figures["mouth_jitter"] is None:
            why = "no face found" if not self._frames else "too few consecutive face frames"
            return AnalyzerResult(self.name, self.version, AnalyzerStatus.NOT_APPLICABLE, None,
                                  figures, (why,), windows, self._busy)
        score = motion_score(figures, self._ctx.reference)
        reasons = []
        if score is not None and score >= 2.0:
            reasons.append(f"the lips tremble more than the brows ({score:.1f} SD beyond real "
                           "footage): typical of frame-by-frame mouth synthesis")
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.OK, score, figures,
                              tuple(reasons), windows, self._busy)
