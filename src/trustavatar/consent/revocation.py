"""Signed revocation lists: a registry's revocations, checkable offline by third parties.

A revocation list is a signed envelope (:mod:`trustavatar._envelope`) whose payload is
of type ``trustavatar.revocation-list`` (schema ``revocation-list.v1.schema.json``). It
names its issuer organisation and lists ``consent_id`` / ``revoked_at`` pairs; reasons
stay in the issuer's registry.

A list counts against an artifact only when both come from the same issuer: the same
organisation, signed under the same trust anchor. A list that does not parse, verify or
chain to a trusted root is an error, never silently skipped.
"""

from __future__ import annotations

__all__ = [
    "MAX_REVOCATION_LIST_BYTES",
    "REVOCATION_LIST_TYPE",
    "RevocationList",
    "RevocationListSource",
    "export_revocations",
    "load_revocation_list",
]

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeAlias

from trustavatar import _envelope
from trustavatar._arguments import KEY_HINT, REGISTRY_HINT, instance
from trustavatar._display import has_control_characters
from trustavatar._envelope import signer_organisation
from trustavatar._files import read_start, refuse_document_as_path
from trustavatar._time import format_time, parse_time, to_second, utc_now
from trustavatar.consent.schema import REVOCATION_LIST_SCHEMA, schema_problem
from trustavatar.consent.store import list_revocations
from trustavatar.errors import ConsentRevocationListError, UntrustedChainError
from trustavatar.keys import SigningKey, TrustStore
from trustavatar.registry import Registry

#: Largest revocation list accepted, in bytes (about 200 000 entries).
MAX_REVOCATION_LIST_BYTES: Final = 16 << 20
REVOCATION_LIST_TYPE: Final = "trustavatar.revocation-list"


@dataclass(frozen=True)
class RevocationList(_envelope.SignedDocument):
    """A revocation list. From :func:`load_revocation_list` it is verified and
    ``anchor_sha256`` is set; from :func:`export_revocations` it is freshly signed."""

    issuer_organisation: str
    issued_at: dt.datetime
    revoked: Mapping[str, dt.datetime]  #: consent_id → revoked_at
    envelope: _envelope.Envelope
    anchor_sha256: str | None = None

    def revoked_at(self, consent_id: str) -> dt.datetime | None:
        return self.revoked.get(consent_id)


#: What :func:`load_revocation_list` accepts: the list's bytes, a path, or a list (re-verified).
RevocationListSource: TypeAlias = bytes | str | os.PathLike[str] | RevocationList


def export_revocations(
    registry: Registry, key: SigningKey, *, at: dt.datetime | None = None
) -> RevocationList:
    """Sign every revocation in ``registry`` into a list issued at ``at`` (default: now).

    Write :attr:`RevocationList.raw` to a file for third parties.
    """
    instance(registry, Registry, "registry", REGISTRY_HINT)
    instance(key, SigningKey, "key", KEY_HINT)
    issued_at = utc_now() if at is None else to_second(at, "at")
    revocations = list_revocations(registry)
    payload = {
        "type": REVOCATION_LIST_TYPE,
        "version": 1,
        "issuer": {"organisation": signer_organisation(key.certificate)},
        "issued_at": format_time(issued_at),
        "revocations": [
            {"consent_id": r.consent_id, "revoked_at": format_time(r.revoked_at)}
            for r in revocations
        ],
    }
    return _parse(_envelope.seal(payload, key), source="the exported revocation list")


def load_revocation_list(source: RevocationListSource, *, trust: TrustStore) -> RevocationList:
    """Parse a revocation list, verify its signature and chain it to ``trust`` at its
    ``issued_at``. Raises :class:`~trustavatar.errors.ConsentRevocationListError`
    (a file that cannot be read raises :class:`~trustavatar.errors.InputError`)."""
    if isinstance(source, RevocationList):
        data, name = source.raw, "revocation list"
    elif isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), "revocation list"
    else:
        refuse_document_as_path(source, "revocation list")
        # _parse says "too large" (exit 3, as for any file that is not a revocation list,
        # and as for artifacts)
        data = read_start(source, max_bytes=MAX_REVOCATION_LIST_BYTES, what="revocation list")
        name = f"revocation list {Path(source).name}"
    rl = _parse(data, source=name)
    try:
        # high-S allowed: a list is not identified by its bytes, and lists signed before
        # the low-S rule (about half) must keep verifying
        anchor = rl.envelope.check_signer(trust=trust, at=rl.issued_at,
                                          organisation=rl.issuer_organisation,
                                          allow_high_s=True)
    except _envelope.EnvelopeSignatureError as e:
        raise ConsentRevocationListError(f"{name}: {e}") from e
    except UntrustedChainError as e:
        raise ConsentRevocationListError(f"{name} is not from a trusted issuer: {e.message}") from e
    except _envelope.EnvelopeIssuerError as e:
        raise ConsentRevocationListError(f"{name} {e}") from e
    return RevocationList(
        rl.issuer_organisation, rl.issued_at, rl.revoked, rl.envelope, anchor.fingerprint
    )


def _parse(data: bytes, *, source: str) -> RevocationList:
    try:
        document = _envelope.load_canonical_json(data, max_bytes=MAX_REVOCATION_LIST_BYTES)
        problem = schema_problem(REVOCATION_LIST_SCHEMA, document)
        if problem is not None:
            raise _envelope.EnvelopeFormatError(f"does not match the v1 schema {problem}")
        envelope = _envelope.open_envelope(document, raw=data)
        payload = envelope.payload
        issued_at = parse_time(payload["issued_at"])
        revoked: dict[str, dt.datetime] = {}
        for entry in payload["revocations"]:  # a repeated id counts from its earliest time
            when = parse_time(entry["revoked_at"])
            revoked[entry["consent_id"]] = min(when, revoked.get(entry["consent_id"], when))
    except _envelope.EnvelopeFormatError as e:
        raise ConsentRevocationListError(f"malformed {source}: {e}") from e
    except ValueError as e:  # an impossible date that matched the pattern
        raise ConsentRevocationListError(f"malformed {source}: invalid time") from e
    organisation = payload["issuer"]["organisation"]
    if has_control_characters(organisation):  # C0, DEL and C1: the one rule
        raise ConsentRevocationListError(f"malformed {source}: control characters in issuer")
    return RevocationList(organisation, issued_at, MappingProxyType(revoked), envelope)
