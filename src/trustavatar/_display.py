"""Showing outside text (file names, manifest fields, names in a registry) to a person."""

from __future__ import annotations

__all__ = ["is_utf8", "visible"]

#: control characters and bidirectional controls, shown as escapes by :func:`visible`
_INVISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {
    c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                *range(0x2066, 0x206A))}


def visible(value: object) -> str:
    """``value`` as text with control characters and bidirectional controls written as
    escapes (``\\x0a``, ``\\u202e``): a name cannot start a line of its own, and a
    right-to-left override in it cannot turn the text after it around (``evil\\u202egpj.mp4``
    shown as ``evil4pm.jpg``)."""
    return str(value).translate(_INVISIBLE)


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: not when it holds surrogates, which stand
    for bytes that were not UTF-8 (a command-line argument, an environment variable or a
    file name read with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
