"""Signed JSON envelopes: one format for consent artifacts, revocation lists and reports.

An envelope is the RFC 8785 (JCS) serialisation of::

    {
      "payload": {...},                      # the signed document, with a "type" member
      "signature": {
        "alg": "ES256",                      # ES256 | ES384 | ES512 | PS256 | Ed25519
        "x5c": ["<base64 DER>", ...],        # signing certificate first, then intermediates
        "value": "<base64url, no padding>"   # signature over JCS(payload); EC as raw r || s
      }
    }

Reading is strict: the bytes must be UTF-8 JSON without duplicate keys and must equal
their own JCS re-serialisation, so each document has exactly one byte form.

This module is private. It raises its own small exception family
(:class:`EnvelopeFormatError`, :class:`EnvelopeSignatureError`); each caller wraps them
``from e`` into its part's public errors (for consent: ``ConsentMalformedError`` and
``ConsentSignatureError``). It does not decide trust: the caller checks the chain with
:func:`trustavatar.keys.validate_chain` and the payload against its own schema.
"""

from __future__ import annotations

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Envelope",
    "EnvelopeError",
    "EnvelopeFormatError",
    "EnvelopeIssuerError",
    "EnvelopeSignatureError",
    "SignedDocument",
    "canonical_json",
    "load_canonical_json",
    "open_envelope",
    "seal",
    "signer_organisation",
]

import base64
import binascii
import datetime as dt
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from trustavatar._files import sha256_bytes
from trustavatar.keys import Anchor, SigningKey, TrustStore, validate_chain
from trustavatar.keys._x509 import common_name, fingerprint

#: Every algorithm :attr:`trustavatar.keys.SigningKey.algorithm` can return.
SUPPORTED_ALGORITHMS: Final = ("ES256", "ES384", "ES512", "PS256", "Ed25519")

_EC: Final = {
    "ES256": ("secp256r1", hashes.SHA256, 32),
    "ES384": ("secp384r1", hashes.SHA384, 48),
    "ES512": ("secp521r1", hashes.SHA512, 66),
}
_MAX_CHAIN: Final = 4


class EnvelopeError(Exception):
    """Root of the private envelope errors (always wrapped by the caller)."""


class EnvelopeFormatError(EnvelopeError):
    """The bytes are not a canonical, well-formed envelope."""


class EnvelopeSignatureError(EnvelopeError):
    """The signature does not verify with the embedded signing certificate."""


class EnvelopeIssuerError(EnvelopeError):
    """The document names one organisation as its issuer but another one signed it."""

    def __init__(self, named: str, signer: str) -> None:
        super().__init__(f"names issuer {named!r} but is signed by {signer!r}")
        self.named, self.signer = named, signer


# --- canonical JSON --------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of ``value``; raises :class:`EnvelopeFormatError` if impossible."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, RecursionError, TypeError) as e:
        raise EnvelopeFormatError(f"cannot be canonicalised: {e}") from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EnvelopeFormatError(f"duplicate key {_short(key)!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise EnvelopeFormatError(f"{name} is not a JSON number")


def load_canonical_json(data: bytes, *, max_bytes: int) -> Any:
    """Parse ``data`` as canonical JSON: at most ``max_bytes``, UTF-8, no duplicate keys,
    byte-identical to its RFC 8785 re-serialisation."""
    if isinstance(data, str):
        data = data.encode("utf-8")  # the JSON text itself, as read from a file
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeFormatError(f"expected the document's bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise EnvelopeFormatError("empty input")
    if len(data) > max_bytes:
        raise EnvelopeFormatError(f"larger than {max_bytes} bytes ({len(data)} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EnvelopeFormatError(f"not UTF-8 (invalid byte at offset {e.start})") from e
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except json.JSONDecodeError as e:
        where = "" if e.msg.endswith(" at") else " at"  # "Unterminated string starting at"
        raise EnvelopeFormatError(f"not valid JSON: {e.msg}{where} offset {e.pos}") from e
    except RecursionError as e:
        raise EnvelopeFormatError("not valid JSON: nested too deeply") from e
    except ValueError as e:  # e.g. an integer of more digits than Python converts (4300)
        raise EnvelopeFormatError(f"not valid JSON here: {str(e).split(':')[0]}") from e
    if canonical_json(value) != data:
        raise EnvelopeFormatError(
            "not canonical JSON (RFC 8785 JCS): no whitespace, sorted keys, minimal escapes"
        )
    return value


# --- base64 ---------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _from_b64url(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise EnvelopeFormatError(f"{what} is not base64url") from e
    if _b64url(raw) != text:
        raise EnvelopeFormatError(f"{what} is not canonical unpadded base64url")
    return raw


def _from_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise EnvelopeFormatError(f"{what} is not base64") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise EnvelopeFormatError(f"{what} is not canonical padded base64")
    return raw


# --- the envelope ---------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope. Nothing about it is trusted until :meth:`verify_signature` and a
    chain check by the caller have passed."""

    payload: Mapping[str, Any]
    alg: str
    chain: tuple[x509.Certificate, ...]  #: signing certificate first
    signature: bytes
    raw: bytes  #: the canonical bytes the envelope was read from (or sealed into)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`raw`."""
        return sha256_bytes(self.raw)

    @property
    def signer_sha256(self) -> str:
        """Hex SHA-256 of the signing certificate's DER."""
        return fingerprint(self.chain[0])

    def verify_signature(self) -> None:
        """Check the signature over JCS(payload) with the signing certificate's key.

        Raises :class:`EnvelopeSignatureError`; the message says little on purpose.
        """
        if self.alg not in SUPPORTED_ALGORITHMS:
            raise EnvelopeSignatureError(f"unsupported signature algorithm {_short(self.alg)!r}")
        message = canonical_json(dict(self.payload))
        try:
            _verify(self.alg, self.chain[0], message, self.signature)
        except (InvalidSignature, ValueError, TypeError) as e:
            raise EnvelopeSignatureError("signature does not verify") from e

    def check_signer(self, *, trust: TrustStore, at: dt.datetime, organisation: str) -> Anchor:
        """What every signed document's reader checks, in order: (1) the signature verifies
        (:class:`EnvelopeSignatureError`); (2) the signer chains to ``trust`` at time ``at``
        (:class:`~trustavatar.errors.UntrustedChainError`); (3) the ``organisation`` the
        document names is the signer's (:class:`EnvelopeIssuerError`). Returns the anchor."""
        self.verify_signature()
        anchor = validate_chain(self.chain, trust=trust, at=at)
        signer = signer_organisation(self.chain[0])
        if signer != organisation:
            raise EnvelopeIssuerError(organisation, signer)
        return anchor


class SignedDocument:
    """Shared by documents carried in an :class:`Envelope` (consent artifacts, revocation
    lists, ledger checkpoints): the file's bytes and their hash."""

    envelope: Envelope

    @property
    def raw(self) -> bytes:
        """The file's bytes (canonical JSON)."""
        return self.envelope.raw

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`raw`."""
        return self.envelope.sha256


def _verify(alg: str, cert: x509.Certificate, message: bytes, signature: bytes) -> None:
    key = cert.public_key()
    if alg in _EC:
        curve, hash_cls, size = _EC[alg]
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
            raise InvalidSignature("key does not match the algorithm")
        if len(signature) != 2 * size:
            raise InvalidSignature("wrong signature length")
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hash_cls()))
    elif alg == "PS256":
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature("key does not match the algorithm")
        key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    elif alg == "Ed25519":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidSignature("key does not match the algorithm")
        key.verify(signature, message)
    else:  # pragma: no cover - guarded by SUPPORTED_ALGORITHMS
        raise InvalidSignature(alg)


def seal(payload: Mapping[str, Any], key: SigningKey) -> bytes:
    """Sign JCS(``payload``) with ``key`` and return the canonical envelope bytes."""
    message = canonical_json(dict(payload))
    envelope = {
        "payload": dict(payload),
        "signature": {
            "alg": key.algorithm,
            "x5c": [
                base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in key.chain
            ],
            "value": _b64url(key.sign(message)),
        },
    }
    return canonical_json(envelope)


def open_envelope(document: Any, *, raw: bytes) -> Envelope:
    """Decode a parsed envelope ``document`` (from :func:`load_canonical_json`).

    Checks the shape, decodes the certificates and the signature value; verifies nothing.
    """
    if not isinstance(document, dict) or set(document) != {"payload", "signature"}:
        raise EnvelopeFormatError("not an envelope (expected exactly 'payload' and 'signature')")
    payload, sig = document["payload"], document["signature"]
    if not isinstance(payload, dict):
        raise EnvelopeFormatError("'payload' is not an object")
    if not isinstance(sig, dict) or set(sig) != {"alg", "x5c", "value"}:
        raise EnvelopeFormatError("'signature' must have exactly 'alg', 'x5c' and 'value'")
    alg, x5c, value = sig["alg"], sig["x5c"], sig["value"]
    if not isinstance(alg, str) or not isinstance(value, str):
        raise EnvelopeFormatError("'signature.alg' and 'signature.value' must be strings")
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= _MAX_CHAIN:
        raise EnvelopeFormatError(f"'signature.x5c' must list 1 to {_MAX_CHAIN} certificates")
    chain = []
    for i, item in enumerate(x5c):
        if not isinstance(item, str):
            raise EnvelopeFormatError(f"'signature.x5c[{i}]' is not a string")
        what = f"'signature.x5c[{i}]'"
        chain.append(_certificate(_from_b64(item, what), what))
    return Envelope(
        payload=payload,
        alg=alg,
        chain=tuple(chain),
        signature=_from_b64url(value, "'signature.value'"),
        raw=raw,
    )


def _certificate(der: bytes, what: str) -> x509.Certificate:
    """Load a DER certificate and parse now what cryptography parses lazily, so that a
    damaged certificate fails here, as a format error, and not later in a trust check."""
    try:
        with warnings.catch_warnings():
            # e.g. a negative serial number: tolerated by cryptography today, not by us
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(der)
            cert.public_key()
            _ = cert.extensions, cert.signature_hash_algorithm, cert.not_valid_after_utc
    except Exception as e:  # cryptography raises many unrelated types for bad input
        raise EnvelopeFormatError(f"{what} is not a usable DER certificate") from e
    return cert


def signer_organisation(cert: x509.Certificate) -> str:
    """The organisation (O) a certificate names, else its common name."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(attrs[0].value) if attrs else common_name(cert)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
