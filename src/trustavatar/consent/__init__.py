"""Consent artifacts: signed, scoped, expiring, revocable, bound to a face.

>>> from trustavatar import consent
>>> grant = consent.require("ada.consent.json", purpose="avatar-generation",
...                         face="ada.jpg")  # doctest: +SKIP
>>> grant.subject_name  # doctest: +SKIP
'Ada Example'

Verification never returns a bool: it returns a :class:`ConsentGrant` or raises one
:class:`~trustavatar.errors.ConsentError` subclass. The format, the verification steps
and the face threshold are documented in the repository's ``consent/README.md``.
"""

from trustavatar.consent.artifact import (
    MAX_ARTIFACT_BYTES,
    ArtifactSource,
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
from trustavatar.consent.issue import DEFAULT_PURPOSE, DEFAULT_VALIDITY, issue
from trustavatar.consent.revocation import (
    RevocationList,
    RevocationListSource,
    export_revocations,
    load_revocation_list,
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

__all__ = [
    "DEFAULT_PURPOSE",
    "DEFAULT_VALIDITY",
    "MAX_ARTIFACT_BYTES",
    "ArtifactSource",
    "ConsentArtifact",
    "ConsentGrant",
    "ConsentRecord",
    "ConsentStatus",
    "Evidence",
    "EvidenceDocument",
    "Issuer",
    "Revocation",
    "RevocationList",
    "RevocationListSource",
    "Scope",
    "Subject",
    "Validity",
    "export_revocations",
    "get_consent",
    "issue",
    "list_consents",
    "load_artifact",
    "load_revocation_list",
    "parse_artifact",
    "record_consent",
    "require",
    "revoke",
    "verify",
]
