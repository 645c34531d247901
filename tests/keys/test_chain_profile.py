"""validate_chain: the signer profile, path rules and the exact x5c path (red-team findings
F10, F11 (x5c), F12).

Each refused case was accepted before: a leaf without KeyUsage, BasicConstraints or EKU,
with serverAuth only, with an unknown critical extension, an intermediate CA under a root
with pathLenConstraint 0, a non-CA intermediate (then an ``InputError``, exit 2, instead of
an untrusted chain), and x5c lists with a certificate twice or one not in the path.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from tests.keys import pki

from trustavatar.errors import InputError, UntrustedChainError
from trustavatar.keys import TrustStore, validate_chain
from trustavatar.keys._x509 import C2PA_SIGNING, DOCUMENT_SIGNING, make_leaf, make_root

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, object]:
    key = pki.new_key()
    return pki.root(key), key


@pytest.fixture(scope="module")
def open_ca() -> tuple[x509.Certificate, object]:
    """A root without a pathLenConstraint: intermediates may follow it."""
    key = pki.new_key()
    return pki.root(key, path_length=None), key


def _leaf(ca, **kw) -> x509.Certificate:
    return pki.certificate(pki.new_key(), issuer=ca, **kw)


def test_our_own_profile_validates() -> None:
    root_key, leaf_key = pki.new_key(), pki.new_key()
    root = make_root(root_key, organisation="Own Org", now=NOW, days=30)
    leaf = make_leaf(leaf_key, issuer_cert=root, issuer_key=root_key, organisation="Own Org",
                     now=NOW, days=10)
    anchor = validate_chain((leaf, root), trust=TrustStore.of(root), at=NOW)
    assert anchor.certificate == root and anchor.organisations == ("Own Org",)
    assert validate_chain((leaf,), trust=TrustStore.of(root), at=NOW) == anchor


@pytest.mark.parametrize(("shape", "says"), [
    ({"key_usage": False}, "no KeyUsage extension"),
    ({"digital_signature": False}, "lacks the digitalSignature usage"),
    ({"key_cert_sign": True}, "may sign certificates"),
    ({"ekus": None}, "no ExtendedKeyUsage extension"),
    ({"ekus": (ExtendedKeyUsageOID.SERVER_AUTH,)}, r"ExtendedKeyUsage \(serverAuth\) allows "
                                                    "none of"),
    ({"ekus": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)}, "allows none"),
    ({"extra": [(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"),
                 True)]}, r"critical extension this verifier does not process .*1\.2\.3\.4\.5"),
    ({"extra": [(x509.InhibitAnyPolicy(0), True)]}, "critical extension"),
])
def test_a_leaf_outside_the_signer_profile_is_refused(ca, shape, says) -> None:
    leaf = _leaf(ca, **shape)
    with pytest.raises(UntrustedChainError, match=says):
        validate_chain((leaf, ca[0]), trust=TrustStore.of(ca[0]), at=NOW)


def test_a_ca_as_leaf_is_refused(ca) -> None:
    leaf = pki.certificate(pki.new_key(), issuer=ca, ca=True)
    with pytest.raises(UntrustedChainError, match="is a CA certificate"):
        validate_chain((leaf,), trust=TrustStore.of(ca[0]), at=NOW)


@pytest.mark.parametrize("shape", [
    {"ekus": (DOCUMENT_SIGNING,)},
    {"ekus": (ExtendedKeyUsageOID.EMAIL_PROTECTION,)},
    {"ekus": (C2PA_SIGNING,)},
    {"ekus": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)},
    # RFC 5280 4.2.1.9: an end-entity certificate may leave basicConstraints out
    {"basic_constraints": False},
    {"extra": [(x509.SubjectAlternativeName([x509.RFC822Name("signer@example.org")]), True)]},
], ids=["documentSigning", "emailProtection", "c2pa", "serverAuth+email", "no-bc", "san"])
def test_leaves_a_c2pa_signer_may_have_are_accepted(ca, shape) -> None:
    validate_chain((_leaf(ca, **shape), ca[0]), trust=TrustStore.of(ca[0]), at=NOW)


def test_path_length_constraints_are_enforced(ca, open_ca) -> None:
    # the red team's case: an intermediate CA under a root with pathLenConstraint 0
    inter_key = pki.new_key()
    inter = pki.certificate(inter_key, issuer=ca, cn="inter", ca=True, ekus=None)
    leaf = _leaf((inter, inter_key))
    with pytest.raises(UntrustedChainError, match=r"allows 0 intermediate CA .* has 1"):
        validate_chain((leaf, inter, ca[0]), trust=TrustStore.of(ca[0]), at=NOW)
    with pytest.raises(UntrustedChainError, match="pathLenConstraint"):
        validate_chain((leaf, inter), trust=TrustStore.of(ca[0]), at=NOW)
    # under a root without the constraint the same shape is fine
    inter2_key = pki.new_key()
    inter2 = pki.certificate(inter2_key, issuer=open_ca, cn="inter", ca=True, path_length=0,
                             ekus=None)
    leaf2 = _leaf((inter2, inter2_key))
    validate_chain((leaf2, inter2), trust=TrustStore.of(open_ca[0]), at=NOW)
    # an intermediate with pathLenConstraint 0 may not have another CA below it
    inter3_key = pki.new_key()
    inter3 = pki.certificate(inter3_key, issuer=(inter2, inter2_key), cn="inter3", ca=True,
                             ekus=None)
    leaf3 = _leaf((inter3, inter3_key))
    with pytest.raises(UntrustedChainError, match="'inter' allows 0 intermediate"):
        validate_chain((leaf3, inter3, inter2), trust=TrustStore.of(open_ca[0]), at=NOW)


def test_a_non_ca_intermediate_is_an_untrusted_chain_not_an_input_error(open_ca) -> None:
    inter_key = pki.new_key()
    inter = pki.certificate(inter_key, issuer=open_ca, cn="not a CA")
    leaf = _leaf((inter, inter_key))
    with pytest.raises(UntrustedChainError, match="'not a CA' is not a CA certificate") as e:
        validate_chain((leaf, inter), trust=TrustStore.of(open_ca[0]), at=NOW)
    assert not isinstance(e.value, InputError)
    # a CA intermediate whose KeyUsage does not allow signing certificates
    inter_key2 = pki.new_key()
    inter2 = pki.certificate(inter_key2, issuer=open_ca, cn="no certsign", ca=True,
                             key_cert_sign=False, ekus=None)
    with pytest.raises(UntrustedChainError, match="lacks keyCertSign"):
        validate_chain((_leaf((inter2, inter_key2)), inter2), trust=TrustStore.of(open_ca[0]),
                       at=NOW)


def test_the_chain_must_be_exactly_the_path(ca, open_ca) -> None:
    root, _ = ca
    leaf = _leaf(ca)
    trust = TrustStore.of(root)
    validate_chain((leaf, root), trust=trust, at=NOW)
    with pytest.raises(UntrustedChainError, match="same certificate twice"):
        validate_chain((leaf, root, root), trust=trust, at=NOW)
    stranger = pki.root(pki.new_key(), "Stranger")
    with pytest.raises(UntrustedChainError, match="did not issue certificate 0"):
        validate_chain((leaf, stranger), trust=trust, at=NOW)
    with pytest.raises(UntrustedChainError, match="goes on after the trusted root"):
        validate_chain((leaf, root, stranger), trust=TrustStore.of(root, stranger), at=NOW)
    # order: each issuer right after what it issued
    inter_key = pki.new_key()
    inter = pki.certificate(inter_key, issuer=open_ca, cn="inter", ca=True, ekus=None)
    leaf2 = _leaf((inter, inter_key))
    validate_chain((leaf2, inter, open_ca[0]), trust=TrustStore.of(open_ca[0]), at=NOW)
    with pytest.raises(UntrustedChainError, match="did not issue"):
        validate_chain((leaf2, open_ca[0], inter), trust=TrustStore.of(open_ca[0]), at=NOW)


def test_trust_add_still_refuses_a_leaf_as_an_input_error(tmp_path, ca) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from trustavatar.home import Home

    store = TrustStore.from_home(Home.resolve(tmp_path / "h"))
    with pytest.raises(InputError, match="not a CA certificate"):
        store.add(_leaf(ca).public_bytes(Encoding.PEM), label="leaf")
    store, anchor = store.add(ca[0].public_bytes(Encoding.PEM), label="root")
    assert anchor.organisations == ("Test Org",)
    assert anchor.to_dict()["organisations"] == ["Test Org"]
