"""Certificate profiles: a local root CA and a C2PA-compatible signing leaf.

The leaf follows what c2pa-rs demands of a signer: X.509 v3, not a CA, KeyUsage
digitalSignature (critical), ExtendedKeyUsage emailProtection + documentSigning,
AuthorityKeyIdentifier and SubjectKeyIdentifier.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trustavatar._arguments import no_hidden_characters
from trustavatar._display import has_control_characters
from trustavatar.errors import InputError

#: id-kp-documentSigning (RFC 9336)
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
#: c2pa-kp-claimSigning (C2PA 2.x) and Microsoft's C2PA signing purpose: c2pa-rs accepts both
C2PA_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
MS_C2PA_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
#: What our signing leaves carry.
SIGNER_EKUS = (EMAIL_PROTECTION, DOCUMENT_SIGNING)
#: The extended key usages that make a certificate a signer of trustavatar documents
#: (consent artifacts, revocation lists, checkpoints, audit signatures): one of them must be
#: present. They are the content-signing purposes c2pa-rs accepts; its timeStamping and
#: OCSPSigning are for time-stamp and OCSP responders, not for signing documents, and
#: serverAuth / clientAuth (TLS) are not signing purposes at all.
ACCEPTED_SIGNER_EKUS = (EMAIL_PROTECTION, DOCUMENT_SIGNING, C2PA_SIGNING, MS_C2PA_SIGNING)

#: the most certificates a signed document carries (its x5c: the signing certificate and
#: its issuers); readers refuse more
MAX_CHAIN = 4


#: Longest organisation or common name X.509 allows (RFC 5280 upper bounds).
MAX_NAME_CHARS = 64


def organisation_name(name: object) -> str:
    """``name`` as an organisation name (O) for a certificate or a trust anchor, stripped:
    :class:`InputError` unless it is 1 to :data:`MAX_NAME_CHARS` characters with no control
    characters or invisible format characters such as a zero-width space or a bidirectional
    control (it ends up in every document signed under it)."""
    if not isinstance(name, str):
        raise InputError(f"the organisation name must be a string, got {type(name).__name__}")
    name = name.strip()
    if not name:
        raise InputError("the organisation name must not be empty")
    if has_control_characters(name):
        raise InputError("the organisation name must not contain control characters")
    no_hidden_characters(name, "the organisation name")
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"the organisation name is at most {MAX_NAME_CHARS} characters "
                         f"(an X.509 limit); this one has {len(name)}")
    return name


def same_organisation(a: str, b: str) -> bool:
    """Whether two organisation names name the same organisation: compared without spaces
    around them and composed (NFC), as a name typed for ``keys trust add --organisation``
    (stripped, composed by the keyboard) must match a certificate's O written otherwise
    ("Acme Corp ", a decomposed "Cafe\u0301"). Names are stored as they are."""
    return unicodedata.normalize("NFC", a.strip(" ")) == unicodedata.normalize("NFC",
                                                                                b.strip(" "))


def _name(organisation: str, common_name: str) -> x509.Name:
    """Subject name; the common name (organisation plus a role) is cut to the X.509 limit."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:MAX_NAME_CHARS]),
        ]
    )


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_root(
    key: ec.EllipticCurvePrivateKey, *, organisation: str, now: dt.datetime, days: int
) -> x509.Certificate:
    name = _name(organisation, f"{organisation} trustavatar root CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_leaf(
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    organisation: str,
    now: dt.datetime,
    days: int,
) -> x509.Certificate:
    public = key.public_key()
    issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(organisation, f"{organisation} trustavatar signer"))
        .issuer_name(issuer_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), issuer_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(SIGNER_EKUS)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex()


def chain_to_pem(chain: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def organisations(cert: x509.Certificate) -> tuple[str, ...]:
    """Every organisation (O) attribute of the certificate's subject, in order."""
    return tuple(str(a.value)
                 for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def single_organisation(cert: x509.Certificate) -> str | None:
    """The one organisation (O) the certificate names, or None when it names none or
    several: trustavatar documents name their issuer by exactly this attribute."""
    found = organisations(cert)
    return found[0] if len(found) == 1 else None


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.subject.rfc4514_string()
