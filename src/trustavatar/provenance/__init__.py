"""C2PA provenance: sign media with a manifest that declares AI generation and binds the
consent record; verify a file's manifest against configured trust anchors.

>>> report = verify("out.mp4", trust=TrustStore.from_home(Home.resolve()))  # doctest: +SKIP
>>> report.state, report.ai_generated, report.consent  # doctest: +SKIP
"""

from trustavatar.provenance.formats import SUPPORTED_FORMATS, detect_format
from trustavatar.provenance.manifest import build_manifest
from trustavatar.provenance.model import (
    ConsentBinding,
    Failure,
    GenerationBinding,
    Ingredient,
    ParentManifest,
    ProvenanceReport,
    Signer,
    SignResult,
    SourceType,
    ValidationState,
)
from trustavatar.provenance.sign import sign
from trustavatar.provenance.verify import explain, verify

__all__ = [
    "SUPPORTED_FORMATS",
    "ConsentBinding",
    "Failure",
    "GenerationBinding",
    "Ingredient",
    "ParentManifest",
    "ProvenanceReport",
    "SignResult",
    "Signer",
    "SourceType",
    "ValidationState",
    "build_manifest",
    "detect_format",
    "explain",
    "sign",
    "verify",
]
