"""Speaker adaptation (MLLR) for the spoken-code check, on PocketSphinx's real model files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from trustavatar.consent import speaker_adaptation as sa
from trustavatar.consent.spoken_code import (
    ENGLISH_TEMPLATE,
    _code_fsg,
    _code_prefix,
    _decode,
    _decoder,
    _dithered_pcm16,
    _model_dir,
    _write_dictionary,
)


@pytest.fixture(scope="module")
def model() -> sa.AcousticModel:
    return sa.AcousticModel.load(_model_dir() / "en-us")


def test_model_files_parse(model: sa.AcousticModel) -> None:
    books, streams, _, dims = model.means.shape
    assert (streams, dims) == (3, 13) and books == len(model.codebook) == 42
    assert model.variances.shape == model.means.shape and model.variances.min() > 0
    assert model.log_norms.shape == model.means.shape[:3]
    assert model.codebook["SIL"] == 32 and model.codebook["AY"] == 7
    # Mixture weights are probabilities (quantised: the smallest are floored away).
    totals = np.exp(model.log_weights).sum(axis=1)
    assert totals.shape == (3, 5126) and totals.min() > 0.85 and totals.max() <= 1.0


def test_model_with_another_front_end_is_refused(tmp_path: Path) -> None:
    for name in ("means", "variances", "sendump", "mdef"):
        (tmp_path / name).symlink_to(_model_dir() / "en-us" / name)
    params = (_model_dir() / "en-us" / "feat.params").read_text()
    (tmp_path / "feat.params").write_text(params.replace("-cmn batch", "-cmn live"))
    with pytest.raises(ValueError, match="-cmn"):
        sa.AcousticModel.load(tmp_path)


def test_cepstra_files(tmp_path: Path) -> None:
    frames = np.arange(26, dtype=np.float32).reshape(2, 13)
    path = tmp_path / "a.mfc"
    path.write_bytes(struct.pack(">i", 26) + frames.astype(">f4").tobytes())
    assert np.array_equal(sa.read_cepstra(path), frames)
    path.write_bytes(struct.pack(">i", 27) + frames.astype(">f4").tobytes())
    with pytest.raises(ValueError, match="not a cepstrum file"):
        sa.read_cepstra(path)


def test_features_are_the_models_deltas() -> None:
    ramp = np.arange(20, dtype=np.float64)[:, None] * np.ones(13)
    c, d, dd = sa.model_features(ramp)
    assert np.allclose(c.mean(axis=0), 0)  # batch CMN
    assert np.allclose(d[2:-2], 4.0) and np.allclose(dd[3:-3], 0.0)  # c[t+2] - c[t-2], ...
    assert d[0, 0] == 2.0  # edges repeat the first frame: c[2] - c[0]


def _sample(model: sa.AcousticModel, n: int, shift: list[tuple[np.ndarray, np.ndarray]],
            seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames drawn from the model's own Gaussians (senones of the aligned codebook), each
    stream's means moved by ``A mu + b``."""
    rng = np.random.default_rng(seed)
    books = rng.integers(2, 42, n)
    senones = rng.integers(0, model.log_weights.shape[2], n)
    streams = []
    for s, (a, b) in enumerate(shift):
        p = np.exp(model.log_weights[s][:, senones].T)
        p /= p.sum(axis=1, keepdims=True)
        pick = np.minimum((p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1), 127)
        mu = model.means[books, s, pick] @ a.T + b
        streams.append(mu + rng.normal(size=mu.shape) * np.sqrt(model.variances[books, s, pick]))
    return streams, senones, books


def _loglik(model: sa.AcousticModel, frames: list[np.ndarray], senones: np.ndarray,
            books: np.ndarray, transform: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Log-likelihood (nats) of the frames under the senones' mixtures, means transformed."""
    total = 0.0
    for s, (o, (a, b)) in enumerate(zip(frames, transform, strict=True)):
        mu = model.means[books, s] @ a.T + b
        var = model.variances[books, s]
        ll = (model.log_weights[s][:, senones].T + model.log_norms[books, s]
              - 0.5 * (((o[:, None] - mu) ** 2) / var).sum(-1))
        top = ll.max(axis=1)
        total += float((top + np.log(np.exp(ll - top[:, None]).sum(axis=1))).sum())
    return total


def test_estimate_fits_a_moved_speaker(model: sa.AcousticModel) -> None:
    rng = np.random.default_rng(1)
    moved = [(np.eye(13) + 0.05 * rng.normal(size=(13, 13)), 0.3 * rng.normal(size=13))
             for _ in range(3)]
    identity = [(np.eye(13), np.zeros(13))] * 3
    frames, senones, books = _sample(model, 3000, moved)
    found = sa.estimate(frames, senones, books, model)
    assert found is not None
    before, after, truth = (_loglik(model, frames, senones, books, t)
                            for t in (identity, found, moved))
    # Most of the way from the unadapted model to the true transform, per frame.
    assert (after - before) > 0.8 * (truth - before) > 0
    # A speaker the model already fits is left (nearly) alone.
    frames, senones, books = _sample(model, 3000, identity, seed=2)
    found = sa.estimate(frames, senones, books, model)
    assert found is not None
    assert all(np.abs(a - np.eye(13)).max() < 0.1 and np.abs(b).max() < 0.3 for a, b in found)
    assert sa.estimate([f[:10] for f in frames], senones[:10], books[:10], model) is None


def test_transform_file_is_what_pocketsphinx_applies(tmp_path: Path) -> None:
    from trustavatar.generator.audio import resample, synthesize

    code = "471283"
    audio = resample(synthesize(ENGLISH_TEMPLATE.spoken(code), language="en-us").audio, 16000)
    pcm = _dithered_pcm16(audio.samples, audio.rms * 0.01)
    dictionary = _write_dictionary(ENGLISH_TEMPLATE, tmp_path)

    def score(transform: list[tuple[np.ndarray, np.ndarray]] | None) -> int | None:
        path = None if transform is None else sa.write_transform(transform, tmp_path / "t")
        decoder = _decoder(dictionary, exact=True, mllr=path)
        decoder.add_fsg("e", _code_fsg(decoder, ENGLISH_TEMPLATE,
                                       _code_prefix(ENGLISH_TEMPLATE), list(code), other=False))
        return _decode(decoder, "e", pcm)[1]

    plain = score(None)
    assert plain is not None
    assert score([(np.eye(13), np.zeros(13))] * 3) == plain
    # Applied: the path score changes. (Its sign says nothing: PocketSphinx scores every
    # frame relative to its best senone.)
    moved = score([(np.eye(13), np.full(13, 2.0))] * 3)
    assert moved is not None and moved != plain
