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

from typing import TYPE_CHECKING

from trustavatar._lazy import lazy_exports

if TYPE_CHECKING:
    from trustavatar.generator.motion import MotionConfig, MotionTrack, plan_motion
    from trustavatar.generator.pipeline import PURPOSE, GenerationResult, QAPolicy, generate
    from trustavatar.generator.qa import QAReport

#: Imported on first use, so that ``generator.audio`` stays light.
_LAZY = {
    "MotionConfig": "motion", "MotionTrack": "motion", "plan_motion": "motion",
    "GenerationResult": "pipeline", "PURPOSE": "pipeline", "QAPolicy": "pipeline",
    "generate": "pipeline",
    "QAReport": "qa",
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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
