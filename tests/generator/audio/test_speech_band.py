"""The speech-band filter without scipy.signal: scipy's filter, to float64 rounding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt
from tests.fresh_python import fresh_python_json

from trustavatar.generator.audio.speech_band import (
    _BLOCK,
    SPEECH_BAND,
    speech_band_blocks,
    speech_band_sections,
)


@pytest.mark.parametrize("rate", [16000, 8000, 22050, 44100, 48000])
def test_sections_are_scipys_butterworth(rate: int) -> None:
    expected = butter(4, [SPEECH_BAND[0], min(SPEECH_BAND[1], 0.45 * rate)],
                      btype="bandpass", fs=rate, output="sos")
    assert np.array_equal(speech_band_sections(rate), expected)


@pytest.mark.parametrize("n", [1, 7, 900, _BLOCK - 1, _BLOCK, _BLOCK + 1, 3 * _BLOCK + 11])
@pytest.mark.parametrize("rate", [16000, 44100])
def test_output_is_sosfilts_in_order_and_whole(n: int, rate: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    pieces = list(speech_band_blocks(x, rate))
    starts = [start for start, _ in pieces]
    assert starts == sorted(starts) and starts[0] == 0
    y = np.concatenate([piece for _, piece in pieces])
    expected = sosfilt(speech_band_sections(rate), x.astype(np.float64))
    assert y.shape == (n,)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


def test_a_tone_outside_the_band_is_removed_and_one_inside_kept() -> None:
    t = np.arange(16000 * 2) / 16000
    for hz, kept in ((60.0, False), (1000.0, True), (7000.0, False)):
        x = np.sin(2 * np.pi * hz * t)
        y = np.concatenate([p for _, p in speech_band_blocks(x, 16000)])[8000:]
        ratio = np.sqrt(np.mean(y * y) / np.mean(x[8000:] ** 2))
        assert (ratio > 0.9) if kept else (ratio < 0.05), (hz, ratio)


def test_speech_energy_at_16_khz_does_not_import_scipy_signal() -> None:
    code = ("import numpy as np\n"
            "from trustavatar.generator.audio import Audio, frame_energy\n"
            "a = Audio.from_array(np.random.default_rng(0).standard_normal(16000)"
            ".astype(np.float32) * 0.1, 16000)\n"
            "level = frame_energy(a, 25.0)\n"
            "print(json.dumps([len(level), 'scipy.signal' in sys.modules]))")
    assert fresh_python_json(code) == [25, False]


def test_a_rate_too_low_for_the_band_is_refused() -> None:
    from trustavatar.errors import GenerationError
    from trustavatar.generator.audio import Audio, frame_energy

    with pytest.raises(GenerationError, match="sample rate 600 Hz is too low for the speech band"):
        frame_energy(Audio.from_array(np.zeros(600, np.float32), 600), 25.0)
