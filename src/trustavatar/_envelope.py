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
their own JCS re-serialisation, so each document has exactly one byte form. For the same
reason ECDSA signatures must be low-S (``s <= n/2``; :func:`seal` makes them so: ``(r, n-s)``
verifies as well as ``(r, s)``, and would be a second form), and ``x5c`` must list a
certification path exactly: no certificate twice, each one the issuer of the one before,
nothing that is not part of the path (checked with the chain).

A signed document is never valid beyond its signer's certificate: the envelope carries no
trusted timestamp, so the time a document says it was signed is the signer's word. When a
payload has a ``validity.not_after``, :func:`seal` caps it at the end of the signing
chain's validity (see :func:`signing_chain_end`), and readers treat the document as
valid only while its chain is.

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
    "signing_chain_end",
]

import base64
import binascii
import datetime as dt
import json
import warnings
from collections.abc import Mapping, Sequence
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

from trustavatar._files import sha256_bytes
from trustavatar._time import format_time, parse_time
from trustavatar.errors import KeystoreError, UntrustedChainError
from trustavatar.keys import Anchor, SigningKey, TrustStore, validate_chain
from trustavatar.keys._x509 import (
    MAX_CHAIN,
    fingerprint,
    organisations,
    same_organisation,
    single_organisation,
)

#: Every algorithm :attr:`trustavatar.keys.SigningKey.algorithm` can return.
SUPPORTED_ALGORITHMS: Final = ("ES256", "ES384", "ES512", "PS256", "Ed25519")

_EC: Final = {
    "ES256": ("secp256r1", hashes.SHA256, 32),
    "ES384": ("secp384r1", hashes.SHA384, 48),
    "ES512": ("secp521r1", hashes.SHA512, 66),
}
#: The order n of each ECDSA curve's group: a signature (r, s) is canonical when s <= n/2.
_EC_ORDER: Final = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                 "581A0DB248B0A77AECEC196ACCC52973", 16),
    "ES512": int("01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
                 "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
}


class EnvelopeError(Exception):
    """Root of the private envelope errors (always wrapped by the caller)."""


class EnvelopeFormatError(EnvelopeError):
    """The bytes are not a canonical, well-formed envelope."""


class EnvelopeSignatureError(EnvelopeError):
    """The signature does not verify with the embedded signing certificate."""


class EnvelopeIssuerError(EnvelopeError):
    """The document names one organisation as its issuer but another one signed it (or a
    certificate that names no single organisation)."""

    def __init__(self, named: str, signer: str | None) -> None:
        if signer is None:
            super().__init__(f"names issuer {named!r} but its signing certificate does not "
                             "name exactly one organisation (O)")
        else:
            super().__init__(f"names issuer {named!r} but is signed by {signer!r}")
        self.named, self.signer = named, signer


class _HighS(InvalidSignature):
    """An ECDSA signature with s > n/2: the second byte form of a valid signature."""


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
        raise EnvelopeFormatError(f"larger than {max_bytes} bytes")
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

    def verify_signature(self, *, allow_high_s: bool = False) -> None:
        """Check the signature over JCS(payload) with the signing certificate's key.

        An ECDSA signature must be low-S unless ``allow_high_s``: for consent artifacts,
        which are identified by their bytes, only bytes known to be the ones issued (a
        registry recorded them) by a signer older than the low-S rule; documents identified
        by their content (revocation lists, checkpoints, audit signatures) allow it.
        Raises :class:`EnvelopeSignatureError`; the message says little on purpose.
        """
        if self.alg not in SUPPORTED_ALGORITHMS:
            raise EnvelopeSignatureError(f"unsupported signature algorithm {_short(self.alg)!r}")
        message = canonical_json(dict(self.payload))
        try:
            _verify(self.alg, self.chain[0], message, self.signature)
        except _HighS as e:
            if allow_high_s:
                return
            raise EnvelopeSignatureError(
                "signature does not verify: the ECDSA signature is not in its canonical "
                "low-S form (s > n/2)") from e
        except (InvalidSignature, ValueError, TypeError) as e:
            raise EnvelopeSignatureError("signature does not verify") from e

    def check_signer(self, *, trust: TrustStore, at: dt.datetime, organisation: str,
                     allow_high_s: bool = False) -> Anchor:
        """What every signed document's reader checks, in order: (1) the signature verifies
        (:class:`EnvelopeSignatureError`); (2) the chain is a certification path from the
        signer to one of ``trust``'s anchors at time ``at``
        (:class:`~trustavatar.errors.UntrustedChainError`); (3) the ``organisation`` the
        document names is the one the signing certificate names in its O attribute
        (:class:`EnvelopeIssuerError`); (4) the anchor speaks for that organisation: its
        root names it (:class:`~trustavatar.errors.UntrustedChainError`: a trusted
        partner's root cannot sign in another organisation's name). Returns the anchor.
        ``allow_high_s``: see :meth:`verify_signature`."""
        self.verify_signature(allow_high_s=allow_high_s)
        anchor = validate_chain(self.chain, trust=trust, at=at)
        signer = single_organisation(self.chain[0])
        if signer is None or signer != organisation:
            raise EnvelopeIssuerError(organisation, signer)
        if not any(same_organisation(signer, o) for o in anchor.organisations):
            spoken = ", ".join(repr(o) for o in anchor.organisations) or "no organisation"
            raise UntrustedChainError(
                f"signed as {signer!r} under the trusted root {anchor.label!r} (SHA-256 "
                f"{anchor.fingerprint[:16]}…), which speaks only for {spoken} (a "
                "certification authority's root: accept the organisations it certifies with "
                "'keys trust add ROOT --organisation NAME')")
        return anchor

    def chain_end(self, anchor: Anchor) -> dt.datetime:
        """When this envelope's certification path to ``anchor`` stops being valid: the
        earliest ``notAfter`` of its certificates and the anchor's (see
        :func:`signing_chain_end`). ``x5c`` holds only the path (:meth:`check_signer`)."""
        return signing_chain_end((*self.chain, anchor.certificate))


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
        if s > _EC_ORDER[alg] // 2:  # checked after: a forgery still says only "does not verify"
            raise _HighS("high S")
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
    """Sign JCS(``payload``) with ``key`` and return the canonical envelope bytes.

    ECDSA signatures are normalised to low-S. A payload with a ``validity.not_after`` later
    than the signing chain's end (:func:`signing_chain_end`) is signed with ``not_after``
    set to that end: readers would not honour it longer (it carries no trusted timestamp).
    A ``validity.not_before`` at or after that end raises
    :class:`~trustavatar.errors.KeystoreError` (the certificate must be renewed first)."""
    body = _within_signer_validity(dict(payload), key.chain)
    message = canonical_json(body)
    alg = key.algorithm
    envelope = {
        "payload": body,
        "signature": {
            "alg": alg,
            "x5c": [
                base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in key.chain
            ],
            "value": _b64url(_low_s(alg, key.sign(message))),
        },
    }
    return canonical_json(envelope)


def signing_chain_end(chain: Sequence[x509.Certificate]) -> dt.datetime:
    """The earliest ``notAfter`` in ``chain`` (UTC, to the second): after it, no document
    signed with the chain is valid, whatever time it says it was signed at."""
    if not chain:
        raise ValueError("no certificate chain")
    return min(c.not_valid_after_utc for c in chain).replace(microsecond=0)


def _within_signer_validity(payload: dict[str, Any],
                            chain: Sequence[x509.Certificate]) -> dict[str, Any]:
    validity = payload.get("validity")
    if not isinstance(validity, Mapping) or not isinstance(validity.get("not_after"), str):
        return payload
    end = signing_chain_end(chain)
    try:
        not_after = parse_time(validity["not_after"])
    except ValueError:
        return payload  # the document's own checks refuse it
    if not_after <= end:
        return payload
    start = validity.get("not_before")
    begins = _parsed(start) if isinstance(start, str) else None
    if begins is not None and begins >= end:
        raise KeystoreError(
            f"the signing certificate is valid only until {format_time(end)}, before the "
            f"document's validity would begin ({start}): renew the signing identity first "
            "(keys init --force, or keys import)")
    return {**payload, "validity": {**validity, "not_after": format_time(end)}}


def _parsed(text: str) -> dt.datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


def _low_s(alg: str, signature: bytes) -> bytes:
    """An ECDSA ``r || s`` signature with ``s`` replaced by ``n - s`` when over ``n/2``."""
    if alg not in _EC:
        return signature
    size = _EC[alg][2]
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    n = _EC_ORDER[alg]
    if s > n // 2:
        s = n - s
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


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
    if not isinstance(x5c, list) or not 1 <= len(x5c) <= MAX_CHAIN:
        raise EnvelopeFormatError(f"'signature.x5c' must list 1 to {MAX_CHAIN} certificates")
    if len(set(map(str, x5c))) != len(x5c):
        raise EnvelopeFormatError("'signature.x5c' lists the same certificate twice")
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
    """The organisation (O) a signing certificate names: the issuer a signed document
    names. Raises :class:`~trustavatar.errors.KeystoreError` when the certificate names
    none or several: readers take the organisation from O only (never from the common
    name), so such a certificate cannot sign trustavatar documents."""
    organisation = single_organisation(cert)
    if organisation is None:
        found = organisations(cert)
        raise KeystoreError(
            "the signing certificate names "
            + ("no organisation (O)" if not found else f"{len(found)} organisations (O)")
            + ": trustavatar documents name their issuer by the signing certificate's one "
            "O attribute (import a certificate whose subject has one)")
    return organisation


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
