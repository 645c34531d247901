"""A certification authority's root names the authority, not the organisations it certifies:
trusting it for them is said explicitly (``keys trust add ROOT --organisation NAME``)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.clitools import invoke
from tests.keys.pki import certificate, new_key, root

from trustavatar import consent
from trustavatar.errors import ConsentUntrustedIssuerError
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore
from trustavatar.keys._x509 import chain_to_pem


def _ca_issued_home(tmp_path) -> tuple[Home, x509.Certificate]:
    ca_key, leaf_key = new_key(), new_key()
    ca = root(ca_key, "Example Trust Services")
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    leaf = certificate(leaf_key, issuer=(ca, ca_key), org="Studio", cn="Studio signer",
                       extra=[(aki, False)])
    home = Home.resolve(tmp_path / "home")
    Keystore.import_identity(home, chain_pem=chain_to_pem([leaf, ca]), key_pem=leaf_key
                             .private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return home, ca


def test_a_ca_issued_identity_signs_once_its_root_is_trusted_for_the_studio(tmp_path,
                                                                              capsys):
    home, ca = _ca_issued_home(tmp_path)
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    assert invoke(capsys, "--home", home.root, "keys", "trust", "add", ca_pem).code == 0
    release = tmp_path / "release.txt"
    release.write_text("signed release")
    artifact = consent.issue(Keystore.open(home).signing_key(), portrait=sample_portrait_path(),
                             display_name="Sample", evidence=consent.Evidence
                             .operator_attestation(release))
    with pytest.raises(ConsentUntrustedIssuerError, match="--organisation NAME"):
        consent.verify(artifact.raw, trust=TrustStore.from_home(home), home=home)
    r = invoke(capsys, "--home", home.root, "keys", "trust", "add", ca_pem, "--organisation",
               "Studio", "--json")
    assert r.code == 0 and r.json()["anchor"]["vouched"] == ["Studio"]
    grant = consent.verify(artifact.raw, trust=TrustStore.from_home(home), home=home)
    assert grant.consent_id == artifact.consent_id
    # the authority speaks for the studio, not for anyone it might certify
    assert TrustStore.from_home(home).anchors[0].organisations == ("Example Trust Services",
                                                                   "Studio")
    TrustStore.from_home(home).remove("ca")  # the file beside it goes with it
    assert not list(home.trust_dir.iterdir())


def test_a_damaged_list_of_organisations_is_named(tmp_path, capsys):
    home, ca = _ca_issued_home(tmp_path)
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    assert invoke(capsys, "--home", home.root, "keys", "trust", "add", ca_pem,
                  "--organisation", "Studio").code == 0
    (sidecar,) = home.trust_dir.glob("*.organisations.json")
    sidecar.write_text('{"not": "a list"}')
    r = invoke(capsys, "--home", home.root, "keys", "trust", "list")
    assert r.code == 2 and "is not a list of organisation names" in r.err


def test_adding_a_trusted_root_again_says_so_also_when_it_vouches_for_more(tmp_path, capsys):
    home, ca = _ca_issued_home(tmp_path)
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    args = ("--home", home.root, "keys", "trust", "add", ca_pem)
    r = invoke(capsys, *args)
    assert r.code == 0 and r.out.startswith("trusted: ") and "already" not in r.out
    # added again: already trusted, now also for the studio (the store adds a vouched name)
    r = invoke(capsys, *args, "--organisation", "Studio")
    assert r.code == 0, r.err
    assert r.out.startswith("already trusted (as ca): ")
    assert "now also accepted for Studio" in r.out
    r = invoke(capsys, *args, "--organisation", "Studio", "--organisation", "Branch", "--json")
    doc = r.json()
    assert doc["already_trusted"] is True and doc["organisations_added"] == ["Branch"]
    assert doc["anchor"]["vouched"] == ["Studio", "Branch"]
    # nothing new: already trusted, nothing said to be added
    r = invoke(capsys, *args, "--organisation", "Studio")
    assert r.out.startswith("already trusted (as ca): ") and "now also" not in r.out
    r = invoke(capsys, *args, "--json")
    assert r.json()["already_trusted"] is True and r.json()["organisations_added"] == []
    assert len(TrustStore.from_home(home).anchors) == 1


def test_a_ca_issued_identity_signs_ledger_checkpoints(tmp_path, capsys):
    """The checkpoint's read-back used a store of the chain's last certificate alone, which
    knew nothing of the organisations the root was accepted for: it always failed."""
    from trustavatar.registry import Registry

    home, ca = _ca_issued_home(tmp_path)
    with Registry.for_home(home):
        pass  # a ledger of no rows
    out = tmp_path / "head.json"
    h = ("--home", home.root)
    r = invoke(capsys, *h, "ledger", "checkpoint", "--out", out)  # its root not trusted yet
    assert r.code == 1 and "not written: this home could not verify it later" in r.err
    assert not out.exists()
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    assert invoke(capsys, *h, "keys", "trust", "add", ca_pem, "--organisation",
                  "Studio").code == 0
    assert invoke(capsys, *h, "ledger", "checkpoint", "--out", out).code == 0
    r = invoke(capsys, *h, "ledger", "verify", "--checkpoint", out)
    assert r.code == 0, r.err


def test_a_chain_readers_would_refuse_is_not_imported_and_nothing_is_touched(tmp_path):
    from trustavatar.errors import InputError

    home = Home.resolve(tmp_path / "home")
    Keystore.create(home, organisation="Keep Me")
    ca_key, inter_key, leaf_key = new_key(), new_key(), new_key()
    ca = root(ca_key, "Big CA")
    not_ca = certificate(inter_key, issuer=(ca, ca_key), org="Big CA", cn="not a CA")
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key())
    leaf = certificate(leaf_key, issuer=(not_ca, inter_key), org="Studio",
                       extra=[(aki, False)])
    pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    with pytest.raises(InputError, match="documents signed with this chain would be refused"):
        Keystore.import_identity(home, chain_pem=chain_to_pem([leaf, not_ca, ca]), key_pem=pem,
                                 force=True)
    assert Keystore.open(home).identity.organisation == "Keep Me"  # not retired
    assert not (home.keys_dir / "retired").exists()


@pytest.mark.parametrize("org", ["Acme Corp ", "Cafe\u0301 Studio"])
def test_an_organisation_written_otherwise_is_vouched_for_by_the_name_typed(tmp_path, org,
                                                                           capsys):
    """A trailing space, or a decomposed 'é', in a certificate's O: the name typed for
    'keys trust add --organisation' (stripped, composed) vouches for it."""
    import unicodedata

    ca_key, leaf_key = new_key(), new_key()
    ca = root(ca_key, "Big CA")
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    leaf = certificate(leaf_key, issuer=(ca, ca_key), org=org, extra=[(aki, False)])
    pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    home = Home.resolve(tmp_path / "home")
    Keystore.import_identity(home, chain_pem=chain_to_pem([leaf, ca]), key_pem=pem)
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    typed = unicodedata.normalize("NFC", org.strip())
    assert invoke(capsys, "--home", home.root, "keys", "trust", "add", ca_pem,
                  "--organisation", typed).code == 0
    release = tmp_path / "release.txt"
    release.write_text("signed release")
    artifact = consent.issue(Keystore.open(home).signing_key(), portrait=sample_portrait_path(),
                             display_name="Sample", evidence=consent.Evidence
                             .operator_attestation(release))
    grant = consent.verify(artifact.raw, trust=TrustStore.from_home(home), home=home)
    assert grant.issuer_organisation == org  # documents name the O as it is written


def test_a_key_of_a_kind_not_supported_is_bad_input(tmp_path):
    """exit 2 with the other input that cannot be used (it was a KeystoreError, exit 1)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from trustavatar.errors import InputError

    key = ec.generate_private_key(ec.SECP256K1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    leaf = certificate(new_key())
    with pytest.raises(InputError, match=r"^the key file cannot be used: unsupported EC curve"):
        Keystore.import_identity(Home.resolve(tmp_path / "h"), chain_pem=chain_to_pem([leaf]),
                                 key_pem=pem)


def test_trusting_a_root_nothing_verifies_under_is_said(tmp_path, capsys):
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    key = new_key()
    old = certificate(key, org="Old CA", cn="Old Root", ca=True,
                      not_before=now - dt.timedelta(days=60),
                      not_after=now - dt.timedelta(days=1))
    pem = tmp_path / "old.pem"
    pem.write_bytes(chain_to_pem([old]))
    r = invoke(capsys, "--home", tmp_path / "home", "keys", "trust", "add", pem)
    assert r.code == 0 and "warning: it is not valid now" in r.err


def test_a_revocation_list_signed_as_the_same_organisation_written_otherwise_counts(tmp_path):
    """The consent signed as a decomposed 'Cafe\\u0301', the list as a composed 'Café' under
    the same trusted root: readers accept both as the organisation, so the list must count
    (it was skipped, and the revoked consent granted)."""
    from trustavatar.errors import ConsentRevokedError
    from trustavatar.keys import SigningKey
    from trustavatar.registry import Registry

    ca_key = new_key()
    ca = root(ca_key, "Big CA")
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    keys = {}
    for org in ("Cafe\u0301", "Caf\u00e9"):
        k = new_key()
        keys[org] = SigningKey(k, (certificate(k, issuer=(ca, ca_key), org=org,
                                               extra=[(aki, False)]), ca))
    trust = TrustStore.of(ca)
    home = Home.resolve(tmp_path / "home")
    home.ensure()
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(chain_to_pem([ca]))
    trust, _ = TrustStore.from_home(home).add(ca_pem.read_bytes(), label="ca",
                                              organisations=["Caf\u00e9"])
    release = tmp_path / "release.txt"
    release.write_text("signed release")
    artifact = consent.issue(keys["Cafe\u0301"], portrait=sample_portrait_path(),
                             display_name="Sample",
                             evidence=consent.Evidence.operator_attestation(release))
    with Registry.open(tmp_path / "issuer.sqlite3") as reg:
        consent.record_consent(reg, artifact)
        consent.revoke(reg, artifact.consent_id, reason="withdrawn")
        listed = consent.export_revocations(reg, keys["Caf\u00e9"])
    with pytest.raises(ConsentRevokedError):
        consent.verify(artifact.raw, trust=trust, revocation_lists=[listed.raw])
