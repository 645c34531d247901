"""The signed envelope shared by consent artifacts and revocation lists."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from trustavatar import _envelope
from trustavatar.keys import SigningKey

PRIVATE_KEYS = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "Ed25519": ed25519.Ed25519PrivateKey.generate,
}


def _self_signed(key) -> SigningKey:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Envelope Org"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "envelope test")])
    now = dt.datetime.now(dt.UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, algorithm))
    return SigningKey(key, (cert,))


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: _self_signed(make()) for alg, make in PRIVATE_KEYS.items()}


def _open(raw: bytes) -> _envelope.Envelope:
    return _envelope.open_envelope(_envelope.load_canonical_json(raw, max_bytes=1 << 20), raw=raw)


@pytest.mark.parametrize("alg", sorted(PRIVATE_KEYS))
def test_seal_and_verify_every_algorithm(keys, alg) -> None:
    raw = _envelope.seal({"type": "test", "n": 1, "text": "é"}, keys[alg])
    env = _open(raw)
    assert env.alg == alg and env.payload["n"] == 1 and env.raw == raw
    env.verify_signature()
    assert _envelope.signer_organisation(env.chain[0]) == "Envelope Org"


@pytest.mark.parametrize("alg", sorted(PRIVATE_KEYS))
def test_tampered_payload_fails_every_algorithm(keys, alg) -> None:
    doc = json.loads(_envelope.seal({"n": 1}, keys[alg]))
    doc["payload"]["n"] = 2
    env = _open(_envelope.canonical_json(doc))
    with pytest.raises(_envelope.EnvelopeSignatureError, match=r"^signature does not verify$"):
        env.verify_signature()


def test_algorithm_must_match_the_key(keys) -> None:
    doc = json.loads(_envelope.seal({"n": 1}, keys["ES256"]))
    for alg in ("ES384", "PS256", "Ed25519"):
        doc["signature"]["alg"] = alg
        env = _open(_envelope.canonical_json(doc))
        with pytest.raises(_envelope.EnvelopeSignatureError, match="does not verify"):
            env.verify_signature()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("\ufeff{}".encode(), "not valid JSON"),
        (b'{"a":1,"a":1}', "duplicate key 'a'"),
        (b'{"a":NaN}', "NaN is not a JSON number"),
        (b'{"a":1e400}', "cannot be canonicalised"),
        (b'{"a":9007199254740993}', "cannot be canonicalised"),
        (b'{"a":"\\ud800"}', "cannot be canonicalised"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"b":1,"a":2}', "not canonical"),
        (b'{"a": 1}', "not canonical"),
        (b'{"a":1.0}', "not canonical"),
        (b'{"a":"\\u0041"}', "not canonical"),
        (b"{}\n", "not canonical"),
        (b'{"a":' + b"9" * 5000 + b"}", r"Exceeds the limit \(4300 digits\)"),  # was ValueError
    ],
)
def test_canonical_loader_rejects(data: bytes, message: str) -> None:
    with pytest.raises(_envelope.EnvelopeFormatError, match=message):
        _envelope.load_canonical_json(data, max_bytes=1 << 20)


def test_size_limit() -> None:
    with pytest.raises(_envelope.EnvelopeFormatError, match="larger than 10 bytes"):
        _envelope.load_canonical_json(b'{"a":"0123456789"}', max_bytes=10)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("signature"), "not an envelope"),
        (lambda d: d.update(payload=[]), "'payload' is not an object"),
        (lambda d: d["signature"].update(x5c=[]), "1 to 4 certificates"),
        (lambda d: d["signature"].update(x5c=["!!!"]), "not base64"),
        (lambda d: d["signature"].update(x5c=["AAAA"]), "not a usable DER certificate"),
        (lambda d: d["signature"].update(value="A"), "not base64url"),
        (lambda d: d["signature"].update(value="AB"), "not canonical unpadded base64url"),
    ],
)
def test_envelope_shape(keys, mutate, message) -> None:
    doc = json.loads(_envelope.seal({"n": 1}, keys["ES256"]))
    mutate(doc)
    raw = _envelope.canonical_json(doc)
    with pytest.raises(_envelope.EnvelopeFormatError, match=message):
        _open(raw)


def test_check_signer_runs_signature_chain_and_issuer_checks_in_order(keystore) -> None:
    from trustavatar.errors import UntrustedChainError
    from trustavatar.keys import TrustStore

    key = keystore.signing_key()
    org = _envelope.signer_organisation(key.certificate)
    data = _envelope.seal({"type": "t", "n": 1}, key)
    env = _envelope.open_envelope(json.loads(data), raw=data)
    now = dt.datetime.now(dt.UTC)
    trust = keystore.trust_store()
    assert env.check_signer(trust=trust, at=now, organisation=org).fingerprint
    with pytest.raises(_envelope.EnvelopeIssuerError, match="but is signed by"):
        env.check_signer(trust=trust, at=now, organisation="Someone Else")
    with pytest.raises(UntrustedChainError):
        env.check_signer(trust=TrustStore.of(), at=now, organisation=org)
    forged = _envelope.Envelope({"type": "t", "n": 2}, env.alg, env.chain, env.signature, data)
    with pytest.raises(_envelope.EnvelopeSignatureError):
        forged.check_signer(trust=trust, at=now, organisation=org)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_signatures_are_sealed_low_s_and_the_high_s_twin_is_refused(keys, alg) -> None:
    """(r, n - s) verifies as well as (r, s): a second byte form of the same document,
    made without the key (red-team finding F11). seal() writes s <= n/2; readers refuse
    the other."""
    size, n = {"ES256": 32, "ES384": 48, "ES512": 66}[alg], _envelope._EC_ORDER[alg]
    for i in range(24):  # about half came out high-S before
        doc = json.loads(_envelope.seal({"n": i}, keys[alg]))
        raw = base64.urlsafe_b64decode(doc["signature"]["value"] + "==")
        s = int.from_bytes(raw[size:], "big")
        assert s <= n // 2
        _open(_envelope.canonical_json(doc)).verify_signature()
    twin = raw[:size] + (n - s).to_bytes(size, "big")
    doc["signature"]["value"] = base64.urlsafe_b64encode(twin).rstrip(b"=").decode()
    with pytest.raises(_envelope.EnvelopeSignatureError, match="low-S"):
        _open(_envelope.canonical_json(doc)).verify_signature()


def test_x5c_listing_a_certificate_twice_is_malformed(keys) -> None:
    doc = json.loads(_envelope.seal({"n": 1}, keys["ES256"]))
    doc["signature"]["x5c"] *= 2
    with pytest.raises(_envelope.EnvelopeFormatError, match="same certificate twice"):
        _open(_envelope.canonical_json(doc))
