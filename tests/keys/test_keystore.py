from __future__ import annotations

import datetime as dt
import re
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from trustavatar.errors import (
    InputError,
    KeystoreExistsError,
    KeystoreLockedError,
    KeystoreMissingError,
    PassphraseError,
    UntrustedChainError,
)
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore, validate_chain
from trustavatar.keys._x509 import DOCUMENT_SIGNING, chain_to_pem

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_leaf_has_the_c2pa_signer_profile(keystore: Keystore) -> None:
    leaf, root = keystore.identity.chain
    ext = leaf.extensions
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    ekus = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in ekus and DOCUMENT_SIGNING in ekus
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert keystore.identity.to_dict()["algorithm"] == "ES256"


def test_files_are_private(keystore: Keystore) -> None:
    home = keystore.home
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.keys_dir.stat().st_mode) == 0o700
    for name in ("signing-key.pem", "root-ca-key.pem"):
        assert stat.S_IMODE((home.keys_dir / name).stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in (home.keys_dir / "signing-key.pem").read_bytes()


def test_init_trusts_its_root(keystore: Keystore) -> None:
    anchors = TrustStore.from_home(keystore.home).anchors
    assert [a.certificate for a in anchors] == [keystore.identity.chain[1]]


def test_init_twice_refuses_then_force_retires(keystore: Keystore) -> None:
    before = keystore.identity.certificate
    with pytest.raises(KeystoreExistsError, match="exists already"):
        Keystore.create(keystore.home, organisation="Other")
    assert Keystore.open(keystore.home).identity.certificate == before
    new = Keystore.create(keystore.home, organisation="Other", force=True)
    assert new.identity.certificate != before
    retired = list((keystore.home.keys_dir / "retired").iterdir())
    assert len(retired) == 1 and (retired[0] / "signing-key.pem").is_file()
    # The old root stays trusted, so what it signed keeps verifying.
    assert len(TrustStore.from_home(keystore.home).anchors) == 2


def test_encrypted_key_needs_the_right_passphrase(home: Home) -> None:
    ks = Keystore.create(home, organisation="Enc", passphrase=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in (home.keys_dir / "signing-key.pem").read_bytes()
    assert ks.identity.encrypted
    with pytest.raises(KeystoreLockedError, match="encrypted") as locked:
        ks.signing_key()
    # one line that serves both the CLI and Python callers
    said = str(locked.value)
    assert "\n" not in said
    assert said.endswith("is encrypted: give its passphrase (in TRUSTAVATAR_PASSPHRASE, or "
                         "--passphrase-env VAR, on the command line; passphrase= in "
                         "Python)"), said
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        ks.signing_key(b"battery staple")
    assert len(ks.signing_key(b"correct horse").sign(b"data")) == 64


def test_missing_keystore(home: Home) -> None:
    with pytest.raises(KeystoreMissingError, match="keys init"):
        Keystore.open(home)


def test_organisation_names_within_the_x509_limits(tmp_path) -> None:
    longest = "O" * 64  # its certificates' common names ("... trustavatar signer") are cut
    ks = Keystore.create(Home.resolve(tmp_path / "a"), organisation=longest)
    assert ks.identity.organisation == longest
    with pytest.raises(InputError, match="at most 64 characters"):
        Keystore.create(Home.resolve(tmp_path / "b"), organisation="O" * 65)
    with pytest.raises(InputError, match="must not be empty"):
        Keystore.create(Home.resolve(tmp_path / "c"), organisation="  ")
    # a line break would end up in every consent artifact, which must not carry one
    for name in ("line1\nline2", "tab\there", "del\x7f"):
        with pytest.raises(InputError, match="control characters"):
            Keystore.create(Home.resolve(tmp_path / "d"), organisation=name)
    # invisible characters would make a look-alike of another organisation's name, or turn
    # the text after them around: zero-width space, right-to-left override, BOM, soft hyphen
    for name, shown in (("Stu\u200bdio", "U+200B ZERO WIDTH SPACE"),
                        ("evil\u202eoidutS", "U+202E RIGHT-TO-LEFT OVERRIDE"),
                        ("\ufeffStudio", "U+FEFF"), ("Stu\u00addio", "U+00AD SOFT HYPHEN")):
        with pytest.raises(InputError, match=f"invisible format characters .*{re.escape(shown)}"):
            Keystore.create(Home.resolve(tmp_path / "d"), organisation=name)
    assert not (tmp_path / "d" / "keys").exists()


def test_import_a_ca_issued_identity(tmp_path, keystore: Keystore) -> None:
    ca = keystore  # plays the role of an external CA
    key_pem = (ca.home.keys_dir / "signing-key.pem").read_bytes()
    chain_pem = chain_to_pem(ca.identity.chain)
    other = Home.resolve(tmp_path / "other")
    ks = Keystore.import_identity(other, chain_pem=chain_pem, key_pem=key_pem,
                                  passphrase=b"pw")
    assert ks.identity.source == "imported" and ks.identity.encrypted
    assert ks.identity.organisation == "Test Org"
    assert ks.signing_key(b"pw").certificate == ca.identity.certificate
    # the issuing root is not trusted automatically
    assert TrustStore.from_home(other).anchors == ()


def test_import_rejects_a_key_of_another_certificate(tmp_path, keystore: Keystore) -> None:
    stranger = Keystore.create(Home.resolve(tmp_path / "s"), organisation="S")
    with pytest.raises(InputError, match="does not belong"):
        Keystore.import_identity(
            Home.resolve(tmp_path / "x"),
            chain_pem=chain_to_pem(keystore.identity.chain),
            key_pem=(stranger.home.keys_dir / "signing-key.pem").read_bytes(),
        )


def test_import_rejects_a_certificate_c2pa_cannot_use(tmp_path, keystore: Keystore) -> None:
    # the root CA certificate with its key: a CA, no EKU, no digitalSignature
    root_key = (keystore.home.keys_dir / "root-ca-key.pem").read_bytes()
    with pytest.raises(InputError, match="cannot sign C2PA manifests: it is a CA certificate"):
        Keystore.import_identity(
            Home.resolve(tmp_path / "x"),
            chain_pem=chain_to_pem(keystore.identity.chain[1:]), key_pem=root_key,
        )


def test_import_names_its_own_options(tmp_path, keystore: Keystore) -> None:
    encrypted = Keystore.create(Home.resolve(tmp_path / "e"), organisation="E", passphrase=b"pw")
    key_pem = (encrypted.home.keys_dir / "signing-key.pem").read_bytes()
    with pytest.raises(KeystoreLockedError, match=r"\(--key-passphrase-env VAR, on the command "
                       r"line; key_passphrase= in Python\)"):
        Keystore.import_identity(Home.resolve(tmp_path / "x"),
                                 chain_pem=chain_to_pem(encrypted.identity.chain),
                                 key_pem=key_pem)
    with pytest.raises(InputError, match=r"^the signing key in the key file is not a readable"):
        Keystore.import_identity(Home.resolve(tmp_path / "x"),
                                 chain_pem=chain_to_pem(keystore.identity.chain),
                                 key_pem=b"-----BEGIN PRIVATE KEY-----\njunk\n")


def test_import_rejects_garbage(tmp_path) -> None:
    with pytest.raises(InputError, match="no readable PEM certificate"):
        Keystore.import_identity(Home.resolve(tmp_path / "x"), chain_pem=b"junk", key_pem=b"junk")


def test_trust_add_rejects_a_leaf(keystore: Keystore) -> None:
    leaf_pem = keystore.identity.certificate.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InputError, match="not a CA certificate"):
        TrustStore.from_home(keystore.home).add(leaf_pem, label="leaf")


def test_validate_chain(tmp_path) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "a"), organisation="A", now=NOW, leaf_days=30)
    other = Keystore.create(Home.resolve(tmp_path / "b"), organisation="B", now=NOW)
    chain = ks.identity.chain
    assert validate_chain(chain, trust=ks.trust_store(), at=NOW).label == "A-root"
    # the leaf alone is enough when its root is an anchor
    validate_chain(chain[:1], trust=ks.trust_store(), at=NOW)
    with pytest.raises(UntrustedChainError, match="does not chain to a trusted root"):
        validate_chain(chain, trust=other.trust_store(), at=NOW)
    with pytest.raises(UntrustedChainError, match="not valid at"):
        validate_chain(chain, trust=ks.trust_store(), at=NOW + dt.timedelta(days=31))
    with pytest.raises(UntrustedChainError, match="is a CA certificate"):
        validate_chain(chain[1:], trust=ks.trust_store(), at=NOW)
    with pytest.raises(UntrustedChainError, match="no certificate chain"):
        validate_chain((), trust=ks.trust_store(), at=NOW)


def test_a_home_may_be_a_path_and_a_passphrase_str(tmp_path) -> None:
    from trustavatar.registry import Registry

    folder = tmp_path / "home"
    ks = Keystore.create(str(folder), organisation="Path Org", passphrase="pass word")
    assert ks.identity.encrypted
    assert Keystore.open(folder).signing_key("pass word").certificate == ks.identity.certificate
    assert Keystore.open(str(folder)).signing_key(b"pass word")  # bytes as before
    assert len(TrustStore.from_home(folder).anchors) == 1
    with Registry.for_home(str(folder)) as registry:
        assert registry.path == folder / "registry.sqlite3"


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"organisation": None}, "must be a string"),
    ({"organisation": "o", "passphrase": 5}, "must be bytes or str"),
    ({"organisation": "o", "leaf_days": "5"}, "whole number of days"),
    ({"organisation": "o", "leaf_days": 10 ** 9}, "whole number of days"),
    ({"organisation": "o", "now": dt.datetime(2024, 1, 1)}, "timezone-aware"),
])
def test_wrong_arguments_to_create_write_nothing(tmp_path, kwargs, says) -> None:
    with pytest.raises(InputError, match=says):
        Keystore.create(tmp_path / "h", **kwargs)
    assert not (tmp_path / "h").exists()
    with pytest.raises(InputError, match="a folder path or a Home"):
        Keystore.open(5)  # type: ignore[arg-type]


_REPLACE = """
import sys
from trustavatar.keys import Keystore
print("go", flush=True)
Keystore.create(sys.argv[1], organisation="Second", force=True)
"""


def test_a_second_init_waits_for_the_first_to_finish(keystore: Keystore) -> None:
    """``keys init --force`` run twice at once: each retires and writes the whole identity
    under the home's lock, so the key, the chain and identity.json never come from two
    different runs. Here the test holds the lock as a first run would."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    home = keystore.home
    fd = os.open(home.keys_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", _REPLACE, str(home.root)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
        time.sleep(1.5)
        assert proc.poll() is None, "the second run did not wait for the lock"
        assert Keystore.open(home).identity.organisation == keystore.identity.organisation
    finally:
        os.close(fd)
    assert proc.wait(timeout=60) == 0
    after = Keystore.open(home)
    assert after.identity.organisation == "Second"
    key = after.signing_key()

    def public(k: object) -> bytes:
        return k.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                              serialization.PublicFormat.SubjectPublicKeyInfo)

    assert public(key.private_key.public_key()) == public(key.certificate.public_key())
