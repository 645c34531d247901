"""A keystore whose signing key, certificate and root do not belong together is damaged,
and is said so when it is opened or unlocked, before anything is signed or written.

Before: a signing key copied from another home, or one base64 character changed in the
signing certificate's signature, went unnoticed: ``keys show`` and every signing command
exited 0 (``consent issue`` 70) and wrote documents the same home then refused. An
encrypted key cut short was called a wrong passphrase, an unencrypted one unreadable input
(exit 2), where a damaged chain or identity.json is a damaged keystore (exit 1).
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.clitools import invoke
from tests.keys.pki import certificate, new_key, root

from trustavatar.errors import InputError, KeystoreError, PassphraseError
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.keys._x509 import chain_to_pem

_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _flip_in_first_signature(path: Path) -> None:
    """One base64 character changed in the last line before the first ``-----END``: the
    end of the first certificate's signature (what the review did)."""
    before = x509.load_pem_x509_certificates(path.read_bytes())
    lines = path.read_text().splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith("-----END")) - 1
    c = lines[i][0]  # the first character: six bits of data, whatever the padding
    lines[i] = _B64[_B64.index(c) ^ 32] + lines[i][1:]
    path.write_text("".join(lines))
    after = x509.load_pem_x509_certificates(path.read_bytes())  # still reads
    assert after[0] != before[0] and after[1:] == before[1:]


def _signing_commands_refuse(capsys, home: Path, tmp_path: Path, media, says: str) -> None:
    """``keys show`` and the signing commands exit 1 with one line naming the damage, and
    write nothing."""
    h = ("--home", home)
    for args, out in ((("keys", "show"), None),
                      (("provenance", "sign", media["jpeg"]), tmp_path / "signed.jpg"),
                      (("consent", "revocations", "export"), tmp_path / "revocations.json")):
        r = invoke(capsys, *h, *args, *(("--out", out) if out else ()))
        assert r.code == 1, (args, r.err)
        assert r.err.count("\n") == 1 and "is damaged: " in r.err and says in r.err, r.err
        assert out is None or not out.exists()


def test_a_signing_key_of_another_home_is_found_when_the_keystore_is_opened(
        tmp_path, capsys, media) -> None:
    ours = Keystore.create(Home.resolve(tmp_path / "ours"), organisation="Studio")
    theirs = Keystore.create(Home.resolve(tmp_path / "theirs"), organisation="Studio")
    (ours.home.keys_dir / "signing-key.pem").write_bytes(
        (theirs.home.keys_dir / "signing-key.pem").read_bytes())
    says = "the signing key does not match its certificate"
    with pytest.raises(KeystoreError, match=f"^the keystore in .* is damaged: {says}"):
        Keystore.open(ours.home)
    _signing_commands_refuse(capsys, tmp_path / "ours", tmp_path, media, says)


def test_an_encrypted_signing_key_of_another_home_is_found_when_it_is_unlocked(
        tmp_path, capsys, media, monkeypatch) -> None:
    ours = Keystore.create(Home.resolve(tmp_path / "ours"), organisation="S", passphrase=b"pw")
    theirs = Keystore.create(Home.resolve(tmp_path / "th"), organisation="S", passphrase=b"pw")
    (ours.home.keys_dir / "signing-key.pem").write_bytes(
        (theirs.home.keys_dir / "signing-key.pem").read_bytes())
    ks = Keystore.open(ours.home)  # without the passphrase the key cannot be compared
    with pytest.raises(KeystoreError, match="is damaged: the signing key does not match"):
        ks.signing_key(b"pw")
    monkeypatch.setenv("TRUSTAVATAR_PASSPHRASE", "pw")
    out = tmp_path / "signed.jpg"
    r = invoke(capsys, "--home", ours.home.root, "provenance", "sign", media["jpeg"],
               "--out", out)
    assert r.code == 1 and "does not match its certificate" in r.err and not out.exists()


def test_a_changed_signature_on_the_signing_certificate_is_found(tmp_path, capsys,
                                                                  media) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "home"), organisation="Studio")
    _flip_in_first_signature(ks.home.keys_dir / "signing-chain.pem")
    says = "the signing certificate is not issued by this home's root (root-ca.pem)"
    with pytest.raises(KeystoreError, match=r"is damaged: .*\(root-ca\.pem\)$"):
        Keystore.open(ks.home)
    _signing_commands_refuse(capsys, tmp_path / "home", tmp_path, media, says)


def test_a_chain_ending_at_another_root_is_not_this_homes(tmp_path) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "home"), organisation="Studio")
    other = Keystore.create(Home.resolve(tmp_path / "other"), organisation="Studio")
    # the other home's root and key: a consistent identity, but not this home's root
    for name in ("signing-chain.pem", "signing-key.pem"):
        (ks.home.keys_dir / name).write_bytes((other.home.keys_dir / name).read_bytes())
    with pytest.raises(KeystoreError, match="not issued by this home's root"):
        Keystore.open(ks.home)


def _three_levels() -> tuple[list[x509.Certificate], bytes]:
    """A CA-issued identity: leaf, issuing CA, the CA's root; and the leaf's key."""
    rk, ik, lk = new_key(), new_key(), new_key()
    top = root(rk, "Root Inc", path_length=1)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key
    inter = certificate(ik, issuer=(top, rk), org="Studio", cn="Studio CA", ca=True,
                        path_length=0, ekus=None, extra=[(aki(rk.public_key()), False)])
    leaf = certificate(lk, issuer=(inter, ik), org="Studio", cn="Studio signer",
                       extra=[(aki(ik.public_key()), False)])
    key = lk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    return [leaf, inter, top], key


@pytest.mark.parametrize("listed", [3, 2, 1])  # up to the external root, or short of it
def test_an_imported_identity_opens_and_its_chain_is_checked(tmp_path, listed) -> None:
    chain, key = _three_levels()
    home = Home.resolve(tmp_path / "h")
    Keystore.import_identity(home, chain_pem=chain_to_pem(chain[:listed]), key_pem=key)
    assert Keystore.open(home).signing_key().certificate == chain[0]
    if listed > 1:
        _flip_in_first_signature(home.keys_dir / "signing-chain.pem")
        with pytest.raises(KeystoreError, match=r"is damaged: the signing certificate is not "
                           r"issued by the certificates of its chain: certificate 2 of "
                           r"signing-chain.pem did not issue certificate 1"):
            Keystore.open(home)


def test_an_imported_root_whose_own_signature_changed_is_found(tmp_path) -> None:
    chain, key = _three_levels()
    home = Home.resolve(tmp_path / "h")
    Keystore.import_identity(home, chain_pem=chain_to_pem(chain), key_pem=key)
    path = home.keys_dir / "signing-chain.pem"
    # the root first: the changed signature is its self-signature
    path.write_bytes(chain_to_pem(chain[2:]))
    _flip_in_first_signature(path)
    path.write_bytes(chain_to_pem(chain[:2]) + path.read_bytes())
    with pytest.raises(KeystoreError, match=r"the root certificate at the end of "
                       r"signing-chain.pem \('Root Inc root CA'\) is not signed by its own key"):
        Keystore.open(home)


# --- a damaged signing key is a damaged keystore, not a wrong passphrase ------------------


def _cut(pem: bytes) -> dict[str, bytes]:
    lines = pem.splitlines(keepends=True)
    return {"cut in half": pem[: len(pem) // 2],
            "a line lost": b"".join(lines[:2] + lines[3:]),
            "the last base64 line lost": b"".join(lines[:-2] + lines[-1:])}


@pytest.mark.parametrize("passphrase", [b"pw", None])
def test_a_damaged_signing_key_is_a_damaged_keystore(tmp_path, capsys, media, monkeypatch,
                                                     passphrase) -> None:
    ks = Keystore.create(Home.resolve(tmp_path / "h"), organisation="S", passphrase=passphrase)
    path = ks.home.keys_dir / "signing-key.pem"
    good = path.read_bytes()
    if passphrase:
        with pytest.raises(PassphraseError, match="wrong passphrase"):
            ks.signing_key(b"not it")  # a wrong passphrase on an intact key stays one
        monkeypatch.setenv("TRUSTAVATAR_PASSPHRASE", passphrase.decode())
    says = (f"the keystore in {ks.home.keys_dir} is damaged: the signing key {path} is not a "
            "readable PEM private key")
    for how, data in _cut(good).items():
        path.write_bytes(data)
        for given in (passphrase, b"not it", None):
            with pytest.raises(KeystoreError, match="is damaged") as e:
                Keystore.open(ks.home).signing_key(given)
            assert str(e.value) == says and type(e.value) is KeystoreError, (how, given)
        out = tmp_path / "signed.jpg"
        r = invoke(capsys, "--home", ks.home.root, "provenance", "sign", media["jpeg"],
                   "--out", out)
        assert (r.code, r.err) == (1, f"trustavatar: error: {says}\n") and not out.exists()
        r = invoke(capsys, "--home", ks.home.root, "keys", "show")
        assert (r.code, r.err) == (1, f"trustavatar: error: {says}\n"), how


def test_importing_a_damaged_encrypted_key_says_it_is_unreadable(tmp_path) -> None:
    source = Keystore.create(Home.resolve(tmp_path / "s"), organisation="S", passphrase=b"pw")
    good = (source.home.keys_dir / "signing-key.pem").read_bytes()
    for data in _cut(good).values():
        with pytest.raises(InputError, match=r"^the signing key in the key file is not a "
                           r"readable PEM private key$"):
            Keystore.import_identity(Home.resolve(tmp_path / "x"),
                                     chain_pem=chain_to_pem(source.identity.chain),
                                     key_pem=data, key_passphrase=b"pw")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        Keystore.import_identity(Home.resolve(tmp_path / "x"),
                                 chain_pem=chain_to_pem(source.identity.chain),
                                 key_pem=good, key_passphrase=b"not it")
    assert not Keystore.exists(Home.resolve(tmp_path / "x"))


def test_keys_show_checks_an_encrypted_key_when_given_its_passphrase(
        tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TRUSTAVATAR_PASSPHRASE", raising=False)
    ours = Keystore.create(Home.resolve(tmp_path / "ours"), organisation="S", passphrase=b"pw")
    theirs = Keystore.create(Home.resolve(tmp_path / "theirs"), organisation="S",
                             passphrase=b"pw")
    monkeypatch.setenv("PW", "pw")
    h = ("--home", ours.home.root)
    key = (ours.home.keys_dir / "signing-key.pem").read_bytes()
    r = invoke(capsys, *h, "keys", "show", "--json")
    assert r.code == 0 and r.json()["key_checked"] is False
    r = invoke(capsys, *h, "keys", "show", "--passphrase-env", "PW", "--json")
    assert r.code == 0 and r.json()["key_checked"] is True
    (ours.home.keys_dir / "signing-key.pem").write_bytes(
        (theirs.home.keys_dir / "signing-key.pem").read_bytes())
    r = invoke(capsys, *h, "keys", "show")  # cannot be told without the passphrase
    assert r.code == 0 and "key checked against the certificate: no (encrypted" in r.out
    r = invoke(capsys, *h, "keys", "show", "--passphrase-env", "PW")
    assert r.code == 1 and "does not match its certificate" in r.err
    # the default variable holding another home's passphrase: shown, said, not an error
    (ours.home.keys_dir / "signing-key.pem").write_bytes(key)
    monkeypatch.setenv("TRUSTAVATAR_PASSPHRASE", "another")
    r = invoke(capsys, *h, "keys", "show", "--json")
    assert r.code == 0 and r.json()["key_checked"] is False
    assert "does not unlock it" in r.json()["key_check_note"]
    r = invoke(capsys, *h, "keys", "show", "--passphrase-env", "TRUSTAVATAR_PASSPHRASE")
    assert r.code == 1 and "wrong passphrase" in r.err  # asked for by name: an error
