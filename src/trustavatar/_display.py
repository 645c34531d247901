"""Showing outside text (file names, manifest fields, names in a registry) to a person."""

from __future__ import annotations

__all__ = ["CONTROL_CHARACTERS", "has_control_characters", "is_utf8", "visible"]

#: Control characters: C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F, e.g. U+009B, which a
#: terminal reads as CSI, and U+0085, a line break). The one rule for them: names stored in a
#: registry may not hold them (:func:`has_control_characters`), and :func:`visible` shows them
#: as escapes.
CONTROL_CHARACTERS = frozenset((*range(0x20), *range(0x7F, 0xA0)))
#: Not control characters, but they break a line (U+2028, U+2029) or turn the text after
#: them around (the bidirectional controls): :func:`visible` shows them as escapes too.
_LAYOUT_CHARACTERS = frozenset((0x2028, 0x2029, 0x061C, 0x200E, 0x200F,
                                *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_INVISIBLE = {c: f"\\x{c:02x}" for c in CONTROL_CHARACTERS} | {
    c: f"\\u{c:04x}" for c in _LAYOUT_CHARACTERS}


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`CONTROL_CHARACTERS`."""
    return any(ord(c) in CONTROL_CHARACTERS for c in text)


def visible(value: object) -> str:
    """``value`` as text with control characters (C0, DEL, C1), line and paragraph
    separators and bidirectional controls written as escapes (``\\x0a``, ``\\x9b``,
    ``\\u2028``, ``\\u202e``): a name cannot start a line of its own or send a terminal a
    command, and a right-to-left override in it cannot turn the text after it around
    (``evil\\u202egpj.mp4`` shown as ``evil4pm.jpg``)."""
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
