"""The values a manifest carries and the report a verification returns."""

from __future__ import annotations

__all__ = [
    "ConsentBinding",
    "Failure",
    "GenerationBinding",
    "Ingredient",
    "ProvenanceReport",
    "SignResult",
    "Signer",
    "SourceType",
    "ValidationState",
    "check_signer_names",
    "trusted_names",
]

import dataclasses
import enum
import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from trustavatar._files import sha256_file
from trustavatar.errors import InputError, ProvenanceVerificationError
from trustavatar.provenance.formats import sniff

if TYPE_CHECKING:
    from trustavatar.keys import TrustStore

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


class SourceType(enum.StrEnum):
    """IPTC digital source types trustavatar declares."""

    #: Fully synthetic: a talking head made from a photo.
    TRAINED_ALGORITHMIC_MEDIA = "trainedAlgorithmicMedia"
    #: Real footage with AI-altered parts (lip-sync dubbing).
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = "compositeWithTrainedAlgorithmicMedia"

    @property
    def uri(self) -> str:
        return _IPTC + self.value

    @classmethod
    def of(cls, value: object) -> SourceType:
        """``value`` as a source type: one itself, its IPTC name or URI, or the command
        line's short name (``generated``, ``composite``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            name = value.removeprefix(_IPTC)
            short = SHORT_SOURCE_TYPES.get(name)
            if short is not None:
                return short
            for member in cls:
                if member.value == name:
                    return member
        raise InputError(f"unknown source type {value!r} (one of "
                         f"{', '.join(SHORT_SOURCE_TYPES)}, or a SourceType)")


#: The command line's names for the source types.
SHORT_SOURCE_TYPES: dict[str, SourceType] = {
    "generated": SourceType.TRAINED_ALGORITHMIC_MEDIA,
    "composite": SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
}

#: Source types that declare the content AI-generated or AI-altered.
AI_SOURCE_TYPES = frozenset(
    _IPTC + v
    for v in (
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
    )
)


class ValidationState(enum.StrEnum):
    """What :func:`~trustavatar.provenance.verify` found of a file's C2PA manifest."""

    TRUSTED = "trusted"  #: valid, and the signer chains to a trust anchor
    VALID_UNTRUSTED = "valid-untrusted"  #: valid, but the signer is not trusted here
    INVALID = "invalid"  #: the manifest or the content was altered, or cannot be read
    ABSENT = "absent"  #: no manifest: unknown provenance (not evidence of anything)


@dataclass(frozen=True)
class ConsentBinding:
    """Binds a manifest to a consent record without any personal data."""

    consent_id: str
    artifact_sha256: str

    SCHEMA = "trustavatar.consent-binding/1"
    LABEL = "org.trustavatar.consent"

    def __post_init__(self) -> None:
        if not self.consent_id or len(self.consent_id) > 200:
            raise InputError("consent_id must be a non-empty string of at most 200 characters")
        if not _HEX64.match(self.artifact_sha256):
            raise InputError("artifact_sha256 must be 64 lowercase hex digits")

    def assertion(self) -> dict[str, Any]:
        # Values are strings only: c2pa-rs corrupts numeric arrays in custom assertions.
        return {
            "label": self.LABEL,
            "data": {
                "schema": self.SCHEMA,
                "consent_id": self.consent_id,
                "artifact_sha256": self.artifact_sha256,
            },
        }

    @classmethod
    def from_assertion(cls, data: Any) -> ConsentBinding | None:
        if not isinstance(data, dict) or data.get("schema") != cls.SCHEMA:
            return None
        try:
            return cls(str(data["consent_id"]), str(data["artifact_sha256"]))
        except (KeyError, InputError):
            return None


@dataclass(frozen=True)
class GenerationBinding:
    """Ties a manifest to the generator's ledger row and to the watermark in the frames."""

    generation_id: str
    watermark: str  #: hex of the payload embedded in every frame

    SCHEMA = "trustavatar.generation/1"
    LABEL = "org.trustavatar.generation"

    def __post_init__(self) -> None:
        if not self.generation_id or len(self.generation_id) > 200:
            raise InputError("generation_id must be a non-empty string of at most 200 characters")
        if not re.fullmatch(r"[0-9a-f]{2,64}", self.watermark):
            raise InputError("watermark must be lowercase hex")

    def assertion(self) -> dict[str, Any]:
        return {"label": self.LABEL, "data": {"schema": self.SCHEMA,
                                              "generation_id": self.generation_id,
                                              "watermark": self.watermark}}

    @classmethod
    def from_assertion(cls, data: Any) -> GenerationBinding | None:
        if not isinstance(data, dict) or data.get("schema") != cls.SCHEMA:
            return None
        try:
            return cls(str(data["generation_id"]), str(data["watermark"]))
        except (KeyError, InputError):
            return None


@dataclass(frozen=True)
class Ingredient:
    """An input of the signed content, recorded by hash only (no copy, no thumbnail)."""

    title: str
    sha256: str
    mime: str = "application/octet-stream"
    relationship: str = "inputTo"  # or "parentOf" for the footage an edit starts from

    def __post_init__(self) -> None:
        if not _HEX64.match(self.sha256):
            raise InputError("ingredient sha256 must be 64 lowercase hex digits")
        if self.relationship not in ("inputTo", "parentOf", "componentOf"):
            raise InputError(f"unknown ingredient relationship {self.relationship!r}")

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, title: str | None = None,
        relationship: str = "inputTo",
    ) -> Ingredient:
        p = Path(path)
        digest = sha256_file(p)
        with p.open("rb") as f:
            mime = sniff(f.read(16)) or "application/octet-stream"
        return cls(title or p.name, digest, mime, relationship)

    def definition(self) -> dict[str, str]:
        return {
            "title": self.title,
            "format": self.mime,
            "relationship": self.relationship,
            "instance_id": f"sha256:{self.sha256}",
        }


@dataclass(frozen=True)
class Failure:
    """Why a manifest does not hold: c2pa's status ``code`` and the ``explanation`` in
    plain words."""

    code: str
    explanation: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ParentManifest:
    """The manifest a file carried before it was signed again, kept in the new manifest as
    its ``parentOf`` ingredient (C2PA's way of not losing an earlier history), with the
    validation c2pa recorded for it at signing: ``state`` is ``trusted``,
    ``valid-untrusted`` or ``invalid`` (then ``failures`` holds its codes) as the signing
    home's trust store saw it."""

    title: str
    manifest_label: str
    state: str
    failures: tuple[str, ...] = ()

    @classmethod
    def from_ingredient(cls, ingredient: dict[str, Any]) -> ParentManifest | None:
        """The parent described by a C2PA ingredient, or None when it is not one (another
        relationship, or no manifest of its own)."""
        label = ingredient.get("active_manifest")
        if ingredient.get("relationship") != "parentOf" or not isinstance(label, str):
            return None
        results = ingredient.get("validation_results")
        active = results.get("activeManifest") if isinstance(results, dict) else None
        active = active if isinstance(active, dict) else {}

        def codes(key: str) -> list[str]:
            found = active.get(key)
            return [str(f.get("code")) for f in found if isinstance(f, dict)] \
                if isinstance(found, list) else []

        failures = tuple(codes("failure"))
        if failures and set(failures) != {"signingCredential.untrusted"}:
            state = "invalid"
        elif failures or "signingCredential.trusted" not in codes("success"):
            state = "valid-untrusted"
        else:
            state = "trusted"
        title = ingredient.get("title")
        return cls(title if isinstance(title, str) else "", label, state,
                   tuple(f for f in failures if f != "signingCredential.untrusted"))


@dataclass(frozen=True)
class Signer:
    """Who signed a manifest, as its certificate says (claimed until the state is trusted)."""

    common_name: str | None
    issuer: str | None
    algorithm: str | None


@dataclass(frozen=True)
class ProvenanceReport:
    """What a file's C2PA manifest says, and whether it holds. See :func:`verify`."""

    path: str
    mime: str
    state: ValidationState
    failures: tuple[Failure, ...] = ()
    manifest_label: str | None = None
    signer: Signer | None = None
    claim_generator: str | None = None
    digital_source_types: tuple[str, ...] = ()
    consent: ConsentBinding | None = None
    generation: GenerationBinding | None = None
    ingredients: tuple[Ingredient, ...] = ()
    training_mining: dict[str, str] = field(default_factory=dict)
    timestamp: str | None = None
    #: the manifest the file carried before this one was signed over it (see
    #: :class:`ParentManifest`), None when it had none
    parent: ParentManifest | None = None
    #: The trusted identity (a trust anchor's name, or this home's own signer's) whose name
    #: the signer carries although its certificate does not chain to a trusted root: a
    #: possible impersonation. Set by :func:`check_signer_names`; None otherwise.
    impersonates: str | None = None

    @property
    def claimed(self) -> bool:
        """Whether what the manifest says is only claimed: its signature does not hold
        (invalid) or its signer is not trusted (valid-untrusted)."""
        return self.state in (ValidationState.INVALID, ValidationState.VALID_UNTRUSTED)

    @property
    def read(self) -> bool:
        """Whether a manifest was read: False when there is none (absent), and when the file
        holds one that could not be read (invalid, with nothing known of what it says)."""
        return self.manifest_label is not None

    @property
    def ai_generated(self) -> bool | None:
        """True when the manifest declares AI generation; None when no manifest was read
        (:attr:`read`)."""
        if not self.read:
            return None
        return any(t in AI_SOURCE_TYPES for t in self.digital_source_types)

    @property
    def summary(self) -> str:
        """The state in plain words."""
        if self.state is ValidationState.TRUSTED:
            return f"valid manifest signed by trusted signer {self.signer_name}"
        if self.state is ValidationState.VALID_UNTRUSTED:
            if self.impersonates is not None:
                return (f"valid manifest, but signer {self.signer_name} is NOT trusted: "
                        f"{self._impersonation}")
            return (f"valid manifest, but signer {self.signer_name} is not in the trust store "
                    "(add its root with 'trustavatar keys trust add')")
        if self.state is ValidationState.INVALID:
            reasons = "; ".join(f.explanation for f in self.failures) or "unknown failure"
            if self.impersonates is not None:
                reasons += f"; {self._impersonation}"
            return f"INVALID manifest: {reasons}"
        return ("no C2PA manifest: provenance unknown (stripped or never signed; "
                "this is not evidence either way)")

    @property
    def _impersonation(self) -> str:
        return (f"its name matches the trusted identity {self.impersonates!r}, but its "
                "certificate does not chain to that identity's root (possible impersonation: "
                "do not trust this signer)")

    @property
    def signer_name(self) -> str:
        """The signer's name quoted for a line of text (``(unknown)`` when unsigned)."""
        if self.signer is None:
            return "(unknown)"
        return repr(self.signer_label)

    @property
    def signer_label(self) -> str:
        """The signer's name as it is (common name, else issuer), unquoted."""
        if self.signer is None:
            return "(unknown)"
        return self.signer.common_name or self.signer.issuer or "(unnamed)"

    @property
    def timestamp_note(self) -> str | None:
        if not self.read or self.timestamp:
            return None
        return ("the manifest carries no trusted timestamp: it stops validating once the "
                "signing certificate expires")

    def require_trusted(self) -> ProvenanceReport:
        """Return self if trusted, else raise :class:`ProvenanceVerificationError`."""
        if self.state is not ValidationState.TRUSTED:
            raise ProvenanceVerificationError(f"{self.path}: {self.summary}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.mime,
            "state": self.state.value,
            "summary": self.summary,
            "failures": [f.to_dict() for f in self.failures],
            "manifest_label": self.manifest_label,
            "signer": asdict(self.signer) if self.signer else None,
            "claim_generator": self.claim_generator,
            "ai_generated": self.ai_generated,
            "digital_source_types": list(self.digital_source_types),
            "consent": asdict(self.consent) if self.consent else None,
            "generation": asdict(self.generation) if self.generation else None,
            "ingredients": [asdict(i) for i in self.ingredients],
            "parent": asdict(self.parent) if self.parent else None,
            "training_mining": self.training_mining,
            "timestamp": self.timestamp,
            "timestamp_note": self.timestamp_note,
            "impersonates": self.impersonates,
        }


def _name_key(name: str) -> str:
    """A name as compared for look-alikes: Unicode-normalised (NFKC), without format
    characters (category Cf: zero-width spaces and joiners, U+2060, U+FEFF, the soft hyphen,
    bidirectional controls), each letter of another script that looks like a Latin one
    written as that Latin letter (a Cyrillic "а" as "a", a Greek "Ο" as "O": Unicode's
    confusables, from ``confusable-homoglyphs``), case-folded, with runs of white space as
    one space."""
    normal = unicodedata.normalize("NFKC", name)
    kept = "".join(_latin_look_alike(c) for c in normal if unicodedata.category(c) != "Cf")
    return " ".join(kept.casefold().split())


@functools.lru_cache(maxsize=4096)
def _latin_look_alike(c: str) -> str:
    """The Latin letter ``c`` is confusable with (Unicode's confusables), or ``c``."""
    from confusable_homoglyphs import confusables  # its data (~1 MB) only when needed

    found = confusables.is_confusable(c, preferred_aliases=["latin"])
    for entry in found or ():
        for glyph in entry["homoglyphs"]:
            if glyph["n"].startswith("LATIN ") and len(glyph["c"]) == 1:
                return str(glyph["c"])
    return c


def _names_of(name: x509.Name) -> list[str]:
    oids = (x509.NameOID.COMMON_NAME, x509.NameOID.ORGANIZATION_NAME)
    return [str(a.value) for oid in oids for a in name.get_attributes_for_oid(oid)]


def trusted_names(trust: TrustStore, own: Sequence[x509.Certificate] = ()) -> tuple[str, ...]:
    """The names of the identities trusted here: each trust anchor's common and
    organisation names, and those of ``own`` (this home's signing certificate, whose root
    is one of the anchors), for :func:`check_signer_names`."""
    names = [n for a in trust.anchors for n in _names_of(a.certificate.subject)]
    names += [n for c in own for n in _names_of(c.subject)]
    return tuple(dict.fromkeys(n for n in names if n.strip()))


def check_signer_names(report: ProvenanceReport, names: Iterable[str]) -> ProvenanceReport:
    """``report`` with :attr:`~ProvenanceReport.impersonates` set when its signer is not
    trusted (valid-untrusted, or invalid with an untrusted signing credential) and the
    signer's name or its issuer's equals one of ``names`` (:func:`trusted_names`; compared
    as :func:`_name_key` writes them: look-alike letters and invisible characters do not
    tell names apart): a self-signed
    certificate carrying a trusted signer's names must not read like that signer."""
    if report.signer is None or report.state not in (
            ValidationState.VALID_UNTRUSTED, ValidationState.INVALID):
        return report
    if report.state is ValidationState.INVALID and not any(
            f.code == "signingCredential.untrusted" for f in report.failures):
        return report  # a trusted signer's manifest that was tampered with
    trusted = {_name_key(n): n for n in names}
    for claimed in (report.signer.common_name, report.signer.issuer):
        match = trusted.get(_name_key(claimed)) if claimed else None
        if match is not None:
            return dataclasses.replace(report, impersonates=match)
    return report


@dataclass(frozen=True)
class SignResult:
    """What :func:`~trustavatar.provenance.sign` wrote: the file, its format, the new
    manifest's label, the signed file's SHA-256 and the seconds it took."""

    path: str
    mime: str
    manifest_label: str
    sha256: str
    seconds: float
    #: the manifest the source already carried, kept as the new one's parent ingredient
    parent: ParentManifest | None = None

    def to_dict(self) -> dict[str, Any]:
        # "format" as ProvenanceReport.to_dict names it ("mime" kept for older readers)
        return {**asdict(self), "format": self.mime}
