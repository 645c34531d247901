"""Audio features per video frame: Whisper log-mel, speech-band energy, voice activity.

The log-mel front end is transformers' :class:`~transformers.WhisperFeatureExtractor`
(80 mel bands, 25 ms Hann window, 10 ms hop at 16 kHz: 100 frames per second). The
extractor itself pads or cuts every input to 30 s and normalises each 30 s on its own;
:func:`log_mel_100hz` instead computes the same spectrogram with the extractor's mel
filters in 30 s pieces (memory stays flat in the audio's length) and applies Whisper's
normalisation (``max(x, max - 8)``, then ``(x + 4) / 4``) once over the whole audio, so
any length is covered and the scale does not jump between pieces. For audio up to 30 s
the values equal the extractor's.

Video frame ``t`` covers ``[t / fps, (t + 1) / fps)`` seconds and there are
``ceil(duration * fps)`` of them (:func:`frame_count`); per-frame features average what
falls in that interval.

A Whisper encoder a user already has on disk can be plugged in with
:func:`encoder_frames` (any callable mapping Whisper input features to embeddings);
nothing is downloaded here.
"""

from __future__ import annotations

__all__ = [
    "HOP_LENGTH",
    "MEL_FRAME_RATE",
    "N_FFT",
    "AudioEncoder",
    "encoder_frames",
    "frame_count",
    "frame_energy",
    "log_mel_100hz",
    "log_mel_frames",
    "voice_activity",
]

import functools
import math
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import GenerationError
from trustavatar.generator.audio.decode import DEFAULT_SAMPLE_RATE, Audio, resample
from trustavatar.generator.audio.speech_band import speech_band_blocks, speech_band_sections

if TYPE_CHECKING:
    from transformers import WhisperFeatureExtractor

#: Whisper's STFT: 400-sample (25 ms) window, 160-sample (10 ms) hop, at 16 kHz.
N_FFT: Final = 400
HOP_LENGTH: Final = 160
#: Log-mel frames per second.
MEL_FRAME_RATE: Final = DEFAULT_SAMPLE_RATE // HOP_LENGTH
#: Mel frames computed per piece (30 s, Whisper's window).
_CHUNK_FRAMES: Final = 3000
#: Floor of :func:`frame_energy` (dBFS): the level of digital silence.
_ENERGY_FLOOR_DB: Final = -120.0


def frame_count(duration: float, fps: float) -> int:
    """Video frames needed to cover ``duration`` seconds: ``ceil(duration * fps)``."""
    _check_fps(fps)
    # Round away float noise (2.0 s at 25 fps must be 50 frames, not 51).
    return max(0, math.ceil(round(duration * fps, 6)))


def log_mel_100hz(audio: Audio, *, n_mels: int = 80) -> NDArray[np.float32]:
    """Whisper-normalised log-mel spectrogram ``(F, n_mels) float32`` at 100 frames/s.

    Frame ``i`` is centred on ``i / 100`` s; ``F = N // 160 + 1`` for ``N`` samples at
    16 kHz (audio at another rate is resampled first). Values are on Whisper's scale
    (about -1.5 … 1.5), normalised over the whole audio.
    """
    if n_mels < 1:
        raise GenerationError(f"n_mels must be >= 1, got {n_mels}")
    audio = resample(audio, DEFAULT_SAMPLE_RATE)
    x = audio.samples
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, n_mels), np.float32)
    extractor = _extractor(n_mels)
    from transformers.audio_utils import spectrogram, window_function

    window = window_function(N_FFT, "hann")
    total = n // HOP_LENGTH + 1
    out = np.empty((total, n_mels), np.float32)
    half = N_FFT // 2
    for f0 in range(0, total, _CHUNK_FRAMES):
        f1 = min(total, f0 + _CHUNK_FRAMES)
        # Samples of frames f0..f1-1 in the centre-padded signal (reflect at the ends,
        # as the extractor pads): frame i spans [i*hop - half, i*hop + half).
        a, b = f0 * HOP_LENGTH - half, (f1 - 1) * HOP_LENGTH + half
        piece = x[max(a, 0):min(b, n)]
        left, right = max(0, -a), max(0, b - n)
        if left or right:
            piece = np.pad(piece, (left, right), mode="reflect" if n > 1 else "edge")
        spec = spectrogram(
            piece.astype(np.float64), window, frame_length=N_FFT, hop_length=HOP_LENGTH,
            power=2.0, center=False, mel_filters=extractor.mel_filters, log_mel="log10",
        )
        out[f0:f1] = spec.T[: f1 - f0]
    # Whisper's normalisation, over the whole audio.
    np.maximum(out, out.max() - 8.0, out=out)
    out += 4.0
    out /= 4.0
    return out


def log_mel_frames(audio: Audio, *, fps: float = 25.0, n_mels: int = 80) -> NDArray[np.float32]:
    """Log-mel features per video frame ``(T, n_mels) float32``, ``T = frame_count``.

    Each row averages the 100 Hz frames of :func:`log_mel_100hz` over the video frame's
    interval (weighted by overlap, so any ``fps`` works; above 100 fps rows repeat).
    """
    _check_fps(fps)
    mel = log_mel_100hz(audio, n_mels=n_mels)
    return _to_video_frames(mel, MEL_FRAME_RATE, fps, frame_count(audio.duration, fps))


def frame_energy(audio: Audio, fps: float = 25.0) -> NDArray[np.float32]:
    """Speech-band (300–3400 Hz) RMS level per video frame ``(T,) float32`` in dBFS.

    On the scale of :attr:`Audio.rms_dbfs`: a full-scale sine in the band reads -3 dB,
    digital silence -120 dB. The band-pass filter is causal (4th-order Butterworth) and
    runs in pieces (:mod:`.speech_band`).
    """
    _check_fps(fps)
    n_frames = frame_count(audio.duration, fps)
    sr = audio.sample_rate
    x = audio.samples
    if not n_frames:
        return np.zeros(0, np.float32)
    speech_band_sections(sr)  # refuses a rate too low for the band, before any work
    # Frame t covers samples [bounds[t], bounds[t + 1]); power is summed piece by piece.
    bounds = np.minimum(np.round(np.arange(n_frames + 1) * sr / fps).astype(np.int64),
                        x.shape[0])
    sums = np.zeros(n_frames, np.float64)
    for a, y in speech_band_blocks(x, sr):
        frame = np.searchsorted(bounds, np.arange(a, a + y.shape[0]), side="right") - 1
        inside = frame < n_frames
        sums += np.bincount(frame[inside], weights=(y * y)[inside], minlength=n_frames)
    counts = np.diff(bounds)
    power = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    level = 10.0 * np.log10(np.maximum(power, 10.0 ** (_ENERGY_FLOOR_DB / 10.0)))
    return level.astype(np.float32)


def voice_activity(audio: Audio, fps: float = 25.0, *,
                   threshold_db: float | None = None) -> NDArray[np.bool_]:
    """A simple voice-activity mask per video frame ``(T,) bool`` from :func:`frame_energy`.

    A frame is active when its speech-band level is above ``threshold_db`` (dBFS). By
    default the threshold adapts to the audio: 35 dB below its loud frames (99th
    percentile), and at least 6 dB above its quiet ones (5th percentile), never below
    -60 dBFS. Not a speech detector: loud noise in the band counts as activity.
    """
    level = frame_energy(audio, fps)
    if not level.size:
        return np.zeros(0, bool)
    threshold: float | np.floating[Any]  # a float32 scalar when adapted to the audio
    if threshold_db is None:
        loud, quiet = np.percentile(level, 99), np.percentile(level, 5)
        threshold = cast("float | np.floating[Any]",
                         max(loud - 35.0, min(quiet + 6.0, loud - 6.0), -60.0))
    else:
        threshold = threshold_db
    return level > threshold


class AudioEncoder(Protocol):
    """A speech encoder taking Whisper input features, such as a local Whisper encoder.

    Called with one 30 s window ``(n_mels, 3000) float32`` as
    :class:`~transformers.WhisperFeatureExtractor` makes it; returns ``(K, D)`` embeddings
    evenly spaced over those 30 s, row ``k`` centred at ``k * 30 / K`` s (Whisper's encoder:
    ``K = 1500``, 50 per second, row ``k`` centred on mel frame ``2k``).
    """

    def __call__(self, features: NDArray[np.float32], /) -> NDArray[np.floating]: ...


def encoder_frames(audio: Audio, encoder: AudioEncoder, *, fps: float = 25.0,
                   n_mels: int = 80) -> NDArray[np.float32]:
    """Embeddings per video frame ``(T, D) float32`` from a user-supplied ``encoder``.

    The audio is cut into 30 s windows, each turned into Whisper input features by
    :class:`~transformers.WhisperFeatureExtractor` exactly as Whisper expects (padded to
    30 s, normalised per window) and passed to ``encoder``; the outputs for the real audio
    are joined and averaged onto video frames. For example, with weights already on disk
    (nothing is downloaded; needs PyTorch)::

        model = WhisperModel.from_pretrained(path, local_files_only=True).encoder
        encoder = lambda f: model(torch.from_numpy(f)[None]).last_hidden_state[0].numpy()
    """
    _check_fps(fps)
    audio = resample(audio, DEFAULT_SAMPLE_RATE)
    extractor = _extractor(n_mels)
    window = extractor.n_samples
    n = audio.num_samples
    n_frames = frame_count(audio.duration, fps)
    pieces: list[NDArray[np.float32]] = []
    rate: float | None = None
    for a in range(0, max(n, 1), window):
        chunk = audio.samples[a:a + window]
        features = extractor(chunk, sampling_rate=DEFAULT_SAMPLE_RATE,
                             return_tensors="np").input_features[0].astype(np.float32)
        out = np.asarray(encoder(features), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] < 1:
            raise GenerationError(
                f"encoder must return (K, D) embeddings, got shape {tuple(out.shape)}"
            )
        rate = out.shape[0] / extractor.chunk_length
        keep = max(1, math.ceil(chunk.shape[0] / DEFAULT_SAMPLE_RATE * rate))
        pieces.append(out[:keep])
    if not pieces or rate is None:
        raise GenerationError("audio is empty; nothing to encode")
    if len({p.shape[1] for p in pieces}) != 1:
        raise GenerationError("encoder returned embeddings of varying width")
    embeddings = np.concatenate(pieces)
    return _to_video_frames(embeddings, rate, fps, n_frames)


# --- internals ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _extractor(n_mels: int) -> WhisperFeatureExtractor:
    from transformers import WhisperFeatureExtractor

    # Built from its parameters: no weights, no hub access.
    return WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=DEFAULT_SAMPLE_RATE,
                                   hop_length=HOP_LENGTH, n_fft=N_FFT)


def _check_fps(fps: float) -> None:
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise GenerationError(f"fps must be a positive number, got {fps!r}")


def _to_video_frames(features: NDArray[np.floating], rate: float, fps: float,
                     n_frames: int) -> NDArray[np.float32]:
    """Average rows sampled at ``rate`` Hz over each video frame's interval.

    Row ``i`` is centred at ``i / rate`` s and holds for ``[i - 0.5, i + 0.5) / rate``.
    Intervals past the last row use the last row.
    """
    count, width = features.shape
    if not n_frames:
        return np.zeros((0, width), np.float32)
    if not count:
        raise GenerationError("no feature frames to resample")
    offset = 0.5
    cumulative = np.zeros((count + 1, width), np.float64)
    np.cumsum(features, axis=0, dtype=np.float64, out=cumulative[1:])

    def integral(x: NDArray[np.float64]) -> NDArray[np.float64]:
        """∫ of the piecewise-constant rows from the first row's start to ``x`` (rows)."""
        x = np.clip(x + offset, 0.0, float(count))
        k = np.minimum(np.floor(x).astype(np.int64), count - 1)
        return cumulative[k] + (x - k)[:, None] * features[k]

    edges = np.arange(n_frames + 1, dtype=np.float64) * (rate / fps)
    lo, hi = integral(edges[:-1]), integral(edges[1:])
    span = (np.clip(edges[1:] + offset, 0, count) - np.clip(edges[:-1] + offset, 0, count))
    out = np.empty((n_frames, width), np.float32)
    has = span > 1e-9
    out[has] = ((hi[has] - lo[has]) / span[has, None]).astype(np.float32)
    out[~has] = features[-1]
    return out
