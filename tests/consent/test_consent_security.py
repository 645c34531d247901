"""Consent verification against the red team's forgeries (findings F5, F6, F9, F11, F12).

Every artifact here that is refused was accepted before the fix: a retired key minting
consents by backdating ``issued_at``, an ``issued_at`` 200 days ahead, the ``(r, n-s)``
twin of a genuine signature, x5c lists with a certificate twice or one not in the path, a
trusted partner's root signing in our organisation's name, a second artifact re-signed
under a consent id the registry holds, and a non-CA intermediate (then exit 2, not 3).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.serialization import Encoding
from tests.clitools import invoke
from tests.keys import pki

from trustavatar import _envelope, consent
from trustavatar._time import format_time, utc_now
from trustavatar.errors import (
    ConsentExpiredError,
    ConsentMalformedError,
    ConsentNotYetValidError,
    ConsentSignatureError,
    ConsentUntrustedIssuerError,
    KeystoreError,
)
from trustavatar.face import embed_face
from trustavatar.home import Home
from trustavatar.keys import Keystore, SigningKey, TrustStore
from trustavatar.keys._x509 import fingerprint
from trustavatar.registry import Registry

LATER = dt.timedelta(hours=1)


def _payload(artifact: consent.ConsentArtifact, **changes: object) -> dict:
    payload = json.loads(artifact.raw)["payload"]
    payload.update(changes)
    return payload


def _issue(key: SigningKey, faces, release, **kw) -> consent.ConsentArtifact:
    return consent.issue(key, portrait=faces["portrait"], display_name="Eileen Collins",
                         evidence=consent.Evidence.operator_attestation(release), **kw)


# --- F9: issued_at is the signer's word ---------------------------------------------------


def test_a_retired_key_cannot_mint_consents_by_backdating(tmp_path, faces, release) -> None:
    past = utc_now() - dt.timedelta(days=30)
    ks = Keystore.create(Home.resolve(tmp_path / "h"), organisation="Old Key Org",
                         leaf_days=1, now=past)
    key, trust = ks.signing_key(), ks.trust_store()
    leaf_end = key.certificate.not_valid_after_utc
    genuine = _issue(key, faces, release, at=past + LATER)
    # what it signed while valid verifies for that time (an audit of past use) ...
    consent.verify(genuine.raw, trust=trust, at=past + 2 * LATER)
    # ... and our issuer never claims more than the certificate's life
    assert genuine.validity.not_after == leaf_end
    # the attack: a new consent today, issued_at inside the old validity, until 2099
    forged = pki.hand_seal(_payload(
        genuine, consent_id=str(uuid.uuid4()),
        validity={"not_before": format_time(utc_now() - LATER),
                  "not_after": "2099-01-01T00:00:00Z"}), key.private_key, key.chain)
    with pytest.raises(ConsentExpiredError, match=r"valid only while the certificate chain "
                       r"that signed it is, which ended at .*until 2099-01-01"):
        consent.verify(forged, trust=trust)


def test_the_grant_ends_with_the_signing_certificate(tmp_path, faces, release) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "h"), organisation="Short Leaf Org",
                         leaf_days=30)
    key, trust = ks.signing_key(), ks.trust_store()
    end = key.certificate.not_valid_after_utc
    now = utc_now()
    long = pki.hand_seal(_payload(_issue(key, faces, release, valid_for=dt.timedelta(days=7)),
                                  validity={"not_before": format_time(now),
                                            "not_after": "2099-01-01T00:00:00Z"}),
                         key.private_key, key.chain)
    grant = consent.verify(long, trust=trust, at=now + LATER)
    assert grant.not_after == end
    with pytest.raises(ConsentExpiredError, match="certificate chain that signed it"):
        consent.verify(long, trust=trust, at=end)


def test_issue_caps_validity_at_the_signing_certificate(tmp_path, faces, release) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "h"), organisation="Cap Org", leaf_days=30,
                         now=utc_now() - dt.timedelta(days=1))
    key = ks.signing_key()
    end = key.certificate.not_valid_after_utc
    assert _issue(key, faces, release).validity.not_after == end  # default: 365 days
    far = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    capped = _issue(key, faces, release, not_after=far)
    assert capped.validity.not_after == end
    grant = consent.verify(capped.raw, trust=ks.trust_store())
    assert grant.not_after == end
    week = _issue(key, faces, release, valid_for=dt.timedelta(days=7))
    assert week.validity.not_after < end  # within the certificate: as asked
    with pytest.raises(KeystoreError, match=r"valid only until .* renew the signing identity"):
        _issue(key, faces, release, not_before=end + dt.timedelta(days=1))


def test_an_artifact_issued_after_the_time_checked_is_refused(artifact, org, t0) -> None:
    at = t0 + LATER
    future = _envelope.seal(_payload(artifact, issued_at=format_time(t0 + dt.timedelta(
        days=200))), org.key)
    with pytest.raises(ConsentNotYetValidError, match=r"says it was issued at .*, after the "
                       r"time checked .*5 minutes of clock difference"):
        consent.verify(future, trust=org.trust, at=at)
    # a few minutes of difference between the issuer's and the verifier's clocks is fine
    skewed = _envelope.seal(_payload(artifact, issued_at=format_time(at + dt.timedelta(
        minutes=4))), org.key)
    consent.verify(skewed, trust=org.trust, at=at)
    beyond = _envelope.seal(_payload(artifact, issued_at=format_time(at + dt.timedelta(
        minutes=6))), org.key)
    with pytest.raises(ConsentNotYetValidError, match="did not exist yet"):
        consent.verify(beyond, trust=org.trust, at=at)


# --- F11: one byte form ------------------------------------------------------------------


def test_signatures_are_low_s_and_the_high_s_twin_is_refused(artifact, org, t0) -> None:
    for i in range(32):  # half of them came out high-S before
        assert pki.s_of(json.loads(_envelope.seal({"type": "t", "n": i}, org.key))) \
            <= pki.P256_N // 2
    doc = json.loads(artifact.raw)
    sig = pki.from_b64url(doc["signature"]["value"])
    s = int.from_bytes(sig[32:], "big")
    doc["signature"]["value"] = pki.b64url(sig[:32] + (pki.P256_N - s).to_bytes(32, "big"))
    with pytest.raises(ConsentSignatureError, match=r"not in its canonical low-S form"):
        consent.verify(rfc8785.dumps(doc), trust=org.trust, at=t0 + LATER)
    consent.verify(artifact.raw, trust=org.trust, at=t0 + LATER)


def test_a_recorded_high_s_artifact_from_before_the_rule_still_passes_its_issuer(
        artifact, org, t0, tmp_path) -> None:
    """About half the artifacts issued before the low-S rule are high-S. Where the registry
    holds exactly their bytes (their issuer's home, the generate gate) they are still the
    one form issued; anywhere else they are refused, and so is their low-S twin."""
    payload = _payload(artifact, consent_id=str(uuid.uuid4()))
    legacy = consent.parse_artifact(pki.hand_seal(payload, org.key.private_key, org.key.chain,
                                                  high_s=True))
    doc = json.loads(legacy.raw)
    sig = pki.from_b64url(doc["signature"]["value"])
    low_s = (pki.P256_N - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    doc["signature"]["value"] = pki.b64url(sig[:32] + low_s)
    twin = rfc8785.dumps(doc)  # the same signature in low-S form
    consent.verify(twin, trust=org.trust, at=t0 + LATER)
    at = t0 + LATER
    with pytest.raises(ConsentSignatureError, match="low-S"):
        consent.verify(legacy.raw, trust=org.trust, at=at)
    with Registry.open(tmp_path / "registry.sqlite3") as registry:
        consent.record_consent(registry, legacy)
        grant = consent.verify(legacy.raw, trust=org.trust, registry=registry, at=at)
        assert grant.artifact_sha256 == legacy.sha256
        with pytest.raises(ConsentUntrustedIssuerError, match="another artifact"):
            consent.verify(twin, trust=org.trust, registry=registry, at=at)


def test_x5c_must_be_the_path_as_issued(artifact, org, other_org, t0) -> None:
    doc = json.loads(artifact.raw)
    leaf, root = doc["signature"]["x5c"]  # what our issuer writes: the leaf, then its root
    assert pki.der64(org.root) == root
    at = t0 + LATER

    def with_x5c(x5c: list[str]) -> bytes:
        return rfc8785.dumps({**doc, "signature": {**doc["signature"], "x5c": x5c}})

    for twice in ([leaf, root, root], [leaf, leaf, root]):
        with pytest.raises(ConsentMalformedError, match="same certificate twice"):
            consent.verify(with_x5c(twice), trust=org.trust, at=at)
    stranger = pki.der64(other_org.root)
    with pytest.raises(ConsentUntrustedIssuerError, match="goes on after the trusted root"):
        consent.verify(with_x5c([leaf, root, stranger]), trust=org.trust, at=at)
    with pytest.raises(ConsentUntrustedIssuerError, match="did not issue certificate 0"):
        consent.verify(with_x5c([leaf, stranger, root]), trust=org.trust, at=at)


# --- F5: a trust anchor speaks for its own organisation ----------------------------------


def _partner(org_name: str = "Partner Studio"):
    key = pki.new_key()
    return pki.root(key, org_name), key


def test_a_partner_root_cannot_sign_in_our_name(artifact, org, t0) -> None:
    partner_root, partner_key = _partner()
    trust = TrustStore.of(org.root, partner_root)
    leaf_key = pki.new_key()
    impostor = pki.certificate(leaf_key, issuer=(partner_root, partner_key), org="Test Org",
                               cn="Test Org trustavatar signer")
    raw = _envelope.seal(_payload(artifact, consent_id=str(uuid.uuid4())),
                         SigningKey(leaf_key, (impostor, partner_root)))
    with pytest.raises(ConsentUntrustedIssuerError, match=r"signed as 'Test Org' under the "
                       r"trusted root .*which speaks only for 'Partner Studio'"):
        consent.verify(raw, trust=trust, at=t0 + LATER)
    # the partner signing as itself is trusted
    own_key = pki.new_key()
    own = pki.certificate(own_key, issuer=(partner_root, partner_key), org="Partner Studio")
    raw = _envelope.seal(_payload(artifact, consent_id=str(uuid.uuid4()),
                                  issuer={"organisation": "Partner Studio"}),
                         SigningKey(own_key, (own,)))
    grant = consent.verify(raw, trust=trust, at=t0 + LATER)
    assert grant.issuer_organisation == "Partner Studio"
    assert grant.anchor_sha256 == fingerprint(partner_root)


def test_a_signer_must_name_one_organisation(artifact, org, t0) -> None:
    """The organisation comes from O, never from the common name, and only one O."""
    root_key = pki.new_key()
    root = pki.root(root_key, ["Test Org", "Other Org"])
    for orgs in (None, ["Test Org", "Other Org"], ["Other Org", "Test Org"]):
        key = pki.new_key()
        leaf = pki.certificate(key, issuer=(root, root_key), org=orgs, cn="Test Org")
        raw = pki.hand_seal(_payload(artifact), key, (leaf,))
        with pytest.raises(ConsentUntrustedIssuerError, match="does not name exactly one "
                           r"organisation \(O\)"):
            consent.verify(raw, trust=TrustStore.of(root), at=t0 + LATER)
        with pytest.raises(KeystoreError, match="organisation"):
            _envelope.signer_organisation(leaf)


def test_trust_add_and_init_force_keep_working(tmp_path, faces, release, capsys) -> None:
    home = Home.resolve(tmp_path / "h")
    first = Keystore.create(home, organisation="Home Org")
    old = _issue(first.signing_key(), faces, release)
    partner_root, partner_key = _partner()
    TrustStore.from_home(home).add(partner_root.public_bytes(Encoding.PEM), label="partner")
    leaf_key = pki.new_key()
    impostor = pki.certificate(leaf_key, issuer=(partner_root, partner_key), org="Home Org")
    forged = _envelope.seal(_payload(old, consent_id=str(uuid.uuid4())),
                            SigningKey(leaf_key, (impostor, partner_root)))
    with pytest.raises(ConsentUntrustedIssuerError, match="speaks only for 'Partner Studio'"):
        consent.verify(forged, home=home)
    path = tmp_path / "forged.consent.json"
    path.write_bytes(forged)
    r = invoke(capsys, "--home", home.root, "consent", "verify", path)
    assert r.code == 3 and "speaks only for" in r.err and "issuer trusted" not in r.out
    # a new identity (keys init --force): the retired root stays trusted for what it signed
    Keystore.create(home, organisation="Home Org", force=True)
    consent.verify(old.raw, home=home)
    consent.verify(_issue(Keystore.open(home).signing_key(), faces, release).raw, home=home)
    Keystore.create(home, organisation="Renamed Org", force=True)
    consent.verify(old.raw, home=home)
    renamed = _issue(Keystore.open(home).signing_key(), faces, release)
    assert consent.verify(renamed.raw, home=home).issuer_organisation == "Renamed Org"


# --- F6: one artifact per consent id -------------------------------------------------------


def test_a_second_artifact_under_a_recorded_consent_id_is_refused(
        artifact, org, other_org, t0, tmp_path, faces) -> None:
    at = t0 + LATER
    q = embed_face(faces["other_person"]).quantise()
    subject = {**json.loads(artifact.raw)["payload"]["subject"],
               "face_embedding": {"model": q.model, "dtype": "int8", "divisor": q.divisor,
                                  "values": list(q.values)}}
    resigned = _envelope.seal(_payload(artifact, subject=subject), org.key)  # our own key
    partner = _envelope.seal(_payload(artifact, subject=subject,
                                      issuer={"organisation": "Other Org"}), other_org.key)
    trust = TrustStore.of(org.root, other_org.root)
    # without the registry nothing tells them from a genuine consent
    consent.require(resigned, purpose="avatar-generation", face=faces["other_person"],
                    trust=trust, at=at)
    with Registry.open(tmp_path / "registry.sqlite3") as registry:
        consent.record_consent(registry, artifact)
        for forged in (resigned, partner):
            # the gate's call (generator.pipeline passes the home's registry)
            with pytest.raises(ConsentUntrustedIssuerError,
                               match="registry holds another artifact under this consent id"):
                consent.require(forged, purpose="avatar-generation", face=faces["other_person"],
                                trust=trust, registry=registry, at=at)
        grant = consent.verify(artifact.raw, trust=trust, registry=registry, at=at)
        assert grant.revocation_sources == ("registry",)


# --- F12: a bad chain is an untrusted issuer (exit 3), never an input error (exit 2) -------


def test_a_non_ca_intermediate_is_an_untrusted_issuer(tmp_path, artifact, capsys) -> None:
    home = Home.resolve(tmp_path / "h")
    root_key = pki.new_key()
    root = pki.root(root_key, "Test Org", path_length=None)
    TrustStore.from_home(home).add(root.public_bytes(Encoding.PEM), label="test")
    inter_key, leaf_key = pki.new_key(), pki.new_key()
    inter = pki.certificate(inter_key, issuer=(root, root_key), cn="not a CA")
    leaf = pki.certificate(leaf_key, issuer=(inter, inter_key))
    raw = _envelope.seal(_payload(artifact, consent_id=str(uuid.uuid4())),
                         SigningKey(leaf_key, (leaf, inter)))
    with pytest.raises(ConsentUntrustedIssuerError, match="'not a CA' is not a CA certificate"):
        consent.verify(raw, home=home)
    path = Path(tmp_path / "inter.consent.json")
    path.write_bytes(raw)
    r = invoke(capsys, "--home", home.root, "consent", "verify", path, "--json")
    assert r.code == 3, r.err
    assert r.json()["error"]["type"] == "ConsentUntrustedIssuerError"
