"""The speech band (300–3400 Hz) of a signal, without importing ``scipy.signal``.

The filter is the 4th-order Butterworth band-pass ``scipy.signal.butter(4, (300, 3400),
"bandpass", fs=sr, output="sos")``, causal, as ``sosfilt`` would run it. Importing
``scipy.signal`` takes about 1 s here (scipy 1.17 builds its array-API docstrings and
imports ``scipy.stats``), which was the largest single cost in a ``consent record`` command
after the checks themselves. So:

* at 16 kHz, the rate audio is decoded at, the filter's sections are stored below (a test
  checks them against scipy); other rates design them with scipy;
* the filter is applied as a convolution with its impulse response, by FFT, block by block
  (overlap-add: memory is flat in the signal's length). The response is cut where it has
  decayed below 1e-17 of its peak (829 samples at 16 kHz), so the output equals
  ``sosfilt``'s to float64 rounding (a test compares them).
"""

from __future__ import annotations

__all__ = ["SPEECH_BAND", "speech_band_blocks", "speech_band_sections"]

import functools
from collections.abc import Iterator
from typing import Final

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import GenerationError

#: The band (Hz).
SPEECH_BAND: Final = (300.0, 3400.0)
_ORDER: Final = 4
#: ``scipy.signal.butter(4, SPEECH_BAND, "bandpass", fs=16000, output="sos")``.
_SECTIONS_16K: Final = (
    (0.04213264620447594, 0.08426529240895188, 0.04213264620447594,
     1.0, -0.39112790241252204, 0.09087590988960496),
    (1.0, 2.0, 1.0, 1.0, -0.3770506584528211, 0.5109041566523097),
    (1.0, -2.0, 1.0, 1.0, -1.769041649621499, 0.7853120861143953),
    (1.0, -2.0, 1.0, 1.0, -1.9093502950980377, 0.9231429208679337),
)
#: The impulse response is cut once it stays below this fraction of its peak.
_TAIL: Final = 1e-17
#: Samples filtered per FFT block.
_BLOCK: Final = 1 << 14


@functools.cache
def speech_band_sections(sample_rate: int) -> NDArray[np.float64]:
    """The filter's second-order sections ``(4, 6)`` at ``sample_rate`` Hz (the band's top
    edge held below 0.45 of the rate). Raises
    :class:`~trustavatar.errors.GenerationError` for a rate too low for the band."""
    low, high = SPEECH_BAND[0], min(SPEECH_BAND[1], 0.45 * sample_rate)
    if high <= low:
        raise GenerationError(f"sample rate {sample_rate} Hz is too low for the speech band")
    if sample_rate == 16000:
        return np.array(_SECTIONS_16K, np.float64)
    from scipy.signal import butter  # slow to import (~1 s): only for other rates

    return np.asarray(butter(_ORDER, [low, high], btype="bandpass", fs=sample_rate,
                             output="sos"), np.float64)


@functools.cache
def _impulse_response(sample_rate: int) -> NDArray[np.float64]:
    """The causal impulse response of the sections, cut where it has decayed."""
    sections = speech_band_sections(sample_rate)
    n = 1 << 10
    while True:
        h = np.zeros(n)
        h[0] = 1.0
        for b0, b1, b2, _, a1, a2 in sections.tolist():  # direct form II transposed
            z1 = z2 = 0.0
            out = h.tolist()
            for i, x in enumerate(out):
                y = b0 * x + z1
                z1 = b1 * x - a1 * y + z2
                z2 = b2 * x - a2 * y
                out[i] = y
            h = np.array(out)
        peak = np.abs(h).max()
        above = np.flatnonzero(np.abs(h) > _TAIL * peak)
        if above[-1] < n - 64 or n >= 4 * sample_rate:
            return h[: above[-1] + 1]
        n *= 2


def speech_band_blocks(x: NDArray[np.floating], sample_rate: int
                       ) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """``(start, y)`` pieces of the filtered signal, in order: ``y`` is the output for
    samples ``start`` to ``start + len(y)`` of ``x``."""
    h = _impulse_response(sample_rate)
    taps = len(h)
    size = 1 << int(np.ceil(np.log2(_BLOCK + taps - 1)))
    spectrum = np.fft.rfft(h, size)
    carry = np.zeros(taps - 1)
    for start in range(0, len(x), _BLOCK):
        block = np.asarray(x[start:start + _BLOCK], np.float64)
        y = np.fft.irfft(np.fft.rfft(block, size) * spectrum, size)[: len(block) + taps - 1]
        y[: taps - 1] += carry
        carry = y[len(block):].copy()
        yield start, y[: len(block)]
