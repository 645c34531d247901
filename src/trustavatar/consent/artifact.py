"""Consent artifacts: the document model and step 1 of verification (parsing).

An artifact is a signed envelope (:mod:`trustavatar._envelope`) whose payload is a consent
document of type ``trustavatar.consent``, version 1, valid under
``schemas/consent-artifact.v1.schema.json``. Parsing checks form only; trust comes from
:func:`trustavatar.consent.verify`.
"""

from __future__ import annotations

__all__ = [
    "ARTIFACT_TYPE",
    "EVIDENCE_METHODS",
    "MAX_ARTIFACT_BYTES",
    "SCHEMA_VERSION",
    "ArtifactSource",
    "ClipEvidence",
    "ConsentArtifact",
    "Evidence",
    "EvidenceDocument",
    "Issuer",
    "Scope",
    "Subject",
    "Validity",
    "load_artifact",
    "parse_artifact",
]

import datetime as dt
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from cryptography import x509

from trustavatar import _envelope
from trustavatar._display import CONTROL_CHARACTERS
from trustavatar._files import (
    read_start,
    refuse_document_as_path,
    sha256_bytes,
    sha256_file,
)
from trustavatar._time import format_time, parse_time
from trustavatar.consent.schema import ARTIFACT_SCHEMA, schema_problem
from trustavatar.errors import ConsentMalformedError, FaceError, InputError
from trustavatar.face import QuantisedEmbedding

#: Largest artifact accepted, in bytes (a typical one is about 2 KB).
MAX_ARTIFACT_BYTES: Final = 1 << 20
ARTIFACT_TYPE: Final = "trustavatar.consent"
SCHEMA_VERSION: Final = 1
EVIDENCE_METHODS: Final = ("operator-attestation", "recorded-clip")

EvidenceMethod: TypeAlias = Literal["operator-attestation", "recorded-clip"]


@dataclass(frozen=True)
class Issuer:
    """Who issued the consent: the organisation (it must match the signing certificate's
    organisation) and, optionally, the operator who took it."""

    organisation: str
    operator: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"organisation": self.organisation}
        if self.operator is not None:
            data["operator"] = self.operator
        return data


@dataclass(frozen=True)
class Subject:
    """The consenting person. ``face_embedding`` is biometric data."""

    display_name: str
    portrait_sha256: str
    face_embedding: QuantisedEmbedding

    def to_json(self) -> dict[str, Any]:
        e = self.face_embedding
        return {
            "display_name": self.display_name,
            "portrait_sha256": self.portrait_sha256,
            "face_embedding": {
                "model": e.model, "dtype": "int8", "divisor": e.divisor, "values": list(e.values),
            },
        }


@dataclass(frozen=True)
class Scope:
    """What the consent covers. ``"*"`` in ``languages`` or ``channels`` means any."""

    purposes: tuple[str, ...]
    languages: tuple[str, ...] = ("*",)
    channels: tuple[str, ...] = ("*",)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "purposes": list(self.purposes),
            "languages": list(self.languages),
            "channels": list(self.channels),
        }


@dataclass(frozen=True)
class Validity:
    """The consent holds for ``not_before <= t < not_after`` (UTC, to the second)."""

    not_before: dt.datetime
    not_after: dt.datetime

    def to_json(self) -> dict[str, str]:
        return {
            "not_before": format_time(self.not_before),
            "not_after": format_time(self.not_after),
        }


@dataclass(frozen=True)
class EvidenceDocument:
    """A document the consent rests on, by SHA-256 (the document itself stays offline)."""

    kind: Literal["signed-release", "consent-clip"]
    sha256: str


@dataclass(frozen=True)
class ClipEvidence:
    """What the checks of a recorded consent clip found (``evidence.clip`` in the artifact).

    ``sentence``: what the subject was asked to read, with the code; ``transcript``: what
    the recogniser heard; ``asr_margin``: nats by which the expected code beat the best
    other code (``asr_min_margin`` was required); liveness figures as in
    :class:`trustavatar.consent.liveness.LivenessResult`; ``face_distance``: the largest
    distance between a checked clip frame and the portrait (``face_threshold`` allowed);
    ``speech_decoded``: the part of the clip's audio the recogniser decoded (seconds from
    its start) and ``second_try``: whether that part was cut where the loudest voice stops
    after the whole span had failed (both None in artifacts issued before they were
    recorded).
    """

    challenge_id: str
    language: str
    sentence: str
    transcript: str
    asr_engine: str
    asr_margin: float
    asr_min_margin: float
    blinks: int
    head_motion: float
    mouth_motion: float
    mouth_sync: float
    face_distance: float
    face_threshold: float
    face_frames: int
    duration_s: float
    speech_decoded: tuple[float, float] | None = None
    second_try: bool | None = None

    def to_json(self) -> dict[str, Any]:
        speech: dict[str, Any] = {
            "engine": self.asr_engine,
            "transcript": self.transcript,
            "margin": _number(self.asr_margin, 2),
            "min_margin": _number(self.asr_min_margin, 2),
        }
        if self.speech_decoded is not None:
            speech["decoded"] = {
                "from_s": _number(self.speech_decoded[0], 2),
                "to_s": _number(self.speech_decoded[1], 2),
                "second_try": bool(self.second_try),
            }
        return {
            "challenge_id": self.challenge_id,
            "language": self.language,
            "sentence": self.sentence,
            "duration_s": _number(self.duration_s, 2),
            "speech": speech,
            "liveness": {
                "blinks": self.blinks,
                "head_motion": _number(self.head_motion, 4),
                "mouth_motion": _number(self.mouth_motion, 4),
                "mouth_sync": _number(self.mouth_sync, 3),
            },
            "face": {
                "distance": _number(self.face_distance, 3),
                "threshold": _number(self.face_threshold, 3),
                "frames": self.face_frames,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClipEvidence:
        speech, live, face = data["speech"], data["liveness"], data["face"]
        decoded = speech.get("decoded")
        return cls(
            challenge_id=data["challenge_id"], language=data["language"],
            sentence=data["sentence"], transcript=speech["transcript"],
            asr_engine=speech["engine"], asr_margin=float(speech["margin"]),
            asr_min_margin=float(speech["min_margin"]), blinks=live["blinks"],
            head_motion=float(live["head_motion"]), mouth_motion=float(live["mouth_motion"]),
            mouth_sync=float(live["mouth_sync"]), face_distance=float(face["distance"]),
            face_threshold=float(face["threshold"]), face_frames=face["frames"],
            duration_s=float(data["duration_s"]),
            speech_decoded=None if decoded is None
            else (float(decoded["from_s"]), float(decoded["to_s"])),
            second_try=None if decoded is None else bool(decoded["second_try"]),
        )


def _number(value: float, digits: int) -> float | int:
    """A rounded number that survives canonical JSON unchanged (whole numbers as ints)."""
    rounded = round(float(value), digits)
    if not math.isfinite(rounded):
        raise InputError(f"evidence figures must be finite, got {value}")
    return int(rounded) if rounded.is_integer() else rounded


@dataclass(frozen=True)
class Evidence:
    """How consent was obtained: :meth:`operator_attestation` or :meth:`recorded_clip`.

    ``clip``: for a recorded clip checked by :func:`trustavatar.consent.record_clip`, what
    the checks found (None for a clip recorded without them, and for attestations).
    """

    method: EvidenceMethod
    documents: tuple[EvidenceDocument, ...]
    clip: ClipEvidence | None = None

    @classmethod
    def operator_attestation(cls, release: str | os.PathLike[str] | bytes) -> Evidence:
        """An operator attests that the subject signed ``release`` (a path or its bytes)."""
        return cls("operator-attestation", (EvidenceDocument("signed-release", _digest(release)),))

    @classmethod
    def recorded_clip(cls, clip: str | os.PathLike[str] | bytes, *,
                      checks: ClipEvidence | None = None) -> Evidence:
        """The subject stated consent in a recorded clip (a path or its bytes); ``checks``:
        what verifying the clip found."""
        return cls("recorded-clip", (EvidenceDocument("consent-clip", _digest(clip)),), checks)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "documents": [{"kind": d.kind, "sha256": d.sha256} for d in self.documents],
        }
        if self.clip is not None:
            data["clip"] = self.clip.to_json()
        return data


def _digest(source: str | os.PathLike[str] | bytes) -> str:
    """SHA-256 of an evidence document; an empty one is refused (nothing to attest)."""
    if isinstance(source, bytes):
        if not source:
            raise InputError("the evidence document is empty")
        return sha256_bytes(source)
    if not isinstance(source, str | os.PathLike):
        raise InputError(f"the evidence document must be a path or its bytes, got "
                         f"{type(source).__name__}")
    if not Path(source).is_file():
        raise InputError(f"evidence file {source} does not exist or is not a file")
    if Path(source).stat().st_size == 0:
        raise InputError(f"evidence file {source} is empty")
    return sha256_file(source)


@dataclass(frozen=True)
class ConsentArtifact(_envelope.SignedDocument):
    """A parsed consent artifact. Parsed is not trusted: pass it to
    :func:`trustavatar.consent.verify`, which re-checks everything from :attr:`raw`."""

    consent_id: str
    version: int
    issued_at: dt.datetime
    issuer: Issuer
    subject: Subject
    scope: Scope
    validity: Validity
    evidence: Evidence
    envelope: _envelope.Envelope

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The embedded certificate chain, signing certificate first (not yet trusted)."""
        return self.envelope.chain

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsentArtifact:
        return parse_artifact(data)


#: What verification accepts: the artifact's bytes, a path to it, or a parsed artifact.
ArtifactSource: TypeAlias = bytes | str | os.PathLike[str] | ConsentArtifact


def _malformed(reason: str) -> ConsentMalformedError:
    return ConsentMalformedError(f"malformed consent artifact: {reason}")


def load_artifact(source: ArtifactSource) -> ConsentArtifact:
    """Step 1 from any source: bytes, a path (str or PathLike), or an artifact (re-parsed
    from its bytes). A file that cannot be read raises :class:`InputError`."""
    if isinstance(source, ConsentArtifact):
        return parse_artifact(source.raw)
    if isinstance(source, bytes | bytearray | memoryview):
        return parse_artifact(bytes(source))
    if isinstance(source, str | os.PathLike):
        refuse_document_as_path(source, "consent artifact")
        # parse_artifact reports a file too large
        return parse_artifact(read_start(source, max_bytes=MAX_ARTIFACT_BYTES,
                                         what="consent artifact"))
    raise InputError(f"a consent artifact must be bytes, a path or a ConsentArtifact, "
                     f"got {type(source).__name__}")



def parse_artifact(data: bytes) -> ConsentArtifact:
    """Verification step 1: size, UTF-8, JSON without duplicate keys, canonical (RFC 8785),
    schema-valid, well-formed values. Raises :class:`ConsentMalformedError`."""
    try:
        document = _envelope.load_canonical_json(data, max_bytes=MAX_ARTIFACT_BYTES)
    except _envelope.EnvelopeFormatError as e:
        raise _malformed(str(e)) from e
    problem = schema_problem(ARTIFACT_SCHEMA, document)
    if problem is not None:
        raise _malformed(f"does not match the v{SCHEMA_VERSION} schema {problem}")
    try:
        envelope = _envelope.open_envelope(document, raw=data)
    except _envelope.EnvelopeFormatError as e:
        raise _malformed(str(e)) from e
    return _from_payload(envelope)


#: The control characters no string of an artifact may hold: C0 and DEL, as the v1
#: schema's names say. Not C1 (U+0080-U+009F): issuance refuses it
#: (:func:`trustavatar._display.has_control_characters`, the rule for what is stored), but
#: it let C1 through before and the v1 schema allows it, so a signed artifact holding one
#: may be valid, and must stay valid. Where such a name is shown, _display.visible
#: escapes it.
_REFUSED_IN_ARTIFACTS: Final = frozenset(c for c in CONTROL_CHARACTERS if c < 0x80)


def _no_control_characters(value: Any, where: str = "payload") -> None:
    # JSON Schema patterns run on Python's re, where '$' also matches before a final
    # newline; this closes that gap for every string at once.
    if isinstance(value, str):
        if any(ord(c) in _REFUSED_IN_ARTIFACTS for c in value):
            raise _malformed(f"at {where}: control characters are not allowed")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _no_control_characters(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_control_characters(v, f"{where}/{i}")


def _time(text: str, where: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as e:
        raise _malformed(f"at {where}: {text!r} is not a valid time") from e


def _from_payload(envelope: _envelope.Envelope) -> ConsentArtifact:
    p = envelope.payload
    _no_control_characters(p)
    subject, scope, validity = p["subject"], p["scope"], p["validity"]
    embedding = subject["face_embedding"]
    try:
        quantised = QuantisedEmbedding(
            divisor=embedding["divisor"],
            values=tuple(embedding["values"]),
            model=embedding["model"],
        )
    except FaceError as e:
        raise _malformed(f"at payload/subject/face_embedding: {e.message}") from e
    not_before = _time(validity["not_before"], "payload/validity/not_before")
    not_after = _time(validity["not_after"], "payload/validity/not_after")
    if not_after <= not_before:
        raise _malformed("validity ends before it begins (not_after <= not_before)")
    issuer = p["issuer"]
    return ConsentArtifact(
        consent_id=p["consent_id"],
        version=p["version"],
        issued_at=_time(p["issued_at"], "payload/issued_at"),
        issuer=Issuer(issuer["organisation"], issuer.get("operator")),
        subject=Subject(subject["display_name"], subject["portrait_sha256"], quantised),
        scope=Scope(tuple(scope["purposes"]), tuple(scope["languages"]), tuple(scope["channels"])),
        validity=Validity(not_before, not_after),
        evidence=Evidence(
            p["evidence"]["method"],
            tuple(EvidenceDocument(d["kind"], d["sha256"]) for d in p["evidence"]["documents"]),
            ClipEvidence.from_json(p["evidence"]["clip"]) if "clip" in p["evidence"] else None,
        ),
        envelope=envelope,
    )
