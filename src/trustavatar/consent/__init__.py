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

from typing import TYPE_CHECKING

from trustavatar._lazy import lazy_exports

if TYPE_CHECKING:
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
        ChallengeStatus,
        ConsentDraft,
        create_challenge,
        get_challenge,
        list_challenges,
    )
    from trustavatar.consent.issuance import DEFAULT_PURPOSE, DEFAULT_VALIDITY, issue
    from trustavatar.consent.liveness import LivenessResult, analyse_liveness
    from trustavatar.consent.record import (
        ClipReport,
        IdentityResult,
        ProvenanceScreen,
        RecordedConsent,
        check_clip,
        record_clip,
    )
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
        revoke_once,
    )
    from trustavatar.consent.verification import ConsentGrant, require, verify

#: Every public name, and the module that defines it: imported on first use, so that a
#: process that needs one module (the spoken-code child) does not load them all.
_LAZY = {
    "ArtifactSource": "artifact", "ClipEvidence": "artifact", "ConsentArtifact": "artifact",
    "Evidence": "artifact", "EvidenceDocument": "artifact", "Issuer": "artifact",
    "MAX_ARTIFACT_BYTES": "artifact", "Scope": "artifact", "Subject": "artifact",
    "Validity": "artifact", "load_artifact": "artifact", "parse_artifact": "artifact",
    "CHALLENGE_TTL": "challenge", "Challenge": "challenge", "ChallengeStatus": "challenge",
    "ConsentDraft": "challenge",
    "MAX_ATTEMPTS": "challenge", "create_challenge": "challenge", "get_challenge": "challenge",
    "list_challenges": "challenge",
    "DEFAULT_PURPOSE": "issuance", "DEFAULT_VALIDITY": "issuance", "issue": "issuance",
    "LivenessResult": "liveness", "analyse_liveness": "liveness",
    "ClipReport": "record", "IdentityResult": "record", "ProvenanceScreen": "record",
    "RecordedConsent": "record", "check_clip": "record", "record_clip": "record",
    "RevocationList": "revocation", "RevocationListSource": "revocation",
    "export_revocations": "revocation", "load_revocation_list": "revocation",
    "ConsentTemplate": "spoken_code", "ENGLISH_TEMPLATE": "spoken_code",
    "SpokenCodeResult": "spoken_code", "load_template": "spoken_code",
    "score_spoken_code": "spoken_code",
    "ConsentRecord": "store", "ConsentStatus": "store", "Revocation": "store",
    "get_consent": "store", "list_consents": "store", "record_consent": "store", "revoke": "store",
    "revoke_once": "store",
    "ConsentGrant": "verification", "require": "verification", "verify": "verification",
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
    "ChallengeStatus",
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
    "revoke_once",
    "score_spoken_code",
    "verify",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
