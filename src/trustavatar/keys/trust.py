"""Trust anchors: the root certificates whose signatures trustavatar accepts.

Kept as PEM files in ``$TRUSTAVATAR_HOME/trust/``; the organisation's own root is added
by ``keys init``, third-party roots by ``keys trust add``. The same anchors are used for
C2PA manifests and for consent artifacts.
"""

from __future__ import annotations

__all__ = ["Anchor", "TrustStore", "validate_chain"]

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID

from trustavatar._atomic import atomic_write_bytes
from trustavatar._time import require_aware
from trustavatar.errors import InputError, UntrustedChainError
from trustavatar.home import Home
from trustavatar.keys._x509 import DOCUMENT_SIGNING, chain_to_pem, common_name, fingerprint

#: The trust URI c2pa-rs records for our anchors.
TRUST_URI = "urn:trustavatar:trust:signers:v1"
#: Longest anchor label (it becomes part of a file name).
MAX_LABEL = 100


@dataclass(frozen=True)
class Anchor:
    """A trusted root certificate."""

    certificate: x509.Certificate
    label: str
    path: Path | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "subject": self.subject,
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
                for cert in load_pem_certificates(p.read_bytes(), source=str(p)):
                    anchors.append(Anchor(cert, label, p))
        return cls(tuple(anchors), home)

    @classmethod
    def of(cls, *certificates: x509.Certificate) -> TrustStore:
        """A store of the given roots only (for tests and third-party verifiers)."""
        return cls(tuple(Anchor(c, common_name(c)) for c in certificates))

    def add(
        self, pem: bytes, *, label: str, source: str = "certificate"
    ) -> tuple[TrustStore, Anchor]:
        """Persist a root certificate as an anchor; returns the new store and the anchor.
        A root that is trusted already is not added twice: its anchor is returned as it
        is (compare the store's anchors before and after to tell)."""
        if self.home is None:
            raise InputError("this trust store is not backed by a trustavatar home")
        if len(label) > MAX_LABEL:
            raise InputError(f"the label is longer than {MAX_LABEL} characters")
        certs = load_pem_certificates(pem, source=source)
        if len(certs) != 1:
            raise InputError(f"{source} must hold exactly one certificate, found {len(certs)}")
        cert = certs[0]
        _require_ca(cert, source)
        for existing in self.anchors:
            if existing.fingerprint == fingerprint(cert):
                return self, existing
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", label).strip("_") or "root"
        self.home.ensure()
        path = self.home.trust_dir / f"{fingerprint(cert)[:16]}-{safe}.pem"
        atomic_write_bytes(path, chain_to_pem([cert]), mode=0o644)
        anchor = Anchor(cert, safe, path)
        others = tuple(a for a in self.anchors if a.fingerprint != anchor.fingerprint)
        return TrustStore((*others, anchor), self.home), anchor

    def matching(self, which: str) -> tuple[Anchor, ...]:
        """The anchors labelled ``which`` or whose SHA-256 starts with it (8 hex digits at
        least), case-blind."""
        key = which.strip().lower()
        by_digest = len(key) >= 8 and all(c in "0123456789abcdef" for c in key)
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

    Steps: (1) the leaf is an end-entity signing certificate (not a CA, digitalSignature);
    (2) every certificate is valid at ``at``; (3) each is signed by the next, ending at a
    trust anchor (an anchor may also appear in the chain itself). Returns the anchor or
    raises :class:`~trustavatar.errors.UntrustedChainError`, also for certificates that
    cryptography cannot read (odd encodings, unsupported keys).
    """
    require_aware(at, "at")  # a naive time is the caller's mistake, not a bad certificate
    if not isinstance(trust, TrustStore):
        raise InputError(f"trust must be a TrustStore, got {type(trust).__name__}")
    try:
        return _validate_chain(chain, trust=trust, at=at)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise UntrustedChainError("unreadable certificate in the chain") from e


def _validate_chain(
    chain: Sequence[x509.Certificate], *, trust: TrustStore, at: dt.datetime
) -> Anchor:
    if not chain:
        raise UntrustedChainError("no certificate chain")
    leaf = chain[0]
    # 1. end-entity profile
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise UntrustedChainError("the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            raise UntrustedChainError("the signing certificate lacks the digitalSignature usage")
    except x509.ExtensionNotFound:
        pass
    anchors = {a.fingerprint: a for a in trust.anchors}
    # 2 + 3. walk up the chain
    current = leaf
    _valid_at(current, at, "signing")
    rest = list(chain[1:])
    for _ in range(len(chain) + 1):
        if fingerprint(current) in anchors:
            return anchors[fingerprint(current)]
        for anchor in trust.anchors:
            if _issued_by(current, anchor.certificate):
                _valid_at(anchor.certificate, at, "root")
                return anchor
        parent = next((c for c in rest if _issued_by(current, c)), None)
        if parent is None:
            break
        _require_ca(parent, f"intermediate {common_name(parent)!r}")
        _valid_at(parent, at, "intermediate")
        rest.remove(parent)
        current = parent
    raise UntrustedChainError(
        f"signer {common_name(leaf)!r} (issued by {leaf.issuer.rfc4514_string()}) "
        "does not chain to a trusted root"
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
