"""The generation ledger: one append-only, hash-chained row per generated photo or video.

Every generation appends one row to the registry's ``generation_ledger`` table (migration
2): when (``created_at``), who (``operator``), under which consent (``consent_id`` and the
SHA-256 of the artifact's bytes), from which inputs (role → SHA-256, e.g. ``face``,
``audio``, ``script``), what came out (``output_path``, ``output_sha256``), under which
C2PA manifest (``manifest_label``) and watermark (``watermark_payload``, hex), and the
quality figures (``qa``). An audit lists the rows (:func:`list_generations`), finds the
row of a file (:func:`find_by_output`, :func:`find_by_manifest`, :func:`find_by_watermark`)
and checks the chain (:func:`verify_ledger`).

The chain
---------
Each row stores ``prev_hash``, the ``row_hash`` of the row before (row 1:
:data:`GENESIS_HASH`), and ``row_hash = SHA-256(JCS(row))``, where ``row`` is the JSON object
of every other column exactly as stored (``inputs`` and ``qa`` as their canonical JSON text,
``watermark_payload`` possibly null; JCS is RFC 8785). Rows are numbered 1, 2, 3, … without
gaps, and ``seq`` is hashed, so a row's place is part of what it says.

What :func:`verify_ledger` detects
----------------------------------
* a row changed after it was written ('edited'): any column, whether or not the editor
  also recomputed that row's ``row_hash`` (then the next row still records the old one);
* rows deleted from the middle ('deleted'), with or without the later rows renumbered;
* rows moved to another place ('reordered') and rows put between existing rows
  ('inserted');
* rows removed from the end, or a tail rewritten with every hash recomputed
  ('truncated'), but **only** against a head kept outside the registry: a head hash the
  auditor noted (``expected_head``) or a signed checkpoint (:func:`export_head`). From
  the chain alone a shorter ledger looks like an older one.

What it does not protect against
--------------------------------
* There is no secret in the chain. Anyone who can write the registry file can rewrite it
  from any row onwards, recomputing every hash; only a head kept elsewhere shows that, and
  only for rows up to that head. Keep checkpoints (or head hashes) outside the machine,
  e.g. with each audit report.
* Rows appended after the last checkpoint by someone with write access look genuine: the
  ledger records generations, it does not authenticate who wrote a row.
* A row is what the generator said. It does not prove the file was made that way; the
  audit re-verifies each output's C2PA manifest and watermark and matches them to a row.
* The SQLite triggers that refuse UPDATE and DELETE (and an INSERT out of sequence) guard
  against accidents, not attackers: whoever can write the file can drop them.
* Nothing is confidential: operator names and paths are stored in clear.

>>> with Registry.for_home(home) as reg:  # doctest: +SKIP
...     row = append_generation(reg, LedgerEntry(operator="ops@example.org", ...))
...     report = verify_ledger(reg, checkpoint=Path("head.json").read_bytes(), trust=trust)
...     report.ok, [p.detail for p in report.problems]
"""

from __future__ import annotations

__all__ = [
    "GENESIS_HASH",
    "LEDGER_CHECKPOINT_TYPE",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerProblem",
    "LedgerProblemKind",
    "LedgerReport",
    "LedgerRow",
    "append_generation",
    "export_head",
    "find_by_manifest",
    "find_by_output",
    "find_by_watermark",
    "find_by_watermark_in",
    "get_generation",
    "list_generations",
    "load_checkpoint",
    "verify_ledger",
]

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from trustavatar import _envelope
from trustavatar._arguments import KEY_HINT, REGISTRY_HINT, instance, no_hidden_characters
from trustavatar._display import JOINERS, has_control_characters
from trustavatar._time import format_time, parse_time, to_second, utc_now
from trustavatar.errors import (
    CheckpointSignatureError,
    Error,
    InputError,
    LedgerBrokenError,
    RegistryDamagedError,
    RegistryError,
    UntrustedChainError,
)
from trustavatar.home import Home
from trustavatar.keys import SigningKey, TrustStore
from trustavatar.registry.db import Registry

#: ``prev_hash`` of row 1: SHA-256 of ``b"trustavatar.generation-ledger.v1"`` (also written
#: into migration 2's insert trigger; never change it).
GENESIS_HASH: Final = hashlib.sha256(b"trustavatar.generation-ledger.v1").hexdigest()
#: ``payload.type`` of a signed head checkpoint.
LEDGER_CHECKPOINT_TYPE: Final = "trustavatar.ledger-checkpoint"

Mode: TypeAlias = Literal["photo", "video"]
LedgerProblemKind: TypeAlias = Literal["edited", "deleted", "reordered", "inserted", "truncated"]

_MODES: Final = ("photo", "video")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEX: Final = re.compile(r"(?:[0-9a-f]{2})+")
_MAX_QA_BYTES: Final = 64 << 10
_MAX_CHECKPOINT_BYTES: Final = 64 << 10
#: Every column, in table order; all but the last are hashed.
_COLUMNS: Final = (
    "seq", "created_at", "operator", "consent_id", "consent_artifact_sha256", "mode", "inputs",
    "output_path", "output_sha256", "manifest_label", "watermark_payload", "qa", "prev_hash",
    "row_hash",
)
_HASHED: Final = _COLUMNS[:-1]
_SELECT: Final = f"SELECT {', '.join(_COLUMNS)} FROM generation_ledger"  # noqa: S608 - constants


# --- time -----------------------------------------------------------------------------


def _now_or(at: dt.datetime | None, name: str = "at") -> dt.datetime:
    """``at`` truncated to the second; the wall clock only as the default for ``None``."""
    return utc_now() if at is None else to_second(at, name)


# --- validation -----------------------------------------------------------------------


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stored(value: object) -> str:
    """A value read from the table, as SQL would show it (NULL for None)."""
    return "NULL" if value is None else _short(value)


_MAX_OPERATOR = 200
_MAX_PATH = 4096


def _text(value: object, name: str, *, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a non-empty string, got {_short(value)}")
    if len(value) > max_len:
        raise InputError(f"{name} is longer than {max_len} characters")
    if has_control_characters(value):
        raise InputError(f"{name} contains control characters: {_short(value)}")
    return value


def check_new_operator(operator: object, name: str = "operator") -> str:
    """The operator of a row written from now on: what :class:`LedgerEntry` checks, and no
    invisible format characters (the joiners aside: names in some scripts need them).
    For a caller to check before its work too (``generate``, before the render)."""
    value = _text(operator, name, max_len=_MAX_OPERATOR)
    no_hidden_characters(value, name, JOINERS)
    return value


def check_output_path(path: str | os.PathLike[str], name: str = "output_path") -> str:
    """What :class:`LedgerEntry` checks of an output path (a caller may check it first)."""
    try:
        value = os.fspath(path)
    except TypeError as e:
        raise InputError(f"{name} must be a path, got {_short(path)}") from e
    return _text(value, name, max_len=_MAX_PATH)


def _sha256(value: object, name: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InputError(
            f"{name} must be a SHA-256 hex digest (64 lowercase hex characters), "
            f"got {_short(value)}"
        )
    return value


def _canonical(value: object, name: str) -> str:
    try:
        return _envelope.canonical_json(value).decode("utf-8")
    except _envelope.EnvelopeFormatError as e:
        raise InputError(f"{name} is not JSON-able: {e}") from e


# --- entries and rows -----------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """What the generator records about one generation (the row without seq, time, hashes).

    ``inputs`` maps a role (``"face"``, ``"audio"``, ``"script"``, …) to the SHA-256 of that
    input; ``qa`` holds the quality figures (any JSON: numbers, strings, booleans, lists,
    objects; no NaN or infinity). Both are stored as canonical JSON, so ``qa`` reads back
    normalised (``1.0`` as ``1``). ``watermark_payload`` is lowercase hex, or None when no
    watermark was embedded. Invalid values raise :class:`~trustavatar.errors.InputError`.
    """

    operator: str
    consent_id: str
    consent_artifact_sha256: str
    mode: Mode
    inputs: Mapping[str, str]
    output_path: str
    output_sha256: str
    manifest_label: str
    watermark_payload: str | None = None
    qa: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _text(self.operator, "operator", max_len=_MAX_OPERATOR)
        _text(self.consent_id, "consent_id", max_len=200)
        _sha256(self.consent_artifact_sha256, "consent_artifact_sha256")
        if self.mode not in _MODES:
            raise InputError(f"mode must be 'photo' or 'video', got {_short(self.mode)}")
        if not isinstance(self.inputs, Mapping) or not self.inputs:
            raise InputError("inputs must be a non-empty mapping of role to SHA-256")
        inputs = {
            _text(role, "an inputs role", max_len=64): _sha256(digest, f"inputs[{role!r}]")
            for role, digest in sorted(self.inputs.items(), key=lambda kv: str(kv[0]))
        }
        output_path = check_output_path(self.output_path)
        _sha256(self.output_sha256, "output_sha256")
        _text(self.manifest_label, "manifest_label", max_len=512)
        if self.watermark_payload is not None and (
            not isinstance(self.watermark_payload, str)
            or len(self.watermark_payload) > 256
            or not _HEX.fullmatch(self.watermark_payload)
        ):
            raise InputError(
                "watermark_payload must be lowercase hex (whole bytes, at most 128) or None, "
                f"got {_short(self.watermark_payload)}"
            )
        if not isinstance(self.qa, Mapping):
            raise InputError(f"qa must be a mapping of figure names to values, "
                             f"got {_short(self.qa)}")
        qa_json = _canonical(dict(self.qa), "qa")
        if len(qa_json) > _MAX_QA_BYTES:
            raise InputError(f"qa is larger than {_MAX_QA_BYTES} bytes as JSON")
        object.__setattr__(self, "inputs", MappingProxyType(inputs))
        object.__setattr__(self, "output_path", output_path)
        object.__setattr__(self, "qa", MappingProxyType(json.loads(qa_json)))

    @property
    def inputs_json(self) -> str:
        """``inputs`` as stored: canonical JSON."""
        return _canonical(dict(self.inputs), "inputs")

    @property
    def qa_json(self) -> str:
        """``qa`` as stored: canonical JSON."""
        return _canonical(dict(self.qa), "qa")


@dataclass(frozen=True)
class LedgerRow:
    """A stored ledger row. Read back, its fields are what the table holds: check the chain
    with :func:`verify_ledger` before trusting them."""

    seq: int
    created_at: dt.datetime
    entry: LedgerEntry
    prev_hash: str
    row_hash: str

    def to_dict(self) -> dict[str, Any]:
        """The row as a flat JSON object, one member per column."""
        e = self.entry
        return {
            "seq": self.seq,
            "created_at": format_time(self.created_at),
            "operator": e.operator,
            "consent_id": e.consent_id,
            "consent_artifact_sha256": e.consent_artifact_sha256,
            "mode": e.mode,
            "inputs": dict(e.inputs),
            "output_path": e.output_path,
            "output_sha256": e.output_sha256,
            "manifest_label": e.manifest_label,
            "watermark_payload": e.watermark_payload,
            "qa": dict(e.qa),
            "prev_hash": self.prev_hash,
            "row_hash": self.row_hash,
        }


def _stored_columns(
    seq: int, created_at: str, entry: LedgerEntry, prev_hash: str
) -> dict[str, Any]:
    """Every hashed column of a new row, as it will be stored."""
    return {
        "seq": seq,
        "created_at": created_at,
        "operator": entry.operator,
        "consent_id": entry.consent_id,
        "consent_artifact_sha256": entry.consent_artifact_sha256,
        "mode": entry.mode,
        "inputs": entry.inputs_json,
        "output_path": entry.output_path,
        "output_sha256": entry.output_sha256,
        "manifest_label": entry.manifest_label,
        "watermark_payload": entry.watermark_payload,
        "qa": entry.qa_json,
        "prev_hash": prev_hash,
    }


def _row_hash(columns: Mapping[str, Any]) -> str:
    """SHA-256 of JCS of the hashed columns. Raises EnvelopeFormatError for values JSON
    cannot hold (e.g. a BLOB put into the table by hand)."""
    return hashlib.sha256(_envelope.canonical_json({c: columns[c] for c in _HASHED})).hexdigest()


def _row(r: sqlite3.Row) -> LedgerRow:
    if not _is_seq(r["seq"]):
        raise RegistryError(f"a ledger row numbered {_stored(r['seq'])} is damaged: row numbers "
                            "are whole numbers (run 'trustavatar ledger verify')")
    try:
        entry = LedgerEntry(
            operator=r["operator"],
            consent_id=r["consent_id"],
            consent_artifact_sha256=r["consent_artifact_sha256"],
            mode=r["mode"],
            inputs=json.loads(r["inputs"]),
            output_path=r["output_path"],
            output_sha256=r["output_sha256"],
            manifest_label=r["manifest_label"],
            watermark_payload=r["watermark_payload"],
            qa=json.loads(r["qa"]),
        )
        return LedgerRow(r["seq"], parse_time(r["created_at"]), entry, r["prev_hash"],
                         r["row_hash"])
    except (InputError, ValueError, TypeError) as e:  # a broken chain, as 'ledger list' says
        raise LedgerBrokenError(
            f"ledger row {r['seq']} is damaged (run 'trustavatar ledger verify')",
            detail=str(e),
        ) from e


# --- writing and reading --------------------------------------------------------------


def append_generation(
    registry: Registry, entry: LedgerEntry, *, at: dt.datetime | None = None
) -> LedgerRow:
    """Append ``entry`` as the next row, created at ``at`` (default: now).

    One write transaction: read the head, hash the new row onto it, insert. Appending does
    not verify the chain (that is :func:`verify_ledger`'s job, and costs a full read).
    """
    if not isinstance(entry, LedgerEntry):
        raise InputError(f"expected a LedgerEntry, got {type(entry).__name__}")
    check_new_operator(entry.operator)  # LedgerEntry reads older rows back: not there
    created_at = format_time(_now_or(at))
    with registry.transaction() as conn:
        head = conn.execute(
            "SELECT seq, row_hash FROM generation_ledger ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev_hash = (1, GENESIS_HASH) if head is None else (int(head[0]) + 1, str(head[1]))
        columns = _stored_columns(seq, created_at, entry, prev_hash)
        row_hash = _row_hash(columns)
        conn.execute(
            f"INSERT INTO generation_ledger ({', '.join(_COLUMNS)})"  # noqa: S608 - constants
            f" VALUES ({', '.join('?' * len(_COLUMNS))})",
            (*columns.values(), row_hash),
        )
    return LedgerRow(seq, parse_time(created_at), entry, prev_hash, row_hash)


def list_generations(registry: Registry, *, since: dt.datetime | None = None,
                     skip_damaged: bool = False) -> list[LedgerRow]:
    """Every row in ``seq`` order; with ``since``, only rows created at or after it.

    Raises :class:`~trustavatar.errors.RegistryError` if a row cannot be read back (a
    damaged row: :func:`verify_ledger` says what happened to it), unless ``skip_damaged``
    (an audit lists what it can read and reports the chain problems separately).
    """
    if not skip_damaged:
        return [_row(r) for r in _select(registry, since)]
    return read_generations(registry, since=since)[0]


def read_generations(registry: Registry, *, since: dt.datetime | None = None
                     ) -> tuple[list[LedgerRow], list[str]]:
    """The rows that read back (as :func:`list_generations`), and the row numbers of those
    that do not (damaged: :func:`verify_ledger` says what happened to them), as stored."""
    rows, damaged = [], []
    for r in _select(registry, since):
        try:
            rows.append(_row(r))
        except RegistryError:
            damaged.append(_stored(r["seq"]))
    return rows, damaged


def _select(registry: Registry, since: dt.datetime | None) -> list[sqlite3.Row]:
    if since is None:
        return registry.query(_SELECT + " ORDER BY seq")
    when = format_time(to_second(since, "since"))
    return registry.query(_SELECT + " WHERE created_at >= ? ORDER BY seq", (when,))


def get_generation(registry: Registry, seq: int) -> LedgerRow | None:
    """Row ``seq``, or None if the ledger has no such row."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise InputError(f"a row number is a whole number, got {seq!r}")
    if not 1 <= seq < 2 ** 63:  # SQLite's integers
        return None
    rows = registry.query(_SELECT + " WHERE seq = ?", (seq,))
    return _row(rows[0]) if rows else None


def find_by_output(registry: Registry, sha256: str) -> list[LedgerRow]:
    """The rows whose output has this SHA-256 (oldest first; usually one)."""
    digest = _sha256(sha256.lower() if isinstance(sha256, str) else sha256, "sha256")
    return [_row(r) for r in registry.query(
        _SELECT + " WHERE output_sha256 = ? ORDER BY seq", (digest,))]


def find_by_manifest(registry: Registry, label: str) -> list[LedgerRow]:
    """The rows whose output was signed under the C2PA manifest ``label`` (oldest first)."""
    return [_row(r) for r in registry.query(
        _SELECT + " WHERE manifest_label = ? ORDER BY seq", (str(label),))]


def find_by_watermark(registry: Registry, payload_hex: str) -> list[LedgerRow]:
    """The rows whose output carries the watermark ``payload_hex`` (oldest first)."""
    payload = str(payload_hex).strip().lower()
    if not _HEX.fullmatch(payload):
        raise InputError(f"watermark payload must be hex, got {_short(payload_hex)}")
    return [_row(r) for r in registry.query(
        _SELECT + " WHERE watermark_payload = ? ORDER BY seq", (payload,))]


def find_by_watermark_in(home: Home | str | os.PathLike[str] | None, payload: str | bytes
                         ) -> tuple[list[LedgerRow], str | None]:
    """The rows of ``home``'s ledger (a Home or its folder) whose output carries the
    watermark ``payload`` (``WatermarkReading.payload``, or its hex), read only (a home
    without a registry is not created), and why they cannot be relied on: ``None`` when
    they can, else a sentence (no home, no ledger in it, the ledger could not be read, or,
    when rows were found, its chain does not verify: :func:`verify_ledger` found a row
    edited, deleted, moved or inserted, so a listed row may say anything)."""
    if not isinstance(payload, str | bytes):
        raise InputError(f"a watermark payload is bytes or hex, got {type(payload).__name__}")
    payload_hex = payload.hex() if isinstance(payload, bytes) else payload.strip().lower()
    if not _HEX.fullmatch(payload_hex):  # the caller's mistake, not a ledger that failed
        raise InputError(f"watermark payload must be hex, got {_short(payload_hex)}")
    if home is None:
        return [], "no trustavatar home to look the payload up in"
    home = Home.resolve(home)
    if not home.registry_path.is_file():
        return [], f"no ledger in the home {home.root}"
    try:
        with Registry.open(home.registry_path, read_only=True) as registry:
            rows = find_by_watermark(registry, payload_hex)
            chain = verify_ledger(registry) if rows else None
    except Error as e:
        return [], f"the ledger could not be read: {e.message}"
    if chain is not None and not chain.ok:
        return rows, (f"this home's ledger does not verify ({chain.problems[0].detail}; "
                      "'trustavatar ledger verify' lists every problem): its rows cannot be "
                      "relied on")
    return rows, None


# --- checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerCheckpoint(_envelope.SignedDocument):
    """A signed head: the ledger had ``seq`` rows, the last with ``head_hash``, at
    ``signed_at``. From :func:`load_checkpoint` it is verified and ``anchor_sha256`` set."""

    seq: int
    head_hash: str
    signed_at: dt.datetime
    issuer_organisation: str
    envelope: _envelope.Envelope
    anchor_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "head_hash": self.head_hash,
            "signed_at": format_time(self.signed_at),
            "issuer_organisation": self.issuer_organisation,
            "signer_sha256": self.envelope.signer_sha256,
            "anchor_sha256": self.anchor_sha256,
            "sha256": self.sha256,
        }


def export_head(registry: Registry, key: SigningKey, *, at: dt.datetime | None = None) -> bytes:
    """Sign the ledger's head (row count, last ``row_hash``, time ``at``) into checkpoint bytes.

    Keep the file outside this machine: it is what shows rows later removed from the end.
    The chain is verified first; a broken ledger raises
    :class:`~trustavatar.errors.RegistryError` instead of being vouched for.
    """
    instance(registry, Registry, "registry", REGISTRY_HINT)
    instance(key, SigningKey, "key", KEY_HINT)
    signed_at = _now_or(at)
    report = verify_ledger(registry)
    if not report.ok:
        raise RegistryError(
            f"the ledger is broken ({report.problems[0].detail}"
            f"{'; …' if len(report.problems) > 1 else ''}): no checkpoint signed over it",
            detail="\n".join(p.detail for p in report.problems),
        )
    payload = {
        "type": LEDGER_CHECKPOINT_TYPE,
        "version": 1,
        "issuer": {"organisation": _envelope.signer_organisation(key.certificate)},
        "signed_at": format_time(signed_at),
        "seq": report.head_seq,
        "head_hash": report.head_hash,
    }
    return _envelope.seal(payload, key)


def load_checkpoint(source: bytes | LedgerCheckpoint, *, trust: TrustStore) -> LedgerCheckpoint:
    """Parse a checkpoint and check it: (1) canonical envelope of the v1 shape, (2) the
    signature verifies, (3) the signer chains to ``trust`` at ``signed_at``, (4) the signer's
    organisation is the one named. Raises :class:`~trustavatar.errors.InputError` for a file
    that is not a checkpoint and :class:`~trustavatar.errors.CheckpointSignatureError` for
    one that does not verify."""
    if isinstance(source, LedgerCheckpoint):
        data = source.raw
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:  # a path, its text, a number: bytes() read a str as an error, an int as N zeros
        raise InputError(f"a ledger checkpoint is given as its bytes (the file's content), "
                         f"got {type(source).__name__}")
    # 1. parse
    cp = _parse_checkpoint(data)
    # 2. signature, 3. trusted signer at signing time, 4. issuer named = issuer signing
    try:
        # high-S allowed: a checkpoint is not identified by its bytes, and those signed
        # before the low-S rule (about half) must keep verifying
        anchor = cp.envelope.check_signer(trust=trust, at=cp.signed_at,
                                          organisation=cp.issuer_organisation,
                                          allow_high_s=True)
    except _envelope.EnvelopeSignatureError as e:
        raise CheckpointSignatureError(f"ledger checkpoint: {e}") from e
    except UntrustedChainError as e:
        raise CheckpointSignatureError(
            f"the ledger checkpoint is not signed by a trusted key: {e.message}"
        ) from e
    except _envelope.EnvelopeIssuerError as e:
        raise CheckpointSignatureError(f"the ledger checkpoint {e}") from e
    return LedgerCheckpoint(cp.seq, cp.head_hash, cp.signed_at, cp.issuer_organisation,
                            cp.envelope, anchor.fingerprint)


def _parse_checkpoint(data: bytes) -> LedgerCheckpoint:
    def malformed(why: str) -> InputError:
        return InputError(f"not a ledger checkpoint: {why}")

    try:
        document = _envelope.load_canonical_json(data, max_bytes=_MAX_CHECKPOINT_BYTES)
        envelope = _envelope.open_envelope(document, raw=data)
    except _envelope.EnvelopeFormatError as e:
        raise malformed(str(e)) from e
    p = envelope.payload
    if set(p) != {"type", "version", "issuer", "signed_at", "seq", "head_hash"}:
        raise malformed(f"unexpected members {sorted(p)}")
    if p["type"] != LEDGER_CHECKPOINT_TYPE or p["version"] != 1:
        raise malformed(f"type {_short(p['type'])} version {_short(p['version'])}")
    issuer = p["issuer"]
    if not isinstance(issuer, dict) or set(issuer) != {"organisation"}:
        raise malformed("'issuer' must be an object with exactly 'organisation'")
    try:
        organisation = _text(issuer["organisation"], "issuer organisation", max_len=200)
        signed_at = parse_time(p["signed_at"])
        head_hash = _sha256(p["head_hash"], "head_hash")
    except (InputError, ValueError, TypeError) as e:
        raise malformed(str(e)) from e
    seq = p["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise malformed(f"'seq' must be a whole number ≥ 0, got {_short(seq)}")
    if seq == 0 and head_hash != GENESIS_HASH:
        raise malformed("an empty ledger's head must be the genesis hash")
    return LedgerCheckpoint(seq, head_hash, signed_at, organisation, envelope)


# --- verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerProblem:
    """One thing wrong with the ledger. ``seq`` is the row concerned (for 'deleted', the
    first missing row), None when the place is unknown; ``detail`` says it in plain words."""

    seq: int | None
    kind: LedgerProblemKind
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class LedgerReport:
    """The result of :func:`verify_ledger`: ``ok`` exactly when ``problems`` is empty."""

    ok: bool
    rows: int  #: rows read
    head_seq: int  #: seq of the last row (0 for an empty ledger)
    head_hash: str  #: its row_hash (:data:`GENESIS_HASH` for an empty ledger)
    problems: tuple[LedgerProblem, ...]
    expected_head: str | None = None  #: the head hash checked against, if any
    checkpoint: LedgerCheckpoint | None = None  #: the verified checkpoint checked against

    @property
    def tail_checked(self) -> bool:
        """Whether rows removed from the end could be seen (a head or checkpoint was given)."""
        return self.expected_head is not None or self.checkpoint is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": [p.to_dict() for p in self.problems],
            "tail_checked": self.tail_checked,
            "expected_head": self.expected_head,
            "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
        }


#: Up to this many rows deleted with the later rows renumbered are named as such (a row whose
#: predecessor is gone is tried at up to this many places further on); beyond, they read as
#: edited: still detected, less precisely named.
_MAX_RENUMBERED: Final = 64
#: How many rows get that search in one verification (it costs up to 64 hashes a row).
_MAX_SEARCHES: Final = 64


@dataclass
class _Seen:
    """A stored row as the walk sees it."""

    columns: Mapping[str, Any]  # every column as stored (any SQLite type)
    #: the stored seq; for a row whose seq is not a whole number (see :func:`_placed`), the
    #: place the walk gives it
    seq: int = 0
    written_as: int | None = None  # the seq its hash verifies with; None: changed since
    problem: LedgerProblem | None = None

    @property
    def prev(self) -> object:
        return self.columns["prev_hash"]

    @property
    def hash(self) -> object:
        return self.columns["row_hash"]


def _written_as(columns: Mapping[str, Any], candidates: Sequence[int | None]) -> int | None:
    """The first candidate seq under which the row's content hashes to its ``row_hash``
    (its own place, or the place it was moved from); None if none does."""
    for candidate in dict.fromkeys(candidates):
        if candidate is None or candidate < 1:
            continue
        try:
            if _row_hash({**columns, "seq": candidate}) == columns["row_hash"]:
                return candidate
        except _envelope.EnvelopeFormatError:  # a value JSON cannot hold: changed by hand
            return None
    return None


def _is_seq(value: object) -> bool:
    """Whether a stored seq is what the ledger writes: an SQLite INTEGER (a REAL such as 3.5
    or 3.0, a TEXT such as '3', a BLOB or NULL is an edit: row numbers are hashed as
    integers)."""
    return type(value) is int


def _placed(rows: Sequence[Mapping[str, Any]]) -> list[_Seen]:
    """The rows as the walk sees them, in stored order. A row whose seq is not a whole
    number was edited (by hand: the table's own type forbids it): it is flagged now, and
    put where its ``prev_hash`` says it belongs (after the row whose hash it records), else
    where SQLite sorted it (a REAL among the numbers; NULL, TEXT and BLOB at the end), with
    the number of that place, so that the rows around it read as they are."""
    good = [r for r in rows if _is_seq(r["seq"])]
    odd = [r for r in rows if not _is_seq(r["seq"])]
    following: dict[object, list[int]] = {}  # prev_hash → the odd rows that record it
    for k, r in enumerate(odd):
        if isinstance(r["prev_hash"], str):
            following.setdefault(r["prev_hash"], []).append(k)
    placed: set[int] = set()
    seen: list[_Seen] = []

    def put_odd(k: int) -> None:  # an odd row, then the odd rows chained after it
        stack = [k]
        while stack:
            k = stack.pop()
            if k in placed:
                continue
            placed.add(k)
            seen.append(_Seen(odd[k], seq=(seen[-1].seq + 1) if seen else 1,
                              problem=LedgerProblem(None, "edited", "")))
            stack.extend(reversed(following.get(odd[k]["row_hash"], [])))

    def chained_after(row_hash: object) -> None:
        for k in following.get(row_hash, []):
            put_odd(k)

    by_value = sorted((r["seq"], k) for k, r in enumerate(odd) if isinstance(r["seq"], float))
    v = 0
    chained_after(GENESIS_HASH)
    for r in good:
        while v < len(by_value) and by_value[v][0] < r["seq"]:  # where SQLite sorted it
            put_odd(by_value[v][1])
            v += 1
        seen.append(_Seen(r, seq=r["seq"]))
        chained_after(r["row_hash"])
    for _, k in by_value[v:]:
        put_odd(k)
    for k in range(len(odd)):  # NULL, TEXT, BLOB with no place in the chain: at the end
        put_odd(k)
    for s in seen:
        if s.problem is not None and s.problem.seq is None:
            s.problem = LedgerProblem(
                s.seq, "edited",
                f"row {s.seq} was edited after it was written: its row number is stored as "
                f"{_stored(s.columns['seq'])}, not as a whole number")
    return seen


def _flag(s: _Seen, kind: LedgerProblemKind, detail: str) -> None:
    s.problem = LedgerProblem(s.seq, kind, detail)


def _rows_phrase(first: int, last: int) -> str:
    return f"row {first} was" if first == last else f"rows {first} to {last} were"


def _walk(seen: Sequence[_Seen]) -> list[LedgerProblem]:
    """Classify what broke the chain, walking the rows in stored order.

    Each row's hash verifies under one seq, the place it was written at (``written_as``),
    or under none (its content changed). A gap in the numbering is a deletion; a row that
    verifies but does not point at the row stored before it is resolved by where its
    ``prev_hash`` does point: at a later row (reordered), past some rows at an earlier one
    (those were inserted), or at no row (the row before was rewritten, or rows were
    deleted and the rest renumbered).
    """
    extra: list[LedgerProblem] = []  # problems not attached to one stored row
    index: dict[object, int] = {}
    for i, s in enumerate(seen):
        index.setdefault(s.hash, i)
    prev: _Seen | None = None
    shift = 0  # seq - written_as of the last unflagged row: rows renumbered so far
    searches = 0
    for i, r in enumerate(seen):
        if r.problem is not None:  # its seq is not a whole number (:func:`_placed`)
            prev = r
            continue
        if r.seq < 1:
            _flag(r, "inserted", f"row {r.seq} was inserted: the ledger numbers rows from 1")
            continue
        expected_seq = prev.seq + 1 if prev else 1
        gap = r.seq > expected_seq
        if gap:
            extra.append(LedgerProblem(expected_seq, "deleted",
                                       f"{_rows_phrase(expected_seq, r.seq - 1)} deleted"))
        linked = r.prev == (prev.hash if prev else GENESIS_HASH)
        j = -1 if r.prev == GENESIS_HASH else index.get(r.prev)
        r.written_as = _written_as(r.columns, [
            r.seq,
            r.seq - shift,
            prev.written_as + 1 if prev is not None and prev.written_as is not None else None,
            seen[j].seq + 1 if j is not None and j >= 0 else (1 if j == -1 else None),
            r.seq - 1,
            r.seq + 1,
        ])
        if r.written_as is None and not linked and j is None and searches < _MAX_SEARCHES:
            searches += 1  # its predecessor is gone: deleted, the rest renumbered?
            r.written_as = _written_as(
                r.columns, range(r.seq + 2, r.seq + _MAX_RENUMBERED + 1))
        if r.written_as is None:
            _flag(r, "edited", f"row {r.seq} was edited after it was written")
        elif not gap and not linked:
            _broken_link(seen, i, r, prev, shift, j, index, extra)
        if r.written_as is not None and r.problem is None:
            shift = r.seq - r.written_as
        prev = r
    problems = [s.problem for s in seen if s.problem is not None] + extra
    return sorted(problems, key=lambda p: (p.seq if p.seq is not None else 0))


def _broken_link(seen: Sequence[_Seen], i: int, r: _Seen, prev: _Seen | None, shift: int,
                 j: int | None, index: Mapping[object, int],
                 extra: list[LedgerProblem]) -> None:
    """Row ``r`` verifies on its own but does not point at the row stored before it;
    ``j`` is the index of the row it points at (-1: genesis, None: no such row)."""
    assert r.written_as is not None
    moved = r.written_as != r.seq - shift
    reordered = (f"row {r.seq} holds the entry written as row {r.written_as}: "
                 "rows were reordered") if r.written_as != r.seq else (
                 f"row {r.seq} is out of its place: rows were reordered")
    if not moved and prev is not None and prev.problem is not None:
        return  # in its place: explained by what happened to the row before
    if j is not None and j > i:  # it points at a row stored after it
        if moved:
            _flag(r, "reordered", reordered)
        # else in its place: the row that belongs before it is flagged where it lies
    elif j is not None:  # it points past the rows just before it, at an earlier row
        between = seen[j + 1 : i]
        before = 0 if j < 0 else seen[j].written_as
        if all(b.problem is None or b.problem.kind == "edited" for b in between) and (
            before is None or r.written_as == before + 1
        ):
            for b in between:
                _flag(b, "inserted",
                      f"row {b.seq} was inserted after the ledger was written")
        elif moved:
            _flag(r, "reordered", reordered)
    else:  # it points at a row no longer there
        expected = 1 if prev is None else (
            prev.written_as + 1 if prev.written_as is not None else r.seq - shift)
        if r.written_as > expected:
            first, last = expected, r.written_as - 1
            extra.append(LedgerProblem(
                r.seq, "deleted",
                f"{_rows_phrase(first, last)} deleted and the later rows renumbered "
                f"(row {r.seq} was written as row {r.written_as})"))
        elif moved:
            _flag(r, "reordered", reordered)
        elif i + 1 < len(seen) and seen[i + 1].prev != r.hash and seen[i + 1].prev not in index:
            # the next row does not know this row's hash either: this row was rewritten
            _flag(r, "edited", f"row {r.seq} was edited after it was written")
        elif prev is not None and prev.problem is None:
            _flag(prev, "edited",
                 f"row {prev.seq} was edited after it was written, or row {r.seq} was not "
                 f"chained to it (row {r.seq} records a different hash for row {prev.seq})")


def _require_ledger_table(registry: Registry) -> None:
    """Raise :class:`~trustavatar.errors.RegistryDamagedError` when the ledger's table
    is gone (every row deleted, with the table) or lacks columns (rebuilt by hand)."""
    columns = {str(r[1]) for r in registry.query("PRAGMA table_info(generation_ledger)")}
    if not columns:
        raise RegistryDamagedError(
            f"the registry {registry.path} has no ledger table: the ledger was deleted, every "
            "row with it (restore the registry from a backup)")
    missing = [c for c in _COLUMNS if c not in columns]
    if missing:
        raise RegistryDamagedError(
            f"the ledger table of {registry.path} has no column {', '.join(missing)}: it was "
            "rebuilt by hand (restore the registry from a backup)")


def verify_ledger(
    registry: Registry,
    *,
    expected_head: str | None = None,
    checkpoint: bytes | LedgerCheckpoint | None = None,
    trust: TrustStore | None = None,
) -> LedgerReport:
    """Walk the chain and say what, if anything, was changed.

    Steps: (1) check the checkpoint, if given, against ``trust`` (an untrusted or malformed
    checkpoint raises :class:`~trustavatar.errors.InputError`: it is never ignored);
    (2) read every row; (3) re-hash each row and follow the ``prev_hash`` links: 'edited',
    'deleted', 'reordered', 'inserted'; (4) against ``expected_head`` (a ``row_hash`` the
    auditor kept) and the checkpoint: 'truncated'.

    A broken chain is a result (``ok`` False), not an exception; a row whose number is not
    a whole number is an edited row. Only a registry that cannot be read raises
    :class:`~trustavatar.errors.RegistryError`: a
    :class:`~trustavatar.errors.RegistryDamagedError` when what it holds is gone or
    damaged (the ledger table dropped or rebuilt without its columns, the file emptied, cut
    short or overwritten), which ``ledger verify`` reports as a broken chain.
    """
    instance(registry, Registry, "registry", REGISTRY_HINT)
    # 1. the kept heads
    if expected_head is not None:
        expected_head = _sha256(
            expected_head.strip().lower() if isinstance(expected_head, str) else expected_head,
            "expected head")
    verified: LedgerCheckpoint | None = None
    if checkpoint is not None:
        if trust is None:
            raise InputError("a ledger checkpoint needs a trust store to check who signed it")
        verified = load_checkpoint(checkpoint, trust=trust)
    # 2. the rows
    _require_ledger_table(registry)
    rows = registry.query(_SELECT + " ORDER BY seq")
    seen = _placed([{c: r[c] for c in _COLUMNS} for r in rows])
    # 3. the chain
    problems = _walk(seen)
    head_seq = seen[-1].seq if seen else 0
    head_hash = seen[-1].hash if seen else GENESIS_HASH
    head_text = head_hash if isinstance(head_hash, str) else repr(head_hash)
    # 4. the tail
    hashes = {s.hash for s in seen} | {GENESIS_HASH}
    if expected_head is not None and expected_head not in hashes:
        problems.append(LedgerProblem(
            None, "truncated",
            f"the head hash kept ({expected_head[:16]}…) is not in the ledger: rows were "
            "removed from the end, or the ledger was rewritten"))
    if verified is not None and verified.seq > 0:
        at = next((s for s in seen if s.seq == verified.seq), None)
        when = format_time(verified.signed_at)
        if at is None:
            problems.append(LedgerProblem(
                verified.seq, "truncated",
                f"row {verified.seq} is missing: the ledger had {verified.seq} rows when the "
                f"checkpoint was signed ({when}); rows were removed"
                + (" from the end" if verified.seq > head_seq else "")))
        elif at.hash != verified.head_hash:
            problems.append(LedgerProblem(
                verified.seq, "truncated",
                f"row {verified.seq} differs from the checkpoint signed {when}: the ledger "
                f"was cut back and rewritten from row {verified.seq} or earlier"))
    return LedgerReport(
        ok=not problems,
        rows=len(seen),
        head_seq=head_seq,
        head_hash=head_text,
        problems=tuple(problems),
        expected_head=expected_head,
        checkpoint=verified,
    )
