"""Trust anchors: the root certificates whose signatures trustavatar accepts.

Kept as PEM files in ``$TRUSTAVATAR_HOME/trust/``; the organisation's own root is added
by ``keys init``, third-party roots by ``keys trust add``. The same anchors are used for
C2PA manifests and for consent artifacts.
"""

from __future__ import annotations

__all__ = ["Anchor", "TrustStore", "validate_chain"]

import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from trustavatar._atomic import atomic_write_bytes
from trustavatar._time import require_aware
from trustavatar.errors import InputError, UntrustedChainError
from trustavatar.home import Home
from trustavatar.keys._x509 import (
    ACCEPTED_SIGNER_EKUS,
    DOCUMENT_SIGNING,
    chain_to_pem,
    common_name,
    fingerprint,
    organisation_name,
    organisations,
    same_organisation,
)

#: The trust URI c2pa-rs records for our anchors.
TRUST_URI = "urn:trustavatar:trust:signers:v1"
#: Longest anchor label (it becomes part of a file name).
MAX_LABEL = 100
#: Fewest hex digits of a root's SHA-256 that name it (``keys trust remove``)
MIN_PREFIX = 8


@dataclass(frozen=True)
class Anchor:
    """A trusted root certificate."""

    certificate: x509.Certificate
    label: str
    path: Path | None = None
    #: organisations the user accepts this root to certify besides the one it names itself
    #: (a certification authority's root: ``keys trust add ROOT --organisation NAME``)
    vouched: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def organisations(self) -> tuple[str, ...]:
        """The organisations this anchor speaks for: those its root certificate names (O),
        and those the user accepted it for when trusting it (:attr:`vouched`). A document
        signed under it must come from one of them: trusting a partner's root lets the
        partner sign as the partner, not as anyone else (not as us)."""
        own = organisations(self.certificate)
        return (*own, *(o for o in self.vouched
                        if not any(same_organisation(o, x) for x in own)))

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "subject": self.subject,
            "organisations": list(self.organisations),
            "vouched": list(self.vouched),
            "sha256": self.fingerprint,
            "not_after": self.certificate.not_valid_after_utc.isoformat(),
            "path": str(self.path) if self.path else None,
        }


def load_pem_certificates(data: bytes, *, source: str) -> list[x509.Certificate]:
    if isinstance(data, str):
        data = data.encode("ascii", "replace")  # PEM text
    if not isinstance(data, bytes | bytearray):
        raise InputError(f"{source} must be PEM bytes, got {type(data).__name__}")
    try:
        certs = x509.load_pem_x509_certificates(bytes(data))
    except ValueError as e:
        raise InputError(f"{source} holds no readable PEM certificate") from e
    return certs


def _vouched_path(anchor_path: Path) -> Path:
    """Where the organisations an anchor is accepted for are kept: beside its PEM file."""
    return anchor_path.with_suffix(".organisations.json")


def _checked_organisations(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise InputError("organisations must be a sequence of names, not one string")
    out: list[str] = []
    for name in names:
        name = organisation_name(name)
        if not any(same_organisation(name, x) for x in out):
            out.append(name)
    return tuple(out)


def _read_vouched(anchor_path: Path) -> tuple[str, ...]:
    path = _vouched_path(anchor_path)
    if not path.exists():
        return ()
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(names, list):
            raise ValueError("not a list")
        return _checked_organisations(names)
    except (OSError, ValueError, InputError) as e:
        raise InputError(f"{path} is not a list of organisation names ({e}): fix or remove "
                         "it") from e


def _write_vouched(anchor_path: Path, names: Sequence[str]) -> None:
    atomic_write_bytes(_vouched_path(anchor_path),
                       json.dumps(list(names), ensure_ascii=False).encode(), mode=0o644)


@dataclass(frozen=True)
class TrustStore:
    """An immutable set of trust anchors. Build with :meth:`from_home` or :meth:`of`."""

    anchors: tuple[Anchor, ...]
    home: Home | None = None

    @classmethod
    def from_home(cls, home: Home | str | os.PathLike[str]) -> TrustStore:
        home = Home.resolve(home)
        anchors: list[Anchor] = []
        if home.trust_dir.is_dir():
            for p in sorted(home.trust_dir.glob("*.pem")):
                if not p.is_file():
                    raise InputError(f"the trust anchor {p} is not a file (a folder? move it "
                                     "out of the trust folder)")
                label = p.stem.split("-", 1)[1] if "-" in p.stem else p.stem
                vouched = _read_vouched(p)
                for cert in load_pem_certificates(p.read_bytes(), source=str(p)):
                    anchors.append(Anchor(cert, label, p, vouched))
        return cls(tuple(anchors), home)

    @classmethod
    def of(cls, *certificates: x509.Certificate) -> TrustStore:
        """A store of the given roots only (for tests and third-party verifiers)."""
        for c in certificates:
            if not isinstance(c, x509.Certificate):
                raise InputError(f"TrustStore.of takes x509.Certificate objects (see "
                                 f"load_pem_certificates), got {type(c).__name__}")
        return cls(tuple(Anchor(c, common_name(c)) for c in certificates))

    def add(
        self, pem: bytes, *, label: str, source: str = "certificate",
        organisations: Sequence[str] = (),
    ) -> tuple[TrustStore, Anchor]:
        """Persist a root certificate as an anchor; returns the new store and the anchor.
        A root that is trusted already is not added twice: its anchor is returned as it
        is (compare the store's anchors before and after to tell), with ``organisations``
        added to those it is accepted for. ``organisations``: names this root may certify
        besides its own (a certification authority's root, which names the authority)."""
        if self.home is None:
            raise InputError("this trust store is not backed by a trustavatar home")
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"the label must be a non-empty string, got {label!r:.40}")
        if len(label) > MAX_LABEL:
            raise InputError(f"the label is longer than {MAX_LABEL} characters")
        certs = load_pem_certificates(pem, source=source)
        if len(certs) != 1:
            raise InputError(f"{source} must hold exactly one certificate, found {len(certs)}")
        cert = certs[0]
        _require_ca(cert, source)
        wanted = _checked_organisations(organisations)
        for existing in self.anchors:
            if existing.fingerprint == fingerprint(cert):
                more = tuple(o for o in wanted
                             if not any(same_organisation(o, x) for x in existing.vouched))
                if not more or existing.path is None:
                    return self, existing
                updated = dataclasses.replace(existing, vouched=(*existing.vouched, *more))
                _write_vouched(existing.path, updated.vouched)
                rest = tuple(a for a in self.anchors if a.fingerprint != existing.fingerprint)
                return TrustStore((*rest, updated), self.home), updated
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_") or "root"
        self.home.ensure()
        path = self.home.trust_dir / f"{fingerprint(cert)[:16]}-{safe}.pem"
        if wanted:
            _write_vouched(path, wanted)
        atomic_write_bytes(path, chain_to_pem([cert]), mode=0o644)
        anchor = Anchor(cert, safe, path, wanted)
        others = tuple(a for a in self.anchors if a.fingerprint != anchor.fingerprint)
        return TrustStore((*others, anchor), self.home), anchor

    def matching(self, which: str) -> tuple[Anchor, ...]:
        """The anchors labelled ``which`` or whose SHA-256 starts with it (8 hex digits at
        least), case-blind."""
        if not isinstance(which, str):
            raise InputError(f"an anchor is named by its label or the start of its SHA-256 "
                             f"(a str), got {type(which).__name__}")
        key = which.strip().lower()
        by_digest = len(key) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in key)
        return tuple(a for a in self.anchors if a.label.lower() == key
                     or (by_digest and a.fingerprint.startswith(key)))

    def remove(self, which: str) -> tuple[TrustStore, Anchor]:
        """Stop trusting the anchor whose label is ``which`` or whose SHA-256 starts with
        it (8 hex digits at least): its file is deleted. Returns the new store and the
        removed anchor; :class:`InputError` when none or several match."""
        if self.home is None:
            raise InputError("this trust store is not backed by a trustavatar home")
        found = self.matching(which)
        if not found:
            raise InputError(f"no trust anchor labelled {which!r} or with a SHA-256 starting "
                             "so ('keys trust list' shows them)")
        if len({a.fingerprint for a in found}) > 1:
            raise InputError(f"{which!r} matches {len(found)} anchors: give more of the SHA-256")
        gone = found[0]
        for anchor in found:  # the same root kept in more than one file
            if anchor.path is not None:
                anchor.path.unlink(missing_ok=True)
                _vouched_path(anchor.path).unlink(missing_ok=True)
        rest = tuple(a for a in self.anchors if a.fingerprint != gone.fingerprint)
        return TrustStore(rest, self.home), gone

    def certificates(self) -> list[x509.Certificate]:
        return [a.certificate for a in self.anchors]

    def c2pa_settings(self) -> dict[str, object]:
        """Settings for ``c2pa.Context.from_dict``: our anchors, no network fetches."""
        trust: dict[str, object] = {
            # Giving a trust section clears c2pa-rs's built-in EKU list: set it again.
            "trust_config": f"{ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string}\n"
            f"{DOCUMENT_SIGNING.dotted_string}\n",
        }
        if self.anchors:
            trust["anchors"] = [
                {
                    "trust_anchors": chain_to_pem(self.certificates()).decode(),
                    "trust_kind": "manifest",
                    "trust_uri": TRUST_URI,
                }
            ]
        return {
            "trust": trust,
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        }

    def c2pa_settings_json(self) -> str:
        return json.dumps(self.c2pa_settings())


def _require_ca(cert: x509.Certificate, source: str) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise InputError(f"{source} is not a CA certificate (basicConstraints CA:TRUE missing)")


def _valid_at(cert: x509.Certificate, at: dt.datetime, role: str) -> None:
    if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
        raise UntrustedChainError(
            f"{role} certificate {common_name(cert)!r} is not valid at {at.isoformat()} "
            f"(valid {cert.not_valid_before_utc.isoformat()} to "
            f"{cert.not_valid_after_utc.isoformat()})"
        )


def validate_chain(
    chain: Sequence[x509.Certificate], *, trust: TrustStore, at: dt.datetime
) -> Anchor:
    """Check that ``chain`` (leaf first) leads to one of ``trust``'s anchors at time ``at``.

    Steps: (1) the leaf is an end-entity signing certificate: not a CA (no basicConstraints
    CA:TRUE, no keyCertSign), KeyUsage present with digitalSignature, ExtendedKeyUsage
    present with one of :data:`~trustavatar.keys._x509.ACCEPTED_SIGNER_EKUS`;
    (2) ``chain`` is exactly a certification path: each certificate after the leaf issued
    the one before it, none is listed twice, and it reaches a trust anchor (the first
    trusted certificate along it) or ends at a certificate an anchor issued; certificates
    after the anchor (the root above a trusted issuing CA) must go on being the path, each
    the issuer of the one before, and are not checked further; nothing else may be listed;
    (3) every certificate up to the anchor, the anchor included, is valid at ``at``;
    (4) every issuer up to the anchor is a CA (basicConstraints CA:TRUE; keyCertSign when
    it has a KeyUsage) whose pathLenConstraint allows the intermediates below it; (5) no
    certificate up to the anchor has a critical extension that is not checked here.
    Returns the anchor or raises
    :class:`~trustavatar.errors.UntrustedChainError`, also for certificates that
    cryptography cannot read (odd encodings, unsupported keys).
    """
    require_aware(at, "at")  # a naive time is the caller's mistake, not a bad certificate
    if not isinstance(trust, TrustStore):
        raise InputError(f"trust must be a TrustStore, got {type(trust).__name__}")
    if isinstance(chain, str | bytes) or not all(isinstance(c, x509.Certificate)
                                                 for c in chain):
        raise InputError("chain must be a sequence of x509.Certificate (see "
                         "load_pem_certificates)")
    try:
        return _validate_chain(chain, trust=trust, at=at)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise UntrustedChainError("unreadable certificate in the chain") from e


#: Critical extensions this module checks (RFC 5280 4.2: a certificate with any other
#: critical extension must be refused). Subject alternative names and certificate
#: policies are accepted as information: no name or policy is asked for.
_HANDLED_CRITICAL = frozenset({
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.CERTIFICATE_POLICIES,
})


def anchor_problem(cert: x509.Certificate, at: dt.datetime) -> str | None:
    """Why nothing signed under the root ``cert`` verifies at ``at`` (it is not valid then,
    or it has a critical extension this verifier does not process), or None."""
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return (f"it is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d})")
    try:
        _no_unknown_critical(cert, "the root")
    except UntrustedChainError as e:
        return e.message
    return None


def _no_unknown_critical(cert: x509.Certificate, role: str) -> None:
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _HANDLED_CRITICAL:
            name = getattr(ext.oid, "_name", None) or ext.oid.dotted_string
            raise UntrustedChainError(
                f"{role} certificate {common_name(cert)!r} has a critical extension this "
                f"verifier does not process ({name}, {ext.oid.dotted_string})")


def _extension(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _check_end_entity(leaf: x509.Certificate) -> None:
    """The signer profile (what ``keys init`` makes and C2PA asks for): an end-entity
    certificate that may sign documents."""
    bc = _extension(leaf, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise UntrustedChainError("the signing certificate is a CA certificate")
    _no_unknown_critical(leaf, "signing")
    ku = _extension(leaf, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage):
        raise UntrustedChainError("the signing certificate has no KeyUsage extension "
                                  "(digitalSignature is required)")
    if not ku.digital_signature:
        raise UntrustedChainError("the signing certificate lacks the digitalSignature usage")
    if ku.key_cert_sign:
        raise UntrustedChainError("the signing certificate may sign certificates "
                                  "(keyCertSign): it is not an end-entity certificate")
    wanted = ", ".join(getattr(o, "_name", o.dotted_string) for o in ACCEPTED_SIGNER_EKUS)
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage):
        raise UntrustedChainError(f"the signing certificate has no ExtendedKeyUsage "
                                  f"extension (one of {wanted} is required)")
    if not any(oid in ACCEPTED_SIGNER_EKUS for oid in eku):
        have = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "none"
        raise UntrustedChainError(f"the signing certificate's ExtendedKeyUsage ({have}) "
                                  f"allows none of {wanted}")


def _check_issuer(cert: x509.Certificate, below: Sequence[x509.Certificate], role: str) -> None:
    """``cert`` issued the path's certificate below it; ``below``: the intermediate CAs
    between it and the leaf (the leaf excluded)."""
    bc = _extension(cert, x509.BasicConstraints)
    if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
        raise UntrustedChainError(f"{role} {common_name(cert)!r} is not a CA certificate "
                                  "(basicConstraints CA:TRUE missing)")
    ku = _extension(cert, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
        raise UntrustedChainError(f"{role} {common_name(cert)!r} may not sign certificates "
                                  "(its KeyUsage lacks keyCertSign)")
    _no_unknown_critical(cert, role)
    if bc.path_length is not None:
        # RFC 5280 4.2.1.9: self-issued intermediates do not count
        count = sum(1 for c in below if c.issuer != c.subject)
        if count > bc.path_length:
            raise UntrustedChainError(
                f"{role} {common_name(cert)!r} allows {bc.path_length} intermediate CA "
                f"certificate(s) below it (pathLenConstraint); the chain has {count}")


def _validate_chain(
    chain: Sequence[x509.Certificate], *, trust: TrustStore, at: dt.datetime
) -> Anchor:
    if not chain:
        raise UntrustedChainError("no certificate chain")
    leaf = chain[0]
    # 1. end-entity profile
    _check_end_entity(leaf)
    # 2. the chain lists a path, each certificate once
    if len({fingerprint(c) for c in chain}) != len(chain):
        raise UntrustedChainError("the certificate chain lists the same certificate twice")
    broken = certification_path_break(chain)  # no duplicates: the first non-issuer
    anchors = {a.fingerprint: a for a in trust.anchors}
    for i, cert in enumerate(chain):
        intermediates = chain[1:i]
        anchor = anchors.get(fingerprint(cert))
        if anchor is not None:  # the path reached a trust anchor listed in the chain
            # what the chain lists after it (the root above a trusted issuing CA) must go
            # on being the path; trust is decided here, so it is not checked further
            if broken is not None:
                raise UntrustedChainError(
                    f"the certificate chain goes on after the trusted root "
                    f"{common_name(cert)!r} with a certificate that is not part of its path: "
                    f"certificate {broken} ({common_name(chain[broken])!r}) did not issue "
                    f"certificate {broken - 1} ({common_name(chain[broken - 1])!r}); the chain "
                    "must list the signing certificate, then each issuer in turn, and nothing "
                    "else")
            _valid_at(cert, at, "root" if i else "signing")
            if i:
                _check_issuer(cert, intermediates, "root")
            return anchor
        _valid_at(cert, at, "signing" if i == 0 else "intermediate")
        if i:
            _check_issuer(cert, intermediates, "intermediate")
        if i + 1 < len(chain):
            if broken == i + 1:
                raise UntrustedChainError(
                    f"certificate {i + 1} of the chain ({common_name(chain[i + 1])!r}) did "
                    f"not issue certificate {i} ({common_name(cert)!r}): the chain must "
                    "list the signing certificate, then each issuer in turn, and nothing else")
            continue
        for anchor in trust.anchors:
            if issued_by(cert, anchor.certificate):
                _valid_at(anchor.certificate, at, "root")
                _check_issuer(anchor.certificate, chain[1:], "root")
                return anchor
    raise UntrustedChainError(
        f"signer {common_name(leaf)!r} (issued by {leaf.issuer.rfc4514_string()}) "
        "does not chain to a trusted root"
    )


def certification_path_break(chain: Sequence[x509.Certificate]) -> int | None:
    """Where ``chain`` (leaf first) stops being a certification path: the index of the
    first certificate that did not issue the one before it, or that the chain lists
    twice; ``None`` when each certificate issued the one before it."""
    seen: set[str] = set()
    for j, cert in enumerate(chain):
        digest = fingerprint(cert)
        if digest in seen or (j and not issued_by(chain[j - 1], cert)):
            return j
        seen.add(digest)
    return None


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` names the issuer of ``cert`` and its key verifies ``cert``'s
    signature."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
