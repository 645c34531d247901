"""The keyed geometry of the watermark and the features both sides compute from a frame.

A frame's luma is averaged over a fixed grid of GRID x GRID cells that always spans the
whole frame (so the grid scales with the frame), and each cell mean has the mean of its
eight neighbours subtracted ("whitening": removes smooth shading and any brightness
offset). The cells are dealt, by a keyed permutation, into UNITS groups of CELLS_PER_UNIT;
each unit's *projection* is the sum of its whitened cell means with keyed, balanced ±1
signs, divided by sqrt(CELLS_PER_UNIT). Each unit carries one bit by quantisation: the
embedder moves the projection onto the lattice ``(dither + bit / 2 + k) * STEP`` (k an
integer), the reader measures how close the projection lies to the lattice of bit 0 and
of bit 1 (spread-transform dither modulation).

The first CODED_BITS units carry the channel-coded payload, the remaining PILOT_UNITS
always carry 0: they are what presence is decided on.

All keyed values come from SHAKE-256, not from NumPy's generators, whose streams are not
promised to stay the same across NumPy releases: a watermark must read back for years.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.watermark._code import CODED_BITS

VERSION: Final = b"trustavatar.watermark.v1"
GRID: Final = 32  #: cells per side of the canonical grid
CELLS_PER_UNIT: Final = 4
UNITS: Final = GRID * GRID // CELLS_PER_UNIT  # 256
PILOT_UNITS: Final = UNITS - CODED_BITS  # 84
STEP: Final = 10.0  #: quantiser step, in 8-bit luma levels of a whitened cell mean
MIN_SIDE: Final = 2 * GRID  #: smallest frame side accepted (pixels)

_NEIGHBOURS: Final = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32) / 8


@dataclass(frozen=True, eq=False)
class Layout:
    """The keyed layout: which cells form each unit, their signs, each unit's dither."""

    cells: NDArray[np.intp]  #: (UNITS, CELLS_PER_UNIT) flat cell indices
    signs: NDArray[np.float32]  #: (UNITS, CELLS_PER_UNIT) ±1, two of each per unit
    dither: NDArray[np.float64]  #: (UNITS,) in [0, 1), in units of STEP


class _Stream:
    """Deterministic random numbers from SHAKE-256(version ‖ key)."""

    def __init__(self, key: bytes) -> None:
        seed = VERSION + len(key).to_bytes(4, "big") + key
        self._data = hashlib.shake_256(seed).digest(1 << 16)
        self._pos = 0

    def u32(self) -> int:
        if self._pos + 4 > len(self._data):  # pragma: no cover - 64 KiB is plenty
            raise RuntimeError("keyed stream exhausted")
        value = int.from_bytes(self._data[self._pos : self._pos + 4], "big")
        self._pos += 4
        return value

    def below(self, n: int) -> int:
        """Uniform integer in [0, n), by rejection (no modulo bias)."""
        limit = (1 << 32) - (1 << 32) % n
        while (value := self.u32()) >= limit:
            pass
        return value % n

    def shuffle(self, items: list[int]) -> list[int]:
        for i in range(len(items) - 1, 0, -1):  # Fisher–Yates
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


@lru_cache(maxsize=16)
def layout_for(key: bytes) -> Layout:
    rng = _Stream(key)
    cells = np.array(rng.shuffle(list(range(GRID * GRID))), np.intp)
    signs = np.array([rng.shuffle([1, 1, -1, -1]) for _ in range(UNITS)], np.float32)
    dither = np.array([((rng.u32() << 21) | (rng.u32() >> 11)) / 2.0**53 for _ in range(UNITS)])
    for array in (cells, signs, dither):
        array.setflags(write=False)
    return Layout(cells.reshape(UNITS, CELLS_PER_UNIT), signs, dither)


def cell_means(luma: NDArray[np.float32]) -> NDArray[np.float32]:
    """(H, W) float32 luma → (GRID, GRID) means over the cells of the canonical grid."""
    # cv2.resize keeps the input's dtype (cast: never convert a caller's float64 luma)
    return cast("NDArray[np.float32]",
                cv2.resize(luma, (GRID, GRID), interpolation=cv2.INTER_AREA))


def whiten(cells: NDArray[np.float32]) -> NDArray[np.float32]:
    """Each cell minus the mean of its 8 neighbours (borders reflected)."""
    return cells - cv2.filter2D(cells, -1, _NEIGHBOURS, borderType=cv2.BORDER_REFLECT)


def project(whitened: NDArray[np.float32], layout: Layout) -> NDArray[np.float64]:
    """(GRID, GRID) whitened cell means → (UNITS,) unit projections."""
    values = whitened.reshape(-1)[layout.cells] * layout.signs
    return values.sum(axis=1, dtype=np.float64) / np.sqrt(CELLS_PER_UNIT)


def projections(luma: NDArray[np.float32], layout: Layout) -> NDArray[np.float64]:
    return project(whiten(cell_means(luma)), layout)
