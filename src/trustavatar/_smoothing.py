"""Gaussian smoothing of 1-D series, computed by OpenCV.

:func:`gaussian_smooth` gives what ``scipy.ndimage.gaussian_filter1d`` gives (the same
kernel, truncated at four standard deviations, and the same ``reflect`` or ``wrap``
boundary), without importing ``scipy.ndimage``, which costs ~0.3 s per process: the consent
commands and the generator's QA process only need this one filter, and OpenCV is loaded
anyway.
"""

from __future__ import annotations

__all__ = ["gaussian_smooth"]

from typing import Any, Literal

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
