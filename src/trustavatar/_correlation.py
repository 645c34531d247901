"""Pearson correlation of two tracks at the best of a few lags: the generator's sync QA,
the consent check's "mouth follows speech" and the detector's whole-clip follow."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def best_lag_correlation(a: NDArray[np.floating], b: NDArray[np.floating], max_lag: int, *,
                         min_frames: int = 10, min_std: float = 0.0,
                         ) -> tuple[int, float] | None:
    """``(lag, r)``: the highest Pearson r of ``a[t + lag]`` against ``b[t]`` for lags in
    ``-max_lag..max_lag`` (the first lag on a tie), over the frames where both are finite.
    A lag with fewer than ``min_frames`` such frames, or a side whose spread there is at
    most ``min_std``, is skipped; None when every lag is."""
    best: tuple[int, float] | None = None
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(lag, 0):len(a) + min(lag, 0)]
        y = b[max(-lag, 0):len(b) + min(-lag, 0)]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < min_frames or np.std(x[ok]) <= min_std or np.std(y[ok]) <= min_std:
            continue
        r = float(np.corrcoef(x[ok], y[ok])[0, 1])
        if best is None or r > best[1]:
            best = (lag, r)
    return best
