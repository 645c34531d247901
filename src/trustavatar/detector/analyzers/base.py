"""What every analyzer implements, and the context a scan hands it.

An analyzer is a small streaming object: :meth:`Analyzer.begin` once with the
:class:`ScanContext`, :meth:`Analyzer.update` once per frame with the
:class:`~trustavatar.detector.tracking.FaceObservation` (frame, landmarks or None), and
:meth:`Analyzer.finish` once, returning an :class:`~trustavatar.detector.result.AnalyzerResult`.
Analyzers keep per-window aggregates or per-frame scalars, never frames, so memory stays
flat in the video's length.
"""

from __future__ import annotations

__all__ = ["Analyzer", "ScanContext", "WindowAccumulator", "robust_z"]

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from trustavatar.detector.result import AnalyzerResult, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary
from trustavatar.detector.video import VideoProbe
from trustavatar.generator.audio import Audio
from trustavatar.home import Home
from trustavatar.keys import TrustStore

#: Reference statistics of a figure on real footage: {"mean": m, "std": s}.
Reference = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, eq=False)
class ScanContext:
    """Everything about the video an analyzer may need besides the frames.

    ``audio`` is the decoded soundtrack (16 kHz mono) or None with ``audio_note`` saying
    why (no audio stream, silent, undecodable). ``reference`` maps figure names to their
    distribution on real clips (from the fusion file). ``window`` is the timeline's window
    length in seconds. ``home``: the trustavatar home whose ledger can confirm a watermark
    (None: no ledger is consulted).
    """

    path: Path
    video: VideoProbe
    audio: Audio | None = None
    audio_note: str | None = None
    trust: TrustStore | None = None
    device: str = "cpu"
    window: float = 2.0
    reference: Reference = field(default_factory=dict)
    home: Home | None = None


class Analyzer(ABC):
    """Base class of analyzers (see the module docstring). Subclasses set ``name`` and
    ``version`` and are registered with :func:`~trustavatar.detector.register_analyzer`."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"

    @abstractmethod
    def begin(self, ctx: ScanContext) -> None:
        """Called once before the first frame."""

    def update(self, obs: FaceObservation) -> None:  # noqa: B027 - optional hook
        """Called once per frame, in time order."""

    @abstractmethod
    def finish(self, track: TrackSummary) -> AnalyzerResult:
        """Called once after the last frame."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, files); called even when the scan fails."""


def robust_z(value: float | None, ref: Mapping[str, float] | None) -> float | None:
    """``(value - mean) / std`` against a real-footage reference (None if either is missing)."""
    if value is None or ref is None or not math.isfinite(value):
        return None
    std = float(ref.get("std", 0.0))
    if not std > 0:
        return None
    return (value - float(ref["mean"])) / std


class WindowAccumulator:
    """Per-window lists of per-frame figures, reduced (median) when the window closes.

    Memory holds one window's values at a time plus one small dict per finished window.
    """

    def __init__(self, window: float,
                 reduce: Callable[[int, dict[str, list[float]]], WindowScore]) -> None:
        self.window = window
        self._reduce = reduce
        self._index: int | None = None
        self._values: dict[str, list[float]] = {}
        self.windows: list[WindowScore] = []

    def add(self, t: float, values: Mapping[str, float | None]) -> None:
        index = int(t // self.window)
        if self._index is not None and index != self._index:
            self._flush()
        self._index = index
        for k, v in values.items():
            if v is not None and math.isfinite(v):
                self._values.setdefault(k, []).append(float(v))

    def _flush(self) -> None:
        if self._index is not None and self._values:
            self.windows.append(self._reduce(self._index, self._values))
        self._values = {}

    def close(self) -> list[WindowScore]:
        self._flush()
        self._index = None
        return self.windows


def median_figures(values: dict[str, list[float]], *, min_count: int = 1) -> dict[str, Any]:
    """Median of each list (None when it has fewer than ``min_count`` values)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        out[k] = float(np.median(v)) if len(v) >= min_count else None
    return out
