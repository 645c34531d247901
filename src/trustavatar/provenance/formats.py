"""Which files can carry a manifest: detected from their first bytes, not their name."""

from __future__ import annotations

__all__ = ["SUPPORTED_FORMATS", "check_structure", "cut_short", "detect_format",
           "iso_media_cut_short", "mp4_store_boxes", "only_a_trailer", "store_region"]

import os
import struct
from dataclasses import dataclass, field
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
#: names of media formats no signed output is (a player would take an MP4 named .mov for
#: QuickTime, a tool for what the name says)
_OTHER_MEDIA = frozenset({".mov", ".qt", ".mkv", ".webm", ".avi", ".gif", ".webp", ".heic",
                          ".heif", ".avif", ".tif", ".tiff", ".bmp", ".mp3", ".m4a", ".aac",
                          ".flac", ".ogg", ".opus"})


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


@dataclass
class _Boxes:
    """An ISO media file's (MP4, MOV) top-level boxes, as walked by :func:`_top_level_boxes`."""

    kinds: set[bytes] = field(default_factory=set)
    #: (offset, size) of each top-level ``uuid`` box (where MP4 keeps its C2PA store)
    uuids: list[tuple[int, int]] = field(default_factory=list)
    #: a box runs past the end of the file: the file was cut short
    cut_short: bool = False
    #: bytes after the last whole box that are no box (appended data, a damaged header)
    trailer: bool = False

    @property
    def tiled(self) -> bool:
        """Whether the boxes fill the file exactly."""
        return not (self.cut_short or self.trailer)


#: the top-level box kinds of MP4/MOV files (ISO/IEC 14496-12 and QuickTime)
_TOP_LEVEL_KINDS = frozenset({b"ftyp", b"moov", b"mdat", b"moof", b"mfra", b"free", b"skip",
                              b"uuid", b"meta", b"wide", b"sidx", b"styp", b"pdin", b"prft",
                              b"emsg", b"ssix", b"pnot", b"jumb"})


def only_a_trailer(path: str | os.PathLike[str]) -> bool:
    """Whether an MP4's one defect is data after its last box: its boxes up to there are
    whole and include ``ftyp`` and ``moov`` (damage elsewhere is not that)."""
    boxes = _walk(path)
    return (boxes.trailer and not boxes.cut_short
            and {b"ftyp", b"moov"} <= boxes.kinds)


def _walk(path: str | os.PathLike[str]) -> _Boxes:
    """:func:`_top_level_boxes` of the file at ``path``."""
    with Path(path).open("rb") as f:
        return _top_level_boxes(f, os.fstat(f.fileno()).st_size)


def _riff_runs_past(head: bytes, size: int) -> bool:
    """Whether the RIFF size in a WAV's first 8 bytes ``head`` runs past its ``size``
    (one pad byte allowed)."""
    return len(head) == 8 and struct.unpack("<I", head[4:8])[0] + 8 > size + 1


def _top_level_boxes(f: BinaryIO, size: int) -> _Boxes:
    """Walk an ISO media file's top-level boxes (see :class:`_Boxes`)."""
    boxes = _Boxes()
    off = 0
    while off < size:
        f.seek(off)
        header = f.read(16)
        if len(header) < 8:
            boxes.trailer = True
            break
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - off
        if box_size < 8 or not all(0x20 <= b < 0x7F for b in kind):
            boxes.trailer = True  # no box: data appended after the last one
            break
        if off + box_size > size:
            # a box of a kind files are made of that runs past the end: cut short; anything
            # else (appended text reads as a huge "box") is data after the last box
            if kind in _TOP_LEVEL_KINDS:
                boxes.kinds.add(kind)
                boxes.cut_short = True
            else:
                boxes.trailer = True
            break
        boxes.kinds.add(kind)
        if kind == b"uuid":
            boxes.uuids.append((off, box_size))
        off += box_size
    return boxes


def mp4_store_boxes(path: str | os.PathLike[str], marker: bytes,
                    max_bytes: int = 1 << 26) -> bool:
    """Whether a top-level ``uuid`` box of the MP4 ``path`` holds ``marker`` (read up to
    ``max_bytes`` of each: manifest stores are small). Where MP4 keeps its C2PA manifest
    store; the same bytes elsewhere (a signed picture carried inside) do not count."""
    with Path(path).open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        for off, box_size in _top_level_boxes(f, size).uuids:
            f.seek(off)
            if marker in f.read(min(box_size, max_bytes)):
                return True
    return False


def iso_media_cut_short(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an MP4 or MOV file whose last top-level box runs past its end.
    A copy cut short keeps a complete header when the header comes first ('faststart'),
    and FFmpeg then decodes the frames that are there and stops without an error."""
    try:
        with Path(path).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(8)[4:8] not in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
                return False
            return _top_level_boxes(f, size).cut_short
    except OSError:
        return False


def check_output_name(path: str | os.PathLike[str], mime: str) -> None:
    """Refuse an output named like another format (a JPEG signed into ``x.mp4``); names
    without a media suffix (temporary files) pass."""
    suffix = Path(path).suffix.lower()
    known = {s for group in SUFFIXES.values() for s in group} | _OTHER_MEDIA
    if suffix in known and suffix not in SUFFIXES[mime]:
        raise InputError(f"the output {Path(path).name} is named like another format, but "
                         f"it would hold {SUPPORTED_FORMATS[mime]}: name it "
                         f"{Path(path).stem}{SUFFIXES[mime][0]}")


def cut_short(path: str | os.PathLike[str], mime: str) -> bool:
    """Whether a video or sound file was cut short: an MP4 box, or a WAV's RIFF size, runs
    past the end of the file (data appended after the end is not that). False for other
    formats, whose ends say less."""
    if mime == "video/mp4":
        return _walk(path).cut_short
    if mime == "audio/wav":
        with Path(path).open("rb") as f:
            return _riff_runs_past(f.read(8), os.fstat(f.fileno()).st_size)
    return False


def check_structure(path: str | os.PathLike[str], mime: str) -> None:
    """Refuse files that are visibly truncated or damaged (cheap checks, no decoding).

    MP4: the top-level boxes tile the file exactly and include ``moov``; PNG: it ends with
    an ``IEND`` chunk; JPEG: an end-of-image marker near the end; WAV: the RIFF size fits.
    """
    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as f:
        if mime == "video/mp4":
            boxes = _top_level_boxes(f, size)
            ok = boxes.tiled and b"moov" in boxes.kinds
        elif mime == "image/png":
            f.seek(max(size - 12, 0))
            ok = f.read(12)[4:8] == b"IEND"
        elif mime == "image/jpeg":
            f.seek(max(size - 4096, 0))
            ok = b"\xff\xd9" in f.read()
        else:  # audio/wav
            ok = not _riff_runs_past(f.read(8), size)
    if not ok:
        name = SUPPORTED_FORMATS[mime]
        raise UnsupportedFormatError(f"{p} is a truncated or damaged {name} file")


def store_region(path: str | os.PathLike[str], mime: str, max_bytes: int = 1 << 26) -> bytes:
    """The bytes of a JPEG, PNG or WAV where its format keeps a C2PA store (up to
    ``max_bytes``): a JPEG's segments before its image data (the first SOS marker), a
    PNG's chunks before IEND, a WAV's RIFF chunk. What follows (a signed picture or a
    Motion Photo's video appended after the end) is not the file's store."""
    with Path(path).open("rb") as f:
        data = f.read(max_bytes)
    if mime == "image/jpeg":
        end = _jpeg_image_data(data)
    elif mime == "image/png":
        end = data.find(b"IEND")
    elif mime == "audio/wav" and len(data) >= 8:
        end = 8 + struct.unpack("<I", data[4:8])[0]
    else:
        end = -1
    return data if end < 0 else data[:end]


def _jpeg_image_data(data: bytes) -> int:
    """Where a JPEG's image data begins (its SOS segment), walking its segments by their
    lengths from SOI, so that an SOS inside a segment (an EXIF thumbnail's) is passed
    over; -1 when the walk cannot tell."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:
            return i
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return -1
