"""The error family of trustavatar.

Every error the library raises on purpose derives from :class:`Error`. Each part has
one family below it (:class:`KeystoreError`, :class:`ProvenanceError`,
:class:`ConsentError`, :class:`FaceError`, :class:`RegistryError`,
:class:`DetectionError`). ``str(error)`` is a one-line message fit for a terminal;
:meth:`Error.diagnostics` adds detail.

Each class carries the process exit code the CLI uses for it (see README, "Exit codes").
"""

from __future__ import annotations

__all__ = [
    "AudioInputError",
    "AuditSignatureError",
    "CheckpointSignatureError",
    "ConsentChallengeError",
    "ConsentError",
    "ConsentEvidenceError",
    "ConsentExpiredError",
    "ConsentIdentityError",
    "ConsentMalformedError",
    "ConsentNotFoundError",
    "ConsentNotYetValidError",
    "ConsentRevocationListError",
    "ConsentRevokedError",
    "ConsentScopeError",
    "ConsentSignatureError",
    "ConsentUntrustedIssuerError",
    "ConsentValidityError",
    "DetectionError",
    "Error",
    "ExitCode",
    "FaceError",
    "FaceTrackingError",
    "GenerationError",
    "InputError",
    "KeystoreError",
    "KeystoreExistsError",
    "KeystoreLockedError",
    "KeystoreMissingError",
    "LedgerBrokenError",
    "PassphraseError",
    "ProvenanceError",
    "ProvenanceInputError",
    "ProvenanceVerificationError",
    "QualityCheckError",
    "RegistryDamagedError",
    "RegistryError",
    "ReportError",
    "ScriptInputError",
    "SigningError",
    "SpeechSynthesisError",
    "UnsupportedFormatError",
    "UntrustedChainError",
    "VideoInputError",
    "WatermarkError",
]

from collections.abc import Mapping
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes of the ``trustavatar`` command (documented in the README)."""

    OK = 0
    FAILURE = 1  #: an operation failed (keystore, registry, signing)
    USAGE = 2  #: bad arguments or unreadable / unsupported input
    REJECTED = 3  #: verification failed: invalid manifest, consent rejected
    ABSENT = 4  #: no C2PA manifest: unknown provenance
    UNTRUSTED = 5  #: the signature is valid but the signer is not trusted
    MANIPULATED = 10  #: ``scan``: at least one video is likely manipulated or AI-generated
    PARTIAL = 11  #: ``scan``: some inputs could not be scanned (none of the rest flagged)
    INTERNAL = 70  #: a bug in trustavatar (please report it)


class Error(Exception):
    """Root of every error trustavatar raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        #: keys a command puts beside ``error`` in its ``--json`` object when this error
        #: ends it (``consent verify``: ``"valid": false``, as success says true)
        self.result: dict[str, Any] = {}

    def fields(self) -> dict[str, str]:
        """What a program reading the error needs besides its message (the CLI adds these
        to ``--json``'s error object): e.g. why a challenge cannot be used."""
        return {}

    def diagnostics(self) -> str:
        """A longer, multi-line explanation (the one-line message plus any detail)."""
        text = f"{type(self).__name__}: {self.message}"
        if self.detail:
            text += "\n" + self.detail
        cause = self.__cause__
        if cause is not None:
            text += f"\ncaused by {type(cause).__name__}: {cause}"
        return text


class InputError(Error):
    """An input file or argument is missing, unreadable or of an unsupported kind."""

    exit_code = ExitCode.USAGE


# --- keystore -------------------------------------------------------------------------


class KeystoreError(Error):
    """The organisation signing identity cannot be created, loaded or used."""


class KeystoreMissingError(KeystoreError):
    """No signing identity exists in the trustavatar home (run ``trustavatar keys init``)."""


class KeystoreExistsError(KeystoreError):
    """A signing identity exists already and would be overwritten."""


class KeystoreLockedError(KeystoreError):
    """The signing key is encrypted and no passphrase was given."""


class PassphraseError(KeystoreError):
    """The passphrase does not decrypt the signing key."""


class UntrustedChainError(KeystoreError):
    """A certificate chain does not lead to a trusted root at the time asked."""

    exit_code = ExitCode.REJECTED


# --- registry -------------------------------------------------------------------------


class RegistryError(Error):
    """The SQLite registry cannot be opened, migrated or written."""


class CheckpointSignatureError(RegistryError):
    """A ledger checkpoint's signature does not verify, or its signer is not trusted or not
    the organisation it names (exit 3, like every failed verification)."""

    exit_code = ExitCode.REJECTED


class RegistryDamagedError(RegistryError):
    """The registry's content is gone or damaged: an emptied file, a file that is not (or no
    longer) an SQLite database, a table that was dropped. Not raised when the file cannot
    be reached (permissions, a full disk, a lock): that is a plain :class:`RegistryError`.
    The exit code is the same (1); ``ledger verify`` reports it as a broken chain
    (:class:`LedgerBrokenError`, 3)."""


class LedgerBrokenError(RegistryError):
    """The ledger cannot be read as a chain at all (its table dropped, the registry emptied,
    cut short or overwritten: ``ledger verify``, ``audit``), the extreme case of rows
    deleted, or a row cannot be read (a column edited into something no writer stores):
    a broken chain (exit 3), not a failed operation."""

    exit_code = ExitCode.REJECTED


# --- faces ----------------------------------------------------------------------------


class FaceError(InputError):
    """No usable face in an image (none, several, or the image cannot be read)."""


# --- provenance -----------------------------------------------------------------------


class ProvenanceError(Error):
    """C2PA signing or reading failed."""


class ProvenanceInputError(ProvenanceError, InputError):
    """The file to sign or verify is missing or unreadable."""


class UnsupportedFormatError(ProvenanceInputError):
    """The file is not one of the supported formats (MP4, JPEG, PNG, WAV)."""


class SigningError(ProvenanceError):
    """The C2PA library refused to sign."""


class ProvenanceVerificationError(ProvenanceError):
    """A manifest was required to be trusted but is invalid, untrusted or absent."""

    exit_code = ExitCode.REJECTED


class WatermarkError(ProvenanceError):
    """A watermark cannot be embedded or read (wrong frame size, bad payload)."""


# --- generator ------------------------------------------------------------------------


class GenerationError(Error):
    """The talking-head generator failed."""


class AudioInputError(GenerationError, InputError):
    """The audio (or the audio track of a video) cannot be decoded, or holds no sound."""


class SpeechSynthesisError(GenerationError):
    """Text-to-speech failed: the engine could not be loaded or failed while speaking, or
    (:class:`ScriptInputError`) the script or the voice settings are not usable."""


class ScriptInputError(SpeechSynthesisError, InputError):
    """The script or voice settings are not usable: empty or overlong text, malformed SSML,
    unknown language or voice, rate or pitch out of range (exit code 2, like other bad
    input)."""


class FaceTrackingError(GenerationError, InputError):
    """No usable face in the face photo or video (none found, or lost for too long)."""


class QualityCheckError(GenerationError):
    """The output failed identity or audio-visual sync quality checks."""


# --- detection ------------------------------------------------------------------------


class DetectionError(Error):
    """Scanning a video for manipulation failed (bad analyzer name, bad fusion file)."""


class VideoInputError(DetectionError, InputError):
    """The file to scan is missing, not a video, has no video stream, or has no frames."""


# --- reports --------------------------------------------------------------------------


class ReportError(Error):
    """A report cannot be made: the input is not a scan result, or the audit's data is
    unreadable. A broken ledger or a missing video is *reported*, not raised."""


class AuditSignatureError(ReportError):
    """An audit report's detached signature does not verify, is not from a trusted
    organisation key, or does not cover this file."""

    exit_code = ExitCode.REJECTED


# --- consent --------------------------------------------------------------------------


class ConsentError(Error):
    """A consent artifact does not grant what was asked.

    Raised by :func:`trustavatar.consent.require` and :func:`trustavatar.consent.verify`;
    the subclass says which check failed.
    """

    exit_code = ExitCode.REJECTED


class ConsentMalformedError(ConsentError):
    """The artifact is not a canonical, schema-valid consent document."""


class ConsentSignatureError(ConsentError):
    """The artifact's signature does not verify."""


class ConsentUntrustedIssuerError(ConsentError):
    """The artifact is signed by a certificate that does not chain to a trusted root."""


class ConsentValidityError(ConsentError):
    """The artifact is outside its validity period."""


class ConsentExpiredError(ConsentValidityError):
    """The artifact's ``not_after`` has passed."""


class ConsentNotYetValidError(ConsentValidityError):
    """The artifact's ``not_before`` is in the future."""


class ConsentRevokedError(ConsentError):
    """The consent was revoked."""


class ConsentRevocationListError(ConsentError):
    """A revocation list given to check against is malformed, forged or untrusted.

    Never skipped silently: without a list that verifies, non-revocation is not shown.
    """


class ConsentScopeError(ConsentError):
    """The purpose or language asked for is outside the consent's scope."""


class ConsentIdentityError(ConsentError):
    """The face given is not the consenting subject's face."""


class ConsentNotFoundError(ConsentError, InputError):
    """No consent with that id in the registry."""

    exit_code = ExitCode.USAGE


class ConsentChallengeError(ConsentError):
    """A consent challenge cannot be used: unknown, expired, already used, or out of attempts.

    ``reason`` is one of ``"unknown"``, ``"expired"``, ``"used"``, ``"spent"`` (out of
    attempts).
    """

    def __init__(self, message: str, *, reason: str, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.reason = reason

    def fields(self) -> dict[str, str]:
        return {"reason": self.reason}


class ConsentEvidenceError(ConsentError):
    """A recorded consent clip failed a check; no artifact was issued.

    ``check`` names the first check that failed, in the order they run: ``"speech"`` (the
    spoken code), ``"liveness"``, ``"identity"`` or ``"provenance"``. ``figures`` holds
    that check's measurements (got and expected); ``report`` the full report of every
    check that ran (a :class:`trustavatar.consent.ClipReport`), when there is one.
    """

    def __init__(self, message: str, *, check: str, figures: Mapping[str, Any] | None = None,
                 report: Any = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.check = check
        self.figures = dict(figures or {})
        self.report = report
