"""Checks of the arguments a library call is given: a wrong type is the caller's error
(:class:`~trustavatar.errors.InputError`, exit 2 from the CLI), said with the argument's
name, never an AttributeError or TypeError from deep inside."""

from __future__ import annotations

__all__ = ["KEY_HINT", "REGISTRY_HINT", "flag", "instance", "no_hidden_characters", "path"]

import os
from pathlib import Path
from typing import TypeVar

from trustavatar._display import hidden_character
from trustavatar.errors import InputError

T = TypeVar("T")

#: where the objects most often passed wrongly come from (for :func:`instance`'s message)
KEY_HINT = " (Keystore.open(home).signing_key(passphrase))"
REGISTRY_HINT = " (Registry.for_home(home) or Registry.open(path), not a path)"


def flag(value: object, name: str) -> bool:
    """``value`` when it is True or False: a string such as "no" is not taken as true."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r:.60}")
    return value


def path(value: object, name: str) -> Path:
    """``value`` as a path: a str or an os.PathLike, not empty (bytes, None, numbers are
    not paths here)."""
    if not isinstance(value, str | os.PathLike):
        raise InputError(f"{name} must be a path, got {type(value).__name__} (a str or a "
                         "Path is one)")
    text = os.fspath(value)
    if not isinstance(text, str):  # a path object that gives bytes (os.DirEntry of bytes)
        raise InputError(f"{name} must be a path given as text, not bytes")
    if not text.strip():  # (not "is empty", which reads as an empty file)
        raise InputError(f"{name}: the path is empty (no file named)")
    return Path(text)


def instance(value: object, kind: type[T], name: str, hint: str = "") -> T:
    """``value`` when it is a ``kind`` (``hint``: where one comes from)."""
    if not isinstance(value, kind):
        raise InputError(f"{name} must be a {kind.__name__}{hint}, got "
                         f"{type(value).__name__}")
    return value


def no_hidden_characters(text: str, name: str, allowed: frozenset[int] = frozenset()) -> None:
    """:class:`InputError` naming ``name`` when ``text`` holds an invisible format
    character (see :func:`~trustavatar._display.hidden_character`) other than ``allowed``:
    one makes a look-alike of another name, or turns the text after it around."""
    if (hidden := hidden_character(text, allowed)) is not None:
        raise InputError(f"{name} must not contain invisible format characters (it holds "
                         f"{hidden})")
