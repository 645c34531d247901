"""Pin the audio front end's public API: removing or renaming a name must be deliberate."""

from __future__ import annotations

import importlib

import pytest
from tests.core.test_api_surface import PUBLIC as API_SURFACE

PUBLIC = {
    # the package itself is pinned once, with the rest of the public API
    "trustavatar.generator.audio": API_SURFACE["trustavatar.generator.audio"],
    "trustavatar.generator.audio.decode": [
        "DEFAULT_SAMPLE_RATE", "MAX_SECONDS", "SILENCE_DBFS", "Audio", "load_audio", "resample",
    ],
    "trustavatar.generator.audio.tts": [
        "MAX_TEXT_CHARS", "PITCH_RANGE", "RATE_RANGE", "Speech", "VoiceInfo", "WordEvent",
        "list_languages", "list_voices", "synthesize",
    ],
    "trustavatar.generator.audio.features": [
        "HOP_LENGTH", "MEL_FRAME_RATE", "N_FFT", "AudioEncoder", "encoder_frames",
        "frame_count", "frame_energy", "log_mel_100hz", "log_mel_frames", "voice_activity",
    ],
    "trustavatar.generator.audio.speech_band": [
        "SPEECH_BAND", "speech_band_blocks", "speech_band_sections",
    ],
    "trustavatar.generator.audio.phonemes": [
        "PHONE_FRAME_RATE", "SILENCE_SYMBOLS", "PhonemeAlphabet", "PhonemeEvent",
        "decode_phonemes",
    ],
    "trustavatar.generator.audio.posteriors": [
        "NON_SPEECH_PHONES", "PhonePosteriors", "phone_posteriors",
    ],
    "trustavatar.generator.audio.mouth_openness": [
        "OPENNESS_FILE", "OpennessTable", "posterior_viseme_track",
    ],
    "trustavatar.generator.audio.visemes": [
        "ARPABET_VISEMES", "ARPABET_VOWELS", "COLUMNS", "ESPEAK_ENGLISH", "ESPEAK_GENERIC",
        "NEUTRAL", "REST", "PhonemeClass", "Viseme", "phoneme_class", "viseme_for",
        "viseme_track",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert hasattr(mod, name), name
