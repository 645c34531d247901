"""Filters of 1-D series that give ``scipy.ndimage``'s numbers without importing it.

Importing ``scipy.ndimage`` costs ~0.3 s per process, and the consent commands, the
generator and the detector each needed one filter from it:

- :func:`gaussian_smooth`: ``gaussian_filter1d`` (the same kernel, truncated at four
  standard deviations, and the same ``reflect`` or ``wrap`` boundary), computed by OpenCV,
  which is loaded anyway;
- :func:`rolling_percentile`: ``percentile_filter`` with ``mode="nearest"`` (the same rank
  of each window's sorted values), computed by numpy in blocks of windows.
"""

from __future__ import annotations

__all__ = ["gaussian_smooth", "rolling_percentile"]

from typing import Any, Final, Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray


def gaussian_smooth(x: ArrayLike, sigma: float, *,
                    mode: Literal["reflect", "wrap"] = "reflect") -> NDArray[Any]:
    """``x`` (1-D) convolved with a Gaussian of ``sigma`` samples.

    ``reflect``: the series continues mirrored at its ends (``d c b a | a b c d``);
    ``wrap``: it repeats. Floating-point input keeps its dtype (computed in float64), other
    input gives float64. ``sigma`` ≤ 0 returns a copy.
    """
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"gaussian_smooth needs a 1-D series, got shape {a.shape}")
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float64)
    if a.size == 0 or sigma <= 0:
        return a.astype(dtype, copy=True)
    radius = int(4.0 * float(sigma) + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64) / float(sigma)
    kernel = np.exp(-0.5 * t * t)
    kernel /= kernel.sum()
    padded = np.pad(np.asarray(a, np.float64), radius,
                    mode="symmetric" if mode == "reflect" else "wrap")
    out = cv2.filter2D(padded.reshape(1, -1), cv2.CV_64F, kernel.reshape(1, -1),
                       borderType=cv2.BORDER_REPLICATE)
    return np.asarray(out[0, radius:radius + a.size], dtype)


#: Windows sorted at a time by :func:`rolling_percentile` (memory stays bounded).
_BLOCK: Final = 4096


def rolling_percentile(x: ArrayLike, percentile: float, size: int) -> NDArray[np.float64]:
    """For each sample of ``x`` (1-D), the ``percentile`` of the ``size`` samples centred on
    it, the series continued with its end values (``nearest``).

    As ``scipy.ndimage.percentile_filter``: no interpolation, the window's sorted value of
    rank ``int(size * percentile / 100)`` (the largest for 100); for an even ``size`` the
    window reaches one sample further back than forward.
    """
    a = np.asarray(x, np.float64)
    if a.ndim != 1:
        raise ValueError(f"rolling_percentile needs a 1-D series, got shape {a.shape}")
    if size < 1 or not 0 <= percentile <= 100:
        raise ValueError(f"need size >= 1 and a percentile in 0..100, got {size}, {percentile}")
    rank = size - 1 if percentile == 100 else int(float(size) * percentile / 100.0)
    padded = np.pad(a, (size // 2, size - 1 - size // 2), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    out = np.empty(a.size, np.float64)
    for at in range(0, a.size, _BLOCK):
        block = windows[at:at + _BLOCK]
        out[at:at + _BLOCK] = np.partition(block, rank, axis=1)[:, rank]
    return out
