"""Issued consents and revocations in the registry (tables of migration 1)."""

from __future__ import annotations

__all__ = [
    "ConsentRecord",
    "ConsentStatus",
    "Revocation",
    "artifact_bytes",
    "find_revocation",
    "get_consent",
    "list_consents",
    "list_revocations",
    "record_consent",
    "recorded_artifact_sha256",
    "revoke",
    "revoke_once",
]

import dataclasses
import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from trustavatar._display import has_control_characters
from trustavatar._envelope import signing_chain_end
from trustavatar._files import sha256_bytes
from trustavatar._time import format_time, parse_time, to_second, utc_now
from trustavatar.consent.artifact import ConsentArtifact, parse_artifact
from trustavatar.errors import ConsentError, ConsentNotFoundError, InputError, RegistryError
from trustavatar.registry import Registry

ConsentStatus: TypeAlias = Literal["valid", "not-yet-valid", "expired", "revoked"]
_MAX_REASON: Final = 1000


@dataclass(frozen=True)
class Revocation:
    """A consent withdrawn at ``revoked_at``. ``reason`` stays in the local registry; it
    is not exported in revocation lists."""

    consent_id: str
    revoked_at: dt.datetime
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "consent_id": self.consent_id,
            "revoked_at": format_time(self.revoked_at),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ConsentRecord:
    """A row of the registry's ``consents`` table (the artifact's bytes are fetched apart,
    with :func:`artifact_bytes`)."""

    consent_id: str
    subject_name: str
    issuer_organisation: str
    signer_sha256: str
    issued_at: dt.datetime
    not_before: dt.datetime
    not_after: dt.datetime
    purposes: tuple[str, ...]
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    evidence_method: str
    artifact_sha256: str
    revocation: Revocation | None
    #: when the artifact's signing certificate chain stops being valid (None: not known)
    signed_until: dt.datetime | None = None

    @property
    def ends_at(self) -> dt.datetime:
        """The end of validity in effect: ``not_after``, or the signing chain's end when
        that comes first (as :func:`~trustavatar.consent.verify` decides; artifacts issued
        before their validity was capped at the chain's end say a later ``not_after``)."""
        if self.signed_until is None:
            return self.not_after
        return min(self.not_after, self.signed_until)

    def status(self, at: dt.datetime) -> ConsentStatus:
        """The state at ``at`` as the registry sees it (no signature check)."""
        if self.revocation is not None and self.revocation.revoked_at <= at:
            return "revoked"
        if at < self.not_before:
            return "not-yet-valid"
        if at >= self.ends_at:
            return "expired"
        return "valid"

    def to_dict(self, *, at: dt.datetime | None = None) -> dict[str, object]:
        data: dict[str, object] = {
            "consent_id": self.consent_id,
            "subject": self.subject_name,
            "issuer_organisation": self.issuer_organisation,
            "signer_sha256": self.signer_sha256,
            "issued_at": format_time(self.issued_at),
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
            "valid_until": format_time(self.ends_at),
            "purposes": list(self.purposes),
            "languages": list(self.languages),
            "channels": list(self.channels),
            "evidence_method": self.evidence_method,
            "artifact_sha256": self.artifact_sha256,
            "revocation": self.revocation.to_dict() if self.revocation else None,
        }
        if at is not None:
            data["status"] = self.status(at)
        return data


_SELECT = """
    SELECT c.consent_id, c.subject_name, c.issuer_organisation, c.signer_sha256, c.issued_at,
           c.not_before, c.not_after, c.purposes, c.languages, c.channels, c.evidence_method,
           c.artifact_sha256, c.artifact, r.revoked_at, r.reason
    FROM consents AS c LEFT JOIN consent_revocations AS r USING (consent_id)
"""


def _record(row: sqlite3.Row) -> ConsentRecord:
    try:
        revocation = (
            Revocation(row["consent_id"], parse_time(row["revoked_at"]), row["reason"])
            if row["revoked_at"] is not None
            else None
        )
        record = ConsentRecord(
            consent_id=row["consent_id"],
            subject_name=row["subject_name"],
            issuer_organisation=row["issuer_organisation"],
            signer_sha256=row["signer_sha256"],
            issued_at=parse_time(row["issued_at"]),
            not_before=parse_time(row["not_before"]),
            not_after=parse_time(row["not_after"]),
            purposes=tuple(json.loads(row["purposes"])),
            languages=tuple(json.loads(row["languages"])),
            channels=tuple(json.loads(row["channels"])),
            evidence_method=row["evidence_method"],
            artifact_sha256=row["artifact_sha256"],
            revocation=revocation,
        )
    except (ValueError, TypeError) as e:
        raise RegistryError(f"the registry row for consent {row['consent_id']} is damaged") from e
    parsed = _stored_artifact(record, row["artifact"])
    return dataclasses.replace(record,
                               signed_until=signing_chain_end(parsed.envelope.chain))


def _stored_artifact(record: ConsentRecord, artifact: object) -> ConsentArtifact:
    """The row's stored artifact, the signed original; :class:`RegistryError` when the
    row's columns (which lists and checks read) differ from it: a row edited in the
    database."""
    def damaged(problem: str) -> RegistryError:
        return RegistryError(f"the registry row for consent {record.consent_id} is damaged: "
                             f"{problem}")

    if not isinstance(artifact, bytes) or sha256_bytes(artifact) != record.artifact_sha256:
        raise damaged("its stored artifact does not match its SHA-256")
    try:
        parsed = parse_artifact(artifact)
    except ConsentError as e:
        raise damaged(f"its stored artifact is unreadable ({e.message})") from e
    expected = (parsed.consent_id, parsed.subject.display_name, parsed.issuer.organisation,
                parsed.envelope.signer_sha256, parsed.issued_at,
                parsed.validity.not_before, parsed.validity.not_after, parsed.scope.purposes,
                parsed.scope.languages, parsed.scope.channels, parsed.evidence.method)
    found = (record.consent_id, record.subject_name, record.issuer_organisation,
             record.signer_sha256, record.issued_at, record.not_before,
             record.not_after, record.purposes, record.languages, record.channels,
             record.evidence_method)
    if expected != found:
        raise damaged("its columns differ from its stored artifact")
    return parsed


def record_consent(
    registry: Registry, artifact: ConsentArtifact, *, at: dt.datetime | None = None
) -> ConsentRecord:
    """Store an issued ``artifact`` (its bytes too). Refuses an id that is already stored."""
    if not isinstance(artifact, ConsentArtifact):
        raise InputError(f"record_consent takes a ConsentArtifact (load_artifact reads one "
                         f"from a path or bytes), got {type(artifact).__name__}")
    recorded_at = utc_now() if at is None else to_second(at, "at")
    if get_consent(registry, artifact.consent_id) is not None:
        raise RegistryError(f"consent {artifact.consent_id} is already in the registry")
    with registry.transaction() as conn:
        conn.execute(
            "INSERT INTO consents (consent_id, artifact_sha256, subject_name, issuer_organisation,"
            " signer_sha256, issued_at, not_before, not_after, purposes, languages, channels,"
            " evidence_method, artifact, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                artifact.consent_id,
                artifact.sha256,
                artifact.subject.display_name,
                artifact.issuer.organisation,
                artifact.envelope.signer_sha256,
                format_time(artifact.issued_at),
                format_time(artifact.validity.not_before),
                format_time(artifact.validity.not_after),
                json.dumps(list(artifact.scope.purposes)),
                json.dumps(list(artifact.scope.languages)),
                json.dumps(list(artifact.scope.channels)),
                artifact.evidence.method,
                artifact.raw,
                format_time(recorded_at),
            ),
        )
    record = get_consent(registry, artifact.consent_id)
    assert record is not None  # just inserted
    return record


def get_consent(registry: Registry, consent_id: str) -> ConsentRecord | None:
    """The record of ``consent_id``, or None if the registry has no such consent."""
    rows = registry.query(_SELECT + " WHERE c.consent_id = ?", (consent_id,))
    return _record(rows[0]) if rows else None


def recorded_artifact_sha256(registry: Registry, consent_id: str) -> str | None:
    """The SHA-256 of the artifact recorded under ``consent_id`` (None: no such consent).
    Reads that one column: a verifier asks it of every artifact it checks."""
    rows = registry.query("SELECT artifact_sha256 FROM consents WHERE consent_id = ?",
                          (consent_id,))
    return str(rows[0][0]) if rows else None


def list_consents(registry: Registry) -> list[ConsentRecord]:
    """Every consent in the registry, oldest issue first."""
    return [_record(r) for r in registry.query(_SELECT + " ORDER BY c.issued_at, c.consent_id")]


def artifact_bytes(registry: Registry, consent_id: str) -> bytes:
    """The stored artifact of ``consent_id``, byte for byte."""
    rows = registry.query("SELECT artifact FROM consents WHERE consent_id = ?", (consent_id,))
    if not rows:
        raise ConsentNotFoundError(f"no consent {consent_id!r} in the registry {registry.path}")
    return bytes(rows[0][0])


def revoke(
    registry: Registry, consent_id: str, *, reason: str, at: dt.datetime | None = None
) -> Revocation:
    """Withdraw consent ``consent_id`` from time ``at`` (default: now).

    Raises :class:`~trustavatar.errors.ConsentNotFoundError` for an id the registry does not
    hold. Revoking again returns the first revocation unchanged.
    """
    return revoke_once(registry, consent_id, reason=reason, at=at)[0]


def revoke_once(
    registry: Registry, consent_id: str, *, reason: str, at: dt.datetime | None = None
) -> tuple[Revocation, bool]:
    """:func:`revoke`, and whether this call made the revocation (``False``: the consent
    was revoked already, by an earlier call or by one running at the same time)."""
    if not isinstance(reason, str):
        raise InputError(f"the reason must be a string, got {type(reason).__name__}")
    reason = reason.strip()
    if not reason:
        raise InputError("a revocation needs a reason (--reason)")
    if len(reason) > _MAX_REASON:
        raise InputError(f"the reason is longer than {_MAX_REASON} characters")
    if has_control_characters(reason):  # an escape sequence, a line break: one line of text
        raise InputError("the reason must not contain control characters (one line of text)")
    revoked_at = utc_now() if at is None else to_second(at, "at")
    with registry.transaction() as conn:
        if conn.execute(
            "SELECT 1 FROM consents WHERE consent_id = ?", (consent_id,)
        ).fetchone() is None:
            raise ConsentNotFoundError(
                f"no consent {consent_id!r} in the registry {registry.path}"
            )
        made = conn.execute(
            "INSERT OR IGNORE INTO consent_revocations (consent_id, revoked_at, reason)"
            " VALUES (?, ?, ?)",
            (consent_id, format_time(revoked_at), reason),
        ).rowcount == 1
    revocation = find_revocation(registry, consent_id)
    assert revocation is not None  # just inserted or already there
    return revocation, made


def find_revocation(registry: Registry, consent_id: str) -> Revocation | None:
    rows = registry.query(
        "SELECT consent_id, revoked_at, reason FROM consent_revocations WHERE consent_id = ?",
        (consent_id,),
    )
    return _revocation(rows[0]) if rows else None


def list_revocations(registry: Registry) -> list[Revocation]:
    rows = registry.query(
        "SELECT consent_id, revoked_at, reason FROM consent_revocations"
        " ORDER BY revoked_at, consent_id"
    )
    return [_revocation(r) for r in rows]


def _revocation(row: sqlite3.Row) -> Revocation:
    try:
        return Revocation(row["consent_id"], parse_time(row["revoked_at"]), row["reason"])
    except ValueError as e:
        raise RegistryError(f"the revocation of {row['consent_id']} is damaged") from e
