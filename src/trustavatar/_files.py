"""Reading input files: streaming SHA-256 and size-limited reads with clear errors."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from trustavatar._arguments import path as as_path
from trustavatar.errors import InputError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (memory flat in file size)."""
    h = hashlib.sha256()
    refuse_special_file(Path(path))
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_input(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file") -> bytes:
    """Read a whole (small) input file, refusing anything larger than ``max_bytes`` and
    anything that is not a regular file (a named pipe would block the command)."""
    data = read_start(path, max_bytes=max_bytes, what=what)
    if len(data) > max_bytes:
        raise InputError(f"{what} {path} is larger than {max_bytes} bytes")
    return data


def read_start(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file") -> bytes:
    """The first ``max_bytes + 1`` bytes of an input file (all of it when it is no larger),
    for a parser that says itself what a file too large is; :class:`InputError` for what
    cannot be read, or is not a regular file; a path argument that is no path (None, a
    number, bytes) is one too, named as ``what``."""
    p = as_path(path, what)
    refuse_special_file(p, what)
    try:
        with p.open("rb") as f:
            return f.read(max_bytes + 1)
    except IsADirectoryError as e:
        raise InputError(f"{what} {p} is a directory") from e
    except OSError as e:
        raise InputError(f"cannot read {what} {p}: {e.strerror or e}") from e


def refuse_special_file(path: Path, what: str = "file") -> None:
    """Raise :class:`InputError` when ``path`` exists but is neither a regular file nor a
    folder (a named pipe, a socket, a device): opening one could wait forever or never
    end. Missing paths and folders are left to the caller's own message."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError(f"{what} {path} is not a regular file (a pipe or a device?)")


def refuse_document_as_path(source: object, what: str) -> None:
    """Raise :class:`InputError` when ``source``, given where a path is expected, is a JSON
    document's text (read from a file and passed on as ``str``): trying it as a file name
    fails with "File name too long", and would print the document (a face embedding)."""
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        raise InputError(f"that is the {what}'s JSON text, not a path to it: pass the "
                         "bytes instead (text.encode())")
    if not isinstance(source, str | os.PathLike):
        raise InputError(f"the {what} must be a path or its bytes, got "
                         f"{type(source).__name__}")


def ffmpeg_path(path: str | os.PathLike[str]) -> str:
    """``path`` as FFmpeg (``av.open``) must be given it: absolute. FFmpeg reads a name
    such as ``file:x.mp4``, ``concat:a|b`` or ``cache:x`` as a protocol and opens
    something else than the file of that name, so an uploaded ``file:real.mp4`` would be
    analysed as ``real.mp4``; a name that starts with ``/`` is always a plain file."""
    return str(Path(path).absolute())
