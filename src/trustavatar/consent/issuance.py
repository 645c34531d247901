"""Issuing consent artifacts: embed the portrait's face, sign the document, record it."""

from __future__ import annotations

__all__ = ["DEFAULT_PURPOSE", "DEFAULT_VALIDITY", "issue"]

import datetime as dt
import os
import re
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final

from trustavatar import _envelope
from trustavatar._arguments import KEY_HINT, REGISTRY_HINT, instance, no_hidden_characters
from trustavatar._display import JOINERS, has_control_characters
from trustavatar._files import read_input, sha256_bytes
from trustavatar._time import format_time, later, to_second, utc_now
from trustavatar.consent.artifact import (
    ARTIFACT_TYPE,
    SCHEMA_VERSION,
    ConsentArtifact,
    Evidence,
    Issuer,
    Scope,
    Subject,
    parse_artifact,
)
from trustavatar.consent.store import record_consent
from trustavatar.errors import ConsentError, FaceError, InputError, KeystoreError
from trustavatar.face import embed_face
from trustavatar.face.image import MAX_IMAGE_BYTES, decode_image
from trustavatar.keys import SigningKey
from trustavatar.registry import Registry

DEFAULT_PURPOSE: Final = "avatar-generation"
DEFAULT_VALIDITY: Final = dt.timedelta(days=365)

_TOKEN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_LANGUAGE = re.compile(r"\*|[a-z]{2,3}(-[a-z0-9]{1,8}){0,4}")
_MAX_NAME = 200
_MAX_ITEMS = 64


#: True while a recorded consent is issued from a stored challenge's draft (see
#: :func:`_new_name`: the rules for names given from now on do not apply to it)
STORED_DRAFT: ContextVar[bool] = ContextVar("trustavatar_stored_draft", default=False)


def issue(
    key: SigningKey,
    *,
    portrait: str | os.PathLike[str] | bytes,
    display_name: str,
    evidence: Evidence,
    purposes: Sequence[str] = (DEFAULT_PURPOSE,),
    languages: Sequence[str] = ("*",),
    channels: Sequence[str] = ("*",),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_for: dt.timedelta = DEFAULT_VALIDITY,
    operator: str | None = None,
    registry: Registry | None = None,
    at: dt.datetime | None = None,
) -> ConsentArtifact:
    """Issue a consent artifact signed by ``key`` and, with ``registry``, record it there.

    ``portrait``: the reference portrait (path or encoded bytes) showing exactly one face;
    its SHA-256 and its quantised face embedding (biometric data) go into the artifact.
    ``evidence``: e.g. ``Evidence.operator_attestation("release.pdf")``. Validity runs from
    ``not_before`` (default: ``at``) to ``not_after`` (default: ``not_before + valid_for``).
    ``at``: the issue time (default: now). Languages are BCP 47 tags (``"*"``: any);
    purposes and channels are lower-case tokens (``"*"`` channel: any).

    Raises :class:`~trustavatar.errors.InputError` (bad arguments, unreadable files),
    :class:`~trustavatar.errors.FaceError` (no face or several faces in the portrait).
    """
    instance(key, SigningKey, "key", KEY_HINT)
    if registry is not None:
        instance(registry, Registry, "registry", REGISTRY_HINT)
    issued_at = utc_now() if at is None else to_second(at, "at")
    start = issued_at if not_before is None else to_second(not_before, "not_before")
    if not isinstance(valid_for, dt.timedelta):
        raise InputError(f"valid_for must be a datetime.timedelta, got {valid_for!r:.40}")
    end = (later(start, valid_for, "not_after") if not_after is None
           else to_second(not_after, "not_after"))
    if end <= start:
        raise InputError(
            f"the consent must end after it begins (not_before {format_time(start)}, "
            f"not_after {format_time(end)})"
        )
    cert = key.certificate
    if not cert.not_valid_before_utc <= issued_at <= cert.not_valid_after_utc:
        raise KeystoreError(
            f"the signing certificate is not valid at {format_time(issued_at)} (valid "
            f"{format_time(cert.not_valid_before_utc)} to {format_time(cert.not_valid_after_utc)})"
        )
    organisation = _envelope.signer_organisation(cert)
    if has_control_characters(organisation):  # a certificate imported before keys refused it
        raise KeystoreError("the signing certificate's organisation (O) holds control "
                            "characters: it cannot name the issuer of a consent (import a "
                            "certificate whose O has none)")
    if not STORED_DRAFT.get():  # a stored challenge's names were accepted when it was made
        _new_name(display_name, "display name")
        _new_name(operator, "operator")
    issuer = Issuer(organisation, None if operator is None else _name(operator, "operator"))
    scope = Scope(
        purposes=_tokens(purposes, "purpose", _TOKEN),
        languages=_tokens(languages, "language", _LANGUAGE, lower=True),
        channels=_tokens(channels, "channel", re.compile(r"\*|" + _TOKEN.pattern)),
    )
    portrait_bytes, portrait_name = _read_portrait(portrait)
    try:
        embedding = embed_face(decode_image(portrait_bytes, name=portrait_name))
    except FaceError as e:
        if e.message.startswith(portrait_name):
            raise
        raise FaceError(f"{portrait_name}: {e.message}") from e
    subject = Subject(_name(display_name, "display name"), sha256_bytes(portrait_bytes),
                      embedding.quantise())
    payload: dict[str, Any] = {
        "type": ARTIFACT_TYPE,
        "version": SCHEMA_VERSION,
        "consent_id": str(uuid.uuid4()),
        "issued_at": format_time(issued_at),
        "issuer": issuer.to_json(),
        "subject": subject.to_json(),
        "scope": scope.to_json(),
        "validity": {"not_before": format_time(start), "not_after": format_time(end)},
        "evidence": evidence.to_json(),
    }
    raw = _envelope.seal(payload, key)
    # What we sign must read back: a failure here is a bug, not the caller's.
    try:
        artifact = parse_artifact(raw)
        artifact.envelope.verify_signature()
    except (ConsentError, _envelope.EnvelopeError) as e:
        raise RuntimeError(f"issued an artifact that does not read back: {e}") from e
    if registry is not None:
        record_consent(registry, artifact, at=issued_at)
    return artifact


def _read_portrait(portrait: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    if isinstance(portrait, bytes | bytearray | memoryview):
        return bytes(portrait), "the portrait"
    if not isinstance(portrait, str | os.PathLike):
        raise InputError(f"the portrait must be a path or the image file's bytes, got "
                         f"{type(portrait).__name__}")
    data = read_input(portrait, max_bytes=MAX_IMAGE_BYTES, what="portrait")
    return data, f"portrait {Path(portrait).name}"


def _name(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"the {what} must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise InputError(f"the {what} must not be empty")
    if len(value) > _MAX_NAME:
        raise InputError(f"the {what} is longer than {_MAX_NAME} characters")
    if has_control_characters(value):  # C0, DEL and C1 (U+0085, U+009B): the one rule
        raise InputError(f"the {what} must not contain control characters")
    return value


def _new_name(value: object, what: str) -> None:
    """The rule for names given from now on (a consent issued, a challenge made), not for
    those read back (a stored challenge keeps working): no invisible format characters,
    which make a look-alike of another name or turn the text after them around. The
    joiners stay: names in Persian and Indic scripts are written with them."""
    if isinstance(value, str):
        no_hidden_characters(value, f"the {what}", JOINERS)


def _tokens(
    values: Sequence[str], what: str, pattern: re.Pattern[str], *, lower: bool = False
) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InputError(f"{what}s must be a sequence of strings, not one string")
    if not isinstance(values, Sequence):
        raise InputError(f"{what}s must be a sequence of strings, got {type(values).__name__}")
    result: list[str] = []
    for value in values:
        if isinstance(value, str) and lower:
            value = value.lower()
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InputError(f"invalid {what} {value!r} (expected {pattern.pattern})")
        if value not in result:
            result.append(value)
    if not result:
        raise InputError(f"at least one {what} is required")
    if len(result) > _MAX_ITEMS:
        raise InputError(f"at most {_MAX_ITEMS} {what}s")
    return tuple(result)
