"""Outside text shown to a person: one rule for the characters a terminal would act on."""

from __future__ import annotations

import pytest

from trustavatar._display import CONTROL_CHARACTERS, has_control_characters, visible
from trustavatar.errors import InputError


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\nb", "a\\x0ab"), ("\x1b[31m", "\\x1b[31m"), ("\x7f", "\\x7f"),
    ("\u009b31m", "\\x9b31m"),  # C1 CSI: a terminal reads it as ESC [
    ("a\u0085b", "a\\x85b"),  # C1 NEL: a line break
    ("\u0080\u009f", "\\x80\\x9f"),
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
    ("evil\u202egpj.mp4", "evil\\u202egpj.mp4"), ("\u2066x\u2069", "\\u2066x\\u2069"),
    ("plain é ü 日本 \u00a0", "plain é ü 日本 \u00a0"),  # printable text is left as it is
    # invisible format characters (category Cf): zero-width space and joiners, word joiner,
    # invisible operators, byte order mark, soft hyphen, a tag character
    ("demo\u200b\u200c\u200d studio", "demo\\u200b\\u200c\\u200d studio"),
    ("\u2060\u2064\ufeff\u00ad", "\\u2060\\u2064\\ufeff\\u00ad"), ("\U000e0041", "\\U000e0041"),
    # lone surrogates: bytes of a file name that were not UTF-8, any surrogate from JSON
    ("bad\udcff.mp4", "bad\\udcff.mp4"), ("\ud800", "\\ud800"),
])
def test_visible_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    visible(raw).encode("utf-8")  # what it shows can be written out


def test_one_rule_for_control_characters() -> None:
    assert set(CONTROL_CHARACTERS) == {*range(0x20), *range(0x7F, 0xA0)}
    for c in CONTROL_CHARACTERS:
        assert visible(chr(c)) == f"\\x{c:02x}"
        assert has_control_characters(f"a{chr(c)}b")
    assert not has_control_characters("é\u00a0\u2028")


@pytest.mark.parametrize("c", ["\x00", "\x1b", "\x7f", "\u0085", "\u009b"])
def test_the_ledger_refuses_what_visible_escapes_as_control(c: str) -> None:
    from tests.ledger.ledgertools import make_entry

    with pytest.raises(InputError, match="contains control characters"):
        make_entry(operator=f"ops{c}@example.org")
