"""verify() / require(): one test per outcome, each asserting the error class and message."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rfc8785
from PIL import Image

from trustavatar import _envelope, consent
from trustavatar.consent import ConsentGrant
from trustavatar.errors import (
    ConsentError,
    ConsentExpiredError,
    ConsentIdentityError,
    ConsentMalformedError,
    ConsentNotYetValidError,
    ConsentRevocationListError,
    ConsentRevokedError,
    ConsentScopeError,
    ConsentSignatureError,
    ConsentUntrustedIssuerError,
    FaceError,
    InputError,
)
from trustavatar.face import MATCH_THRESHOLD, embed_face
from trustavatar.keys import TrustStore
from trustavatar.registry import Registry

LATER = dt.timedelta(hours=1)  # verification time after issue, in most tests


def _doc(artifact: consent.ConsentArtifact) -> dict:
    return json.loads(artifact.raw)


def _jcs(doc: object) -> bytes:
    return rfc8785.dumps(doc)


def _resign(org, payload: dict) -> bytes:
    """Sign an arbitrary payload with a real key: passes step 2, tests later steps."""
    return _envelope.seal(payload, org.key)


# --- valid ----------------------------------------------------------------------------


def test_valid_artifact_grants(artifact, org, t0, faces) -> None:
    grant = consent.require(
        artifact.raw, purpose="avatar-generation", language="de", channel="web",
        face=faces["portrait"], trust=org.trust, at=t0 + LATER,
    )
    assert isinstance(grant, ConsentGrant)
    assert grant.consent_id == artifact.consent_id
    assert grant.subject_name == "Eileen Collins"
    assert grant.purposes == ("avatar-generation",)
    assert grant.languages == ("en", "de") and grant.channels == ("*",)
    # 365 days, but never past the signing certificate (also 365 days, made just before t0)
    leaf_end = org.key.certificate.not_valid_after_utc
    assert grant.not_before == t0 and artifact.validity.not_after == grant.not_after == min(
        t0 + consent.DEFAULT_VALIDITY, leaf_end)
    assert grant.issuer_organisation == "Test Org" and grant.operator == "Test Operator"
    assert grant.evidence_method == "operator-attestation"
    assert grant.artifact_sha256 == artifact.sha256
    assert grant.signer_sha256 == artifact.envelope.signer_sha256
    assert grant.face_distance is not None and grant.face_distance < 0.05
    assert grant.checked_at == t0 + LATER
    with pytest.raises(dataclasses.FrozenInstanceError):
        grant.subject_name = "someone else"  # type: ignore[misc]
    assert json.loads(json.dumps(grant.to_dict()))["consent_id"] == artifact.consent_id


def test_every_source_form_is_accepted(artifact, org, t0, tmp_path) -> None:
    path = tmp_path / "a.consent.json"
    path.write_bytes(artifact.raw)
    for source in (artifact.raw, path, str(path), artifact):
        grant = consent.verify(source, trust=org.trust, at=t0 + LATER)
        assert grant.face_distance is None and grant.revocation_sources == ()


def test_trust_and_registry_default_to_the_home(artifact, org, t0) -> None:
    grant = consent.verify(artifact.raw, home=org.home, at=t0 + LATER)
    assert grant.anchor_sha256 == org.trust.anchors[0].fingerprint


def test_artifact_is_canonical_and_small(artifact) -> None:
    assert _jcs(_doc(artifact)) == artifact.raw
    assert len(artifact.raw) < 4096


# --- step 1: parse --------------------------------------------------------------------


def test_empty_file(org) -> None:
    with pytest.raises(ConsentMalformedError, match="empty input"):
        consent.verify(b"", trust=org.trust)


def test_garbage_bytes(org) -> None:
    with pytest.raises(ConsentMalformedError, match="not UTF-8"):
        consent.verify(bytes(range(256)), trust=org.trust)
    with pytest.raises(ConsentMalformedError, match="not valid JSON"):
        consent.verify(b"hello, I consent", trust=org.trust)


def test_truncated_file(artifact, org, tmp_path) -> None:
    path = tmp_path / "truncated.json"
    path.write_bytes(artifact.raw[: len(artifact.raw) // 2])
    with pytest.raises(ConsentMalformedError, match="not valid JSON"):
        consent.verify(path, trust=org.trust)


def test_too_large(org) -> None:
    with pytest.raises(ConsentMalformedError, match="larger than 1048576 bytes"):
        consent.verify(b" " * (consent.MAX_ARTIFACT_BYTES + 1), trust=org.trust)


def test_duplicate_keys(artifact, org) -> None:
    raw = artifact.raw.replace(b'{"payload":', b'{"payload":{},"payload":', 1)
    with pytest.raises(ConsentMalformedError, match="duplicate key 'payload'"):
        consent.verify(raw, trust=org.trust)


def test_non_canonical_pretty_printed(artifact, org) -> None:
    pretty = json.dumps(_doc(artifact), indent=2, sort_keys=True).encode()
    with pytest.raises(ConsentMalformedError, match="not canonical JSON"):
        consent.verify(pretty, trust=org.trust)


def test_schema_violation_even_when_signed(artifact, org) -> None:
    payload = _doc(artifact)["payload"]
    payload["scope"]["purposes"] = []
    with pytest.raises(ConsentMalformedError, match=r"schema .*scope/purposes"):
        consent.verify(_resign(org, payload), trust=org.trust)


def test_other_document_type_is_not_a_consent(org) -> None:
    payload = {"type": "trustavatar.revocation-list", "version": 1, "revocations": []}
    with pytest.raises(ConsentMalformedError, match="does not match the v1 schema"):
        consent.verify(_resign(org, payload), trust=org.trust)


def test_impossible_date_and_control_characters(artifact, org) -> None:
    payload = _doc(artifact)["payload"]
    payload["validity"]["not_after"] = "2031-02-30T00:00:00Z"
    with pytest.raises(ConsentMalformedError, match="not a valid time"):
        consent.verify(_resign(org, payload), trust=org.trust)
    payload = _doc(artifact)["payload"]
    payload["subject"]["display_name"] = "Eileen\n"
    with pytest.raises(ConsentMalformedError, match="control characters"):
        consent.verify(_resign(org, payload), trust=org.trust)


def test_unreadable_path_is_an_input_error(org, tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read consent artifact") as info:
        consent.verify(tmp_path / "missing.json", trust=org.trust)
    assert not isinstance(info.value, ConsentError)


# --- step 2: signature ----------------------------------------------------------------


def test_tampered_field_fails_signature(artifact, org) -> None:
    doc = _doc(artifact)
    doc["payload"]["scope"]["purposes"] = ["avatar-generation", "advertising"]
    with pytest.raises(ConsentSignatureError, match="signature does not verify"):
        consent.verify(_jcs(doc), trust=org.trust)


def test_tampered_signature_value(artifact, org) -> None:
    doc = _doc(artifact)
    value = doc["signature"]["value"]
    doc["signature"]["value"] = ("B" if value[0] == "A" else "A") + value[1:]
    with pytest.raises(ConsentSignatureError, match="signature does not verify"):
        consent.verify(_jcs(doc), trust=org.trust)


def test_unknown_algorithm(artifact, org) -> None:
    doc = _doc(artifact)
    doc["signature"]["alg"] = "HS256"
    with pytest.raises(ConsentSignatureError, match="unsupported signature algorithm 'HS256'"):
        consent.verify(_jcs(doc), trust=org.trust)


def test_swapped_certificate(artifact, other_org, org) -> None:
    doc = _doc(artifact)
    other = json.loads(_envelope.seal({"x": 1}, other_org.key))
    doc["signature"]["x5c"] = other["signature"]["x5c"]
    with pytest.raises(ConsentSignatureError, match="signature does not verify"):
        consent.verify(_jcs(doc), trust=TrustStore.of(org.root, other_org.root))


# --- step 3: issuer -------------------------------------------------------------------


def test_signed_by_untrusted_key(make_artifact, other_org, org, t0) -> None:
    foreign = make_artifact(by=other_org)
    with pytest.raises(ConsentUntrustedIssuerError, match="does not chain to a trusted root"):
        consent.verify(foreign.raw, trust=org.trust, at=t0 + LATER)
    # the same artifact is fine for someone who trusts that root
    consent.verify(foreign.raw, trust=other_org.trust, at=t0 + LATER)


def test_issuer_name_must_match_the_certificate(artifact, org) -> None:
    payload = _doc(artifact)["payload"]
    payload["issuer"]["organisation"] = "Famous Studio"
    with pytest.raises(ConsentUntrustedIssuerError, match="names issuer 'Famous Studio'"):
        consent.verify(_resign(org, payload), trust=org.trust)


def test_no_trust_anchors(artifact) -> None:
    with pytest.raises(ConsentUntrustedIssuerError, match="untrusted issuer"):
        consent.verify(artifact.raw, trust=TrustStore(()))


# --- step 4: validity -----------------------------------------------------------------


def test_expired(make_artifact, org, t0) -> None:
    short = make_artifact(not_after=t0 + dt.timedelta(days=1))
    consent.verify(short.raw, trust=org.trust, at=t0 + LATER)
    with pytest.raises(ConsentExpiredError, match=r"expired at .*, checked at"):
        consent.verify(short.raw, trust=org.trust, at=t0 + dt.timedelta(days=2))
    with pytest.raises(ConsentExpiredError, match="expired"):  # not_after is exclusive
        consent.verify(short.raw, trust=org.trust, at=t0 + dt.timedelta(days=1))


def test_not_yet_valid(make_artifact, org, t0) -> None:
    later = make_artifact(not_before=t0 + dt.timedelta(days=1), valid_for=dt.timedelta(days=7))
    with pytest.raises(ConsentNotYetValidError, match="not yet valid: valid from"):
        consent.verify(later.raw, trust=org.trust, at=t0 + LATER)
    grant = consent.verify(later.raw, trust=org.trust, at=t0 + dt.timedelta(days=1))
    assert grant.not_after == t0 + dt.timedelta(days=8)


def test_naive_time_is_refused(artifact, org) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        consent.verify(artifact.raw, trust=org.trust, at=dt.datetime(2030, 1, 1))


# --- step 5: revocation ---------------------------------------------------------------


@pytest.fixture
def registry(tmp_path, artifact):
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        consent.record_consent(reg, artifact)
        yield reg


def test_revoked_in_registry(artifact, org, t0, registry) -> None:
    grant = consent.verify(artifact.raw, trust=org.trust, registry=registry, at=t0 + LATER)
    assert grant.revocation_sources == ("registry",)
    consent.revoke(registry, artifact.consent_id, reason="subject withdrew", at=t0 + LATER)
    with pytest.raises(ConsentRevokedError, match="was revoked at"):
        consent.verify(artifact.raw, trust=org.trust, registry=registry, at=t0 + 2 * LATER)
    # the answer for a time before the revocation is unchanged
    consent.verify(artifact.raw, trust=org.trust, registry=registry, at=t0 + LATER / 2)


def test_revoked_in_home_registry_without_passing_it(artifact, org, t0, tmp_path) -> None:
    from trustavatar.home import Home

    home = Home.resolve(tmp_path / "h")
    with Registry.for_home(home) as reg:
        consent.record_consent(reg, artifact)
        consent.revoke(reg, artifact.consent_id, reason="withdrawn", at=t0)
    with pytest.raises(ConsentRevokedError, match="revoked"):
        consent.verify(artifact.raw, trust=org.trust, home=home, at=t0 + LATER)


def test_revoked_via_exported_list(artifact, org, t0, registry, tmp_path) -> None:
    consent.revoke(registry, artifact.consent_id, reason="subject withdrew", at=t0 + LATER)
    rl = consent.export_revocations(registry, org.key, at=t0 + LATER)
    path = tmp_path / "revocations.json"
    path.write_bytes(rl.raw)
    assert b"subject withdrew" not in rl.raw  # reasons stay local
    # a third party: no registry, only the list and the issuer's root
    with pytest.raises(ConsentRevokedError, match=r"revoked at .*\(revocation list issued"):
        consent.verify(artifact.raw, trust=org.trust, revocation_lists=[path],
                       at=t0 + 2 * LATER)
    with pytest.raises(ConsentRevokedError, match="revoked"):
        consent.require(artifact.raw, purpose="avatar-generation", trust=org.trust,
                        revocation_lists=[rl], at=t0 + 2 * LATER)


def test_list_without_the_id_is_recorded_as_checked(artifact, org, t0, tmp_path) -> None:
    with Registry.open(tmp_path / "empty.sqlite3") as reg:
        rl = consent.export_revocations(reg, org.key, at=t0)
    grant = consent.verify(artifact.raw, trust=org.trust, revocation_lists=[rl.raw],
                           at=t0 + LATER)
    assert grant.revocation_sources == (f"revocation-list:{rl.sha256}",)


def test_forged_revocation_list_is_rejected(artifact, org, t0, registry) -> None:
    consent.revoke(registry, artifact.consent_id, reason="withdrawn", at=t0)
    rl = json.loads(consent.export_revocations(registry, org.key, at=t0).raw)
    rl["payload"]["revocations"] = []  # hide the revocation, keep the old signature
    with pytest.raises(ConsentRevocationListError, match="signature does not verify"):
        consent.verify(artifact.raw, trust=org.trust, revocation_lists=[_jcs(rl)],
                       at=t0 + LATER)


def test_untrusted_revocation_list_is_rejected(artifact, org, other_org, t0, tmp_path) -> None:
    with Registry.open(tmp_path / "other.sqlite3") as reg:
        rl = consent.export_revocations(reg, other_org.key, at=t0)
    with pytest.raises(ConsentRevocationListError, match="not from a trusted issuer"):
        consent.verify(artifact.raw, trust=org.trust, revocation_lists=[rl.raw],
                       at=t0 + LATER)


def test_malformed_revocation_list_is_rejected(artifact, org, t0) -> None:
    with pytest.raises(ConsentRevocationListError, match="malformed revocation list"):
        consent.verify(artifact.raw, trust=org.trust, revocation_lists=[b"[]"], at=t0 + LATER)


def test_other_issuers_list_does_not_count(artifact, org, other_org, t0) -> None:
    """A trusted but different issuer cannot revoke this issuer's consents."""
    stamp = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {
        "type": "trustavatar.revocation-list", "version": 1,
        "issuer": {"organisation": "Other Org"}, "issued_at": stamp,
        "revocations": [{"consent_id": artifact.consent_id, "revoked_at": stamp}],
    }
    raw = _envelope.seal(payload, other_org.key)
    both = TrustStore.of(org.root, other_org.root)
    grant = consent.verify(artifact.raw, trust=both, revocation_lists=[raw], at=t0 + LATER)
    assert grant.revocation_sources == ()
    # and the list given is said to be skipped, with why, not passed over in silence
    digest = consent.load_revocation_list(raw, trust=both).sha256
    assert grant.revocation_lists_skipped == (f"{digest}: issued by Other Org",)
    assert grant.to_dict()["revocation_lists_skipped"] == [  # for a program: no splitting
        {"sha256": digest, "why": "issued by Other Org"}]


# --- step 6: scope --------------------------------------------------------------------


def test_purpose_outside_scope(artifact, org, t0) -> None:
    with pytest.raises(ConsentScopeError,
                       match=r"^purpose 'advertising' not in scope \['avatar-generation'\]$"):
        consent.require(artifact.raw, purpose="advertising", trust=org.trust, at=t0 + LATER)


def test_language_outside_scope(artifact, org, t0) -> None:
    with pytest.raises(ConsentScopeError, match=r"^language 'fr' not in scope \['en', 'de'\]$"):
        consent.require(artifact.raw, purpose="avatar-generation", language="fr",
                        trust=org.trust, at=t0 + LATER)
    for ok in ("en", "EN", "en-GB", "de-CH"):  # RFC 4647 basic filtering
        consent.require(artifact.raw, purpose="avatar-generation", language=ok,
                        trust=org.trust, at=t0 + LATER)
    with pytest.raises(ConsentScopeError, match="language 'eng'"):
        consent.require(artifact.raw, purpose="avatar-generation", language="eng",
                        trust=org.trust, at=t0 + LATER)


def test_channel_outside_scope(make_artifact, org, t0) -> None:
    web_only = make_artifact(channels=("web",), languages=("*",))
    consent.require(web_only.raw, purpose="avatar-generation", channel="web",
                    language="ja", trust=org.trust, at=t0 + LATER)
    with pytest.raises(ConsentScopeError, match=r"^channel 'tv' not in scope \['web'\]$"):
        consent.require(web_only.raw, purpose="avatar-generation", channel="tv",
                        trust=org.trust, at=t0 + LATER)


def test_require_needs_a_purpose(artifact, org) -> None:
    with pytest.raises(InputError, match="needs the purpose"):
        consent.require(artifact.raw, purpose="", trust=org.trust)


# --- step 7: face ---------------------------------------------------------------------


def test_face_of_another_person(artifact, org, t0, faces) -> None:
    with pytest.raises(ConsentIdentityError,
                       match=r"face does not match the consenting subject 'Eileen Collins' "
                             r"\(distance 0\.\d+ > threshold 0\.6\)"):
        consent.require(artifact.raw, purpose="avatar-generation", face=faces["other_person"],
                        trust=org.trust, at=t0 + LATER)


def test_several_faces_or_none(artifact, org, t0, faces) -> None:
    with pytest.raises(ConsentIdentityError, match="found 2 faces in the image") as info:
        consent.verify(artifact.raw, face=faces["two_faces"], trust=org.trust, at=t0 + LATER)
    assert isinstance(info.value.__cause__, FaceError)
    with pytest.raises(ConsentIdentityError, match="no face found"):
        consent.verify(artifact.raw, face=faces["no_face"], trust=org.trust, at=t0 + LATER)


def test_same_person_other_rendition_matches(artifact, org, t0, faces) -> None:
    """A smaller, recompressed copy of the portrait (as an RGB array) still matches."""
    with Image.open(faces["portrait"]) as im:
        pixels = np.asarray(im.convert("RGB").resize((200, 200)))
    grant = consent.verify(artifact.raw, face=pixels, trust=org.trust, at=t0 + LATER)
    assert grant.face_distance is not None and grant.face_distance < MATCH_THRESHOLD / 2


def test_precomputed_embedding_and_stricter_threshold(artifact, org, t0, faces) -> None:
    probe = embed_face(faces["portrait"])
    grant = consent.verify(artifact.raw, face=probe, trust=org.trust, at=t0 + LATER,
                           face_threshold=0.3)
    assert grant.face_distance is not None
    with pytest.raises(InputError, match="looser one is unsafe"):
        consent.verify(artifact.raw, face=probe, trust=org.trust, face_threshold=0.7)


def test_unreadable_face_image_is_an_input_error(artifact, org, t0, tmp_path) -> None:
    bad = tmp_path / "face.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(FaceError, match="not an image") as info:
        consent.verify(artifact.raw, face=bad, trust=org.trust, at=t0 + LATER)
    assert not isinstance(info.value, ConsentError)


def test_checks_run_in_order(make_artifact, org, t0, faces) -> None:
    """An expired artifact with a wrong face reports the earlier step (validity)."""
    short = make_artifact(not_after=t0 + dt.timedelta(days=1))
    with pytest.raises(ConsentExpiredError):
        consent.require(short.raw, purpose="advertising", face=faces["other_person"],
                        trust=org.trust, at=t0 + dt.timedelta(days=3))


def test_tmp_files_untouched(artifact, tmp_path: Path) -> None:
    assert list(tmp_path.iterdir()) == []  # verification writes nothing


def test_issue_validates_its_arguments(make_artifact, t0) -> None:
    with pytest.raises(InputError, match="invalid purpose 'Ads!'"):
        make_artifact(purposes=("Ads!",))
    with pytest.raises(InputError, match="not one string"):
        make_artifact(languages="en")
    with pytest.raises(InputError, match="at least one channel"):
        make_artifact(channels=())
    with pytest.raises(InputError, match="must end after it begins"):
        make_artifact(not_after=t0 - dt.timedelta(days=1))
    with pytest.raises(InputError, match="display name must not be empty"):
        make_artifact(display_name="  ")
    with pytest.raises(InputError, match="timezone-aware"):
        make_artifact(not_before=dt.datetime(2030, 1, 1))
    upper = make_artifact(languages=("EN-gb", "en-GB", "*"), purposes=("a", "a", "b"))
    assert upper.scope.languages == ("en-gb", "*") and upper.scope.purposes == ("a", "b")


def test_issue_refuses_a_portrait_without_exactly_one_face(make_artifact, faces) -> None:
    with pytest.raises(FaceError, match=r"portrait two_faces\.jpg: found 2 faces"):
        make_artifact(portrait=faces["two_faces"])


def test_a_revocation_list_too_large_is_rejected_like_any_bad_list(artifact, org, t0,
                                                                    tmp_path) -> None:
    """exit 3 with the other lists that do not parse (it was bad input, exit 2)."""
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(consent.MAX_ARTIFACT_BYTES * 20)  # 20 MB of zeros, > the 16 MiB a list may be
    with pytest.raises(ConsentRevocationListError, match=r"larger than 16777216 bytes$"):
        consent.verify(artifact.raw, trust=org.trust, revocation_lists=[big], at=t0 + LATER)
