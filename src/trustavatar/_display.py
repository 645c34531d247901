"""Showing outside text (file names, manifest fields, names in a registry) to a person."""

from __future__ import annotations

import unicodedata

__all__ = ["CONTROL_CHARACTERS", "JOINERS", "has_control_characters", "hidden_character", "is_utf8",
           "visible"]

#: Control characters: C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F, e.g. U+009B, which a
#: terminal reads as CSI, and U+0085, a line break). The one rule for them: names stored in a
#: registry may not hold them (:func:`has_control_characters`), and :func:`visible` shows them
#: as escapes.
CONTROL_CHARACTERS = frozenset((*range(0x20), *range(0x7F, 0xA0)))
#: Besides control characters, :func:`visible` escapes the line and paragraph separators
#: (U+2028, U+2029), every format character (Unicode category Cf: the bidirectional
#: controls that turn the text after them around, zero-width spaces and joiners, U+2060,
#: U+FEFF, the soft hyphen, tag characters) and lone surrogates (bytes that were not UTF-8,
#: in a file name read with ``surrogateescape``).
_LINE_SEPARATORS = frozenset((0x2028, 0x2029))


class _Escapes(dict[int, str]):
    """:meth:`str.translate`'s table for :func:`visible`, filled as characters are met."""

    def __missing__(self, c: int) -> str:
        if c in CONTROL_CHARACTERS:
            shown = f"\\x{c:02x}"
        elif c in _LINE_SEPARATORS or unicodedata.category(chr(c)) in ("Cf", "Cs"):
            shown = f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"
        else:
            shown = chr(c)
        self[c] = shown
        return shown


_ESCAPES = _Escapes()


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a character of :data:`CONTROL_CHARACTERS`."""
    return any(ord(c) in CONTROL_CHARACTERS for c in text)


#: the zero-width non-joiner and joiner: format characters that Persian, Indic and other
#: scripts write names with, so a person's name may hold them
JOINERS = frozenset((0x200C, 0x200D))


def hidden_character(text: str, allowed: frozenset[int] = frozenset()) -> str | None:
    """The first invisible format character (Unicode category Cf: a bidirectional control,
    a zero-width space, U+FEFF, a soft hyphen…) of ``text`` that is not ``allowed``, named
    for a message (``U+202E RIGHT-TO-LEFT OVERRIDE``); None when there is none."""
    c = next((c for c in text if unicodedata.category(c) == "Cf" and ord(c) not in allowed),
             None)
    return None if c is None else f"U+{ord(c):04X} {unicodedata.name(c, '')}".rstrip()


def visible(value: object) -> str:
    """``value`` as text with control characters (C0, DEL, C1), line and paragraph
    separators, format characters and lone surrogates written as escapes (``\\x0a``,
    ``\\x9b``, ``\\u2028``, ``\\u202e``, ``\\u200b``, ``\\udcff``): a name cannot start a
    line of its own or send a terminal a command, a right-to-left override in it cannot
    turn the text after it around (``evil\\u202egpj.mp4`` shown as ``evil4pm.jpg``), an
    invisible character cannot hide in it, and a file name that is not UTF-8 can be
    written out. The joiners (:data:`JOINERS`) stay where scripts write words with them:
    between two letters or marks of a script other than Latin (a Persian or Devanagari
    name); elsewhere they are escaped too."""
    text = str(value)
    if not any(ord(c) in JOINERS for c in text):
        return text.translate(_ESCAPES)
    return "".join(c if ord(c) in JOINERS and _joins(text, i) else c.translate(_ESCAPES)
                   for i, c in enumerate(text))


#: scripts whose words are written with the zero-width (non-)joiner (the first word of
#: their letters' Unicode names)
_JOINING_SCRIPTS = frozenset({
    "ARABIC", "SYRIAC", "NKO", "THAANA", "MONGOLIAN", "DEVANAGARI", "BENGALI", "GURMUKHI",
    "GUJARATI", "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA", "TIBETAN",
    "MYANMAR", "KHMER", "HEBREW"})


def _joins(text: str, i: int) -> bool:
    """Whether the joiner at ``text[i]`` stands between two letters or marks of a script
    that writes words with it (not Latin, Greek or Cyrillic, where it only hides)."""
    def in_word(j: int) -> bool:
        if not 0 <= j < len(text):
            return False
        c = text[j]
        return (unicodedata.category(c)[0] in "LM"
                and unicodedata.name(c, "").split(" ", 1)[0] in _JOINING_SCRIPTS)
    return in_word(i - 1) and in_word(i + 1)


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: not when it holds surrogates, which stand
    for bytes that were not UTF-8 (a command-line argument, an environment variable or a
    file name read with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
