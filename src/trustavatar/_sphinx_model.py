"""PocketSphinx's US-English acoustic model, read from the wheel's files, and its front end.

Shared by the consent check's speaker adaptation (:mod:`trustavatar.consent.speaker_adaptation`)
and the generator's phone posteriors (:mod:`trustavatar.generator.audio.posteriors`):
the model's Gaussians and mixture weights (``means``, ``variances``, ``sendump``, ``mdef``),
the cepstra a decoder logs (``-mfclogdir``) and the features the model scores
(``1s_c_d_dd`` after batch CMN). Read-only, offline; nothing here decodes.
"""

from __future__ import annotations

__all__ = ["CEPSTRUM_LENGTH", "NATS_PER_UNIT", "AcousticModel", "model_features", "read_cepstra"]

import functools
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

#: PocketSphinx's path scores and mixture weights are in units of 2**10 logmath steps
#: (``SENSCR_SHIFT``) of base 1.0001; one unit is this many nats. (Checked: an arc of
#: probability 1/2 at language weight 6.5 lowers a path score by 44 units, 6.5 ln 2 = 4.5
#: nats.)
NATS_PER_UNIT: Final = 1024 * math.log(1.0001)
#: The front end :func:`model_features` reproduces (``feat.params`` of the model); a model
#: with any other is refused rather than scored wrongly.
_FEATURES: Final = {"-feat": "1s_c_d_dd", "-cmn": "batch", "-svspec": "0-12/13-25/26-38",
                    "-agc": "none", "-varnorm": "no", "-model": "ptm"}
#: Cepstral coefficients per frame (and per feature stream).
CEPSTRUM_LENGTH: Final = 13
_VARIANCE_FLOOR: Final = 1e-4  # PocketSphinx's -varfloor default


@dataclass(frozen=True)
class AcousticModel:
    """The parts of a PocketSphinx PTM model that adaptation and phone scoring need.

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
    if any(v != CEPSTRUM_LENGTH for v in veclen) or total != n_cb * n_dens * sum(veclen):
        raise ValueError(f"{path.name}: streams {veclen}, expected {n_feat} of {CEPSTRUM_LENGTH}")
    values = np.frombuffer(data, "<f4", total, at + 4)
    return values.reshape(n_cb, n_feat, n_dens, CEPSTRUM_LENGTH).astype(np.float64)


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
    if n % CEPSTRUM_LENGTH or 4 + 4 * n != len(data):
        raise ValueError(f"{path.name}: not a cepstrum file")
    return np.frombuffer(data, ">f4", n, 4).astype(np.float64).reshape(-1, CEPSTRUM_LENGTH)


def model_features(cepstra: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """The three streams the model scores (``1s_c_d_dd`` after batch CMN): cepstra,
    ``c[t+2] - c[t-2]``, ``(c[t+3] - c[t-1]) - (c[t+1] - c[t-3])``, the edges repeated."""
    c = cepstra - cepstra.mean(axis=0)
    n = len(c)
    padded = np.concatenate([np.repeat(c[:1], 3, axis=0), c, np.repeat(c[-1:], 3, axis=0)])

    def at(k: int) -> NDArray[np.float64]:
        return padded[3 + k:3 + k + n]

    return [c, at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))]
