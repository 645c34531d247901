"""Certificates and envelopes made by hand for the trust and consent security tests.

Built with ``cryptography`` only (and ``SigningKey`` to sign through the project's own
``seal``), so that each test shapes exactly the certificate or the signature it needs.
:func:`hand_seal` signs like a third-party tool would: low-S, but without the validity cap
that :func:`trustavatar._envelope.seal` applies.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trustavatar.keys._x509 import DOCUMENT_SIGNING

#: The order of P-256's group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIGNER_EKUS = (ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING)
_NO = dict(content_commitment=False, key_encipherment=False, data_encipherment=False,
           key_agreement=False, encipher_only=False, decipher_only=False)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(organisations: str | Sequence[str] | None, cn: str) -> x509.Name:
    orgs = [] if organisations is None else (
        [organisations] if isinstance(organisations, str) else list(organisations))
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    org: str | Sequence[str] | None = "Test Org",
    cn: str = "test signer",
    ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool = True,
    key_usage: bool = True,
    digital_signature: bool | None = None,
    key_cert_sign: bool | None = None,
    ekus: Sequence[x509.ObjectIdentifier] | None = SIGNER_EKUS,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    """A certificate for ``key``: self-signed without ``issuer``, else issued by it. By
    default a signing leaf with our profile (a CA: ``ca=True``, no EKU by default then)."""
    now = dt.datetime.now(dt.UTC)
    subject = name(org, cn)
    signer_cert, signer_key = issuer if issuer is not None else (None, key)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(signer_cert.subject if signer_cert is not None else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before or now - dt.timedelta(days=1))
         .not_valid_after(not_after or now + dt.timedelta(days=30)))
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                            critical=True)
    if key_usage:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=(not ca) if digital_signature is None else digital_signature,
            key_cert_sign=ca if key_cert_sign is None else key_cert_sign, crl_sign=ca, **_NO),
            critical=True)
    if ekus and not ca:
        b = b.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(signer_key, hashes.SHA256())


def root(key: ec.EllipticCurvePrivateKey, org: str = "Test Org", *,
         path_length: int | None = 0, **kw: Any) -> x509.Certificate:
    return certificate(key, org=org, cn=f"{org} root CA", ca=True, path_length=path_length,
                       ekus=None, **kw)


def der64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ecdsa_raw(key: ec.EllipticCurvePrivateKey, message: bytes, *, high_s: bool = False
              ) -> bytes:
    """A P-256 ``r || s`` signature, low-S (or high-S when asked)."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    if (s > P256_N // 2) != high_s:
        s = P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def hand_seal(payload: Mapping[str, Any], key: ec.EllipticCurvePrivateKey,
              chain: Sequence[x509.Certificate], *, high_s: bool = False) -> bytes:
    """An envelope signed outside trustavatar: any payload, any x5c, no validity cap."""
    return rfc8785.dumps({
        "payload": dict(payload),
        "signature": {"alg": "ES256", "x5c": [der64(c) for c in chain],
                      "value": b64url(ecdsa_raw(key, rfc8785.dumps(dict(payload)),
                                                high_s=high_s))},
    })


def s_of(envelope: Mapping[str, Any]) -> int:
    """The ``s`` of an ES256 envelope's signature."""
    return int.from_bytes(from_b64url(envelope["signature"]["value"])[32:], "big")
