"""Which files can carry a manifest: detected from their first bytes, not their name."""

from __future__ import annotations

__all__ = ["SUPPORTED_FORMATS", "check_structure", "detect_format", "iso_media_cut_short"]

import os
import struct
from pathlib import Path
from typing import BinaryIO

from trustavatar._files import refuse_special_file
from trustavatar.errors import InputError, ProvenanceInputError, UnsupportedFormatError

#: MIME type → human name, for the formats trustavatar signs and verifies.
SUPPORTED_FORMATS: dict[str, str] = {
    "video/mp4": "MP4",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "audio/wav": "WAV",
}

#: File name suffixes of each format (an output named for another format is refused).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "video/mp4": (".mp4", ".m4v"),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "audio/wav": (".wav",),
}

_QUICKTIME = b"qt  "


def sniff(head: bytes) -> str | None:
    """The MIME type for a file starting with ``head`` (≥ 12 bytes), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp" and head[8:12] != _QUICKTIME:
        return "video/mp4"
    return None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return the MIME type of ``path`` or raise a clear error."""
    p = Path(path)
    try:
        refuse_special_file(p, "the file")
    except InputError as e:
        raise ProvenanceInputError(e.message) from e
    try:
        with p.open("rb") as f:
            head = f.read(16)
    except IsADirectoryError as e:
        raise ProvenanceInputError(f"{p} is a directory, not a media file") from e
    except OSError as e:
        raise ProvenanceInputError(f"cannot read {p}: {e.strerror or e}") from e
    if not head:
        raise UnsupportedFormatError(f"{p} is empty")
    mime = sniff(head)
    if mime is None:
        kind = "a QuickTime MOV file" if head[8:12] == _QUICKTIME else "not a supported format"
        raise UnsupportedFormatError(
            f"{p} is {kind} (supported: {', '.join(SUPPORTED_FORMATS.values())})"
        )
    return mime


def _top_level_boxes(f: BinaryIO, size: int) -> tuple[bool, set[bytes]]:
    """Walk an ISO media file's (MP4, MOV) top-level boxes: whether they tile its ``size``
    bytes exactly (a box that runs past the end: the file was cut short), and their
    kinds."""
    kinds: set[bytes] = set()
    off = 0
    while off < size:
        f.seek(off)
        header = f.read(16)
        if len(header) < 8:
            return False, kinds
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - off
        if box_size < 8:
            return False, kinds
        kinds.add(kind)
        off += box_size
    return off == size, kinds


def iso_media_cut_short(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an MP4 or MOV file whose last top-level box runs past its end.
    A copy cut short keeps a complete header when the header comes first ('faststart'),
    and FFmpeg then decodes the frames that are there and stops without an error."""
    try:
        with Path(path).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(8)[4:8] not in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
                return False
            return not _top_level_boxes(f, size)[0]
    except OSError:
        return False


def check_output_name(path: str | os.PathLike[str], mime: str) -> None:
    """Refuse an output named like another format (a JPEG signed into ``x.mp4``); names
    without a media suffix (temporary files) pass."""
    suffix = Path(path).suffix.lower()
    known = {s for group in SUFFIXES.values() for s in group}
    if suffix in known and suffix not in SUFFIXES[mime]:
        raise InputError(f"the output {Path(path).name} is named like another format, but "
                         f"it would hold {SUPPORTED_FORMATS[mime]}: name it "
                         f"{Path(path).stem}{SUFFIXES[mime][0]}")


def check_structure(path: str | os.PathLike[str], mime: str) -> None:
    """Refuse files that are visibly truncated or damaged (cheap checks, no decoding).

    MP4: the top-level boxes tile the file exactly and include ``moov``; PNG: it ends with
    an ``IEND`` chunk; JPEG: an end-of-image marker near the end; WAV: the RIFF size fits.
    """
    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as f:
        if mime == "video/mp4":
            tiled, kinds = _top_level_boxes(f, size)
            ok = tiled and b"moov" in kinds
        elif mime == "image/png":
            f.seek(max(size - 12, 0))
            ok = f.read(12)[4:8] == b"IEND"
        elif mime == "image/jpeg":
            f.seek(max(size - 4096, 0))
            ok = b"\xff\xd9" in f.read()
        else:  # audio/wav
            riff_size = struct.unpack("<I", f.read(8)[4:8])[0]
            ok = riff_size + 8 <= size + 1
    if not ok:
        name = SUPPORTED_FORMATS[mime]
        raise UnsupportedFormatError(f"{p} is a truncated or damaged {name} file")
