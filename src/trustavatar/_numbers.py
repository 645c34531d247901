"""Figures read back from saved JSON (a scan result, a ledger row), which may hold any type."""

from __future__ import annotations

__all__ = ["finite_number"]

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None: a figure
    read from a saved result or a ledger row may be of any JSON type, or absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an integer of 400 digits is too large for a float
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
