"""Reading input files: streaming SHA-256 and size-limited reads with clear errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from trustavatar.errors import InputError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (memory flat in file size)."""
    h = hashlib.sha256()
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
    """Read a whole (small) input file, refusing anything larger than ``max_bytes``."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except IsADirectoryError as e:
        raise InputError(f"{what} {p} is a directory") from e
    except OSError as e:
        raise InputError(f"cannot read {what} {p}: {e.strerror or e}") from e
    if len(data) > max_bytes:
        raise InputError(f"{what} {p} is larger than {max_bytes} bytes")
    return data
