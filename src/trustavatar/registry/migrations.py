"""Numbered schema migrations of the registry.

Each :class:`Migration` runs once, in order, in its own transaction, and is recorded in
``schema_migrations``. Append new migrations at the end with the next number; never edit
or renumber one that has shipped. Parts of trustavatar own their migrations:

1. consent: issued consent artifacts and their revocations.
2. generation ledger: one append-only, hash-chained row per generated photo or video
   (:mod:`trustavatar.registry.ledger`).
3. consent challenges: one-time codes a subject reads on a recorded consent clip
   (:mod:`trustavatar.consent.challenge`).
4. consent challenges: the statement template each was made with (sentence, digit words
   and the digits its code uses); older challenges used the English sentence and all ten
   digits.
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

_LEDGER = Migration(
    2,
    "generation ledger",
    (
        # Hash rules, the genesis value and what the chain detects: trustavatar.registry.ledger.
        # No UNIQUE besides seq: an INSERT OR REPLACE must have no other row to replace.
        """
        CREATE TABLE generation_ledger (
            seq                     INTEGER PRIMARY KEY CHECK (seq >= 1),  -- 1, 2, 3, … no gaps
            created_at              TEXT NOT NULL,  -- RFC 3339 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
            operator                TEXT NOT NULL,
            consent_id              TEXT NOT NULL,  -- no foreign key: the artifact may be
            consent_artifact_sha256 TEXT NOT NULL,  -- another issuer's, not in this registry
            mode                    TEXT NOT NULL CHECK (mode IN ('photo', 'video')),
            inputs                  TEXT NOT NULL,  -- canonical JSON object: role -> sha256
            output_path             TEXT NOT NULL,
            output_sha256           TEXT NOT NULL,
            manifest_label          TEXT NOT NULL,  -- the C2PA active manifest label
            watermark_payload       TEXT,           -- hex; NULL: no watermark embedded
            qa                      TEXT NOT NULL,  -- canonical JSON object of QA figures
            prev_hash               TEXT NOT NULL,  -- row_hash of seq - 1 (row 1: genesis)
            row_hash                TEXT NOT NULL   -- SHA-256 of JCS(every other column)
        )
        """,
        "CREATE INDEX generation_ledger_created_at ON generation_ledger (created_at)",
        "CREATE INDEX generation_ledger_output ON generation_ledger (output_sha256)",
        "CREATE INDEX generation_ledger_manifest ON generation_ledger (manifest_label)",
        "CREATE INDEX generation_ledger_watermark ON generation_ledger (watermark_payload)",
        # Guards against accidents (a stray UPDATE, a wrong seq), not against attackers: anyone
        # who can write the file can drop a trigger. The hash chain is what detects tampering.
        # The literal: row 1's prev_hash, SHA-256(b"trustavatar.generation-ledger.v1").
        """
        CREATE TRIGGER generation_ledger_append_only BEFORE INSERT ON generation_ledger
        WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM generation_ledger)
          OR NEW.prev_hash IS NOT COALESCE(
               (SELECT row_hash FROM generation_ledger ORDER BY seq DESC LIMIT 1),
               'e34a2a9c2a65087c5873ad25fb51f7917de94b3c87b226f816b974b946debcb4')
        BEGIN
            SELECT RAISE(ABORT, 'generation_ledger: a new row needs the next seq and head hash');
        END
        """,
        """
        CREATE TRIGGER generation_ledger_no_update BEFORE UPDATE ON generation_ledger
        BEGIN
            SELECT RAISE(ABORT, 'generation_ledger is append-only: rows cannot be updated');
        END
        """,
        """
        CREATE TRIGGER generation_ledger_no_delete BEFORE DELETE ON generation_ledger
        BEGIN
            SELECT RAISE(ABORT, 'generation_ledger is append-only: rows cannot be deleted');
        END
        """,
    ),
)

_CHALLENGES = Migration(
    3,
    "consent challenges",
    (
        # The code is not stored: it is derived again from draft and nonce when a clip is
        # checked (trustavatar.consent.challenge.derive_code).
        """
        CREATE TABLE consent_challenges (
            challenge_id TEXT PRIMARY KEY,           -- UUID 4
            draft        TEXT NOT NULL,              -- canonical JSON of the draft consent
            draft_sha256 TEXT NOT NULL,
            nonce        TEXT NOT NULL,              -- 16 random bytes, hex
            language     TEXT NOT NULL,              -- of the statement template, e.g. 'en'
            created_at   TEXT NOT NULL,              -- RFC 3339 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
            expires_at   TEXT NOT NULL,
            attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- rejected clips
            used_at      TEXT,                       -- set by the one successful record
            consent_id   TEXT,                       -- the consent issued from it
            CHECK ((used_at IS NULL) = (consent_id IS NULL))
        )
        """,
        "CREATE INDEX consent_challenges_expires_at ON consent_challenges (expires_at)",
    ),
)

_CHALLENGE_TEMPLATES = Migration(
    4,
    "consent challenge templates",
    (
        # Canonical JSON of the template (trustavatar.consent.ConsentTemplate.to_json);
        # NULL: made before this migration, with the English sentence and codes over all
        # ten digits (trustavatar.consent.challenge.LEGACY_TEMPLATE).
        "ALTER TABLE consent_challenges ADD COLUMN template TEXT",
    ),
)

#: All migrations, in order. Later parts append theirs.
MIGRATIONS: tuple[Migration, ...] = (_CONSENT, _LEDGER, _CHALLENGES, _CHALLENGE_TEMPLATES)
