"""Figures read back from saved JSON: only finite numbers count."""

from __future__ import annotations

import math

import pytest

from trustavatar._numbers import finite_number


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (3, 3.0), (True, None), (None, None), ("0.5", None), (math.nan, None),
    (math.inf, None), (10 ** 400, None),  # too large for a float: not a crash
])
def test_finite_number(value, expected) -> None:
    assert finite_number(value) == expected
