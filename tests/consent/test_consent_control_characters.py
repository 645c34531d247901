"""Control characters in consent names: one rule (``_display.has_control_characters``: C0,
DEL and C1) for what is issued and stored; artifacts signed before it keep verifying."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from trustavatar import _envelope, consent
from trustavatar.errors import (
    ConsentMalformedError,
    ConsentRevocationListError,
    InputError,
    KeystoreError,
)
from trustavatar.registry import Registry

LATER = dt.timedelta(hours=1)
#: C1 characters: NEL (a line break to Python's splitlines) and CSI (a terminal command)
C1 = ("\u0085", "\u009b", "\u0080", "\u009f")


@pytest.mark.parametrize("c1", C1)
def test_issuance_refuses_c1_in_names(make_artifact, c1) -> None:
    with pytest.raises(InputError, match="display name must not contain control characters"):
        make_artifact(display_name=f"Eileen{c1}Collins")
    with pytest.raises(InputError, match="operator must not contain control characters"):
        make_artifact(operator=f"Test{c1}31mOperator")
    # a recorded consent's draft is checked by the same rule (it is stored in the registry)
    with pytest.raises(InputError, match="display name must not contain control characters"):
        consent.ConsentDraft(display_name=f"Eileen{c1}Collins")


def test_issuance_refuses_a_signing_organisation_with_c1(make_artifact, monkeypatch,
                                                         tmp_path) -> None:
    # keys refuse such an organisation now; a certificate imported before was not checked
    monkeypatch.setattr(_envelope, "signer_organisation", lambda cert: "Test\u0085Org")
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        with pytest.raises(KeystoreError, match=r"organisation \(O\) holds control"):
            make_artifact(registry=reg)
        assert consent.list_consents(reg) == []


def test_a_revocation_list_naming_its_issuer_with_c1_is_malformed(org, t0) -> None:
    stamp = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"type": "trustavatar.revocation-list", "version": 1,
               "issuer": {"organisation": "Test\u009bOrg"}, "issued_at": stamp,
               "revocations": []}
    raw = _envelope.seal(payload, org.key)
    with pytest.raises(ConsentRevocationListError,
                       match="malformed revocation list: control characters in issuer"):
        consent.load_revocation_list(raw, trust=org.trust)


def test_an_artifact_signed_with_c1_in_a_name_still_verifies(artifact, org, t0) -> None:
    # issuance let C1 through before (and the v1 schema allows it): such an artifact may be
    # signed and valid, and stays so; C0 is refused as before
    payload = json.loads(artifact.raw)["payload"]
    payload["subject"]["display_name"] = "Eileen\u0085Collins"
    raw = _envelope.seal(payload, org.key)
    grant = consent.verify(raw, trust=org.trust, at=t0 + LATER)
    assert grant.consent_id == artifact.consent_id
    assert consent.load_artifact(raw).subject.display_name == "Eileen\u0085Collins"
    payload["subject"]["display_name"] = "Eileen\u001bCollins"
    with pytest.raises(ConsentMalformedError):  # the schema and the parser refuse C0
        consent.verify(_envelope.seal(payload, org.key), trust=org.trust, at=t0 + LATER)


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\ufeff", "\u2066"])
def test_names_refuse_invisible_format_characters_but_keep_joiners(make_artifact, hidden,
                                                                   tmp_path) -> None:
    # a right-to-left override turns the text after it around, a zero-width space makes a
    # second "Eileen Collins" that looks like the first
    with pytest.raises(InputError, match=r"display name must not contain invisible format "
                                         r"characters \(it holds U\+"):
        make_artifact(display_name=f"Eileen{hidden}Collins")
    draft = consent.ConsentDraft(display_name="Eileen Collins", operator=f"Op{hidden}")
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        with pytest.raises(InputError, match="operator must not contain invisible"):
            consent.create_challenge(reg, draft)
        assert consent.list_challenges(reg) == []
    # a draft stored before the rule reads back as it was (a challenge made then works)
    assert consent.ConsentDraft.from_json(draft.to_json()) == draft
    # Persian and Indic names are written with the zero-width (non-)joiner
    assert make_artifact(display_name="Mohammad\u200cReza").subject.display_name == \
        "Mohammad\u200cReza"


def test_a_revocation_reason_is_one_line_of_text(artifact, t0, tmp_path) -> None:
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        consent.record_consent(reg, artifact)
        for reason in ("withdrawn\nby email", "evil\x1b[31mred"):
            with pytest.raises(InputError, match="reason must not contain control"):
                consent.revoke(reg, artifact.consent_id, reason=reason, at=t0)
        assert consent.get_consent(reg, artifact.consent_id).revocation is None
