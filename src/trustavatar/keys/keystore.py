"""The organisation signing identity, kept in ``$TRUSTAVATAR_HOME/keys``.

``Keystore.create`` makes a local root CA and a signing leaf (EC P-256) and trusts the
root; ``Keystore.import_identity`` takes a CA-issued chain and key instead. Private keys
are PKCS#8 PEM, encrypted when a passphrase is given, mode 0600 in a 0700 directory.
"""

from __future__ import annotations

__all__ = ["Keystore", "SigningIdentity", "SigningKey"]

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID

from trustavatar._arguments import flag
from trustavatar._atomic import atomic_write_bytes
from trustavatar._time import require_aware
from trustavatar.errors import (
    InputError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreLockedError,
    KeystoreMissingError,
    PassphraseError,
    UntrustedChainError,
)
from trustavatar.home import Home
from trustavatar.keys import _x509
from trustavatar.keys.trust import (
    TrustStore,
    certification_path_break,
    issued_by,
    load_pem_certificates,
    validate_chain,
)

_IDENTITY = "identity.json"
_CHAIN = "signing-chain.pem"
_KEY = "signing-key.pem"
_ROOT = "root-ca.pem"
_ROOT_KEY = "root-ca-key.pem"

Algorithm = Literal["ES256", "ES384", "ES512", "PS256", "Ed25519"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _algorithm_for(key: PrivateKeyTypes) -> Algorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve: dict[str, Algorithm] = {
            "secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"
        }
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
        raise KeystoreError(f"unsupported EC curve {key.curve.name} (use P-256, P-384 or P-521)")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise KeystoreError("RSA signing keys must be at least 2048 bits")
        return "PS256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    raise KeystoreError(f"unsupported signing key type {type(key).__name__}")


_EC_HASH = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}
_EC_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}


@dataclass(frozen=True)
class SigningKey:
    """An unlocked private key with its certificate chain (leaf first)."""

    private_key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]

    @property
    def algorithm(self) -> Algorithm:
        return _algorithm_for(self.private_key)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def chain_pem(self) -> bytes:
        return _x509.chain_to_pem(self.chain)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``; EC signatures come as JOSE raw ``r || s`` (RFC 7518)."""
        alg = self.algorithm
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_EC_HASH[alg])))
            n = _EC_SIZE[alg]
            return r.to_bytes(n, "big") + s.to_bytes(n, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(
                data,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise KeystoreError(f"unsupported signing key type {type(key).__name__}")


@dataclass(frozen=True)
class SigningIdentity:
    """Public facts about the signing identity (no secrets)."""

    organisation: str
    source: Literal["local-ca", "imported"]
    encrypted: bool
    created_at: str
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def root_organisations(self) -> tuple[str, ...]:
        """The organisations (O) the chain's root names: the issuer of the chain's last
        certificate (the root itself when the chain ends with it). Trusting that root
        (``keys trust add``) accepts documents from these organisations only; a
        certification authority's root must be accepted for :attr:`organisation` besides
        (``--organisation``)."""
        return tuple(str(a.value) for a in self.chain[-1].issuer.get_attributes_for_oid(
            x509.NameOID.ORGANIZATION_NAME))

    def to_dict(self) -> dict[str, object]:
        leaf = self.certificate
        return {
            "organisation": self.organisation,
            "source": self.source,
            "key_encrypted": self.encrypted,
            "created_at": self.created_at,
            "signer": _x509.common_name(leaf),
            "issuer": leaf.issuer.rfc4514_string(),
            "certificate_sha256": _x509.fingerprint(leaf),
            "not_before": leaf.not_valid_before_utc.isoformat(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "algorithm": _algorithm_for_public(leaf),
            "chain_length": len(self.chain),
        }


def _algorithm_for_public(cert: x509.Certificate) -> str:
    pub = cert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}.get(
            pub.curve.name, pub.curve.name
        )
    if isinstance(pub, rsa.RSAPublicKey):
        return "PS256"
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(pub).__name__


def _passphrase(value: object, what: str = "passphrase") -> bytes | None:
    """A passphrase as bytes: ``str`` (as read from the environment) is UTF-8 encoded."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return bytes(value)
    raise InputError(f"the {what} must be bytes or str, got {type(value).__name__}")


def _encryption(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    return serialization.NoEncryption()


def _key_pem(key: PrivateKeyTypes, passphrase: bytes | None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(passphrase)
    )


def _load_key(data: bytes, passphrase: bytes | None, *, source: str,
              option: str = "--passphrase-env", argument: str = "passphrase"
              ) -> PrivateKeyTypes:
    """The private key in the PEM ``data``: :class:`InputError` when the file is damaged
    (its PEM framing, base64 or DER structure), :class:`KeystoreLockedError` when it is
    encrypted and no passphrase is given, :class:`PassphraseError` when the passphrase does
    not decrypt it."""
    unreadable = f"the signing key {source} is not a readable PEM private key"
    if not isinstance(data, bytes | bytearray):
        raise InputError(f"{unreadable} (PEM bytes are needed, got {type(data).__name__})")
    try:
        # No password first: cryptography reads the PEM framing and the key's DER structure
        # (an encrypted PKCS#8 one included) and raises TypeError only when an intact key
        # is encrypted; a damaged file (cut short, a line lost) is a ValueError. (A DSA key
        # warns that DSA is deprecated: it is refused as unsupported next, in words.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return serialization.load_pem_private_key(bytes(data), None)
    except ValueError as e:
        raise InputError(unreadable) from e
    except TypeError:
        pass  # an intact encrypted key
    if not passphrase:
        # one line for both audiences: the CLI's option and the Python API's argument
        raise KeystoreLockedError(
            f"the signing key {source} is encrypted: give its passphrase ("
            + ("in TRUSTAVATAR_PASSPHRASE, or " if option == "--passphrase-env" else "")
            + f"{option} VAR, on the command line; {argument}= in Python)"
        )
    try:
        return serialization.load_pem_private_key(bytes(data), passphrase)
    except ValueError as e:
        raise PassphraseError(f"wrong passphrase for the signing key {source}") from e


def _same_public_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    """Whether ``key`` is the private key of ``cert``."""
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _damaged(home: Home, what: str) -> KeystoreError:
    return KeystoreError(f"the keystore in {home.keys_dir} is damaged: {what}")


def _check_chain(home: Home, identity: SigningIdentity) -> None:
    """The identity's chain is the certification path it was made or imported as (each
    certificate's signature verifies with the next one's key; a self-signed last one with
    its own) and, for a local CA, ends at this home's root (``keys/root-ca.pem``).
    ValueError (said as a damaged keystore) when not."""
    chain = identity.chain
    at = certification_path_break(chain)
    top = chain[-1]
    if identity.source == "local-ca":
        roots = load_pem_certificates((home.keys_dir / _ROOT).read_bytes(), source=_ROOT)
        if (at is not None or len(chain) < 2 or len(roots) != 1 or top != roots[0]
                or not issued_by(top, top)):
            raise ValueError(f"the signing certificate is not issued by this home's root "
                             f"({_ROOT})")
    elif at is not None:
        raise ValueError(
            f"the signing certificate is not issued by the certificates of its chain: "
            f"certificate {at + 1} of {_CHAIN} did not issue certificate {at} (counting from "
            "1, the signing certificate first)")
    elif top.issuer == top.subject and not issued_by(top, top):
        raise ValueError(f"the root certificate at the end of {_CHAIN} "
                         f"({_x509.common_name(top)!r}) is not signed by its own key")


@dataclass(frozen=True)
class Keystore:
    """The signing identity in a trustavatar home. Construct with :meth:`open` or :meth:`create`."""

    home: Home
    identity: SigningIdentity

    # Construction -------------------------------------------------------------------
    @classmethod
    def exists(cls, home: Home | str | os.PathLike[str]) -> bool:
        return (Home.resolve(home).keys_dir / _IDENTITY).is_file()

    @classmethod
    def open(cls, home: Home | str | os.PathLike[str]) -> Keystore:
        home = Home.resolve(home)
        meta_path = home.keys_dir / _IDENTITY
        if not meta_path.is_file():
            raise KeystoreMissingError(
                f"no signing identity in {home.root} (run 'trustavatar keys init')"
            )
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError(f"{_IDENTITY} holds a JSON {type(meta).__name__}, not an object")
            chain = tuple(
                load_pem_certificates((home.keys_dir / _CHAIN).read_bytes(), source=_CHAIN)
            )
            identity = SigningIdentity(
                organisation=str(meta["organisation"]),
                source=meta["source"],
                encrypted=bool(meta["encrypted"]),
                created_at=str(meta["created_at"]),
                chain=chain,
            )
            _check_chain(home, identity)
        except KeyError as e:
            raise _damaged(home, f"{_IDENTITY} has no {e.args[0]!r}") from e
        except (OSError, ValueError, InputError) as e:
            raise _damaged(home, str(e)) from e
        keystore = cls(home, identity)
        try:
            data = (home.keys_dir / _KEY).read_bytes()
        except OSError:
            return keystore  # signing_key() says so when the key is needed
        # an unencrypted key is checked against the certificate now, an encrypted one when
        # it is unlocked (signing_key)
        with contextlib.suppress(KeystoreLockedError):
            keystore._unlock(data, None)
        return keystore

    @classmethod
    def create(
        cls,
        home: Home | str | os.PathLike[str],
        *,
        organisation: str,
        passphrase: bytes | None = None,
        leaf_days: int = 365,
        root_days: int = 3650,
        force: bool = False,
        now: dt.datetime | None = None,
    ) -> Keystore:
        """Create a local root CA and a signing leaf, and trust the root.

        Refuses to replace an existing identity unless ``force``; with ``force`` the old
        identity is moved to ``keys/retired/<time>/`` (its root stays trusted so what it
        signed keeps verifying).
        """
        home = Home.resolve(home)
        flag(force, "force")  # "no" is not a yes: it would retire the identity
        passphrase = _passphrase(passphrase)
        organisation = _x509.organisation_name(organisation)
        for name, days in (("leaf_days", leaf_days), ("root_days", root_days)):
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36500:
                raise InputError(f"{name} must be a whole number of days from 1 to 36500, "
                                 f"got {days!r}")
        if root_days < leaf_days:
            raise InputError(
                "validity must be at least one day, and the root's at least the leaf's")
        now = _utcnow() if now is None else require_aware(now, "now")
        with _identity_lock(home):
            cls._make_room(home, force=force, now=now)
            root_key = _x509.new_private_key()
            root = _x509.make_root(root_key, organisation=organisation, now=now, days=root_days)
            leaf_key = _x509.new_private_key()
            leaf = _x509.make_leaf(
                leaf_key, issuer_cert=root, issuer_key=root_key, organisation=organisation,
                now=now, days=leaf_days,
            )
            kd = home.keys_dir
            atomic_write_bytes(kd / _ROOT, _x509.chain_to_pem([root]))
            atomic_write_bytes(kd / _ROOT_KEY, _key_pem(root_key, passphrase), mode=0o600)
            TrustStore.from_home(home).add(_x509.chain_to_pem([root]),
                                           label=f"{organisation}-root")
            return cls._commit(
                home, organisation=organisation, key=leaf_key, chain=(leaf, root),
                passphrase=passphrase, source="local-ca", now=now,
            )

    @classmethod
    def import_identity(
        cls,
        home: Home | str | os.PathLike[str],
        *,
        chain_pem: bytes,
        key_pem: bytes,
        key_passphrase: bytes | None = None,
        passphrase: bytes | None = None,
        organisation: str | None = None,
        force: bool = False,
        now: dt.datetime | None = None,
    ) -> Keystore:
        """Use a CA-issued certificate chain (leaf first) and its private key.

        The leaf must carry the C2PA signer profile (digitalSignature, EKU
        emailProtection, AKI/SKI, not a CA) and name exactly one organisation (O): the
        issuer every document it signs names. ``organisation``, when given, must be that
        O (a check, not a rename). The chain must be a certification path: each
        certificate the issuer of the one before it, none twice. The issuing root is *not*
        trusted automatically: add it with :meth:`TrustStore.add` if it should be (with
        ``organisations=[O]`` when the root names another organisation, a CA's root).
        """
        home = Home.resolve(home)
        flag(force, "force")
        passphrase = _passphrase(passphrase)
        key_passphrase = _passphrase(key_passphrase, "key passphrase")
        now = _utcnow() if now is None else require_aware(now, "now")
        chain = tuple(load_pem_certificates(chain_pem, source="the chain file"))
        key = _load_key(key_pem, key_passphrase, source="in the key file",
                        option="--key-passphrase-env", argument="key_passphrase")
        try:
            _algorithm_for(key)
        except KeystoreError as e:  # a key file of a kind not supported: bad input here
            raise InputError(f"the key file cannot be used: {e.message}") from e
        leaf = chain[0]
        if not _same_public_key(leaf, key):
            raise InputError(
                "the private key does not belong to the first certificate of the chain")
        _check_signer_profile(leaf)
        if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
            raise InputError("the signing certificate is not valid now")
        org = _signer_organisation(leaf, organisation)
        _check_certification_path(chain)
        _check_as_readers_will(chain, now)  # before anything is moved: nothing is touched
        with _identity_lock(home):
            cls._make_room(home, force=force, now=now)
            return cls._commit(
                home, organisation=org, key=key, chain=chain, passphrase=passphrase,
                source="imported", now=now,
            )

    @classmethod
    def _make_room(cls, home: Home, *, force: bool, now: dt.datetime) -> None:
        if not cls.exists(home):
            return
        if not force:
            raise KeystoreExistsError(
                f"a signing identity exists already in {home.keys_dir}; "
                "use --force to retire it and create a new one"
            )
        retired = home.keys_dir / "retired" / now.strftime("%Y%m%dT%H%M%S%fZ")
        retired.mkdir(parents=True, mode=0o700)
        for name in (_IDENTITY, _CHAIN, _KEY, _ROOT, _ROOT_KEY):
            if (home.keys_dir / name).exists():
                shutil.move(str(home.keys_dir / name), retired / name)

    @classmethod
    def _commit(
        cls,
        home: Home,
        *,
        organisation: str,
        key: PrivateKeyTypes,
        chain: Sequence[x509.Certificate],
        passphrase: bytes | None,
        source: Literal["local-ca", "imported"],
        now: dt.datetime,
    ) -> Keystore:
        kd = home.keys_dir
        atomic_write_bytes(kd / _KEY, _key_pem(key, passphrase), mode=0o600)
        atomic_write_bytes(kd / _CHAIN, _x509.chain_to_pem(chain))
        meta = {
            "organisation": organisation,
            "source": source,
            "encrypted": bool(passphrase),
            "created_at": now.isoformat(),
        }
        # identity.json is written last: it marks the identity complete.
        atomic_write_bytes(kd / _IDENTITY, json.dumps(meta, indent=2).encode())
        return cls.open(home)

    # Use ----------------------------------------------------------------------------
    def signing_key(self, passphrase: bytes | None = None) -> SigningKey:
        """Unlock the signing key (raises KeystoreLockedError / PassphraseError, and
        KeystoreError when the key file is damaged or is not the signing certificate's key)."""
        path = self.home.keys_dir / _KEY
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KeystoreError(f"cannot read the signing key {path}: {e.strerror}") from e
        return self._unlock(data, _passphrase(passphrase))

    def _unlock(self, data: bytes, passphrase: bytes | None) -> SigningKey:
        try:
            key = _load_key(data, passphrase, source=str(self.home.keys_dir / _KEY))
        except InputError as e:
            raise _damaged(self.home, str(e)) from e
        if not _same_public_key(self.identity.certificate, key):
            raise _damaged(self.home, f"the signing key does not match its certificate ({_KEY} "
                                      f"is not the key of the first certificate in {_CHAIN})")
        return SigningKey(key, self.identity.chain)

    def trust_store(self) -> TrustStore:
        return TrustStore.from_home(self.home)


@contextlib.contextmanager
def _identity_lock(home: Home) -> Iterator[None]:
    """Hold the home's identity lock (``keys/.lock``): two runs of ``keys init`` or ``keys
    import`` at once would otherwise both find the place free, or both retire the same
    identity, and leave one's key beside the other's certificate."""
    home.ensure()
    try:
        fd = os.open(home.keys_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise KeystoreError(f"cannot lock {home.keys_dir}: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the other run to finish
        yield
    finally:
        os.close(fd)  # releases the lock


def _signer_organisation(leaf: x509.Certificate, wanted: str | None) -> str:
    """The one organisation (O) the signing certificate ``leaf`` names: every document it
    signs names it as the issuer, and readers take it from that O only. ``wanted`` (``keys
    import --org``) must be the same name: it cannot change what the documents say."""
    org = _x509.single_organisation(leaf)
    if org is None:
        found = _x509.organisations(leaf)
        subject = leaf.subject.rfc4514_string()
        what = ("no organisation (O)" if not found else f"{len(found)} organisations (O): "
                + ", ".join(repr(o) for o in found))
        raise InputError(
            f"the signing certificate names {what} (subject {subject}): trustavatar documents "
            "name their issuer by the signing certificate's one O attribute, so it could not "
            "sign them; ask the certification authority for a certificate whose subject has "
            "exactly one O")
    try:
        _x509.organisation_name(org)
    except InputError as e:
        raise InputError(f"the signing certificate's organisation (O) cannot name the issuer "
                         f"of trustavatar documents: {e}") from e
    if wanted is not None and not _x509.same_organisation(_x509.organisation_name(wanted), org):
        raise InputError(
            f"the organisation given ({wanted.strip()!r}) is not the one the signing "
            f"certificate names ({org!r}), which every document it signs names: leave the "
            "organisation out (--org), or import a certificate issued to the one you meant")
    return org


def _check_as_readers_will(chain: Sequence[x509.Certificate], now: dt.datetime) -> None:
    """Refuse a chain whose documents no reader would accept, before the identity is used
    (it was imported, then every document it signed was refused): at most
    :data:`~trustavatar.keys._x509.MAX_CHAIN` certificates (the x5c limit), a self-signed
    top signed by its own key, and the path up to its top as :func:`validate_chain` checks
    it against a root (each issuer a CA within its path length, every certificate valid
    now, no unknown critical extension)."""
    if len(chain) > _x509.MAX_CHAIN:
        raise InputError(f"the chain file lists {len(chain)} certificates; signed documents "
                         f"carry at most {_x509.MAX_CHAIN} (the signing certificate and its "
                         "issuers): leave out the root, or use a shorter path")
    top = chain[-1]
    if top.issuer == top.subject and not issued_by(top, top):
        raise InputError(f"the root certificate at the end of the chain file "
                         f"({_x509.common_name(top)!r}) is not signed by its own key")
    if len(chain) < 2:
        return  # the signing certificate alone: its issuer is checked when trusted
    try:
        validate_chain(chain, trust=TrustStore.of(top), at=now)
    except UntrustedChainError as e:
        raise InputError(f"documents signed with this chain would be refused: {e.message}"
                         ) from e


def _check_certification_path(chain: Sequence[x509.Certificate]) -> None:
    """The chain file lists a certification path (signed documents carry it as their x5c,
    which readers accept only as the path): each certificate issued the one before it,
    none is listed twice."""
    at = certification_path_break(chain)
    if at is None:
        return
    cert, below = chain[at], chain[at - 1]
    if _x509.fingerprint(cert) in {_x509.fingerprint(c) for c in chain[:at]}:
        raise InputError(
            f"the chain file lists certificate {at + 1} ({_x509.common_name(cert)!r}) twice "
            "(counting from 1, the signing certificate first): "
            "list the signing certificate, then each issuer in turn, each once")
    raise InputError(
        f"the chain file is not a certification path: certificate {at + 1} "
        f"({_x509.common_name(cert)!r}) did not issue certificate {at} "
        f"({_x509.common_name(below)!r}), counting from 1; list the signing certificate "
        "first, then each issuer in turn (its issuing CA, that CA's issuer, ...), and nothing "
        "else")


def _check_signer_profile(leaf: x509.Certificate) -> None:
    """What c2pa-rs requires of a signing certificate, as clear errors."""
    ext = leaf.extensions
    problems = []
    try:
        if ext.get_extension_for_class(x509.BasicConstraints).value.ca:
            problems.append("it is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        if not ext.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            problems.append("KeyUsage lacks digitalSignature")
    except x509.ExtensionNotFound:
        problems.append("no KeyUsage extension")
    try:
        ekus = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.EMAIL_PROTECTION not in ekus:
            problems.append("ExtendedKeyUsage lacks emailProtection (1.3.6.1.5.5.7.3.4)")
    except x509.ExtensionNotFound:
        problems.append("no ExtendedKeyUsage extension")
    for cls_, name in (
        (x509.AuthorityKeyIdentifier, "AuthorityKeyIdentifier"),
        (x509.SubjectKeyIdentifier, "SubjectKeyIdentifier"),
    ):
        try:
            ext.get_extension_for_class(cls_)
        except x509.ExtensionNotFound:
            problems.append(f"no {name} extension")
    if problems:
        raise InputError("the certificate cannot sign C2PA manifests: " + "; ".join(problems))


def own_certificates(home: Home) -> tuple[set[str], set[str]]:
    """SHA-256 fingerprints of the home's own local roots (``keys/root-ca.pem``) and signing
    certificates, the current identity's and those ``keys init --force`` / ``keys import
    --force`` retired to ``keys/retired/``."""
    roots: set[str] = set()
    signers: set[str] = set()
    retired = home.keys_dir / "retired"
    try:
        folders = [home.keys_dir, *(sorted(p for p in retired.iterdir() if p.is_dir())
                                    if retired.is_dir() else [])]
    except OSError as e:
        raise KeystoreError(f"cannot read {retired} (this home's retired identities): "
                            f"{e.strerror or e}") from e
    for folder in folders:
        for name, into, leaf_only in (("root-ca.pem", roots, False),
                                      ("signing-chain.pem", signers, True)):
            path = folder / name
            if not path.is_file():
                continue
            try:
                certs = load_pem_certificates(path.read_bytes(), source=str(path))
            except (OSError, InputError) as e:
                raise KeystoreError(f"cannot read {path} (this home's identity): {e}") from e
            into.update(_x509.fingerprint(c) for c in (certs[:1] if leaf_only else certs))
    return roots, signers
