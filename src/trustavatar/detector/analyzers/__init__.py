"""The built-in analyzers (one module each) and their base class (:mod:`.base`)."""

from trustavatar.detector.analyzers.base import Analyzer, ScanContext

__all__ = ["Analyzer", "ScanContext"]
