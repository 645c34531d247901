"""Phoneme → viseme targets, and the per-frame track the motion module consumes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustavatar.errors import GenerationError
from trustavatar.generator.audio import (
    COLUMNS,
    PhonemeAlphabet,
    PhonemeEvent,
    Viseme,
    frame_count,
    synthesize,
    viseme_for,
    viseme_track,
)
from trustavatar.generator.audio.visemes import (
    ARPABET_VISEMES,
    ESPEAK_ENGLISH,
    NEUTRAL,
    REST,
)

ARPA, ESPEAK = PhonemeAlphabet.ARPABET, PhonemeAlphabet.ESPEAK


def _one(symbol: str, alphabet: PhonemeAlphabet) -> Viseme:
    targets = viseme_for(symbol, alphabet)
    assert len(targets) == 1, symbol
    return targets[0]


@pytest.mark.parametrize(("symbol", "alphabet"), [
    ("P", ARPA), ("B", ARPA), ("M", ARPA), ("p", ESPEAK), ("b", ESPEAK), ("m", ESPEAK),
    ("m:", ESPEAK),  # a long m (Finnish, Italian) via the generic fallback
])
def test_bilabials_close_the_lips(symbol: str, alphabet: PhonemeAlphabet) -> None:
    v = _one(symbol, alphabet)
    assert v.lips_closed and v.jaw_open <= 0.05


@pytest.mark.parametrize(("symbol", "alphabet"), [
    ("AA", ARPA), ("AE", ARPA), ("A:", ESPEAK), ("aa", ESPEAK), ("a", ESPEAK),
    ("a:", ESPEAK),  # German long a: generic
])
def test_open_vowels_open_the_jaw(symbol: str, alphabet: PhonemeAlphabet) -> None:
    v = _one(symbol, alphabet)
    assert v.jaw_open >= 0.6 and not v.lips_closed


@pytest.mark.parametrize(("symbol", "alphabet"), [
    ("UW", ARPA), ("UH", ARPA), ("AO", ARPA), ("W", ARPA), ("u:", ESPEAK), ("O:", ESPEAK),
    ("0", ESPEAK), ("y:", ESPEAK), ("2:", ESPEAK), ("o:", ESPEAK),  # y: ü, 2: ö, o: German
])
def test_rounded_vowels_round(symbol: str, alphabet: PhonemeAlphabet) -> None:
    v = _one(symbol, alphabet)
    assert v.lip_round >= 0.5 and v.lip_width < 0


def test_spread_and_close_vowels() -> None:
    for v in (_one("IY", ARPA), _one("i:", ESPEAK), _one("i", ESPEAK)):
        assert v.lip_width >= 0.5 and v.jaw_open <= 0.3 and v.lip_round == 0
    assert _one("AA", ARPA).jaw_open > _one("EH", ARPA).jaw_open > _one("IY", ARPA).jaw_open


def test_diphthongs_move() -> None:
    start, end = viseme_for("AY")
    assert start.jaw_open > end.jaw_open and end.lip_width > start.lip_width
    assert viseme_for("aI", ESPEAK) == viseme_for("AY")
    start, end = viseme_for("oU", ESPEAK)
    assert start.lip_round > 0.5 and end.lip_round > 0.5


def test_defaults() -> None:
    assert viseme_for("SIL") == (REST,) and viseme_for("_", ESPEAK) == (REST,)
    assert viseme_for("+NSN+") == (REST,)
    assert viseme_for("QQ") == (NEUTRAL,) and viseme_for("#", ESPEAK) == (NEUTRAL,)
    assert viseme_for("AH0") == viseme_for("AH")  # CMUdict stress digits
    # ARPAbet and espeak-ng disagree on capitals: D is /d/ in one, /ð/ in the other.
    assert viseme_for("S", ARPA) != viseme_for("S", ESPEAK)  # s vs ʃ


def test_tables_are_complete() -> None:
    for symbol, arpabet in ESPEAK_ENGLISH.items():
        assert all(a in ARPABET_VISEMES for a in arpabet), symbol
    for targets in ARPABET_VISEMES.values():
        assert 1 <= len(targets) <= 2


def test_viseme_checks_ranges() -> None:
    with pytest.raises(GenerationError, match=r"jaw_open 1\.5"):
        Viseme(1.5, 0.0, 0.0)
    assert COLUMNS == ("jaw_open", "lip_width", "lip_round", "lips_closed")
    assert Viseme(0.5, -0.5, 0.25, True).as_array().tolist() == [0.5, -0.5, 0.25, 1.0]


def test_track_samples_frame_centres() -> None:
    events = (
        PhonemeEvent(0.00, 0.10, "SIL"),
        PhonemeEvent(0.10, 0.30, "AA"),
        PhonemeEvent(0.30, 0.50, "AY"),  # diphthong: a then ɪ
        PhonemeEvent(0.50, 0.52, "P"),  # 20 ms: no frame centre (0.50, 0.54) falls inside
        PhonemeEvent(0.52, 0.70, "IY"),
    )
    track = viseme_track(events, fps=25, n_frames=20)
    assert track.shape == (20, 4) and track.dtype == np.float32
    np.testing.assert_array_equal(track[0], REST.as_array())  # centre 0.02 s
    np.testing.assert_array_equal(track[3], viseme_for("AA")[0].as_array())  # 0.14 s
    np.testing.assert_array_equal(track[8], viseme_for("AY")[0].as_array())  # 0.34 s
    np.testing.assert_array_equal(track[11], viseme_for("AY")[1].as_array())  # 0.46 s
    # The short closure still shuts the lips, in the frame holding its midpoint.
    assert track[12, 3] == 1.0
    np.testing.assert_array_equal(track[13], viseme_for("IY")[0].as_array())
    np.testing.assert_array_equal(track[18:], np.tile(REST.as_array(), (2, 1)))  # after end


def test_track_from_tts_closes_lips_on_bilabials() -> None:
    speech = synthesize("Bob met Pam by the mop.", language="en-us")
    n = frame_count(speech.audio.duration, 25)
    track = viseme_track(speech.phonemes, fps=25, n_frames=n)
    for e in speech.phonemes:
        if e.symbol in ("b", "m", "p"):
            frames = range(int(e.start * 25), min(n, int(np.ceil(e.end * 25)) + 1))
            assert any(track[t, 3] == 1.0 for t in frames), e
    assert track[:, 0].max() >= 0.6  # "Bob", "Pam", "mop" open the jaw


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=30),
    symbols=st.lists(st.sampled_from([*ARPABET_VISEMES, "XX", "+NSN+"]), min_size=30,
                     max_size=30),
    fps=st.sampled_from([24.0, 25.0, 29.97, 30.0, 60.0]),
)
def test_track_is_always_in_range(cuts: list[float], symbols: list[str], fps: float) -> None:
    edges = sorted(cuts)
    events = [PhonemeEvent(a, b, s) for a, b, s in zip(edges, edges[1:], symbols, strict=False)
              if b > a]
    n = frame_count(5.0, fps)
    track = viseme_track(events, fps=fps, n_frames=n)
    assert track.shape == (n, 4)
    assert np.all((track[:, 0] >= 0) & (track[:, 0] <= 1))
    assert np.all((track[:, 1] >= -1) & (track[:, 1] <= 1))
    assert np.all((track[:, 2] >= 0) & (track[:, 2] <= 1))
    assert set(np.unique(track[:, 3])) <= {0.0, 1.0}


def test_track_arguments() -> None:
    assert viseme_track([], fps=25, n_frames=3).tolist() == [REST.as_array().tolist()] * 3
    with pytest.raises(GenerationError, match="fps must be positive"):
        viseme_track([], fps=0, n_frames=3)
    with pytest.raises(GenerationError, match="n_frames must be >= 0"):
        viseme_track([], fps=25, n_frames=-1)
