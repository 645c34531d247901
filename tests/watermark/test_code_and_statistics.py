"""The parts that make a reading trustworthy: the keyed layout is pinned, the channel code
corrects what it should, and on unmarked video the z-score is N(0, 1) whatever the content."""

from __future__ import annotations

import hashlib
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustavatar.watermark import (
    DEFAULT_KEY,
    Z_PRESENT,
    Watermark,
    _code,
    _layout,
    _read,
    read_watermark,
)


def _digest(layout: _layout.Layout) -> str:
    data = (layout.cells.astype("<i4").tobytes() + layout.signs.astype("<i1").tobytes()
            + np.round(layout.dither * 2.0**53).astype("<u8").tobytes())
    return hashlib.sha256(data).hexdigest()


def test_layout_of_the_default_key_is_pinned() -> None:
    """Changing the layout makes every watermark already shipped unreadable: deliberate only."""
    layout = _layout.layout_for(DEFAULT_KEY)
    assert _digest(layout) == "ad15182aa19f2f8199fc36c31edfa5ac2696f3b640c95bf1b76b521b5951bfd0"
    assert sorted(layout.cells.reshape(-1).tolist()) == list(range(_layout.GRID**2))
    assert (layout.signs.sum(axis=1) == 0).all()  # balanced: brightness offsets cancel
    assert ((layout.dither >= 0) & (layout.dither < 1)).all()


def test_layouts_differ_between_keys() -> None:
    assert _digest(_layout.layout_for(b"a")) != _digest(_layout.layout_for(b"b"))


def test_codeword_is_pinned() -> None:
    codeword = _code.encode(bytes.fromhex("0123456789abcdef"))
    assert codeword.size == _code.CODED_BITS == 172
    assert hashlib.sha256(codeword.tobytes()).hexdigest()[:16] == "1b7ca35d6181fb9c"


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=8, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_viterbi_corrects_any_four_errors(payload: bytes, seed: int) -> None:
    """Free distance 10: any 4 hard errors are corrected (and counted)."""
    rng = np.random.default_rng(seed)
    soft = 2.0 * _code.encode(payload) - 1.0
    soft[rng.choice(soft.size, size=4, replace=False)] *= -1
    decoded, corrected = _code.decode(soft)
    assert decoded == payload
    assert corrected == 4


def test_viterbi_uses_reliabilities() -> None:
    """Many weak wrong bits lose against the strong right ones."""
    payload = bytes(range(8))
    soft = 3.0 * (2.0 * _code.encode(payload) - 1.0)
    soft[::5] *= -0.1  # every fifth bit wrong, but barely
    assert _code.decode(soft) == (payload, soft[::5].size)


def test_noise_decodes_to_crc_failure_almost_always() -> None:
    rng = np.random.default_rng(7)
    passed = sum(_code.decode(rng.normal(size=_code.CODED_BITS))[0] is not None
                 for _ in range(1000))
    assert passed <= 1  # expected 1000 * 2**-16 = 0.015


def test_z_score_on_unmarked_content_is_standard_normal(clip) -> None:
    """Many keys on one unmarked clip: the keyed dither makes each unit's sum symmetric and
    independent, so z ~ N(0, 1) (and P(z >= t) <= exp(-t²/2) exactly)."""
    cells = np.asarray([_layout.whiten(_layout.cell_means(
        np.asarray(f, np.float32) @ np.float32([0.299, 0.587, 0.114]))).reshape(-1)
        for f in clip[:25]])
    zs = []
    for i in range(300):
        layout = _layout.layout_for(b"statistics key %d" % i)
        p = (cells[:, layout.cells] * layout.signs).sum(axis=2) / 2.0
        sums = np.cos(2 * np.pi * (p / _layout.STEP - layout.dither)).sum(axis=0)
        zs.append(_read.decide(sums, len(cells)).z_score)
    z = np.asarray(zs)
    assert abs(z.mean()) < 0.25
    assert 0.8 < z.std() < 1.2
    assert z.max() < Z_PRESENT


def test_p_value_is_the_hoeffding_bound() -> None:
    sums = np.zeros(_layout.UNITS)
    sums[_code.CODED_BITS:] = 1.0
    reading = _read.decide(sums, 1)
    assert reading.z_score == pytest.approx(math.sqrt(_layout.PILOT_UNITS))
    assert reading.p_value == pytest.approx(math.exp(-_layout.PILOT_UNITS / 2))
    assert _read.decide(-sums, 1).p_value == 1.0


def test_reading_memory_is_flat_in_video_length() -> None:
    wm = Watermark(bytes(8))
    frame = wm.apply(np.random.default_rng(0).integers(0, 255, (96, 96, 3), np.uint8))

    def frames(n: int):
        for _ in range(n):
            yield frame.copy()  # a new array each time, as a decoder would give

    def peak(n: int) -> int:
        tracemalloc.start()
        read_watermark(frames(n))
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    assert peak(400) < 2 * peak(40) + 200_000
