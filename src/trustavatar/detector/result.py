"""Named result objects of a scan: what an HTML report or a JSON consumer reads.

:class:`ScanResult` holds the verdict, the calibrated probability, the reasons in plain
words, each analyzer's :class:`AnalyzerResult` (score, figures, reasons, per-window
timeline) and the fused per-window :class:`TimelineWindow` s. ``to_dict()`` gives a
JSON-ready dictionary of everything.
"""

from __future__ import annotations

__all__ = [
    "DETECTOR_VERSION",
    "AnalyzerResult",
    "AnalyzerStatus",
    "Figures",
    "ScanResult",
    "TimelineWindow",
    "Verdict",
    "WindowScore",
]

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

#: Version of the scan pipeline and result layout (bumped when figures change meaning).
DETECTOR_VERSION: Final = "1.0"

#: An analyzer's named figures: JSON scalars or short lists of them.
Figures: TypeAlias = Mapping[str, Any]


class Verdict(enum.StrEnum):
    """The three answers a scan gives."""

    LIKELY_AUTHENTIC = "likely-authentic"
    INCONCLUSIVE = "inconclusive"
    LIKELY_MANIPULATED = "likely-manipulated"


class AnalyzerStatus(enum.StrEnum):
    """Whether an analyzer's score means anything for this video."""

    OK = "ok"
    NOT_APPLICABLE = "not-applicable"  #: e.g. sync without audio
    INSUFFICIENT = "insufficient-footage"  #: e.g. blinks with under 60 s of face
    FAILED = "failed"  #: the analyzer hit an error; the others still ran


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf → None, floats rounded, tuples → lists, enums → values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    if hasattr(value, "to_dict"):
        return _clean(value.to_dict())
    return str(value)


@dataclass(frozen=True)
class WindowScore:
    """One analyzer's view of one time window ``[start, end)`` seconds."""

    start: float
    end: float
    score: float | None
    figures: Figures = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"start": _clean(self.start), "end": _clean(self.end),
                "score": _clean(self.score), "figures": _clean(self.figures)}


@dataclass(frozen=True)
class AnalyzerResult:
    """What one analyzer found.

    ``score`` is its evidence of manipulation on its own scale (documented per analyzer),
    or None when it does not apply (see ``status``). ``decisive`` marks evidence that
    settles the verdict alone (a trusted AI-generation manifest, a watermark the home's
    ledger or the trusted manifest confirms).
    """

    name: str
    version: str
    status: AnalyzerStatus
    score: float | None
    figures: Figures = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    timeline: tuple[WindowScore, ...] = ()
    seconds: float = 0.0
    decisive: bool = False

    @property
    def applicable(self) -> bool:
        return self.status is AnalyzerStatus.OK and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "status": self.status.value,
            "score": _clean(self.score), "decisive": self.decisive,
            "figures": _clean(self.figures), "reasons": list(self.reasons),
            "seconds": _clean(self.seconds),
            "timeline": [w.to_dict() for w in self.timeline],
        }


@dataclass(frozen=True)
class TimelineWindow:
    """Fused view of one window: the face coverage, each analyzer's window score and the
    fusion model applied to the window's features (``probability``; None without a face)."""

    start: float
    end: float
    face_fraction: float
    probability: float | None
    scores: Mapping[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"start": _clean(self.start), "end": _clean(self.end),
                "face_fraction": _clean(self.face_fraction),
                "probability": _clean(self.probability), "scores": _clean(self.scores)}


@dataclass(frozen=True)
class ScanResult:
    """The outcome of :func:`trustavatar.detector.scan` for one video.

    ``probability`` is the calibrated probability that the video is manipulated or
    generated (None when nothing could be measured, e.g. no face and no provenance
    evidence). ``decided_by`` is ``"provenance"`` when decisive provenance evidence set the
    verdict, ``"fusion"`` when the fused analyzer scores did, ``"none"`` otherwise.
    """

    path: str
    verdict: Verdict
    probability: float | None
    decided_by: str
    reasons: tuple[str, ...]
    analyzers: Mapping[str, AnalyzerResult]
    timeline: tuple[TimelineWindow, ...]
    video: Mapping[str, Any]
    track: Mapping[str, Any]
    features: Mapping[str, float]
    contributions: Mapping[str, float]
    thresholds: Mapping[str, float]
    fusion: Mapping[str, Any]
    seconds: float
    device: str = "cpu"
    warnings: tuple[str, ...] = ()
    detector_version: str = DETECTOR_VERSION

    def analyzer(self, name: str) -> AnalyzerResult:
        return self.analyzers[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verdict": self.verdict.value,
            "probability": _clean(self.probability),
            "decided_by": self.decided_by,
            "reasons": list(self.reasons),
            "thresholds": _clean(self.thresholds),
            "video": _clean(self.video),
            "track": _clean(self.track),
            "features": _clean(self.features),
            "contributions": _clean(self.contributions),
            "analyzers": {k: v.to_dict() for k, v in self.analyzers.items()},
            "timeline": [w.to_dict() for w in self.timeline],
            "fusion": _clean(self.fusion),
            "seconds": _clean(self.seconds),
            "device": self.device,
            "warnings": list(self.warnings),
            "detector_version": self.detector_version,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)
