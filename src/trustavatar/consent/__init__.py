"""Consent artifacts: signed, scoped, expiring, revocable, bound to a face.

>>> from trustavatar import consent
>>> grant = consent.require("ada.consent.json", purpose="avatar-generation",
...                         face="ada.jpg")  # doctest: +SKIP
>>> grant.subject_name  # doctest: +SKIP
'Ada Example'

Verification never returns a bool: it returns a :class:`ConsentGrant` or raises one
:class:`~trustavatar.errors.ConsentError` subclass. The format, the verification steps
and the face threshold are documented in the repository's ``consent/README.md``.

Recorded consent: :func:`create_challenge` makes a one-time code for a
:class:`ConsentDraft`; the subject reads it on a clip; :func:`record_clip` checks the
spoken code, liveness and identity and issues the artifact (``recorded-clip`` evidence).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trustavatar.consent.artifact import (
    MAX_ARTIFACT_BYTES,
    ArtifactSource,
    ClipEvidence,
    ConsentArtifact,
    Evidence,
    EvidenceDocument,
    Issuer,
    Scope,
    Subject,
    Validity,
    load_artifact,
    parse_artifact,
)
from trustavatar.consent.challenge import (
    CHALLENGE_TTL,
    MAX_ATTEMPTS,
    Challenge,
    ConsentDraft,
    create_challenge,
    get_challenge,
    list_challenges,
)
from trustavatar.consent.issue import DEFAULT_PURPOSE, DEFAULT_VALIDITY, issue
from trustavatar.consent.revocation import (
    RevocationList,
    RevocationListSource,
    export_revocations,
    load_revocation_list,
)
from trustavatar.consent.spoken_code import (
    ENGLISH_TEMPLATE,
    ConsentTemplate,
    SpokenCodeResult,
    load_template,
    score_spoken_code,
)
from trustavatar.consent.store import (
    ConsentRecord,
    ConsentStatus,
    Revocation,
    get_consent,
    list_consents,
    record_consent,
    revoke,
)
from trustavatar.consent.verify import ConsentGrant, require, verify

if TYPE_CHECKING:
    from trustavatar.consent.liveness import LivenessResult, analyse_liveness
    from trustavatar.consent.record import (
        ClipReport,
        IdentityResult,
        ProvenanceScreen,
        RecordedConsent,
        check_clip,
        record_clip,
    )

#: Imported on first use: clip checking pulls in video, face-mesh and C2PA libraries.
_LAZY = {
    "LivenessResult": "liveness", "analyse_liveness": "liveness",
    "ClipReport": "record", "IdentityResult": "record", "ProvenanceScreen": "record",
    "RecordedConsent": "record", "check_clip": "record", "record_clip": "record",
}

__all__ = [
    "CHALLENGE_TTL",
    "DEFAULT_PURPOSE",
    "DEFAULT_VALIDITY",
    "ENGLISH_TEMPLATE",
    "MAX_ARTIFACT_BYTES",
    "MAX_ATTEMPTS",
    "ArtifactSource",
    "Challenge",
    "ClipEvidence",
    "ClipReport",
    "ConsentArtifact",
    "ConsentDraft",
    "ConsentGrant",
    "ConsentRecord",
    "ConsentStatus",
    "ConsentTemplate",
    "Evidence",
    "EvidenceDocument",
    "IdentityResult",
    "Issuer",
    "LivenessResult",
    "ProvenanceScreen",
    "RecordedConsent",
    "Revocation",
    "RevocationList",
    "RevocationListSource",
    "Scope",
    "SpokenCodeResult",
    "Subject",
    "Validity",
    "analyse_liveness",
    "check_clip",
    "create_challenge",
    "export_revocations",
    "get_challenge",
    "get_consent",
    "issue",
    "list_challenges",
    "list_consents",
    "load_artifact",
    "load_revocation_list",
    "load_template",
    "parse_artifact",
    "record_clip",
    "record_consent",
    "require",
    "revoke",
    "score_spoken_code",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
