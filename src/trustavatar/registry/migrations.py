"""Numbered schema migrations of the registry.

Each :class:`Migration` runs once, in order, in its own transaction, and is recorded in
``schema_migrations``. Append new migrations at the end with the next number; never edit
or renumber one that has shipped. Parts of trustavatar own their migrations:

1. consent: issued consent artifacts and their revocations.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "Migration"]

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema step: ``statements`` run in one transaction (no ``executescript``)."""

    number: int
    name: str
    statements: tuple[str, ...]


_CONSENT = Migration(
    1,
    "consent artifacts and revocations",
    (
        """
        CREATE TABLE consents (
            consent_id          TEXT PRIMARY KEY,
            artifact_sha256     TEXT NOT NULL UNIQUE,
            subject_name        TEXT NOT NULL,
            issuer_organisation TEXT NOT NULL,
            signer_sha256       TEXT NOT NULL,
            issued_at           TEXT NOT NULL,  -- RFC 3339 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
            not_before          TEXT NOT NULL,
            not_after           TEXT NOT NULL,
            purposes            TEXT NOT NULL,  -- JSON array of strings
            languages           TEXT NOT NULL,  -- JSON array of strings
            channels            TEXT NOT NULL,  -- JSON array of strings
            evidence_method     TEXT NOT NULL,
            artifact            BLOB NOT NULL,  -- the signed artifact, byte for byte
            recorded_at         TEXT NOT NULL
        )
        """,
        "CREATE INDEX consents_issued_at ON consents (issued_at)",
        """
        CREATE TABLE consent_revocations (
            consent_id TEXT PRIMARY KEY REFERENCES consents (consent_id),
            revoked_at TEXT NOT NULL,
            reason     TEXT NOT NULL
        )
        """,
    ),
)

#: All migrations, in order. Later parts append theirs (challenges, generation ledger).
MIGRATIONS: tuple[Migration, ...] = (_CONSENT,)
