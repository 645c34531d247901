"""Embedding: move each unit's projection onto the lattice of its bit, one frame at a time."""

from __future__ import annotations

import math
import threading
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import WatermarkError
from trustavatar.watermark._code import encode
from trustavatar.watermark._layout import (
    CELLS_PER_UNIT,
    GRID,
    MIN_SIDE,
    PILOT_UNITS,
    STEP,
    Layout,
    cell_means,
    layout_for,
    project,
    whiten,
)

PAYLOAD_BYTES: Final = 8
#: The default key is public: anyone can read (and, with effort, forge or remove) a
#: watermark made with it. Pass a secret key to make reading and forging need the key.
DEFAULT_KEY: Final = b"trustavatar/watermark/public-default-key/v1"

#: Perceptual mask: the change given to a cell is proportional to the texture (standard
#: deviation of luma) inside it relative to the frame's median cell, clipped to this range.
_MASK_RANGE: Final = (0.3, 3.0)
_SOLVER_ITERATIONS: Final = 3
#: Every marked frame keeps at least this PSNR (dB) against the original: a frame whose
#: change would exceed the budget gets a proportionally weaker change.
MIN_PSNR: Final = 40.0
# 0.1 dB of margin for rounding to integers (which adds about 1/12 to the MSE).
_MAX_MSE: Final = 255.0**2 / 10 ** ((MIN_PSNR + 0.1) / 10) - 1 / 12
_MAX_CACHED_SIZES: Final = 8


def check_key(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray) or not key:
        raise WatermarkError(f"watermark key must be non-empty bytes, got {_describe(key)}")
    return bytes(key)


def check_frame(frame: object, *, where: str = "frame") -> NDArray[np.uint8]:
    """Accept ``(H, W, 3) uint8`` RGB with both sides >= MIN_SIDE; say actual vs expected."""
    if not isinstance(frame, np.ndarray):
        raise WatermarkError(
            f"{where} must be an (H, W, 3) uint8 RGB array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise WatermarkError(
            f"{where} must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise WatermarkError(
            f"{where} is {width}x{height} pixels; a watermark needs at least "
            f"{MIN_SIDE}x{MIN_SIDE}")
    return frame


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return type(value).__name__


def _upsample(cells: NDArray[np.float32], width: int, height: int) -> NDArray[np.float32]:
    """Cell grid → frame size, bilinear (each cell value peaks at the cell's centre)."""
    return np.asarray(cv2.resize(cells, (width, height), interpolation=cv2.INTER_LINEAR),
                      np.float32)


class _SizeModel:
    """For one frame size: what the reader sees of a change made on the cell grid.

    The embedder upsamples cell values bilinearly to the frame; the reader averages over
    cells. Both are separable, so cell change ``c`` (GRID, GRID) reaches the reader's cell
    means as ``rows @ c @ cols`` exactly; ``gain[i]`` is the whitened response of cell i to
    itself.
    """

    def __init__(self, height: int, width: int) -> None:
        eye = np.eye(GRID, dtype=np.float32)
        self.rows = cell_means(_upsample(eye, GRID, height))
        self.cols = cell_means(_upsample(eye, width, GRID))
        gain = np.empty(GRID * GRID, np.float64)
        for i in range(GRID * GRID):
            a, b = divmod(i, GRID)
            response = whiten(np.outer(self.rows[:, a], self.cols[b, :]))
            gain[i] = response[a, b]
        self.gain = gain

    def seen(self, change: NDArray[np.float32]) -> NDArray[np.float32]:
        """Whitened cell means the reader would measure for a cell-grid change."""
        return whiten((self.rows @ change @ self.cols).astype(np.float32))


class Watermark:
    """Embeds a 64-bit payload, invisibly, into every frame given to :meth:`apply`.

    ``payload`` is 8 bytes (see :func:`payload_for`); ``key`` selects the secret layout
    (the reader needs the same key); ``strength`` in (0, 1] is how far each frame is moved
    towards the watermark lattice: 1.0 (the default) is the most robust, smaller values
    trade robustness for fidelity. The reader does not need to know it. Whatever the
    strength, no frame drops below :data:`MIN_PSNR` (40 dB); at 1.0 the mean is ~40.4 dB.

    ``apply`` is stateless: frames may come in any order, from any number of videos, at
    any size (at least 64x64); per-size tables are cached.

    >>> wm = Watermark(payload_for(manifest_label), key=secret)  # doctest: +SKIP
    >>> marked = wm.apply(frame)  # (H, W, 3) uint8 RGB → same  # doctest: +SKIP
    """

    def __init__(self, payload: bytes, *, key: bytes = DEFAULT_KEY,
                 strength: float = 1.0) -> None:
        if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
            raise WatermarkError(
                f"watermark payload must be {PAYLOAD_BYTES} bytes, got {_describe(payload)}")
        if (isinstance(strength, bool) or not isinstance(strength, int | float)
                or not 0.0 < strength <= 1.0):
            raise WatermarkError(f"watermark strength must be in (0, 1], got {strength!r}")
        self._payload = bytes(payload)
        self._strength = float(strength)
        self._layout: Layout = layout_for(check_key(key))
        bits = np.concatenate([encode(self._payload), np.zeros(PILOT_UNITS, np.uint8)])
        #: lattice offset of each unit, in units of STEP: dither + bit / 2
        self._offset = self._layout.dither + bits / 2.0
        self._sizes: dict[tuple[int, int], _SizeModel] = {}
        self._lock = threading.Lock()

    @property
    def payload(self) -> bytes:
        return self._payload

    @property
    def strength(self) -> float:
        return self._strength

    def __repr__(self) -> str:  # never show the key
        return f"Watermark(payload={self._payload.hex()}, strength={self._strength})"

    def _model(self, height: int, width: int) -> _SizeModel:
        with self._lock:
            model = self._sizes.get((height, width))
            if model is None:
                if len(self._sizes) >= _MAX_CACHED_SIZES:
                    self._sizes.pop(next(iter(self._sizes)))
                model = self._sizes[(height, width)] = _SizeModel(height, width)
            return model

    def apply(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Return a watermarked copy of ``frame``: ``(H, W, 3) uint8 RGB`` → same.

        Only luma changes (the same integer is added to R, G and B), by a smooth field of
        about ±1 level in flat areas and more where the frame is textured.
        Raises :class:`~trustavatar.errors.WatermarkError` for a wrong shape or dtype.
        """
        frame = check_frame(frame)
        height, width = frame.shape[:2]
        model = self._model(height, width)
        layout = self._layout
        # 1. Features of the host, exactly as the reader computes them.
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        means = cell_means(luma)
        p = project(whiten(means), layout)
        # 2. Target: the nearest point of the unit's lattice (of its bit), or part way.
        offset = self._offset * STEP
        q = p + np.mod(offset - p + STEP / 2, STEP) - STEP / 2
        wanted = self._strength * (q - p)
        # 3. Perceptual mask: change textured cells more than flat ones.
        spread = np.sqrt(np.maximum(cell_means(luma * luma) - means * means, 0.0))
        mask = np.clip(spread / max(float(np.median(spread)), 1.0), *_MASK_RANGE)
        weights = mask.reshape(-1)[layout.cells] * layout.signs  # (UNITS, CELLS_PER_UNIT)
        unit_gain = (mask.reshape(-1)[layout.cells] * model.gain[layout.cells]).sum(axis=1)
        unit_gain /= math.sqrt(CELLS_PER_UNIT)
        # 4. Solve for one amplitude per unit so that the reader's projections move by
        #    `wanted` (Jacobi iterations: neighbouring cells leak into each other a little).
        amplitude = np.zeros_like(wanted)
        residual = wanted
        change = np.zeros(GRID * GRID, np.float32)
        for _ in range(_SOLVER_ITERATIONS):
            amplitude = amplitude + residual / unit_gain
            change[layout.cells] = amplitude[:, None] * weights
            residual = wanted - project(model.seen(change.reshape(GRID, GRID)), layout)
        # 5. Upsample the cell change smoothly to the frame and add it to R, G and B.
        field = _upsample(change.reshape(GRID, GRID), width, height)
        mse = cv2.norm(field, cv2.NORM_L2SQR) / field.size
        if mse > _MAX_MSE:
            field *= math.sqrt(_MAX_MSE / mse)
        step = np.rint(field)  # one integer change per pixel, the same for R, G and B
        return np.asarray(cv2.add(frame, cv2.merge([step, step, step]), dtype=cv2.CV_8U),
                          np.uint8)
