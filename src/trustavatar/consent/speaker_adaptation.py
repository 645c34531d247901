"""Unsupervised speaker adaptation for the spoken-code check (MLLR).

PocketSphinx's acoustic model was trained on many speakers; a voice far from them (a high
or unusual voice, an accent, a synthetic voice) is decoded with systematic errors. Maximum
likelihood linear regression (MLLR; Leggetter & Woodland 1995) moves every Gaussian mean of
the model with one affine transform per feature stream, ``mu' = A mu + b``, chosen to make
a first decode of the same clip as likely as possible. It is the textbook speaker
adaptation for HMM recognisers, and PocketSphinx applies such a transform itself (its
``-mllr`` option); SphinxTrain's ``bw``/``mllr_solve`` tools, which usually estimate it,
do not ship with the wheel, so the estimate is made here:

1. the first pass's best path (it allows every code; it does not look at the expected
   code) is aligned to the clip state by state (:meth:`pocketsphinx.Decoder.set_alignment`);
2. the cepstra the decoder computed are read back (``-mfclogdir``) and turned into the
   model's features exactly as its ``feat.params`` says (batch CMN, ``1s_c_d_dd``, three
   13-dimensional streams);
3. for every frame, the posterior of each Gaussian of the aligned senone's codebook is
   computed with the model's means, variances and mixture weights (read from the model
   files: ``means``, ``variances``, ``sendump``, ``mdef``);
4. one global transform per stream (14 x 13 numbers, against the ~500 frames of a read
   sentence) is solved in closed form, row by row (diagonal covariances).

Everything is deterministic and offline; the model files are those of the ``pocketsphinx``
wheel.
"""

from __future__ import annotations

__all__ = ["MIN_FRAMES", "NATS_PER_UNIT", "AcousticModel", "estimate", "model_features",
           "read_cepstra", "state_labels", "write_transform"]

import functools
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

#: Fewer aligned frames than this (0.5 s of speech) and no transform is estimated.
MIN_FRAMES: Final = 50
#: PocketSphinx's path scores and mixture weights are in units of 2**10 logmath steps
#: (``SENSCR_SHIFT``) of base 1.0001; one unit is this many nats. (Checked: an arc of
#: probability 1/2 at language weight 6.5 lowers a path score by 44 units, 6.5 ln 2 = 4.5
#: nats.)
NATS_PER_UNIT: Final = 1024 * math.log(1.0001)
#: The front end the estimate reproduces (``feat.params`` of the model); anything else is
#: refused rather than adapted wrongly.
_FEATURES: Final = {"-feat": "1s_c_d_dd", "-cmn": "batch", "-svspec": "0-12/13-25/26-38",
                    "-agc": "none", "-varnorm": "no", "-model": "ptm"}
_CEPLEN: Final = 13
_VARIANCE_FLOOR: Final = 1e-4  # PocketSphinx's -varfloor default


class _State(Protocol):
    name: str
    duration: int


class _Phone(Protocol):
    name: str

    def __iter__(self) -> Iterator[_State]: ...


@dataclass(frozen=True)
class AcousticModel:
    """The parts of a PocketSphinx PTM model the estimate needs.

    ``means``/``variances``: (codebooks, streams, densities, 13); ``log_norms``: each
    Gaussian's log normaliser ``-1/2 sum log(2 pi var)`` (codebooks, streams, densities);
    ``log_weights``: (streams, densities, senones) in nats; ``codebook``: CI phone name →
    codebook index.
    """

    means: NDArray[np.float64]
    variances: NDArray[np.float64]
    log_norms: NDArray[np.float64]
    log_weights: NDArray[np.float64]
    codebook: dict[str, int]

    @classmethod
    @functools.cache
    def load(cls, folder: Path) -> AcousticModel:
        """Read the model in ``folder``; :class:`ValueError` if it is not a PTM model with
        the expected front end or a file does not parse."""
        params = dict(line.split(None, 1) for line in
                      (folder / "feat.params").read_text("utf-8").split("\n") if line.strip())
        for key, value in _FEATURES.items():
            if params.get(key, "").strip() != value:
                raise ValueError(f"model front end {key} is {params.get(key)!r}, not {value!r}")
        means = _read_gaussians(folder / "means")
        variances = np.maximum(_read_gaussians(folder / "variances"), _VARIANCE_FLOOR)
        weights = _read_sendump(folder / "sendump")
        phones = _read_ciphones(folder / "mdef")
        if not (means.shape == variances.shape and means.shape[0] == len(phones)
                and weights.shape[:2] == means.shape[1:3]):
            raise ValueError(f"model files disagree: means {means.shape}, mixture weights "
                             f"{weights.shape}, {len(phones)} phones")
        return cls(means, variances, -0.5 * np.log(2 * np.pi * variances).sum(-1),
                   -weights.astype(np.float64) * NATS_PER_UNIT,
                   {p: i for i, p in enumerate(phones)})


def _read_gaussians(path: Path) -> NDArray[np.float64]:
    """A Sphinx-3 Gaussian parameter file (``means``, ``variances``)."""
    data = path.read_bytes()
    at = data.index(b"endhdr\n") + 7
    magic, n_cb, n_feat, n_dens = struct.unpack_from("<I3i", data, at)
    if magic != 0x11223344:
        raise ValueError(f"{path.name}: not a little-endian Sphinx-3 file")
    at += 16
    veclen = struct.unpack_from(f"<{n_feat}i", data, at)
    at += 4 * n_feat
    (total,) = struct.unpack_from("<i", data, at)
    if any(v != _CEPLEN for v in veclen) or total != n_cb * n_dens * sum(veclen):
        raise ValueError(f"{path.name}: streams {veclen}, expected {n_feat} of {_CEPLEN}")
    values = np.frombuffer(data, "<f4", total, at + 4)
    return values.reshape(n_cb, n_feat, n_dens, _CEPLEN).astype(np.float64)


def _read_sendump(path: Path) -> NDArray[np.uint8]:
    """PocketSphinx's mixture weights (``sendump``): (streams, densities, senones) of
    quantised negative log probabilities."""
    data = path.read_bytes()
    at, header = 0, []
    while True:
        (n,) = struct.unpack_from("<i", data, at)
        at += 4
        if n == 0:
            break
        header.append(data[at:at + n].rstrip(b"\0").decode("ascii", "replace"))
        at += n
    fields = dict(h.split(None, 1) for h in header if " " in h and h[0].isalpha())
    if fields.get("cluster_count", "0").strip() != "0":
        raise ValueError(f"{path.name}: clustered mixture weights are not supported")
    n_feat = int(fields.get("feature_count", "1"))
    n_dens, n_sen = struct.unpack_from("<2i", data, at)
    values = np.frombuffer(data, np.uint8, n_feat * n_dens * n_sen, at + 8)
    return values.reshape(n_feat, n_dens, n_sen)


def _read_ciphones(path: Path) -> list[str]:
    """The CI phone names of a binary model definition (``mdef``), in codebook order."""
    data = path.read_bytes()
    end = b"END FILE FORMAT DESCRIPTION\n"
    if not data.startswith(b"BMDF") or end not in data:
        raise ValueError(f"{path.name}: not a binary model definition")
    at = data.index(end) + len(end)
    at += -at % 4
    (n_ci,) = struct.unpack_from("<i", data, at)
    at += 10 * 4  # nine counts and the silence phone's id
    phones = []
    for _ in range(n_ci):
        stop = data.index(b"\0", at)
        phones.append(data[at:stop].decode("ascii"))
        at = stop + 1
    return phones


def read_cepstra(path: Path) -> NDArray[np.float64]:
    """A Sphinx feature file as the decoder logs it (big-endian; a float count, then
    13-dimensional cepstra)."""
    data = path.read_bytes()
    (n,) = struct.unpack_from(">i", data)
    if n % _CEPLEN or 4 + 4 * n != len(data):
        raise ValueError(f"{path.name}: not a cepstrum file")
    return np.frombuffer(data, ">f4", n, 4).astype(np.float64).reshape(-1, _CEPLEN)


def model_features(cepstra: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """The three streams the model scores (``1s_c_d_dd`` after batch CMN): cepstra,
    ``c[t+2] - c[t-2]``, ``(c[t+3] - c[t-1]) - (c[t+1] - c[t-3])``, the edges repeated."""
    c = cepstra - cepstra.mean(axis=0)
    n = len(c)
    padded = np.concatenate([np.repeat(c[:1], 3, axis=0), c, np.repeat(c[-1:], 3, axis=0)])

    def at(k: int) -> NDArray[np.float64]:
        return padded[3 + k:3 + k + n]

    return [c, at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))]


def state_labels(alignment: Iterable[Iterable[_Phone]], model: AcousticModel,
                 ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Per frame, the senone and codebook of a PocketSphinx state alignment (words →
    phones → states, state names are senone ids)."""
    senones: list[int] = []
    codebooks: list[int] = []
    for word in alignment:
        for phone in word:
            book = model.codebook[phone.name]
            for state in phone:
                senones += [int(state.name)] * state.duration
                codebooks += [book] * state.duration
    return np.asarray(senones, np.intp), np.asarray(codebooks, np.intp)


def estimate(features: Sequence[NDArray[np.float64]], senones: NDArray[np.intp],
             codebooks: NDArray[np.intp], model: AcousticModel,
             ) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]] | None:
    """One MLLR mean transform ``(A, b)`` per stream from aligned frames, or None with fewer
    than :data:`MIN_FRAMES` frames.

    Row ``i`` of ``[A | b]`` solves ``G_i w = k_i`` with ``G_i = sum g/var_i xi xi^T`` and
    ``k_i = sum g o_i/var_i xi`` over frames and Gaussians (``g`` the Gaussian's posterior
    in the aligned senone, ``xi = [mu, 1]``). One round of expectation-maximisation from
    the unadapted model (more rounds with the same alignment did not fit synthetic data
    better).
    """
    n = min(len(senones), len(features[0]))
    if n < MIN_FRAMES:
        return None
    senones, codebooks = senones[:n], codebooks[:n]
    return [_solve(obs[:n], senones, codebooks, model, stream)
            for stream, obs in enumerate(features)]


def _solve(o: NDArray[np.float64], senones: NDArray[np.intp], codebooks: NDArray[np.intp],
           model: AcousticModel, stream: int,
           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`estimate` for one stream."""
    mu = model.means[codebooks, stream]  # (frames, densities, 13)
    var = model.variances[codebooks, stream]
    loglik = (model.log_weights[stream][:, senones].T + model.log_norms[codebooks, stream]
              - 0.5 * (((o[:, None, :] - mu) ** 2) / var).sum(-1))
    post = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    # per codebook and Gaussian: occupancy and first-order statistics
    occupancy = np.zeros((model.means.shape[0], post.shape[1]))  # (codebooks, densities)
    firsts = np.zeros((*occupancy.shape, _CEPLEN))  # (codebooks, densities, 13)
    for book in np.unique(codebooks):
        frames = codebooks == book
        occupancy[book] = post[frames].sum(axis=0)
        firsts[book] = post[frames].T @ o[frames]
    used = occupancy > 1e-8
    gamma, first = occupancy[used], firsts[used]
    means, variances = model.means[:, stream][used], model.variances[:, stream][used]
    xi = np.concatenate([means, np.ones((len(gamma), 1))], axis=1)
    a = np.zeros((_CEPLEN, _CEPLEN))
    b = np.zeros(_CEPLEN)
    for i in range(_CEPLEN):
        w = gamma / variances[:, i]
        g = (xi * w[:, None]).T @ xi
        k = ((first[:, i] / variances[:, i])[:, None] * xi).sum(axis=0)
        row = np.linalg.solve(g, k)
        a[i], b[i] = row[:_CEPLEN], row[_CEPLEN]
    return a, b


def write_transform(transforms: Sequence[tuple[NDArray[np.float64], NDArray[np.float64]]],
                    path: Path) -> Path:
    """Write transforms in PocketSphinx's MLLR file format (one class; per stream: length,
    then ``A`` row by row, ``b`` and the variance scales, here all 1)."""
    lines = ["1", str(len(transforms))]
    for a, b in transforms:
        lines += [str(len(b)), " ".join(f"{x:.7g}" for x in a.ravel()),
                  " ".join(f"{x:.7g}" for x in b), " ".join("1" for _ in b)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
