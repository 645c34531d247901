"""dlib's face-recognition ResNet, read from its model file and run with numpy.

The ``dlib-bin`` wheel is built without BLAS, so its own convolutions take 105-165 ms per
face on a 2-core CPU. The same network, with the same weights read from the same file
(``dlib_face_recognition_resnet_model_v1.dat`` of ``face_recognition_models``), run as
numpy matrix products (numpy's BLAS), takes about 25 ms and gives the same 128-d
descriptor: within 1e-6 per component, float32 sums taken in another order
(``tests/face/test_resnet.py`` compares the two). dlib still finds the face, places its
five landmarks and cuts the aligned 150 px chip (``dlib.get_face_chip``, as its
``compute_face_descriptor`` does); only the network runs here.

The network (dlib's ``dnn_face_recognition_ex.cpp``): input minus the mean colour, over
256; a 7x7 stride-2 convolution, affine, ReLU, 3x3 stride-2 max pool; 14 residual blocks
(3x3 convolution, affine, ReLU, 3x3 convolution, affine, plus the block's input, ReLU;
four blocks start with a stride-2 convolution, and their input is 2x2 average-pooled; when
the two sides differ in size, the smaller is zero-padded, as dlib's ``add_prev`` does);
the global average; a 256 -> 128 fully connected layer without bias. The batch-norm layers
are stored as per-channel affine layers, folded here into the convolution before them.

The file is dlib's serialisation: layers from the input up, each named by a length-prefixed
string (``con_4``, ``affine_``, ...) and followed by its parameter tensor (a version, four
dimensions and little-endian float32 values) and small integers, which dlib writes as a
byte count (with the sign in the top bit) and that many little-endian bytes. Only the
layers named above are read; anything else, or a different arrangement, raises
:class:`~trustavatar.errors.FaceError`.
"""

from __future__ import annotations

__all__ = ["CHIP_PADDING", "CHIP_SIZE", "FaceResNet", "load_face_resnet"]

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from trustavatar.errors import FaceError

#: Side of the aligned face chip the network reads, and the padding around the face
#: that ``dlib.get_face_chip`` is asked for (``compute_face_descriptor``'s defaults).
CHIP_SIZE: Final = 150
CHIP_PADDING: Final = 0.25

#: Held while numpy's BLAS is lowered to one thread (:meth:`FaceResNet.descriptor`): two
#: threads restoring it out of order would leave the process's BLAS on one thread.
_BLAS_LOCK: Final = threading.Lock()

_LAYER_NAMES: Final = (b"input_rgb_image_sized", b"con_4", b"affine_", b"relu_",
                       b"max_pool_2", b"avg_pool_2", b"add_prev_", b"fc_2")
#: Most bytes between one layer's values and the next layer's name (dlib writes a few
#: flags and empty tensors there; 400 bytes before the first layer).
_LAYER_GAP: Final = 4096
#: Pattern of one residual block in the file (``avg`` only in the downsampling ones).
_BLOCK: Final = ("con", "affine", "relu", "con", "affine")


@dataclass(frozen=True)
class _Conv:
    """A convolution with the affine layer after it folded in."""

    weights: NDArray[np.float32]  # (filters, channels * kh * kw)
    bias: NDArray[np.float32]  # (filters, 1)
    kernel: int
    stride: int
    padding: int

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        if self.padding:
            p = self.padding
            x = np.pad(x, ((0, 0), (p, p), (p, p)))
        c, h, w = x.shape
        k, s = self.kernel, self.stride
        oh, ow = (h - k) // s + 1, (w - k) // s + 1
        sc, sh, sw = x.strides
        cols = as_strided(x, (c, k, k, oh, ow), (sc, sh, sw, sh * s, sw * s))
        y = self.weights @ cols.reshape(c * k * k, oh * ow)
        y += self.bias
        return y.reshape(len(self.weights), oh, ow)


@dataclass(frozen=True)
class _Block:
    first: _Conv
    second: _Conv
    pool: int  # side of the average pool on the shortcut (0: none)

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        y = self.second(np.maximum(self.first(x), 0))
        shortcut = _pool(x, self.pool, largest=False) if self.pool else x
        if shortcut.shape != y.shape:  # dlib's add_prev: the smaller side zero-padded
            size = np.maximum(y.shape, shortcut.shape)
            out = np.zeros(tuple(size), np.float32)
            out[: y.shape[0], : y.shape[1], : y.shape[2]] = y
            out[: shortcut.shape[0], : shortcut.shape[1], : shortcut.shape[2]] += shortcut
            y = out
        else:
            y += shortcut
        return np.maximum(y, 0, out=y)


def _pool(x: NDArray[np.float32], side: int, largest: bool) -> NDArray[np.float32]:
    """Max (``largest``) or average pool ``x`` over ``side`` x ``side`` windows, stride 2,
    no padding."""
    c, h, w = x.shape
    oh, ow = (h - side) // 2 + 1, (w - side) // 2 + 1
    sc, sh, sw = x.strides
    windows = as_strided(x, (c, oh, ow, side, side), (sc, sh * 2, sw * 2, sh, sw))
    pooled = windows.max(axis=(3, 4)) if largest else windows.mean(axis=(3, 4))
    return np.asarray(pooled, np.float32)


class FaceResNet:
    """The loaded network: :meth:`descriptor` maps an aligned chip to 128 numbers."""

    def __init__(self, mean: NDArray[np.float32], stem: _Conv, pool: int,
                 blocks: list[_Block], fc: NDArray[np.float32]) -> None:
        # numpy's BLAS, held to one thread while a descriptor is computed: two threads
        # take 20 instead of 27 ms but 40 ms of CPU, and embeddings are computed beside
        # other work (the generator's QA beside the renderer, a consent clip's faces beside
        # its speech check), where the second thread's spinning slowed the run down.
        # (threadpoolctl is imported here, not with the module: 24 ms every command need
        # not pay.)
        from threadpoolctl import ThreadpoolController

        self._blas = ThreadpoolController().select(user_api="blas")
        self._mean = mean
        self._stem = stem
        self._pool = pool
        self._blocks = blocks
        self._fc = fc

    def descriptor(self, chip: NDArray[np.uint8]) -> NDArray[np.float64]:
        """The 128-d descriptor of ``chip``: ``(150, 150, 3) uint8`` RGB, aligned as
        ``dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING)`` cuts it."""
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise FaceError(f"a face chip must be {CHIP_SIZE}x{CHIP_SIZE} RGB, "
                            f"not {chip.shape}")
        x = ((chip.astype(np.float32) - self._mean) / np.float32(256)).transpose(2, 0, 1)
        with _BLAS_LOCK, self._blas.limit(limits=1):
            x = np.maximum(self._stem(np.ascontiguousarray(x)), 0)
            x = _pool(x, self._pool, largest=True)
            for block in self._blocks:
                x = block(x)
            return np.asarray(x.mean(axis=(1, 2)) @ self._fc, np.float64)


class _Reader:
    """dlib's serialised values, read from ``data`` at ``pos``."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size = head & 0x0F
        if size > 8 or self.pos + 1 + size > len(self.data):
            raise ValueError(f"bad integer at byte {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return float(mantissa * 2.0 ** self.int())

    def name(self) -> bytes:
        size = self.int()
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def tensor(self) -> NDArray[np.float32]:
        if self.int() != 2:
            raise ValueError(f"unknown tensor version at byte {self.pos}")
        dims = [self.int() for _ in range(4)]
        count = int(np.prod(dims))
        if self.pos + 4 * count > len(self.data):
            raise ValueError("a tensor runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return values.reshape(dims)


def _next_layer(data: bytes, pos: int) -> int:
    """Where the next named layer starts (its length-prefixed name, within
    :data:`_LAYER_GAP` bytes of ``pos``), or -1."""
    end = pos + _LAYER_GAP
    found = [data.find(bytes([1, len(n)]) + n, pos, end) for n in _LAYER_NAMES]
    found = [f for f in found if f >= 0]
    return min(found) if found else -1


@dataclass(frozen=True)
class _Layer:
    """One layer as the file holds it: its kind, float values and integer settings."""

    kind: str  # input, con, affine, relu, max, avg, add_prev, fc
    values: NDArray[np.float32]  # input: the mean colour; con: filters then biases;
    #                              affine: gammas then betas; fc: (inputs, outputs)
    ints: tuple[int, ...] = ()  # input: rows, cols; con: filters, kh, kw, sy, sx, py, px;
    #                             pools: window height, width, strides y, x, paddings y, x


def _layers(data: bytes) -> list[_Layer]:
    """The file's layers from the input up."""
    out: list[_Layer] = []
    none = np.zeros(0, np.float32)
    pos = _next_layer(data, 0)
    while pos >= 0:
        r = _Reader(data, pos)
        name = r.name()
        if name == b"input_rgb_image_sized":
            mean = np.array([r.float() for _ in range(3)], np.float32)
            out.append(_Layer("input", mean, (r.int(), r.int())))
        elif name == b"con_4":
            params = r.tensor().ravel()
            out.append(_Layer("con", params, tuple(r.int() for _ in range(7))))
        elif name == b"affine_":
            out.append(_Layer("affine", r.tensor().ravel()))
        elif name in (b"max_pool_2", b"avg_pool_2"):
            out.append(_Layer(name[:3].decode(), none, tuple(r.int() for _ in range(6))))
        elif name == b"fc_2":
            outputs, inputs = r.int(), r.int()
            out.append(_Layer("fc", r.tensor().reshape(inputs, outputs)))
        else:
            out.append(_Layer(name.decode().rstrip("_"), none))
        pos = _next_layer(data, r.pos)
    return out


def _conv(con: _Layer, affine: _Layer) -> _Conv:
    filters, kh, kw, sy, sx, py, px = con.ints
    if kh != kw or sy != sx or py != px:
        raise ValueError("only square kernels, strides and paddings are read")
    params = con.values
    n = filters * kh * kw
    channels = (len(params) - filters) // n
    if channels * n + filters != len(params):
        raise ValueError("a convolution's parameters do not fit its shape")
    if len(affine.values) != 2 * filters:
        raise ValueError("an affine layer does not fit the convolution before it")
    gamma, beta = affine.values[:filters], affine.values[filters:]
    weights = params[:channels * n].reshape(filters, channels * kh * kw) * gamma[:, None]
    bias = params[channels * n:] * gamma + beta
    return _Conv(np.ascontiguousarray(weights, np.float32),
                 bias.astype(np.float32)[:, None], kh, sy, py)


def _pool_side(layer: _Layer) -> int:
    """The window side of a square, stride-2, unpadded pool."""
    height, width, sy, sx, py, px = layer.ints
    if height != width or (sy, sx, py, px) != (2, 2, 0, 0):
        raise ValueError(f"unexpected {layer.kind} pool {layer.ints}")
    return height


def _build(layers: list[_Layer]) -> FaceResNet:
    kinds = [layer.kind for layer in layers]
    if kinds[:5] != ["input", "con", "affine", "relu", "max"] or kinds[-2:] != ["avg", "fc"]:
        raise ValueError(f"unexpected network: {' '.join(kinds[:6])} ... "
                         f"{' '.join(kinds[-3:])}")
    if layers[0].ints != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"the network reads {layers[0].ints} chips, not {CHIP_SIZE}")
    blocks: list[_Block] = []
    i = 5
    while i < len(kinds) - 2:
        if kinds[i:i + 5] != list(_BLOCK):
            raise ValueError(f"unexpected layer {kinds[i]!r} at layer {i}")
        j, pool = i + 5, 0
        if kinds[j] == "avg":
            pool, j = _pool_side(layers[j]), j + 1
        if kinds[j:j + 2] != ["add_prev", "relu"]:
            raise ValueError(f"a residual block ends in {kinds[j:j + 2]}")
        blocks.append(_Block(_conv(layers[i], layers[i + 1]),
                             _conv(layers[i + 3], layers[i + 4]), pool))
        i = j + 2
    return FaceResNet(layers[0].values, _conv(layers[1], layers[2]), _pool_side(layers[4]),
                      blocks, np.ascontiguousarray(layers[-1].values, np.float32))


def load_face_resnet(path: Path) -> FaceResNet:
    """Read dlib's ``dlib_face_recognition_resnet_model_v1.dat`` at ``path``.

    Raises :class:`~trustavatar.errors.FaceError` when the file cannot be read or does
    not hold that network."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FaceError(f"cannot read the face model {path}: {e}") from e
    try:
        return _build(_layers(data))
    except (ValueError, IndexError, TypeError) as e:
        raise FaceError(f"{path} is not dlib's face recognition network: {e}") from e
