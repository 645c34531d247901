"""The analyzer registry, in timm's shape: ``create_analyzer(name)``, ``list_analyzers()``.

Each analyzer is registered with an :class:`AnalyzerSpec` saying what it measures, what
it can and cannot detect, whether it needs audio, which devices it runs on and whether a
default scan runs it. A learned analyzer (the lip-sync ViT) registers the same way and its
``score`` becomes one more fusion feature (see :mod:`trustavatar.detector.fusion`).

>>> list_analyzers()
['blink', 'frequency', 'lipsync', 'motion', 'provenance', 'sync']
>>> create_analyzer("blink").name
'blink'
"""

from __future__ import annotations

__all__ = ["AnalyzerSpec", "analyzer_spec", "create_analyzer", "list_analyzers",
           "register_analyzer"]

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from trustavatar.detector.analyzers.base import Analyzer
from trustavatar.errors import DetectionError

A = TypeVar("A", bound=type[Analyzer])


@dataclass(frozen=True)
class AnalyzerSpec:
    """What a registered analyzer is (a timm-style pretrained config, for analyzers)."""

    name: str
    version: str
    summary: str
    detects: str  #: what it can catch
    blind_to: str  #: what it cannot (so a report never over-reads its silence)
    factory: Callable[..., Analyzer]
    default: bool = True
    needs_audio: bool = False
    devices: tuple[str, ...] = ("cpu",)
    weights_sha256: str | None = None
    training_data: str | None = None
    licence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "factory"}


_REGISTRY: dict[str, AnalyzerSpec] = {}
_BUILTINS_LOADED = False


def register_analyzer(**spec: Any) -> Callable[[A], A]:
    """Class decorator: ``@register_analyzer(summary=..., detects=..., blind_to=...)``.

    ``name`` and ``version`` default to the class attributes. Registering a name twice
    is an error (rename, or bump the name's version suffix).
    """

    def wrap(cls: A) -> A:
        s = AnalyzerSpec(name=spec.pop("name", cls.name), version=spec.pop("version", cls.version),
                         factory=cls, **spec)
        if s.name in _REGISTRY and _REGISTRY[s.name].factory is not cls:
            raise DetectionError(f"analyzer '{s.name}' is registered already")
        _REGISTRY[s.name] = s
        return cls

    return wrap


def _builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from trustavatar.detector.analyzers.blink import BlinkAnalyzer
    from trustavatar.detector.analyzers.frequency import FrequencyAnalyzer
    from trustavatar.detector.analyzers.lipsync import LipSyncAnalyzer
    from trustavatar.detector.analyzers.motion import MotionAnalyzer
    from trustavatar.detector.analyzers.provenance import ProvenanceAnalyzer
    from trustavatar.detector.analyzers.sync import SyncAnalyzer
    from trustavatar.detector.lipsync_model import LipSyncModelInfo, packaged_model_info

    register_analyzer(
        summary="mouth vs cheek high-frequency energy, radial spectrum, seam and colour "
                "discontinuity around the mouth",
        detects="mouths synthesised at low resolution and pasted in (lip-sync dubbing)",
        blind_to="whole-frame generators with uniform sharpness; heavy re-compression "
                 "blurs cheeks and mouth alike")(FrequencyAnalyzer)
    register_analyzer(
        summary="eye-aspect-ratio blinks: rate with a Poisson interval, durations, "
                "inter-blink intervals vs physiological norms",
        detects="whole-face generators that blink too rarely, too often or too briefly",
        blind_to="mouth-only edits (dubbing keeps the upper face); clips under 60 s "
                 "of face")(BlinkAnalyzer)
    register_analyzer(
        summary="landmark dynamics with the head pose removed: lip tremble vs brows, mouth "
                "and head speed",
        detects="frame-by-frame mouth synthesis (trembling lips); unusually still heads",
        blind_to="smooth, temporally consistent generators; the direction of head-motion "
                 "differences varies between sources")(MotionAnalyzer)
    register_analyzer(
        summary="mouth opening vs speech (loudness and visemes) per 2 s window: offset "
                "and confidence",
        detects="sustained audio-visual offsets (≥ 2 frames) from careless dubbing",
        blind_to="well-synced generation (good sync is no evidence of authenticity); "
                 "video without speech", needs_audio=True)(SyncAnalyzer)
    try:
        info: LipSyncModelInfo | None = packaged_model_info()
    except DetectionError:  # a broken install: the analyzer reports 'failed' when run
        info = None
    register_analyzer(
        summary="a small ViT (timm) over 8-frame stacks of aligned 64 px mouth crops: seams, "
                "resolution mismatch and flicker of a pasted or synthesised mouth",
        detects="mouths synthesised and pasted in by lip-sync dubbing tools, frame by frame",
        blind_to="whole-frame generators with a coherent mouth; faces under ~40 px; its "
                 "training saw 81 real clips from 10 sources and self-made fakes only "
                 "(detector/MODEL_CARD.md)",
        devices=("cpu", "cuda"), weights_sha256=info.sha256 if info else None,
        training_data=(str(info.training.get("data", "")) or None) if info else None,
        licence="Apache-2.0 (weights trained by trustavatar)")(LipSyncAnalyzer)
    register_analyzer(
        summary="C2PA manifest (trusted AI-generation declaration) and the trustavatar "
                "watermark",
        detects="output of trustavatar and of any generator that signs C2PA manifests",
        blind_to="generators that neither sign nor watermark; stripped manifests "
                 "(absence is not evidence of authenticity)")(ProvenanceAnalyzer)


def list_analyzers(pattern: str = "*", *, default_only: bool = False) -> list[str]:
    """Registered analyzer names matching a glob ``pattern``, sorted."""
    _builtins()
    return sorted(n for n, s in _REGISTRY.items()
                  if fnmatch.fnmatchcase(n, pattern) and (s.default or not default_only))


def analyzer_spec(name: str) -> AnalyzerSpec:
    """The spec of a registered analyzer; :class:`DetectionError` naming the known ones."""
    _builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DetectionError(f"unknown analyzer '{name}'; known: "
                             f"{', '.join(list_analyzers())}") from None


def create_analyzer(name: str, **kwargs: Any) -> Analyzer:
    """A new analyzer instance (keyword arguments go to its constructor)."""
    spec = analyzer_spec(name)
    try:
        return spec.factory(**kwargs)
    except TypeError as e:
        raise DetectionError(f"analyzer '{name}' does not take {sorted(kwargs)}: {e}") from e
