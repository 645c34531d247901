"""Property tests: whatever bytes come in, only ConsentError (or InputError) comes out."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustavatar import consent
from trustavatar.errors import ConsentError, ConsentMalformedError, InputError
from trustavatar.registry import Registry

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_malformed(data: bytes) -> None:
    try:
        consent.parse_artifact(data)
    except ConsentMalformedError:
        return
    raise AssertionError("random bytes parsed as a consent artifact")


@st.composite
def mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif kind == "delete" and data:
            del data[i : i + draw(st.integers(1, 8))]
        elif data:
            data[i] = draw(st.sampled_from(b'{}[],:"\\0123456789aeAZ+/=-_ '))
    return bytes(data)


@SETTINGS
@given(data=st.data())
def test_mutated_artifacts_raise_only_consent_errors(data, artifact, org, t0) -> None:
    mutated = data.draw(mutations(artifact.raw))
    try:
        grant = consent.verify(mutated, trust=org.trust, at=t0 + dt.timedelta(hours=1))
    except (ConsentError, InputError):
        return
    # Only bytes outside what is signed and trusted can change and still verify (e.g. an
    # intermediate certificate the chain check does not need); the grant is unchanged.
    assert grant.consent_id == artifact.consent_id
    assert grant.subject_name == artifact.subject.display_name



@pytest.fixture(scope="module")
def revocation_list(make_artifact, org, t0, tmp_path_factory) -> bytes:
    """A signed list revoking another consent (the sample artifact stays valid)."""
    other = make_artifact(display_name="Someone Else")
    with Registry.open(tmp_path_factory.mktemp("rl") / "r.sqlite3") as reg:
        consent.record_consent(reg, other)
        consent.revoke(reg, other.consent_id, reason="withdrawn", at=t0)
        return consent.export_revocations(reg, org.key, at=t0).raw


@SETTINGS
@given(data=st.data())
def test_mutated_revocation_lists_raise_only_consent_errors(
    data, artifact, org, t0, revocation_list
) -> None:
    mutated = data.draw(mutations(revocation_list))
    try:
        grant = consent.verify(artifact.raw, trust=org.trust, revocation_lists=[mutated],
                               at=t0 + dt.timedelta(hours=1))
    except (ConsentError, InputError):
        return
    # Only the unused root copy in x5c can change and still verify; the list still
    # does not revoke the sample artifact.
    assert grant.consent_id == artifact.consent_id
