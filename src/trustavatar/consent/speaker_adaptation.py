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

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

from trustavatar._sphinx_model import (
    CEPSTRUM_LENGTH,
    NATS_PER_UNIT,
    AcousticModel,
    model_features,
    read_cepstra,
)

#: Fewer aligned frames than this (0.5 s of speech) and no transform is estimated.
MIN_FRAMES: Final = 50


class _State(Protocol):
    name: str
    duration: int


class _Phone(Protocol):
    name: str

    def __iter__(self) -> Iterator[_State]: ...


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
    firsts = np.zeros((*occupancy.shape, CEPSTRUM_LENGTH))  # (codebooks, densities, 13)
    for book in np.unique(codebooks):
        frames = codebooks == book
        occupancy[book] = post[frames].sum(axis=0)
        firsts[book] = post[frames].T @ o[frames]
    used = occupancy > 1e-8
    gamma, first = occupancy[used], firsts[used]
    means, variances = model.means[:, stream][used], model.variances[:, stream][used]
    xi = np.concatenate([means, np.ones((len(gamma), 1))], axis=1)
    a = np.zeros((CEPSTRUM_LENGTH, CEPSTRUM_LENGTH))
    b = np.zeros(CEPSTRUM_LENGTH)
    for i in range(CEPSTRUM_LENGTH):
        w = gamma / variances[:, i]
        g = (xi * w[:, None]).T @ xi
        k = ((first[:, i] / variances[:, i])[:, None] * xi).sum(axis=0)
        row = np.linalg.solve(g, k)
        a[i], b[i] = row[:CEPSTRUM_LENGTH], row[CEPSTRUM_LENGTH]
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
