"""Public functions given a wrong kind of argument say so with a trustavatar error (found by
an outside review of the Python API)."""

from __future__ import annotations

import datetime as dt

import pytest

from trustavatar import consent
from trustavatar.errors import InputError, ReportError
from trustavatar.keys import Keystore, validate_chain
from trustavatar.registry import Registry, get_generation
from trustavatar.reports import render_scan_index


def test_a_document_given_as_text_where_a_path_goes(tmp_path) -> None:
    text = '{"payload": {"subject": {"face_embedding": "secret"}}}'
    for call in (lambda: consent.verify(text), lambda: consent.load_artifact(text),
                 lambda: consent.load_revocation_list(text, trust=None)):  # type: ignore[arg-type]
        with pytest.raises(InputError, match="JSON text, not a path") as caught:
            call()
        assert "secret" not in str(caught.value)


def test_validate_chain_and_the_ledger_name_the_wrong_argument(tmp_path) -> None:
    ks = Keystore.create(tmp_path / "h", organisation="Org")
    with pytest.raises(InputError, match="must be timezone-aware"):
        validate_chain(ks.identity.chain, trust=ks.trust_store(), at=dt.datetime(2030, 1, 1))
    with pytest.raises(InputError, match="trust must be a TrustStore"):
        validate_chain(ks.identity.chain, trust=None,  # type: ignore[arg-type]
                       at=dt.datetime.now(dt.UTC))
    with Registry.for_home(tmp_path / "h") as registry:
        assert get_generation(registry, 2 ** 70) is None
        for bad in (1.5, None, "1"):
            with pytest.raises(InputError, match="a whole number"):
                get_generation(registry, bad)  # type: ignore[arg-type]


def test_build_audit_wants_a_callable_progress(tmp_path) -> None:
    from trustavatar.reports import build_audit

    with pytest.raises(ReportError, match="progress must be a callable"):
        build_audit(tmp_path, progress=5)  # type: ignore[arg-type]


def test_the_scan_index_takes_results_and_refuses_other_things() -> None:
    class Result:  # what ScanResult offers the index
        def to_dict(self) -> dict[str, object]:
            return {"path": "/v/a.mp4", "verdict": "inconclusive", "probability": None}

    assert "a.mp4" in render_scan_index([Result()])  # type: ignore[list-item]
    for bad in ("x", [None], {"path": "a"}):
        with pytest.raises(ReportError):
            render_scan_index(bad)  # type: ignore[arg-type]


def test_consent_functions_name_a_wrong_kind_of_argument(tmp_path) -> None:
    from trustavatar.errors import RegistryError
    from trustavatar.face import sample_portrait_path

    ks = Keystore.create(tmp_path / "h", organisation="Org")
    release = tmp_path / "release.txt"
    release.write_text("signed")
    with pytest.raises(InputError, match="evidence document must be a path or its bytes"):
        consent.Evidence.operator_attestation(5)  # type: ignore[arg-type]
    evidence = consent.Evidence.operator_attestation(release)
    with pytest.raises(InputError, match="display name must be a string, got NoneType"):
        consent.issue(ks.signing_key(), portrait=sample_portrait_path(),
                      display_name=None, evidence=evidence)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="a file path, got int"):
        Registry.open(5)  # type: ignore[arg-type]
    with Registry.for_home(tmp_path / "h") as registry:
        with pytest.raises(InputError, match="takes a ConsentArtifact"):
            consent.record_consent(registry, str(release))  # type: ignore[arg-type]
        with pytest.raises(InputError, match="reason must be a string"):
            consent.revoke(registry, "x", reason=None)  # type: ignore[arg-type]
