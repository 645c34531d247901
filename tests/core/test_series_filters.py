"""``trustavatar._series_filters`` against the ``scipy.ndimage`` filters they stand in for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from trustavatar._series_filters import gaussian_smooth


@pytest.mark.parametrize("mode", ["reflect", "wrap"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_it_matches_scipys_gaussian_filter(mode: str, dtype: type) -> None:
    rng = np.random.default_rng(0)
    # series shorter than the kernel's reach too (reflected or wrapped more than once)
    for n in (1, 2, 3, 10, 57, 1950):
        for sigma in (0.6, 1.0, 3.75, 12.5, 43.75):
            x = rng.standard_normal(n).astype(dtype)
            want = gaussian_filter1d(x, sigma, mode=mode)
            got = gaussian_smooth(x, sigma, mode=mode)  # type: ignore[arg-type]
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 if dtype is np.float32
                                       else 1e-10)


def test_edge_cases() -> None:
    assert gaussian_smooth(np.arange(5), 1.0).dtype == np.float64  # integers: float64
    x = np.array([1.0, 2.0, 4.0])
    np.testing.assert_array_equal(gaussian_smooth(x, 0.0), x)
    assert gaussian_smooth(x, 0.0) is not x
    assert gaussian_smooth(np.zeros(0), 2.0).shape == (0,)
    np.testing.assert_allclose(gaussian_smooth(np.full(9, 3.0), 2.0), 3.0)  # keeps a constant
    with pytest.raises(ValueError, match="1-D"):
        gaussian_smooth(np.zeros((2, 3)), 1.0)


@pytest.mark.parametrize("percentile", [0, 10, 50, 80, 99.9, 100])
def test_the_rolling_percentile_matches_scipys_percentile_filter(percentile: float) -> None:
    from scipy.ndimage import percentile_filter

    from trustavatar._series_filters import rolling_percentile

    rng = np.random.default_rng(1)
    # windows longer than the series, even sizes, ties, and more windows than one block
    for n in (1, 2, 5, 6, 250, 251, 9000):
        for size in (1, 2, 3, 4, 7, 250, 251):
            x = rng.standard_normal(n)
            x[rng.random(n) < 0.2] = 0.5
            want = percentile_filter(x, percentile, size=size, mode="nearest")
            np.testing.assert_array_equal(rolling_percentile(x, percentile, size), want)


def test_the_rolling_percentile_refuses_what_it_cannot_compute() -> None:
    from trustavatar._series_filters import rolling_percentile

    for args in ((np.zeros((2, 2)), 50, 3), (np.zeros(4), 101, 3), (np.zeros(4), 50, 0)):
        with pytest.raises(ValueError):
            rolling_percentile(*args)
