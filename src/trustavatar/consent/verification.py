"""Verifying consent artifacts: :func:`verify` and :func:`require`.

Both return a :class:`ConsentGrant` or raise exactly one
:class:`~trustavatar.errors.ConsentError` subclass, the one of the first step that fails.
"""

from __future__ import annotations

__all__ = ["MAX_CLOCK_SKEW", "ConsentGrant", "require", "verify"]

import contextlib
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from trustavatar import _envelope
from trustavatar._time import format_time, in_range, utc_now
from trustavatar.consent.artifact import ArtifactSource, ConsentArtifact, load_artifact
from trustavatar.consent.issuance import _LANGUAGE, _TOKEN
from trustavatar.consent.revocation import RevocationListSource, load_revocation_list
from trustavatar.consent.scope import language_in_scope
from trustavatar.consent.store import find_revocation, recorded_artifact_sha256
from trustavatar.errors import (
    ConsentExpiredError,
    ConsentIdentityError,
    ConsentNotYetValidError,
    ConsentRevokedError,
    ConsentScopeError,
    ConsentSignatureError,
    ConsentUntrustedIssuerError,
    FaceError,
    InputError,
    UntrustedChainError,
)
from trustavatar.face import MATCH_THRESHOLD, FaceEmbedding, ImageSource, embed_face, load_image
from trustavatar.home import Home
from trustavatar.keys import TrustStore
from trustavatar.keys._x509 import fingerprint, same_organisation
from trustavatar.registry import Registry

#: How far an artifact's ``issued_at`` may lie after the time it is checked at (clocks of
#: the issuing and the verifying machine differ a little). Beyond it the artifact claims to
#: have been signed after the moment asked about, and is refused.
MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class ConsentGrant:
    """What a verified consent artifact grants, as checked at ``checked_at``."""

    consent_id: str
    subject_name: str
    purposes: tuple[str, ...]
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    not_before: dt.datetime
    #: End of validity in effect: the artifact's ``not_after``, or the end of its signing
    #: certificate chain's validity when that comes first.
    not_after: dt.datetime
    issued_at: dt.datetime
    issuer_organisation: str
    operator: str | None
    signer_sha256: str  #: SHA-256 of the signing certificate's DER
    anchor_sha256: str  #: SHA-256 of the trusted root it chains to
    evidence_method: str
    artifact_sha256: str
    face_distance: float | None  #: None when no face was checked
    checked_at: dt.datetime
    #: Where non-revocation was checked: "registry", "revocation-list:<sha256>".
    revocation_sources: tuple[str, ...]
    #: Revocation lists given that say nothing of this consent: another issuer's, each as
    #: "<sha256>: issued by <organisation>" or "<sha256>: issued under another root (…)"
    #: (the same organisation's name under another trusted root).
    revocation_lists_skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "consent_id": self.consent_id,
            "subject": self.subject_name,
            "purposes": list(self.purposes),
            "languages": list(self.languages),
            "channels": list(self.channels),
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
            "issued_at": format_time(self.issued_at),
            "issuer_organisation": self.issuer_organisation,
            "operator": self.operator,
            "signer_sha256": self.signer_sha256,
            "anchor_sha256": self.anchor_sha256,
            "evidence_method": self.evidence_method,
            "artifact_sha256": self.artifact_sha256,
            "face_distance": self.face_distance,
            "checked_at": self.checked_at.isoformat(),
            "revocation_sources": list(self.revocation_sources),
            "revocation_lists_skipped": [
                dict(zip(("sha256", "why"), s.split(": ", 1), strict=True))
                for s in self.revocation_lists_skipped],
        }


def require(
    artifact: ArtifactSource,
    *,
    purpose: str,
    face: ImageSource | FaceEmbedding | None = None,
    language: str | None = None,
    channel: str | None = None,
    trust: TrustStore | None = None,
    registry: Registry | None = None,
    revocation_lists: Sequence[RevocationListSource] = (),
    at: dt.datetime | None = None,
    home: Home | str | os.PathLike[str] | None = None,
    face_threshold: float = MATCH_THRESHOLD,
) -> ConsentGrant:
    """Require that ``artifact`` grants ``purpose`` (and ``language``, ``channel``, and
    binds to ``face`` when given) at time ``at``. Same checks and errors as :func:`verify`."""
    if not isinstance(purpose, str) or not purpose:
        raise InputError("require() needs the purpose to check (e.g. 'avatar-generation')")
    return verify(
        artifact, face=face, purpose=purpose, language=language, channel=channel, trust=trust,
        registry=registry, revocation_lists=revocation_lists, at=at, home=home,
        face_threshold=face_threshold,
    )


def verify(
    artifact: ArtifactSource,
    *,
    face: ImageSource | FaceEmbedding | None = None,
    purpose: str | None = None,
    language: str | None = None,
    channel: str | None = None,
    trust: TrustStore | None = None,
    registry: Registry | None = None,
    revocation_lists: Sequence[RevocationListSource] = (),
    at: dt.datetime | None = None,
    home: Home | str | os.PathLike[str] | None = None,
    face_threshold: float = MATCH_THRESHOLD,
) -> ConsentGrant:
    """Verify a consent artifact and return what it grants.

    ``artifact``: bytes, a path, or a :class:`ConsentArtifact` (re-read from its bytes).
    ``face``: an image (path, bytes, ``(H, W, 3) uint8 RGB``) or an embedding to bind to
    the subject. ``purpose`` / ``language`` / ``channel``: checked against the scope when
    given. ``trust``: the trusted roots (default: the home's). ``registry``: local
    revocations, and the artifact recorded under each consent id: another artifact under a
    recorded id is refused (default: the home's registry if it exists).
    ``revocation_lists``: signed lists to check too; each must verify and chain to
    ``trust``. ``at``: the time the
    answer is for (default: now). ``home``: the home for the defaults (default: resolved
    from ``$TRUSTAVATAR_HOME``). ``face_threshold``: at most :data:`MATCH_THRESHOLD`.

    Raises, for the first step that fails: ``ConsentMalformedError`` (1),
    ``ConsentSignatureError`` (2), ``ConsentUntrustedIssuerError`` (3),
    ``ConsentNotYetValidError`` / ``ConsentExpiredError`` (4: also an ``issued_at`` more
    than :data:`MAX_CLOCK_SKEW` after ``at``, and ``at`` past the end of the signing
    chain's validity), ``ConsentUntrustedIssuerError`` for another artifact recorded under
    the same id, ``ConsentRevokedError`` or ``ConsentRevocationListError`` (5),
    ``ConsentScopeError`` (6), ``ConsentIdentityError`` (7). Unreadable files (artifact,
    face image, list) raise ``InputError``.
    """
    at = utc_now() if at is None else in_range(at, "at")
    if (isinstance(face_threshold, bool) or not isinstance(face_threshold, int | float)
            or not 0 < face_threshold <= MATCH_THRESHOLD):
        raise InputError(
            f"face_threshold must be in (0, {MATCH_THRESHOLD}]: a looser one is unsafe"
        )
    with contextlib.ExitStack() as stack:
        if trust is None or registry is None:
            home = Home.resolve(home)
            if trust is None:
                trust = TrustStore.from_home(home)
            if registry is None and home.registry_path.exists():
                registry = stack.enter_context(Registry.open(home.registry_path,
                                                                         read_only=True))
        return _verify(
            artifact, face=face, purpose=purpose, language=language, channel=channel,
            trust=trust, registry=registry, revocation_lists=revocation_lists, at=at,
            face_threshold=face_threshold,
        )


def _verify(
    source: ArtifactSource,
    *,
    face: ImageSource | FaceEmbedding | None,
    purpose: str | None,
    language: str | None,
    channel: str | None,
    trust: TrustStore,
    registry: Registry | None,
    revocation_lists: Sequence[RevocationListSource],
    at: dt.datetime,
    face_threshold: float,
) -> ConsentGrant:
    _check_asked(purpose=purpose, language=language, channel=channel)
    # 1. Parse: size, UTF-8, JSON without duplicate keys, canonical bytes, schema.
    artifact = load_artifact(source)
    cid = artifact.consent_id

    # 2. Signature over JCS(payload) with the embedded signing certificate (low-S: one byte
    # form; artifacts issued before that rule, ~half of them high-S, pass only where the
    # registry recorded exactly these bytes); 3. the signer chains to a trusted root at
    # issue time, is the named organisation, and the root speaks for that organisation.
    recorded = None if registry is None else recorded_artifact_sha256(registry, cid)
    try:
        anchor = artifact.envelope.check_signer(trust=trust, at=artifact.issued_at,
                                                organisation=artifact.issuer.organisation,
                                                allow_high_s=recorded == artifact.sha256)
    except _envelope.EnvelopeSignatureError as e:
        raise ConsentSignatureError(f"consent {cid}: {e}") from e
    except UntrustedChainError as e:
        raise ConsentUntrustedIssuerError(f"consent {cid}: untrusted issuer: {e.message}") from e
    except _envelope.EnvelopeIssuerError as e:
        raise ConsentUntrustedIssuerError(f"consent {cid} {e}") from e

    # 4. Validity at `at`: not_before <= at < not_after, issued by then, and only while the
    #    signing chain is valid: issued_at is the signer's own word (no trusted timestamp),
    #    so a key past its certificate's end could otherwise sign "in the past" for ever.
    validity = artifact.validity
    if at < validity.not_before:
        raise ConsentNotYetValidError(
            f"consent {cid} is not yet valid: valid from {format_time(validity.not_before)}, "
            f"checked at {format_time(at)}"
        )
    if artifact.issued_at > at + MAX_CLOCK_SKEW:
        raise ConsentNotYetValidError(
            f"consent {cid} says it was issued at {format_time(artifact.issued_at)}, after "
            f"the time checked ({format_time(at)}; {MAX_CLOCK_SKEW.total_seconds() / 60:g} "
            "minutes of clock difference are allowed): it did not exist yet"
        )
    chain_end = artifact.envelope.chain_end(anchor)
    if at >= validity.not_after:
        raise ConsentExpiredError(
            f"consent {cid} expired at {format_time(validity.not_after)}, "
            f"checked at {format_time(at)}"
        )
    if at >= chain_end:
        raise ConsentExpiredError(
            f"consent {cid} is valid only while the certificate chain that signed it is, "
            f"which ended at {format_time(chain_end)} (the artifact says until "
            f"{format_time(validity.not_after)}; it carries no trusted timestamp), "
            f"checked at {format_time(at)}"
        )

    # 5. Not revoked at `at`: the local registry, then every signed list given (each must
    #    verify; a list counts only for the same organisation under the same root).
    sources, skipped = _check_revocations(artifact, registry, recorded, revocation_lists,
                                          trust, anchor.fingerprint, at)

    # 6. Scope: purpose, language (RFC 4647 basic filtering, "*" = any), channel.
    scope = artifact.scope
    if purpose is not None and purpose not in scope.purposes:
        raise ConsentScopeError(f"purpose {purpose!r} not in scope {list(scope.purposes)}")
    if language is not None and not language_in_scope(language, scope.languages):
        raise ConsentScopeError(f"language {language!r} not in scope {list(scope.languages)}")
    if channel is not None and "*" not in scope.channels and channel not in scope.channels:
        raise ConsentScopeError(f"channel {channel!r} not in scope {list(scope.channels)}")

    # 7. Face binding: the face given is the subject's (distance <= threshold).
    distance = None if face is None else _face_distance(artifact, face, face_threshold)

    return ConsentGrant(
        consent_id=cid,
        subject_name=artifact.subject.display_name,
        purposes=scope.purposes,
        languages=scope.languages,
        channels=scope.channels,
        not_before=validity.not_before,
        not_after=min(validity.not_after, chain_end),
        issued_at=artifact.issued_at,
        issuer_organisation=artifact.issuer.organisation,
        operator=artifact.issuer.operator,
        signer_sha256=fingerprint(artifact.chain[0]),
        anchor_sha256=anchor.fingerprint,
        evidence_method=artifact.evidence.method,
        artifact_sha256=artifact.sha256,
        face_distance=distance,
        checked_at=at,
        revocation_sources=sources,
        revocation_lists_skipped=skipped,
    )


def _check_revocations(
    artifact: ConsentArtifact,
    registry: Registry | None,
    recorded: str | None,
    revocation_lists: Sequence[RevocationListSource],
    trust: TrustStore,
    anchor_sha256: str,
    at: dt.datetime,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``recorded``: the SHA-256 of the artifact ``registry`` holds under this id."""
    cid = artifact.consent_id
    sources: list[str] = []
    skipped: list[str] = []  # lists of another issuer, which say nothing of this consent
    if registry is not None:
        if recorded is not None and recorded != artifact.sha256:
            # re-signed under a recorded id (another face, scope or subject): not what was
            # issued; the audit and the C2PA binding would otherwise name the recorded one
            raise ConsentUntrustedIssuerError(
                f"consent {cid}: the registry holds another artifact under this consent id "
                f"(SHA-256 {recorded[:16]}…, this one {artifact.sha256[:16]}…): a second "
                "artifact under a recorded consent id is refused"
            )
        revocation = find_revocation(registry, cid)
        if revocation is not None and revocation.revoked_at <= at:
            raise ConsentRevokedError(
                f"consent {cid} was revoked at {format_time(revocation.revoked_at)}"
            )
        sources.append("registry")
    if revocation_lists is None or isinstance(revocation_lists, str | bytes):
        raise InputError("revocation_lists must be a sequence of lists (() for none), not "
                         f"{type(revocation_lists).__name__}")
    for source in revocation_lists:
        rl = load_revocation_list(source, trust=trust)
        # the same organisation as readers compare names (check_signer): a list signed as
        # "Café" speaks for a consent signed as a decomposed "Cafe\u0301"
        same_org = same_organisation(rl.issuer_organisation, artifact.issuer.organisation)
        if not (rl.anchor_sha256 == anchor_sha256 and same_org):
            # another issuer's list says nothing about this artifact
            root = (rl.anchor_sha256 or "?")[:16]
            skipped.append(f"{rl.sha256}: issued by {rl.issuer_organisation}" if not same_org
                           else f"{rl.sha256}: issued under another root ({root}…)")
            continue
        revoked_at = rl.revoked_at(cid)
        if revoked_at is not None and revoked_at <= at:
            raise ConsentRevokedError(
                f"consent {cid} was revoked at {format_time(revoked_at)} "
                f"(revocation list issued {format_time(rl.issued_at)})"
            )
        sources.append(f"revocation-list:{rl.sha256}")
    return tuple(sources), tuple(skipped)


def _check_asked(*, purpose: str | None, language: str | None, channel: str | None) -> None:
    """What a caller asks to check is well-formed, as ``issue`` requires of a scope (a tag
    like ``'???'`` or ``''`` would otherwise be reported in or out of scope)."""
    for what, value, pattern in (("purpose", purpose, _TOKEN), ("channel", channel, _TOKEN),
                                 ("language", language, _LANGUAGE)):
        if value is None:
            continue
        if not isinstance(value, str) or value == "*" or not pattern.fullmatch(
                value.lower() if what == "language" else value):
            expected = ("a BCP 47 tag such as en or pt-br" if what == "language"
                        else "a lower-case token")
            raise InputError(f"invalid {what} to check: {value!r} (expected {expected})")


def _face_distance(
    artifact: ConsentArtifact, face: ImageSource | FaceEmbedding, threshold: float
) -> float:
    reference = artifact.subject.face_embedding.dequantise()
    if isinstance(face, FaceEmbedding):
        probe = face
    else:
        image = load_image(face)  # an unreadable image is an InputError, not a rejection
        try:
            probe = embed_face(image)
        except FaceError as e:
            raise ConsentIdentityError(f"face check failed: {e.message}") from e
    if probe.model != reference.model:
        raise ConsentIdentityError(
            f"the artifact's face embedding is from model {reference.model!r}; "
            f"this verifier uses {probe.model!r}"
        )
    distance = probe.distance(reference)
    if distance > threshold:
        raise ConsentIdentityError(
            f"face does not match the consenting subject {artifact.subject.display_name!r} "
            f"(distance {distance:.3f} > threshold {threshold})"
        )
    return distance
