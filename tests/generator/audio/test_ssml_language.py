"""SSML may not change the language a script is spoken in (the language the consent gate
checks): espeak-ng reads attributes from a tag's raw text, so not only ``xml:lang`` but
anything that spells a language or voice choice is refused."""

from __future__ import annotations

import pytest

from trustavatar.errors import ScriptInputError
from trustavatar.generator.audio import synthesize


@pytest.mark.parametrize("ssml", [
    '<speak>Hello <s xml:lang="de">Guten Morgen.</s></speak>',
    '<speak><voice name="de">Guten Morgen.</voice></speak>',
    # inside another attribute's value: espeak-ng switched to German for these two
    '<speak><s class="x xml:lang=\'de\'">Guten Morgen.</s></speak>',
    '<speak><voice gender="female name=\'de\'">Guten Morgen.</voice></speak>',
    '<speak><s XML:LANG="de">Guten Morgen.</s></speak>',
    '<speak><s a:xml:lang="de">Guten Morgen.</s></speak>',
])
def test_a_language_switch_is_refused(ssml: str) -> None:
    with pytest.raises(ScriptInputError):
        synthesize(ssml, language="en")


def test_ordinary_ssml_and_a_refinement_of_the_language_are_spoken() -> None:
    speech = synthesize('<speak>Hello <break time="300ms"/> <prosody rate="slow">there'
                        '</prosody>, <say-as interpret-as="characters">ABC</say-as>. '
                        '<s xml:lang="en-GB">Colour.</s></speak>', language="en")
    assert speech.language == "en" and speech.audio.duration > 1.0
