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


@pytest.mark.parametrize("element", ['<audio src="{wav}"/>', '<AUDIO src="{wav}"/>',
                                     '<audio src="{wav}">fallback</audio>'])
def test_no_file_is_spliced_into_the_speech(element: str, tmp_path) -> None:
    """espeak-ng's <audio src> spliced any local file into the "spoken script", and the
    manifest recorded only the text as the speech's ingredient."""
    import wave

    wav = tmp_path / "inserted.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 4 * 16000)
    ssml = f"<speak>Hello there {element.format(wav=wav)} my friend</speak>"
    with pytest.raises(ScriptInputError, match=r"SSML element <audio> is not accepted|"
                                               r"SSML element <AUDIO> is not accepted"):
        synthesize(ssml, language="en")
