"""Sign a media file: embed a C2PA manifest, as the last step, atomically."""

from __future__ import annotations

__all__ = ["sign"]

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trustavatar import _terminate
from trustavatar._arguments import flag, instance, path
from trustavatar._atomic import atomic_output, refuse_existing, shown_path
from trustavatar._files import sha256_file
from trustavatar.errors import InputError, ProvenanceInputError, SigningError
from trustavatar.keys import SigningKey, TrustStore
from trustavatar.provenance import _c2pa
from trustavatar.provenance.formats import check_output_name, check_structure, detect_format
from trustavatar.provenance.manifest import build_manifest
from trustavatar.provenance.model import (
    ConsentBinding,
    GenerationBinding,
    Ingredient,
    SignResult,
    SourceType,
    ValidationState,
)
from trustavatar.provenance.verify import has_manifest_label, has_unlocated_store, verify


class _Output:
    """The file being signed into, as the stream c2pa writes to; it keeps the first write
    error, which c2pa reports only as a failure of its own ("JPEG write error",
    "UntrackedPointer")."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w+b")
        self.error: OSError | None = None

    def _watch(self, op: Callable[..., Any], *args: Any) -> Any:
        try:
            return op(*args)
        except OSError as e:
            self.error = self.error or e
            raise

    def write(self, data: bytes) -> int:
        return int(self._watch(self._file.write, data))

    def flush(self) -> None:
        self._watch(self._file.flush)

    def read(self, size: int = -1) -> bytes:
        return bytes(self._file.read(size))

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._file.seek(offset, whence))

    def tell(self) -> int:
        return int(self._file.tell())

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch(self._file.close)


def sign(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    key: SigningKey,
    trust: TrustStore,
    source_type: SourceType | str = SourceType.TRAINED_ALGORITHMIC_MEDIA,
    consent: ConsentBinding | None = None,
    generation: GenerationBinding | None = None,
    ingredients: Sequence[Ingredient] = (),
    title: str | None = None,
    tsa_url: str | None = None,
    overwrite: bool = True,
) -> SignResult:
    """Embed a signed manifest in a copy of ``src`` written to ``dst``.

    The signed file is read back and verified before it is renamed into place: ``dst``
    appears only complete, signed and valid; on any failure nothing is left behind.
    ``src`` may equal ``dst`` (signing in place). ``overwrite=False``: never replace a file
    at ``dst``, not even one that appeared while signing (:class:`InputError`).
    """
    t0 = time.perf_counter()
    src_p, dst_p = path(src, "src"), path(dst, "dst")
    instance(key, SigningKey, "key", " (Keystore.open(home).signing_key(passphrase))")
    instance(trust, TrustStore, "trust", " (TrustStore.from_home(home))")
    if not flag(overwrite, "overwrite"):
        refuse_existing(dst_p)  # now, not as "appeared while it was being made"
    if tsa_url is not None and not isinstance(tsa_url, str):
        raise InputError(f"tsa_url must be a URL (str) or None, got {type(tsa_url).__name__}")
    mime = detect_format(src_p)
    check_structure(src_p, mime)
    check_output_name(dst_p, mime)
    definition = build_manifest(
        title=title or dst_p.name, source_type=source_type, consent=consent,
        generation=generation, ingredients=ingredients,
    )
    ctx = _c2pa.context(trust)
    carried = _carries_manifest(src_p, mime, ctx)
    if carried and any(i.relationship == "parentOf" for i in ingredients):
        raise ProvenanceInputError(
            f"{src_p} carries a C2PA manifest, which becomes the new manifest's parent: "
            "another ingredient cannot be its parent too (give it as inputTo or componentOf)")
    with atomic_output(dst_p, replace=overwrite) as tmp:
        dest = _Output(tmp)
        try:
            # c2pa writes through Python callbacks: a signal's exception raised in one is
            # lost (a wrong error, or none) or aborts the process (a Rust panic), so
            # SIGINT and SIGTERM wait for the signing to end
            with _terminate.held(), _c2pa.builder(definition, ctx) as builder, \
                    src_p.open("rb") as source, dest:
                if carried:  # kept as the parent, with its validation as seen now
                    _c2pa.add_parent(builder, src_p.name, mime, source)
                    source.seek(0)
                builder.sign(_c2pa.signer(key, tsa_url), mime, source, dest)
        except (OSError, _c2pa.C2paError) as e:
            shown = shown_path(dst_p)  # the output asked for, not a temporary file
            if dest.error is not None:  # a full disk, a quota: c2pa's words do not say so
                raise SigningError(f"cannot write {shown.name} in {shown.parent}: "
                                   f"{dest.error.strerror or dest.error}") from e
            if isinstance(e, OSError):
                raise ProvenanceInputError(f"cannot read {src_p}: {e.strerror or e}") from e
            tsa = (f" (the timestamp authority {tsa_url} was asked for a timestamp: is it "
                   "reachable? 'trustavatar config unset tsa_url' signs without one)"
                   if tsa_url else "")
            raise SigningError(f"C2PA signing of {shown.name} failed: {e}{tsa}") from e
        # Read back what we wrote: a signature that does not validate must not ship.
        report = verify(tmp, trust=trust)
        if report.state not in (ValidationState.TRUSTED, ValidationState.VALID_UNTRUSTED):
            raise SigningError(f"the signed output does not validate: {report.summary}")
        digest = sha256_file(tmp)
    assert report.manifest_label is not None
    return SignResult(str(dst_p), mime, report.manifest_label, digest, time.perf_counter() - t0,
                      parent=report.parent)


def _carries_manifest(path: Path, mime: str, ctx: Any) -> bool:
    """Whether ``path`` holds a C2PA manifest, which the new one keeps as its parent.
    One that is there but cannot be read cannot be kept: signing over it would drop it
    without a trace (a tampered file signed clean), so that is refused."""
    cannot = (f"{path} holds a C2PA manifest that cannot be read, so the new manifest could "
              "not keep it as its parent, and signing over it would drop it without a "
              "trace; if it is meant to go, remove it first (a remux strips it)")
    try:
        store = _c2pa.read_store(str(path), mime, ctx)
    except _c2pa.C2paError as e:
        if has_manifest_label(path):
            raise ProvenanceInputError(f"{cannot} ({e})") from e
        return False  # damage c2pa meets, with no manifest in the file: check_structure's
    except OSError as e:
        raise ProvenanceInputError(f"cannot read {path}: {e.strerror or e}") from e
    if store is None and has_unlocated_store(path, mime):
        raise ProvenanceInputError(f"{cannot} (its box is damaged)")
    return store is not None
