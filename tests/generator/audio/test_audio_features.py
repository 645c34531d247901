"""Per-video-frame features: Whisper log-mel (any length), speech-band energy, activity."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor
from transformers.audio_utils import spectrogram, window_function

from trustavatar.errors import GenerationError
from trustavatar.generator.audio import (
    Audio,
    Speech,
    encoder_frames,
    frame_count,
    frame_energy,
    log_mel_100hz,
    log_mel_frames,
    voice_activity,
)

Tone = Callable[..., Audio]


def _concat(*parts: Audio) -> Audio:
    return Audio(np.concatenate([p.samples for p in parts]), parts[0].sample_rate)


def _silence(seconds: float) -> Audio:
    return Audio(np.zeros(round(seconds * 16000), np.float32), 16000)


@pytest.mark.parametrize(("seconds", "fps", "frames"), [
    (1.0, 25.0, 25), (2.0, 25.0, 50), (1.0, 30.0, 30), (1.01, 25.0, 26), (0.5, 29.97, 15),
    (0.0, 25.0, 0),
])
def test_frame_count(seconds: float, fps: float, frames: int) -> None:
    assert frame_count(seconds, fps) == frames


def test_shapes_for_one_second(tone: Tone) -> None:
    audio = tone(440.0, 1.0)
    mel = log_mel_frames(audio)
    assert mel.shape == (25, 80) and mel.dtype == np.float32
    assert log_mel_frames(audio, fps=30).shape == (30, 80)
    assert log_mel_frames(audio, n_mels=128).shape == (25, 128)
    assert log_mel_100hz(audio).shape == (101, 80)
    assert frame_energy(audio).shape == (25,) and frame_energy(audio).dtype == np.float32
    assert voice_activity(audio).shape == (25,)


def test_matches_the_whisper_extractor_up_to_30_s(speech: Speech) -> None:
    mel = log_mel_100hz(speech.audio)
    extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                        n_fft=400)
    reference = extractor(speech.audio.samples, sampling_rate=16000,
                          return_tensors="np").input_features[0].T
    # The extractor zero-pads to 30 s where this reflects at the end: the last two
    # frames see different padding. Everything else is the same computation.
    n = mel.shape[0] - 2
    np.testing.assert_allclose(mel[:n], reference[:n], atol=2e-4)


def test_pieces_join_seamlessly() -> None:
    # 65 s of noise bursts: three 30 s pieces must equal one spectrogram of the whole.
    rng = np.random.default_rng(3)
    x = (rng.normal(0, 0.1, 65 * 16000) * (np.arange(65 * 16000) % 8000 < 4000))
    audio = Audio.from_array(x, 16000)
    mel = log_mel_100hz(audio)
    extractor = WhisperFeatureExtractor(feature_size=80)
    whole = spectrogram(x, window_function(400, "hann"), frame_length=400, hop_length=160,
                        power=2.0, mel_filters=extractor.mel_filters, log_mel="log10").T
    whole = (np.maximum(whole, whole.max() - 8.0) + 4.0) / 4.0
    assert mel.shape == whole.shape == (65 * 100 + 1, 80)
    np.testing.assert_allclose(mel, whole, atol=1e-4)


def test_long_audio_is_not_cut_at_30_s(tone: Tone) -> None:
    # 40 s: silence, then a 1 kHz tone from 35 s. Whisper's extractor would drop it.
    audio = _concat(_silence(35.0), tone(1000.0, 5.0))
    mel = log_mel_frames(audio)
    assert mel.shape == (1000, 80)
    band = int(np.argmax(mel[950]))  # the tone's mel band
    assert mel[950, band] > mel[800, band] + 1.0  # tone at 38 s, silence at 32 s
    assert np.all(mel[880:, band] > mel[860, band])  # from 35.2 s on


def test_video_frames_average_the_100_hz_frames(tone: Tone) -> None:
    audio = _concat(tone(300.0, 1.0), _silence(1.0))
    mel100 = log_mel_100hz(audio)
    mel25 = log_mel_frames(audio, fps=25)
    # Video frame 10 covers [0.40, 0.44) s: 100 Hz frames 40..43 (centres at 0.40..0.43).
    np.testing.assert_allclose(mel25[10], mel100[40:44].mean(axis=0), atol=1e-5)
    # At 100 fps each video frame straddles two 100 Hz frames half and half.
    mel_100fps = log_mel_frames(audio, fps=100)
    np.testing.assert_allclose(mel_100fps[70], (mel100[70] + mel100[71]) / 2, atol=1e-5)


def test_frame_energy_levels(tone: Tone) -> None:
    audio = _concat(tone(1000.0, 1.0, amplitude=0.5), _silence(1.0), tone(60.0, 1.0, 0.5))
    level = frame_energy(audio)
    assert level.shape == (75,)
    # A 0.5-amplitude in-band sine: RMS 0.354 → -9 dB.
    assert np.allclose(level[2:23], 20 * np.log10(0.5 / np.sqrt(2)), atol=0.5)
    assert np.all(level[28:48] == pytest.approx(-120.0, abs=0.1))  # digital silence
    assert np.all(level[55:74] < -40.0)  # 60 Hz hum is outside the speech band


def test_voice_activity_on_speech_with_a_pause(speech: Speech) -> None:
    audio = _concat(_silence(1.0), speech.audio, _silence(1.0))
    active = voice_activity(audio)
    assert not active[:25].any() and not active[-25:].any()
    assert active[25:25 + frame_count(speech.audio.duration, 25)].mean() > 0.7


def test_encoder_plug_in(speech: Speech, tone: Tone) -> None:
    # Stand-in encoders with Whisper's input contract, (80, 3000) per 30 s window.
    def identity(features: np.ndarray) -> np.ndarray:  # (3000, 80): 100 rows per second
        return features.T

    def pairs(features: np.ndarray) -> np.ndarray:  # (1500, 80), like Whisper's 50 Hz
        return features.T.reshape(1500, 2, -1).mean(axis=1)

    # Under 30 s Whisper normalises as log_mel_frames does: the rows line up exactly.
    direct = log_mel_frames(speech.audio)
    via_encoder = encoder_frames(speech.audio, identity)
    assert via_encoder.shape == direct.shape
    np.testing.assert_allclose(via_encoder[:-1], direct[:-1], atol=2e-4)
    assert encoder_frames(speech.audio, pairs).shape == direct.shape
    long = encoder_frames(_concat(tone(440.0, 31.0), tone(880.0, 10.0)), pairs)
    assert long.shape == (1025, 80)
    with pytest.raises(GenerationError, match=r"\(K, D\) embeddings"):
        encoder_frames(speech.audio, lambda f: f.ravel())


def test_bad_arguments(tone: Tone) -> None:
    with pytest.raises(GenerationError, match="fps must be a positive number"):
        log_mel_frames(tone(440.0, 0.1), fps=0)
    with pytest.raises(GenerationError, match="n_mels"):
        log_mel_100hz(tone(440.0, 0.1), n_mels=0)
    empty = Audio(np.zeros(0, np.float32), 16000)
    assert log_mel_frames(empty).shape == (0, 80)
    assert frame_energy(empty).shape == (0,)


def test_other_sample_rates_are_resampled(tone: Tone) -> None:
    a16, a44 = tone(500.0, 1.0), tone(500.0, 1.0, rate=44100)
    # the first and last frames hold the tone's abrupt start and end, whose clicks reach the
    # top bands, where resampling filters differ most (FFmpeg's rolls off from ~7.5 kHz)
    mel44, mel16 = log_mel_frames(a44), log_mel_frames(a16)
    np.testing.assert_allclose(mel44[1:-1], mel16[1:-1], atol=0.02)
    np.testing.assert_allclose(mel44, mel16, atol=0.05)
    assert frame_energy(a44).shape == (25,)
