"""Deepfake and lip-sync detection: ``scan(path) -> ScanResult``.

>>> from trustavatar.detector import scan
>>> result = scan("suspect.mp4")  # doctest: +SKIP
>>> result.verdict, result.probability  # doctest: +SKIP
(<Verdict.INCONCLUSIVE: 'inconclusive'>, 0.41)
>>> result.analyzers["sync"].figures["median_offset"]  # doctest: +SKIP

One streaming pass over the video: frames are decoded with their timestamps
(:mod:`.video`), the main face is tracked with mediapipe's 478-landmark mesh
(:mod:`.tracking`), aligned crops are cut from landmarks (:mod:`.crops`), and every
registered analyzer (:mod:`.registry`; built-in: ``frequency``, ``blink``, ``sync``,
``provenance``) sees each frame. :mod:`.fusion` turns their figures into one calibrated
probability and a verdict with reasons. Design, measurements and limits:
``detector/README.md``.

Verdicts never rest on absence: no manifest, no watermark, good lip sync or normal blinking
are not evidence of authenticity.
"""

from trustavatar.detector.analyzers.base import Analyzer, ScanContext
from trustavatar.detector.crops import (
    AlignedCrop,
    EyeLandmarks,
    MouthAligner,
    MouthStacker,
    align_mouth,
    eye_aspect_ratio,
    eye_landmarks,
)
from trustavatar.detector.fusion import FeatureDef, FusionModel, register_feature
from trustavatar.detector.registry import (
    AnalyzerSpec,
    analyzer_spec,
    create_analyzer,
    list_analyzers,
    register_analyzer,
)
from trustavatar.detector.result import (
    DETECTOR_VERSION,
    AnalyzerResult,
    AnalyzerStatus,
    ScanResult,
    TimelineWindow,
    Verdict,
    WindowScore,
)
from trustavatar.detector.scan import BatchItem, scan, scan_many
from trustavatar.detector.tracking import FaceObservation, FaceTracker, TrackSummary
from trustavatar.detector.video import DecodedFrame, FrameReader, VideoProbe, probe_video

__all__ = [
    "DETECTOR_VERSION",
    "AlignedCrop",
    "Analyzer",
    "AnalyzerResult",
    "AnalyzerSpec",
    "AnalyzerStatus",
    "BatchItem",
    "DecodedFrame",
    "EyeLandmarks",
    "FaceObservation",
    "FaceTracker",
    "FeatureDef",
    "FrameReader",
    "FusionModel",
    "MouthAligner",
    "MouthStacker",
    "ScanContext",
    "ScanResult",
    "TimelineWindow",
    "TrackSummary",
    "Verdict",
    "VideoProbe",
    "WindowScore",
    "align_mouth",
    "analyzer_spec",
    "create_analyzer",
    "eye_aspect_ratio",
    "eye_landmarks",
    "list_analyzers",
    "probe_video",
    "register_analyzer",
    "register_feature",
    "scan",
    "scan_many",
]
