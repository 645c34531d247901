"""Frame-level phone posteriors from PocketSphinx's acoustic model.

:func:`decode_phonemes` gives one best phone sequence; on spontaneous speech most of its
phones are wrong, and a wrong phone is a wrong mouth. This module keeps the uncertainty
instead: every 10 ms frame gets a probability for each of the model's 42 context-independent
phones (39 ARPAbet phones, silence ``SIL`` and the fillers ``+NSN+``, ``+SPN+``).

How: the decoder's own front end turns the audio into cepstra (``-mfclogdir``, no search);
each frame is scored under the three states of every phone with the model's Gaussians and
mixture weights (:class:`trustavatar._sphinx_model.AcousticModel`), the states are summed,
and a softmax over phones gives the posterior (equal priors, no language model, no
durations: a forward-backward pass through a phone loop was measured and did not correlate
better with real mouths). Deterministic and offline; the model files are the wheel's.
"""

from __future__ import annotations

__all__ = ["NON_SPEECH_PHONES", "PhonePosteriors", "phone_posteriors"]

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pocketsphinx
from numpy.typing import NDArray

from trustavatar._sphinx_model import AcousticModel, model_features, read_cepstra
from trustavatar.errors import AudioInputError, GenerationError
from trustavatar.generator.audio.decode import DEFAULT_SAMPLE_RATE, Audio, resample
from trustavatar.generator.audio.phonemes import (
    _DITHER_DB,
    PHONE_FRAME_RATE,
    _chunks,
    _dithered_pcm16,
    _model_dir,
)

#: The model's phones that are not speech: silence and the two noise fillers.
NON_SPEECH_PHONES: Final = frozenset({"SIL", "+NSN+", "+SPN+"})
#: Centre of 10 ms frame ``i`` of a chunk, after the chunk's start: the analysis window is
#: 25.625 ms long.
_CENTRE: Final = 0.025625 / 2
#: Only the decoder's cepstra are used, not its scores: it scores one frame in this many,
#: with one Gaussian each (the cepstra are the same; scoring took 60 % of the time).
_SKIP: Final = 10
#: Emitting states per phone; context-independent phone ``i`` owns senones ``3i .. 3i+2``.
_STATES: Final = 3


@dataclass(frozen=True)
class PhonePosteriors:
    """``probs[i, k]``: probability of ``phones[k]`` in the 10 ms frame centred at
    ``times[i]`` seconds (rows sum to 1)."""

    phones: tuple[str, ...]
    times: NDArray[np.float64]
    probs: NDArray[np.float32]

    def on_video_frames(self, fps: float, n_frames: int) -> NDArray[np.float32]:
        """``(n_frames, phones)``: the mean posterior of the 10 ms frames centred inside each
        video frame ``[t / fps, (t + 1) / fps)``. A video frame holding none (past the audio,
        or at more than 100 fps) takes its nearest neighbour's."""
        if not (np.isfinite(fps) and fps > 0):
            raise GenerationError(f"fps must be positive, got {fps}")
        out = np.zeros((n_frames, len(self.phones)), np.float64)
        count = np.zeros(n_frames, np.int64)
        index = np.floor(self.times * fps).astype(np.int64)
        inside = (index >= 0) & (index < n_frames)
        np.add.at(out, index[inside], self.probs[inside])
        np.add.at(count, index[inside], 1)
        filled = np.flatnonzero(count)
        if not n_frames:
            return out.astype(np.float32)
        if not filled.size:
            silence = np.zeros(len(self.phones), np.float32)
            silence[self.phones.index("SIL")] = 1.0
            return np.tile(silence, (n_frames, 1))
        out[filled] /= count[filled, None]
        if filled.size < n_frames:  # each empty frame takes its nearest filled one
            frames = np.arange(n_frames)
            after = np.minimum(np.searchsorted(filled, frames), filled.size - 1)
            right, left = filled[after], filled[np.maximum(after - 1, 0)]
            out = out[np.where(np.abs(frames - left) <= np.abs(right - frames), left, right)]
        return out.astype(np.float32)


def phone_posteriors(audio: Audio) -> PhonePosteriors:
    """Phone posteriors of ``audio`` every 10 ms (see the module docstring).

    Audio is resampled to 16 kHz and dithered as :func:`decode_phonemes` does; audio longer
    than 30 s is scored in pieces cut at quiet points (cepstral mean normalisation per
    piece, as the decoder does).
    """
    if not audio.num_samples:
        raise AudioInputError("audio is empty; nothing to score")
    audio = resample(audio, DEFAULT_SAMPLE_RATE)
    dither = max(audio.rms * 10.0 ** (_DITHER_DB / 20.0), 1.0 / 32768.0)
    scorer = _scorer()
    times: list[NDArray[np.float64]] = []
    probs: list[NDArray[np.float32]] = []
    with tempfile.TemporaryDirectory(prefix="trustavatar-cep-") as folder:
        decoder = _front_end(Path(folder))
        for start, stop in _chunks(audio.samples):
            pcm = _dithered_pcm16(audio.samples[start:stop], dither, seed=start)
            cepstra = _cepstra(decoder, pcm, Path(folder))
            if not len(cepstra):
                continue
            probs.append(scorer.posteriors(model_features(cepstra)))
            times.append(start / DEFAULT_SAMPLE_RATE + _CENTRE
                         + np.arange(len(cepstra)) / PHONE_FRAME_RATE)
    if not probs:
        raise AudioInputError("audio is too short to score (under 10 ms)")
    return PhonePosteriors(scorer.phones, np.concatenate(times), np.concatenate(probs))


# --- internals ------------------------------------------------------------------------------


def _front_end(folder: Path) -> pocketsphinx.Decoder:
    model = _model_dir()
    try:
        return pocketsphinx.Decoder(hmm=str(model / "en-us"),
                                    allphone=str(model / "en-us-phone.lm.bin"), dict=None,
                                    samprate=float(DEFAULT_SAMPLE_RATE), loglevel="FATAL",
                                    mfclogdir=str(folder), ds=_SKIP, topn=1)
    except (RuntimeError, ValueError) as e:
        raise GenerationError(f"cannot load the PocketSphinx model from {model}: {e}") from e


def _cepstra(decoder: pocketsphinx.Decoder, pcm: NDArray[np.int16],
             folder: Path) -> NDArray[np.float64]:
    """The cepstra of one utterance, read back from the file the decoder logs."""
    for old in folder.glob("*.mfc"):
        old.unlink()
    try:
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), no_search=True, full_utt=True)
        decoder.end_utt()
        files = sorted(folder.glob("*.mfc"))
        return read_cepstra(files[0]) if files else np.zeros((0, 13))
    except (RuntimeError, ValueError) as e:
        raise GenerationError(f"phone scoring failed: {e}") from e


class _Scorer:
    """Per-frame log-likelihood of each context-independent phone, then its posterior."""

    def __init__(self, model: AcousticModel) -> None:
        self.phones = tuple(sorted(model.codebook, key=model.codebook.__getitem__))
        n = len(self.phones)
        if model.log_weights.shape[2] < _STATES * n:
            raise GenerationError("the PocketSphinx model has fewer senones than phone states")
        inv = 1.0 / model.variances  # (phones, streams, densities, 13)
        self._inv = (-0.5 * inv).astype(np.float32)
        self._mean_inv = (model.means * inv).astype(np.float32)
        self._const = (model.log_norms
                       - 0.5 * (model.means ** 2 * inv).sum(-1)).astype(np.float32)
        ci = model.log_weights[:, :, :_STATES * n]  # (streams, densities, 3 * phones)
        # (phones, streams, densities, states): each phone's states over its own codebook
        self._weights = np.exp(ci.reshape(ci.shape[0], ci.shape[1], n, _STATES)
                               .transpose(2, 0, 1, 3)).astype(np.float32)

    def posteriors(self, features: list[NDArray[np.float64]]) -> NDArray[np.float32]:
        obs = [f.astype(np.float32) for f in features]
        squares = [o * o for o in obs]
        loglik = np.zeros((len(obs[0]), len(self.phones), _STATES), np.float32)
        for phone in range(len(self.phones)):
            for stream, (o, o2) in enumerate(zip(obs, squares, strict=True)):
                dens = (o2 @ self._inv[phone, stream].T + o @ self._mean_inv[phone, stream].T
                        + self._const[phone, stream])  # (frames, densities)
                top = dens.max(axis=1, keepdims=True)
                mix = np.exp(dens - top) @ self._weights[phone, stream]  # (frames, states)
                loglik[:, phone] += top + np.log(np.maximum(mix, 1e-30))
        top = loglik.max(axis=2, keepdims=True)
        phone_ll = (top + np.log(np.exp(loglik - top).sum(axis=2, keepdims=True)))[..., 0]
        phone_ll -= phone_ll.max(axis=1, keepdims=True)
        p = np.exp(phone_ll)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@functools.cache
def _scorer() -> _Scorer:
    try:
        return _Scorer(AcousticModel.load(_model_dir() / "en-us"))
    except (OSError, ValueError) as e:
        raise GenerationError(f"cannot read the PocketSphinx acoustic model: {e}") from e
