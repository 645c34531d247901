"""``keys import`` refuses what could not sign afterwards, and says how to trust the root;
a chain may go on past a trusted issuing CA (review findings on the CA-issued identity).

Before: a leaf with no O (or several) was imported under its CN and every ``consent issue``
then failed; ``--org`` renamed the identity while documents kept naming the certificate's
O; a chain file that was not a path was imported and every document refused; the hint
said ``keys trust add ROOT.pem`` with no ``--organisation`` for a CA's root, which leaves
every consent refused; and ``[leaf, issuing CA, root]`` was refused when the issuing CA,
not the root, is the trust anchor.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.clitools import invoke
from tests.keys.pki import certificate, new_key, root

from trustavatar import consent
from trustavatar.errors import InputError, UntrustedChainError
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore, validate_chain
from trustavatar.keys._x509 import chain_to_pem

NOW = dt.datetime.now(dt.UTC)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _aki(issuer_key) -> tuple[x509.ExtensionType, bool]:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False


def _ca_and_leaf(org: str | tuple[str, ...] | None = "Studio", ca_org: str = "CA Inc"):
    ca_key, leaf_key = new_key(), new_key()
    ca = root(ca_key, ca_org)
    leaf = certificate(leaf_key, issuer=(ca, ca_key), org=org, cn="Studio signer",
                       extra=[_aki(ca_key)])
    return ca, leaf, leaf_key


def _three_levels():
    """A root, an issuing CA of the studio under it, and the studio's signing leaf."""
    rk, ik, lk = new_key(), new_key(), new_key()
    top = root(rk, "Root Inc", path_length=1)
    inter = certificate(ik, issuer=(top, rk), org="Studio", cn="Studio CA", ca=True,
                        path_length=0, ekus=None, extra=[_aki(rk)])
    leaf = certificate(lk, issuer=(inter, ik), org="Studio", cn="Studio signer",
                       extra=[_aki(ik)])
    return top, inter, leaf, lk


def _write(tmp_path: Path, chain, key) -> tuple[Path, Path]:
    (tmp_path / "chain.pem").write_bytes(chain_to_pem(chain))
    (tmp_path / "key.pem").write_bytes(_key_pem(key))
    return tmp_path / "chain.pem", tmp_path / "key.pem"


# --- finding 1: what could not sign is not imported ---------------------------------------


@pytest.mark.parametrize(("org", "says"), [
    (None, r"names no organisation \(O\) \(subject CN=Studio signer\)"),
    (("Studio", "Other"), r"names 2 organisations \(O\): 'Studio', 'Other'"),
])
def test_import_requires_exactly_one_organisation(tmp_path, capsys, org, says) -> None:
    ca, leaf, leaf_key = _ca_and_leaf(org)
    home = Home.resolve(tmp_path / "h")
    with pytest.raises(InputError, match=says):
        Keystore.import_identity(home, chain_pem=chain_to_pem([leaf, ca]),
                                 key_pem=_key_pem(leaf_key))
    assert not Keystore.exists(home)
    chain, key = _write(tmp_path, [leaf, ca], leaf_key)
    r = invoke(capsys, "--home", home.root, "keys", "import", "--chain", chain, "--key", key)
    assert r.code == 2 and "one O attribute" in r.err, r.err
    assert not Keystore.exists(home)


def test_import_refuses_an_org_other_than_the_certificate_names(tmp_path, capsys) -> None:
    ca, leaf, leaf_key = _ca_and_leaf()
    chain, key = _write(tmp_path, [leaf, ca], leaf_key)
    home = tmp_path / "h"
    r = invoke(capsys, "--home", home, "keys", "import", "--chain", chain, "--key", key,
               "--org", "Someone Else")
    assert r.code == 2, r.err
    assert "('Someone Else') is not the one the signing certificate names ('Studio')" in r.err
    assert not Keystore.exists(home)
    # the name the certificate carries is a check that passes
    r = invoke(capsys, "--home", home, "keys", "import", "--chain", chain, "--key", key,
               "--org", " Studio ", "--json")
    assert r.code == 0 and r.json()["identity"]["organisation"] == "Studio", r.err


def test_import_refuses_a_chain_that_is_not_a_certification_path(tmp_path) -> None:
    ca, leaf, leaf_key = _ca_and_leaf()
    stranger = root(new_key(), "Stranger")
    home = Home.resolve(tmp_path / "h")
    for chain, says in (
        ([leaf, stranger], r"certificate 2 \('Stranger root CA'\) did not issue certificate 1 "
                           r"\('Studio signer'\)"),
        ([leaf, ca, stranger], r"certificate 3 \('Stranger root CA'\) did not issue "
                               r"certificate 2 \('CA Inc root CA'\)"),
        ([leaf, ca, ca], r"lists certificate 3 \('CA Inc root CA'\) twice"),
    ):
        with pytest.raises(InputError, match=says):
            Keystore.import_identity(home, chain_pem=chain_to_pem(chain),
                                     key_pem=_key_pem(leaf_key))
        assert not Keystore.exists(home)
    top, inter, leaf3, key3 = _three_levels()
    with pytest.raises(InputError, match="not a certification path"):
        Keystore.import_identity(home, chain_pem=chain_to_pem([leaf3, top, inter]),
                                 key_pem=_key_pem(key3))
    ks = Keystore.import_identity(home, chain_pem=chain_to_pem([leaf3, inter, top]),
                                  key_pem=_key_pem(key3))
    assert ks.identity.organisation == "Studio" and len(ks.identity.chain) == 3


# --- finding 2: the hint trusts the root for the identity's organisation --------------------


def test_the_hint_accepts_a_ca_root_for_the_studio_and_following_it_works(tmp_path,
                                                                          capsys) -> None:
    ca, leaf, leaf_key = _ca_and_leaf("Studio \"North\"")
    chain, key = _write(tmp_path, [leaf, ca], leaf_key)
    home = Home.resolve(tmp_path / "h")
    r = invoke(capsys, "--home", home.root, "keys", "import", "--chain", chain, "--key", key)
    assert r.code == 0, r.err
    assert ("trustavatar keys trust add ROOT.pem --organisation \"Studio \\\"North\\\"\""
            in r.out), r.out
    (tmp_path / "ROOT.pem").write_bytes(chain_to_pem([ca]))
    r = invoke(capsys, "--home", home.root, "keys", "trust", "add", tmp_path / "ROOT.pem",
               "--organisation", "Studio \"North\"")
    assert r.code == 0, r.err
    release = tmp_path / "release.txt"
    release.write_text("signed release")
    artifact = consent.issue(Keystore.open(home).signing_key(), portrait=sample_portrait_path(),
                             display_name="Sample",
                             evidence=consent.Evidence.operator_attestation(release))
    consent.verify(artifact.raw, trust=TrustStore.from_home(home), home=home)


def test_the_hint_is_plain_when_the_root_names_the_studio(tmp_path, capsys) -> None:
    ca, leaf, leaf_key = _ca_and_leaf("Studio", ca_org="Studio")
    chain, key = _write(tmp_path, [leaf, ca], leaf_key)
    r = invoke(capsys, "--home", tmp_path / "h", "keys", "import", "--chain", chain, "--key",
               key)
    assert r.code == 0, r.err
    assert "trust its root with: trustavatar keys trust add ROOT.pem)" in r.out, r.out
    # a chain without its root: the root is the last certificate's issuer
    _top, inter, leaf3, key3 = _three_levels()
    chain, key = _write(tmp_path, [leaf3, inter], key3)
    r = invoke(capsys, "--home", tmp_path / "h", "keys", "import", "--chain", chain, "--key",
               key, "--force")
    assert r.code == 0, r.err
    assert "keys trust add ROOT.pem --organisation \"Studio\")" in r.out, r.out


# --- finding 3: a chain may go on past a trusted issuing CA ----------------------------------


def test_a_chain_may_go_on_past_a_trusted_intermediate() -> None:
    top, inter, leaf, _ = _three_levels()
    trust = TrustStore.of(inter)
    assert validate_chain([leaf, inter], trust=trust, at=NOW).certificate == inter
    assert validate_chain([leaf, inter, top], trust=trust, at=NOW).certificate == inter
    # the first trusted certificate along the path is the anchor
    assert validate_chain([leaf, inter, top], trust=TrustStore.of(top, inter),
                          at=NOW).certificate == inter
    # still a path, nothing outside it, nothing twice
    stranger = root(new_key(), "Stranger")
    with pytest.raises(UntrustedChainError, match="goes on after the trusted root 'Studio CA'"
                       r".*certificate 2 \('Stranger root CA'\) did not issue certificate 1"):
        validate_chain([leaf, inter, stranger], trust=trust, at=NOW)
    with pytest.raises(UntrustedChainError, match="goes on after the trusted root"):
        validate_chain([leaf, inter, top, stranger], trust=trust, at=NOW)
    with pytest.raises(UntrustedChainError, match="same certificate twice"):
        validate_chain([leaf, inter, top, top], trust=trust, at=NOW)


def test_a_partner_trusting_the_issuing_ca_accepts_the_full_chain(tmp_path, capsys) -> None:
    top, inter, leaf, leaf_key = _three_levels()
    studio = Home.resolve(tmp_path / "studio")
    Keystore.import_identity(studio, chain_pem=chain_to_pem([leaf, inter, top]),
                             key_pem=_key_pem(leaf_key))
    release = tmp_path / "release.txt"
    release.write_text("signed release")
    artifact = consent.issue(Keystore.open(studio).signing_key(),
                             portrait=sample_portrait_path(), display_name="Sample",
                             evidence=consent.Evidence.operator_attestation(release))
    partner = tmp_path / "partner"
    (tmp_path / "inter.pem").write_bytes(chain_to_pem([inter]))
    assert invoke(capsys, "--home", partner, "keys", "trust", "add",
                  tmp_path / "inter.pem").code == 0
    grant = consent.verify(artifact.raw, trust=TrustStore.from_home(partner))
    assert grant.consent_id == artifact.consent_id
