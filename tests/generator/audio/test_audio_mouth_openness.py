"""Phone posteriors (PocketSphinx's acoustic model) and the learned mouth-openness table,
checked against espeak-ng's own phoneme events. Real models, real TTS; nothing mocked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trustavatar.errors import AudioInputError, GenerationError, InputError
from trustavatar.generator.audio import (
    Audio,
    OpennessTable,
    PhonePosteriors,
    Speech,
    frame_energy,
    phone_posteriors,
    posterior_viseme_track,
    resample,
)
from trustavatar.generator.audio.posteriors import NON_SPEECH_PHONES
from trustavatar.generator.audio.visemes import ESPEAK_ENGLISH
from trustavatar.generator.motion import MotionConfig, plan_motion

OPEN_VOWELS = {"AA", "AE", "AY", "AW", "EH"}
LIP_CLOSURES = {"P", "B", "M"}


@pytest.fixture(scope="module")
def padded(passage: Speech) -> tuple[Audio, float]:
    """The passage with 1 s of digital silence before and after; the pad in seconds."""
    gap = np.zeros(16000, np.float32)
    return Audio(np.concatenate([gap, passage.audio.samples, gap]), 16000), 1.0


@pytest.fixture(scope="module")
def posteriors(padded: tuple[Audio, float]) -> PhonePosteriors:
    return phone_posteriors(padded[0])


def _non_speech(p: PhonePosteriors) -> np.ndarray:
    return p.probs[:, [p.phones.index(s) for s in NON_SPEECH_PHONES]].sum(axis=1)


def test_posteriors_are_probabilities_every_10_ms(posteriors: PhonePosteriors,
                                                  padded: tuple[Audio, float]) -> None:
    assert len(posteriors.phones) == 42 and set(NON_SPEECH_PHONES) <= set(posteriors.phones)
    assert posteriors.probs.shape == (len(posteriors.times), 42)
    assert posteriors.probs.dtype == np.float32
    np.testing.assert_allclose(posteriors.probs.sum(axis=1), 1.0, atol=1e-4)
    assert abs(len(posteriors.times) - padded[0].duration * 100) <= 3
    np.testing.assert_allclose(np.diff(posteriors.times), 0.01, atol=1e-9)


def test_silence_and_speech_are_told_apart(posteriors: PhonePosteriors,
                                           padded: tuple[Audio, float],
                                           passage: Speech) -> None:
    quiet = _non_speech(posteriors)
    pad = padded[1]
    t = posteriors.times
    in_pad = (t < pad - 0.1) | (t > pad + passage.audio.duration + 0.1)
    # the passage's own phoneme events say where it speaks
    speaking = np.zeros_like(t, bool)
    for e in passage.phonemes:
        if not e.is_silence:
            speaking |= (t >= pad + e.start) & (t < pad + e.end)
    print(f"\nnon-speech probability: pads {quiet[in_pad].mean():.2f}, "
          f"speaking {quiet[speaking].mean():.2f}")
    assert quiet[in_pad].mean() > 0.7
    assert quiet[speaking].mean() < 0.3


def test_the_same_audio_gives_the_same_posteriors(passage: Speech) -> None:
    a = phone_posteriors(passage.audio)
    b = phone_posteriors(resample(passage.audio, 44100))  # resampled back to 16 kHz first
    np.testing.assert_array_equal(a.probs, phone_posteriors(passage.audio).probs)
    assert a.probs.shape[0] == pytest.approx(b.probs.shape[0], abs=2)


def test_long_audio_is_scored_in_pieces_without_a_gap(passage: Speech) -> None:
    reps = int(np.ceil(35.0 / passage.audio.duration))  # over the 30 s piece length
    long = Audio(np.tile(passage.audio.samples, reps), 16000)
    p = phone_posteriors(long)
    assert abs(len(p.times) - long.duration * 100) <= 6
    # pieces are cut between samples, so a cut may lose the 10 ms frame it splits
    step = np.diff(p.times)
    assert np.all(step > 0.005) and step.max() < 0.04 and np.sum(step > 0.015) <= 2


def test_open_vowels_score_wider_than_lip_closures(passage: Speech) -> None:
    post = phone_posteriors(passage.audio)
    fps = 100.0  # one video frame per posterior frame: label each by the TTS event there
    n = len(post.times)
    track = posterior_viseme_track(post, fps=fps, n_frames=n)
    assert track.shape == (n, 4) and track.dtype == np.float32
    assert track[:, 0].min() >= 0.0 and track[:, 0].max() <= 1.0
    label = np.full(n, "", dtype=object)
    for e in passage.phonemes:
        arpabet = ESPEAK_ENGLISH.get(e.symbol, ("",))[0]
        label[round(e.start * fps):round(e.end * fps)] = arpabet
    opened = track[np.isin(label, list(OPEN_VOWELS)), 0]
    closed = track[np.isin(label, list(LIP_CLOSURES)), 0]
    assert len(opened) > 20 and len(closed) > 10
    print(f"\nopenness: open vowels {opened.mean():.2f}, p/b/m {closed.mean():.2f}")
    assert opened.mean() > closed.mean() + 0.15


def test_video_frames_average_and_fill(posteriors: PhonePosteriors) -> None:
    n = int(posteriors.times[-1] * 25) + 10  # ten frames past the audio
    frames = posteriors.on_video_frames(25.0, n)
    assert frames.shape == (n, 42)
    np.testing.assert_allclose(frames.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(frames[-1], frames[-10], atol=1e-6)  # the last filled frame
    i = 20  # frame 20 holds the 10 ms frames centred in [0.8, 0.84) s
    inside = (posteriors.times >= 0.8) & (posteriors.times < 0.84)
    np.testing.assert_allclose(frames[i], posteriors.probs[inside].mean(axis=0), atol=1e-6)
    with pytest.raises(GenerationError, match="fps"):
        posteriors.on_video_frames(0.0, 3)


def test_silence_plans_a_still_closed_mouth(padded: tuple[Audio, float]) -> None:
    audio, pad = padded
    n = int(audio.duration * 25)
    track = posterior_viseme_track(phone_posteriors(audio), fps=25.0, n_frames=n)
    plan = plan_motion(track, frame_energy(audio, 25.0)[:n], fps=25.0,
                       config=MotionConfig(phonetic_weight=OpennessTable.load().phonetic_weight))
    quiet = slice(0, int((pad - 0.2) * 25))  # the leading pad, away from the first word
    assert np.all(plan.gap[quiet] < 1e-3) and np.all(np.abs(plan.width[quiet]) < 1e-3)
    assert plan.gap.max() > 0.03  # and the passage itself opens the mouth


def test_empty_audio_is_refused() -> None:
    with pytest.raises(AudioInputError):
        phone_posteriors(Audio(np.zeros(0, np.float32), 16000))


def test_the_shipped_table_was_fitted_on_permissive_teachers_only() -> None:
    table = OpennessTable.load()
    assert table.provenance["recipe"] == "generator/fit_mouth_openness.py"
    teachers = table.provenance["teachers"]
    assert teachers and all(t["licence"].split()[0] in {"MIT", "Apache-2.0", "BSD-2-Clause",
                                                        "BSD-3-Clause"} for t in teachers)
    assert not any("/real/" in t["file"] or t["file"].startswith("real/") for t in teachers)
    assert 0.0 <= table.phonetic_weight <= 1.0
    # phonetics the fit was not told: open vowels above lip closures and silence
    for vowel in ("AA", "AE"):
        for closure in ("M", "P", "B", "SIL"):
            assert table.scores[vowel] > table.scores[closure]


def test_a_table_round_trips_and_bad_tables_are_refused(tmp_path: Path) -> None:
    table = OpennessTable.load()
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table.to_dict()))
    assert OpennessTable.load(path) == table
    bad = table.to_dict() | {"format": "something-else/1"}
    path.write_text(json.dumps(bad))
    with pytest.raises(GenerationError, match="format"):
        OpennessTable.load(path)
    path.write_text(json.dumps(table.to_dict() | {"ceiling": table.floor}))
    with pytest.raises(GenerationError, match="ceiling"):
        OpennessTable.load(path)
    path.write_text("{not json")
    with pytest.raises(GenerationError, match="cannot read"):
        OpennessTable.load(path)
    partial = OpennessTable({"SIL": 0.0}, 0.0, 1.0, 0.8)
    with pytest.raises(GenerationError, match="no score for phone"):
        partial.score_vector(("SIL", "AA"))


def test_motion_refuses_a_phonetic_weight_outside_0_to_1() -> None:
    with pytest.raises(InputError, match="phonetic_weight"):
        plan_motion(np.zeros((5, 4), np.float32), np.zeros(5, np.float32), fps=25.0,
                    config=MotionConfig(phonetic_weight=1.5))
