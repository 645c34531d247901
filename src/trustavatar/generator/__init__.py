"""The talking-head generator: consent-gated, watermarked, C2PA-signed, ledgered.

>>> from trustavatar.generator import generate
>>> result = generate(face="ada.jpg", consent="ada.consent.json",
...                   script="Hello, I am an AI avatar.", out="ada.mp4")  # doctest: +SKIP
>>> result.manifest_label, result.qa.passed  # doctest: +SKIP

Modules, one per step: :mod:`.audio` (decoding, TTS, log-mel, phonemes, visemes),
:mod:`.motion` (mouth, blinks, head), :mod:`.deform` (landmarks), :mod:`.warp`
(piecewise-affine remap), :mod:`.mouth_interior`, :mod:`.eyelids`, :mod:`.render`, :mod:`.encode`
(PyAV), :mod:`.finishing` (watermark and encode on a second thread), :mod:`.qa` (identity and
sync), :mod:`.qa_process` (measuring the encoded output beside the renderer),
:mod:`.pipeline` (the order and the gate).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trustavatar.generator.motion import MotionConfig, MotionTrack, plan_motion
    from trustavatar.generator.pipeline import PURPOSE, GenerationResult, QAPolicy, generate
    from trustavatar.generator.qa import QAReport

_LAZY = {
    "MotionConfig": "motion", "MotionTrack": "motion", "plan_motion": "motion",
    "PURPOSE": "pipeline", "GenerationResult": "pipeline", "QAPolicy": "pipeline",
    "generate": "pipeline", "QAReport": "qa",
}

__all__ = [
    "PURPOSE",
    "GenerationResult",
    "MotionConfig",
    "MotionTrack",
    "QAPolicy",
    "QAReport",
    "generate",
    "plan_motion",
]


def __getattr__(name: str) -> Any:
    """Import the pipeline only when used, so ``generator.audio`` stays light."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
