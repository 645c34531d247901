"""Verify a file's C2PA manifest and report what it says, in plain words."""

from __future__ import annotations

__all__ = ["explain", "verify"]

import os
from pathlib import Path
from typing import Any

from trustavatar._arguments import path as as_path
from trustavatar.errors import UnsupportedFormatError
from trustavatar.keys import TrustStore
from trustavatar.provenance import _c2pa
from trustavatar.provenance.formats import (
    SUPPORTED_FORMATS,
    check_structure,
    cut_short,
    detect_format,
    mp4_store_boxes,
    only_a_trailer,
    store_region,
)
from trustavatar.provenance.model import (
    ConsentBinding,
    Failure,
    GenerationBinding,
    Ingredient,
    ParentManifest,
    ProvenanceReport,
    Signer,
    ValidationState,
    check_signer_names,
    trusted_names,
)

#: c2pa validation codes in plain words.
EXPLANATIONS = {
    "assertion.bmffHash.mismatch": "the video/audio data changed after signing",
    "assertion.dataHash.mismatch": "the file's content changed after signing",
    "assertion.boxesHash.mismatch": "the file's content changed after signing",
    "assertion.hashedURI.mismatch": "an assertion in the manifest was edited after signing",
    "assertion.missing": "an assertion the claim refers to is missing",
    "claimSignature.mismatch": "the manifest's signature does not match its claim",
    "claimSignature.missing": "the manifest carries no signature",
    "signingCredential.untrusted": "the signer's certificate does not chain to a trusted root",
    "signingCredential.expired": "the signing certificate had expired and no timestamp proves "
    "it was signed earlier",
    "signingCredential.revoked": "the signing certificate was revoked",
    "signingCredential.invalid": "the signing certificate is not valid for signing manifests",
    "timeStamp.mismatch": "the timestamp does not match the signature",
    "timeStamp.untrusted": "the timestamp authority is not trusted",
    "timeStamp.outsideValidity": "the timestamp lies outside the certificate's validity",
    "manifest.unreadable": "the embedded manifest is damaged and cannot be read",
    "manifest.unlocated": "the file holds a C2PA manifest store, but the box that should "
                          "hold it is damaged: it cannot be read",
    "file.cut_short": "the file is cut short (its last part is missing), so it is not the "
                      "file that was signed",
}


def explain(code: str, fallback: str | None = None) -> str:
    """A c2pa validation code in plain words (``fallback``, then the code itself, when
    it has none here)."""
    return EXPLANATIONS.get(code) or fallback or str(code)


def verify(path: str | os.PathLike[str], *, trust: TrustStore) -> ProvenanceReport:
    """Read and validate the manifest of ``path`` against ``trust``'s anchors.

    Never raises for a bad manifest — that is a state. Raises
    :class:`~trustavatar.errors.ProvenanceInputError` only when the file cannot be read
    or is not a supported format.
    """
    p = as_path(path, "path")
    # 1. what kind of file (by content)
    mime = detect_format(p)
    # 2. read the manifest store with our trust anchors
    #    A file with no manifest label in it that is damaged is bad input (exit 2), not a
    #    tampered manifest: truncating an unsigned JPEG makes c2pa fail to read one.
    try:
        store = _c2pa.read_store(str(p), mime, _c2pa.context(trust))
    except _c2pa.C2paError as e:
        if not has_manifest_label(p):  # no manifest anywhere in it: damage, not tampering
            _refuse_cut_short(p, mime)
            if mime == "video/mp4" and only_a_trailer(p):
                # bytes appended after the end, which c2pa trips over: there is no manifest
                return ProvenanceReport(str(p), mime, ValidationState.ABSENT)
            check_structure(p, mime)  # other damage: bad input (exit 2)
        cut = _cut_short(p, mime)  # then the manifest itself may be whole
        why = ("its manifest cannot be read from what is left" if cut
               else explain("manifest.unreadable"))
        return ProvenanceReport(str(p), mime, ValidationState.INVALID, failures=(
            *cut, Failure("manifest.unreadable", f"{why} ({e})")))
    if store is None:
        if has_unlocated_store(p, mime):  # a store c2pa did not find: its box is damaged
            return ProvenanceReport(str(p), mime, ValidationState.INVALID, failures=(
                *_cut_short(p, mime),
                Failure("manifest.unlocated", explain("manifest.unlocated"))))
        # no manifest in a video or sound file cut short: one may have been in the lost
        # part, so the file is bad input, as above, not a plain "never signed". (Data
        # appended after the end is not that; nor are pictures held to it: phones append
        # data after a JPEG's end, Motion Photos a video.)
        _refuse_cut_short(p, mime)
        return ProvenanceReport(str(p), mime, ValidationState.ABSENT)
    # 3. the validation state and its reasons
    state = _state(store)
    failures = tuple(
        Failure(str(f.get("code")), explain(str(f.get("code")), _text(f.get("explanation"))))
        for f in _active_failures(store)
    )
    if state is ValidationState.INVALID and not failures:
        failures = (Failure("unknown", "the manifest did not validate"),)
    if state is ValidationState.INVALID:
        failures = (*_cut_short(p, mime), *failures)
    # 4. what the active manifest declares
    label = _text(store.get("active_manifest"))
    active = _obj(_obj(store.get("manifests")).get(label or ""))
    # 5. an untrusted signer carrying a trusted identity's name is named as a look-alike
    return check_signer_names(_report(p, mime, state, failures, label, active),
                              trusted_names(trust))


# What a manifest declares is the file's, not c2pa's: any field may have any JSON type.
# These read it as the shape expected or as absent, so a foreign manifest never crashes
# the verifier (nor a scan, which would then skip the file).
def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def has_manifest_label(path: Path) -> bool:
    """Whether the bytes ``c2pa`` (the label of a JUMBF manifest store) occur in the file."""
    return _holds(path, _MANIFEST_LABEL)


def _holds(path: Path, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether ``needle`` occurs in the file (read in chunks)."""
    tail = b""
    with path.open("rb") as f:
        while block := f.read(chunk):
            if needle in tail + block:
                return True
            tail = block[-(len(needle) - 1):]
    return False


_MANIFEST_LABEL = b"c2pa"
#: the description box of a C2PA manifest store: JUMBF ``jumd``, then the store's type
#: (the UUID 63327061-0011-0010-8000-00AA00389B71) — 20 bytes no media data holds by chance
_STORE_DESCRIPTION = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71")


def has_unlocated_store(path: Path, mime: str) -> bool:
    """Whether a file that c2pa finds no manifest in holds a C2PA manifest store's
    description box where its format keeps its store, so that the box around it is
    damaged: in an MP4, a top-level ``uuid`` box (a signed picture carried elsewhere in the
    file is not the file's manifest); in a JPEG, PNG or WAV, where the format keeps it
    (:func:`~.formats.store_region`: a segment, chunk or chunk type renamed by damage is
    no longer found there)."""
    if mime == "video/mp4":
        return mp4_store_boxes(path, _STORE_DESCRIPTION)
    return _STORE_DESCRIPTION in store_region(path, mime)


def _refuse_cut_short(path: Path, mime: str) -> None:
    """Bad input for a file with no manifest that was cut short: one may have been in the
    part that is missing, so it is not "never signed"."""
    if cut_short(path, mime):
        raise UnsupportedFormatError(
            f"{path} is a truncated {SUPPORTED_FORMATS[mime]} file (cut short): with no "
            "manifest in what is left, its provenance cannot be told")


def _cut_short(path: Path, mime: str) -> tuple[Failure, ...]:
    """A failure saying the file is cut short (the formats whose structure tells), or ()."""
    return (Failure("file.cut_short", explain("file.cut_short")),) if cut_short(path, mime) \
        else ()


def _state(store: dict[str, Any]) -> ValidationState:
    raw = store.get("validation_state")
    failures = [f.get("code") for f in _active_failures(store)]
    if raw == "Trusted":
        return ValidationState.TRUSTED
    if raw == "Valid" and set(failures) <= {"signingCredential.untrusted"}:
        return ValidationState.VALID_UNTRUSTED
    return ValidationState.INVALID


def _active_failures(store: dict[str, Any]) -> list[dict[str, Any]]:
    results = _obj(store.get("validation_results"))
    failures = _dicts(_obj(results.get("activeManifest")).get("failure"))
    if not results:  # older layout: a flat list of statuses
        failures = [s for s in _dicts(store.get("validation_status")) if "code" in s]
    return failures


def _report(
    p: Path,
    mime: str,
    state: ValidationState,
    failures: tuple[Failure, ...],
    label: str | None,
    active: dict[str, Any],
) -> ProvenanceReport:
    sig = _obj(active.get("signature_info"))
    gen = (_dicts(active.get("claim_generator_info")) or [{}])[0]
    source_types: list[str] = []
    consent = None
    generation = None
    mining: dict[str, str] = {}
    for a in _dicts(active.get("assertions")):
        kind = _text(a.get("label")) or ""
        data = a.get("data")
        if kind.startswith("c2pa.actions"):
            source_types += [x["digitalSourceType"] for x in _dicts(_obj(data).get("actions"))
                             if isinstance(x.get("digitalSourceType"), str)]
        elif kind == ConsentBinding.LABEL:
            consent = ConsentBinding.from_assertion(data)
        elif kind == GenerationBinding.LABEL:
            generation = GenerationBinding.from_assertion(data)
        elif kind == "cawg.training-mining":
            mining = {str(k): str(v.get("use"))
                      for k, v in _obj(_obj(data).get("entries")).items() if isinstance(v, dict)}
    ingredients = []
    parent = next((pm for i in _dicts(active.get("ingredients"))
                   if (pm := ParentManifest.from_ingredient(i)) is not None), None)
    for i in _dicts(active.get("ingredients")):
        iid = str(i.get("instance_id", ""))
        if iid.startswith("sha256:"):
            try:
                ingredients.append(Ingredient(str(i.get("title", "")), iid[7:],
                                              str(i.get("format", "")),
                                              str(i.get("relationship", "inputTo"))))
            except Exception:  # noqa: S112 - a foreign ingredient we cannot describe
                continue
    return ProvenanceReport(
        path=str(p),
        mime=mime,
        state=state,
        failures=failures,
        manifest_label=label,
        signer=Signer(_text(sig.get("common_name")), _text(sig.get("issuer")),
                      _text(sig.get("alg"))) if sig else None,
        claim_generator=" ".join(str(gen[k]) for k in ("name", "version") if k in gen) or None,
        digital_source_types=tuple(dict.fromkeys(source_types)),
        consent=consent,
        generation=generation,
        ingredients=tuple(ingredients),
        parent=parent,
        training_mining=mining,
        timestamp=_text(sig.get("time")),
    )
