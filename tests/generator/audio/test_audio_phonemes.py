"""Phoneme decoding with PocketSphinx, checked against the TTS's own phoneme events."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from trustavatar.errors import AudioInputError, GenerationError
from trustavatar.generator.audio import (
    Audio,
    PhonemeAlphabet,
    PhonemeEvent,
    Speech,
    decode_phonemes,
    resample,
)
from trustavatar.generator.audio.visemes import ARPABET_VISEMES

ClassPerFrame = Callable[..., np.ndarray]


def _check_cover(events: tuple[PhonemeEvent, ...], duration: float) -> None:
    assert events[0].start == 0.0
    assert events[-1].end == pytest.approx(duration, abs=1e-6)
    for a, b in itertools.pairwise(events):
        assert a.end == pytest.approx(b.start, abs=1e-6) and a.start < a.end


def _agreement(speech: Speech, decoded: tuple[PhonemeEvent, ...],
               class_per_frame: ClassPerFrame) -> float:
    n = round(speech.audio.duration * 100)
    return float(np.mean(class_per_frame(speech.phonemes, n) == class_per_frame(decoded, n)))


def test_decoded_classes_agree_with_tts_events(speech: Speech, passage: Speech,
                                               class_per_frame: ClassPerFrame) -> None:
    # Measured: 0.85-0.88 (sentence) and 0.84-0.85 (passage) with en-us; 0.82-0.86 with
    # en and en-gb-x-rp. (espeak-ng output varies slightly between calls, hence ranges.)
    scores = {}
    for name, s in (("sentence", speech), ("passage", passage)):
        decoded = decode_phonemes(s.audio)
        _check_cover(decoded, s.audio.duration)
        assert all(e.alphabet is PhonemeAlphabet.ARPABET for e in decoded)
        assert {e.symbol for e in decoded} <= set(ARPABET_VISEMES)
        scores[name] = _agreement(s, decoded, class_per_frame)
    print(f"\nsilence/vowel/consonant agreement per 10 ms frame: {scores}")
    assert min(scores.values()) >= 0.6


def test_speech_and_silence_are_found(speech: Speech, class_per_frame: ClassPerFrame) -> None:
    gap = np.zeros(16000, np.float32)
    audio = Audio(np.concatenate([gap, speech.audio.samples, gap]), 16000)
    decoded = decode_phonemes(audio)
    _check_cover(decoded, audio.duration)
    assert decoded[0].is_silence and decoded[0].end >= 0.9
    assert decoded[-1].is_silence and decoded[-1].start <= audio.duration - 0.9
    speaking = [e for e in decoded if not e.is_silence]
    assert len(speaking) >= 20


def test_other_sample_rates(speech: Speech, class_per_frame: ClassPerFrame) -> None:
    decoded = decode_phonemes(resample(speech.audio, 44100))
    assert _agreement(speech, decoded, class_per_frame) >= 0.6


@pytest.mark.slow
def test_long_audio_is_decoded_in_pieces(passage: Speech,
                                         class_per_frame: ClassPerFrame) -> None:
    repeats = int(np.ceil(75 / passage.audio.duration))
    audio = Audio(np.tile(passage.audio.samples, repeats), 16000)
    decoded = decode_phonemes(audio)
    _check_cover(decoded, audio.duration)
    # Each repetition decodes much as the first: no piece is lost or shifted.
    n = round(passage.audio.duration * 100)
    first = class_per_frame(passage.phonemes, n)
    for k in range(repeats):
        t0 = k * passage.audio.duration
        part = tuple(PhonemeEvent(max(e.start - t0, 0.0), min(e.end - t0, n / 100), e.symbol)
                     for e in decoded if e.end > t0 and e.start < t0 + n / 100)
        assert float(np.mean(class_per_frame(part, n) == first)) >= 0.6, k


def test_refusals() -> None:
    with pytest.raises(AudioInputError, match="empty"):
        decode_phonemes(Audio(np.zeros(0, np.float32), 16000))
    with pytest.raises(GenerationError, match="start <= end"):
        PhonemeEvent(1.0, 0.5, "AA")
