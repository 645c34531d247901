"""The talking-head generator's audio front end.

Audio in any common format, or a text script spoken by espeak-ng, becomes what the motion
module needs per video frame: Whisper log-mel features, speech-band energy, and a
phoneme → viseme track: from the TTS events, or, for recorded audio, from the phone
posteriors of PocketSphinx's acoustic model and a learned per-phone openness table.
Everything runs offline; no model is downloaded.

>>> from trustavatar.generator.audio import load_audio, log_mel_frames, phone_posteriors
>>> audio = load_audio("speech.m4a")  # doctest: +SKIP
>>> mel = log_mel_frames(audio, fps=25)  # (T, 80) float32  # doctest: +SKIP
>>> track = posterior_viseme_track(phone_posteriors(audio), fps=25,
...                                n_frames=len(mel))  # doctest: +SKIP

Modules: :mod:`.decode` (PyAV decoding), :mod:`.tts` (espeak-ng), :mod:`.features`
(log-mel, energy), :mod:`.speech_band` (the energy's band filter), :mod:`.phonemes`
(PocketSphinx phoneme decoding), :mod:`.visemes` (articulatory targets), :mod:`.posteriors`
(frame-level phone probabilities), :mod:`.mouth_openness` (the learned openness table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustavatar._lazy import lazy_exports

if TYPE_CHECKING:
    from trustavatar.generator.audio.decode import (
        DEFAULT_SAMPLE_RATE,
        MAX_SECONDS,
        SILENCE_DBFS,
        Audio,
        load_audio,
        resample,
    )
    from trustavatar.generator.audio.features import (
        AudioEncoder,
        encoder_frames,
        frame_count,
        frame_energy,
        log_mel_100hz,
        log_mel_frames,
        voice_activity,
    )
    from trustavatar.generator.audio.mouth_openness import OpennessTable, posterior_viseme_track
    from trustavatar.generator.audio.phonemes import PhonemeAlphabet, PhonemeEvent, decode_phonemes
    from trustavatar.generator.audio.posteriors import PhonePosteriors, phone_posteriors
    from trustavatar.generator.audio.tts import (
        Speech,
        VoiceInfo,
        WordEvent,
        list_languages,
        list_voices,
        synthesize,
    )
    from trustavatar.generator.audio.visemes import (
        COLUMNS,
        PhonemeClass,
        Viseme,
        phoneme_class,
        viseme_for,
        viseme_track,
    )

#: Every public name and its module, imported on first use (scipy, espeak-ng and
#: transformers load only for the names that need them).
_LAZY = {
    "Audio": "decode", "DEFAULT_SAMPLE_RATE": "decode", "MAX_SECONDS": "decode",
    "SILENCE_DBFS": "decode", "load_audio": "decode", "resample": "decode",
    "AudioEncoder": "features", "encoder_frames": "features", "frame_count": "features",
    "frame_energy": "features", "log_mel_100hz": "features", "log_mel_frames": "features",
    "voice_activity": "features",
    "OpennessTable": "mouth_openness", "posterior_viseme_track": "mouth_openness",
    "PhonemeAlphabet": "phonemes", "PhonemeEvent": "phonemes", "decode_phonemes": "phonemes",
    "PhonePosteriors": "posteriors", "phone_posteriors": "posteriors",
    "Speech": "tts", "VoiceInfo": "tts", "WordEvent": "tts", "list_languages": "tts",
    "list_voices": "tts", "synthesize": "tts",
    "COLUMNS": "visemes", "PhonemeClass": "visemes", "Viseme": "visemes",
    "phoneme_class": "visemes", "viseme_for": "visemes", "viseme_track": "visemes",
}

__all__ = [
    "COLUMNS",
    "DEFAULT_SAMPLE_RATE",
    "MAX_SECONDS",
    "SILENCE_DBFS",
    "Audio",
    "AudioEncoder",
    "OpennessTable",
    "PhonePosteriors",
    "PhonemeAlphabet",
    "PhonemeClass",
    "PhonemeEvent",
    "Speech",
    "Viseme",
    "VoiceInfo",
    "WordEvent",
    "decode_phonemes",
    "encoder_frames",
    "frame_count",
    "frame_energy",
    "list_languages",
    "list_voices",
    "load_audio",
    "log_mel_100hz",
    "log_mel_frames",
    "phone_posteriors",
    "phoneme_class",
    "posterior_viseme_track",
    "resample",
    "synthesize",
    "viseme_for",
    "viseme_track",
    "voice_activity",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
