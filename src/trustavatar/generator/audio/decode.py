"""Decoding audio: any container PyAV (FFmpeg) reads → mono float32 at one sample rate.

WAV, MP3, M4A/AAC, FLAC, Opus, and the audio track of a video (MP4, MOV, MKV, WebM) all go
through the same path: the first audio stream is decoded packet by packet and each frame is
resampled to mono ``flt`` with :class:`av.AudioResampler` as it arrives, so a file is read
once and a file that is too long is refused as soon as the limit is passed.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "MAX_SECONDS",
    "SILENCE_DBFS",
    "Audio",
    "load_audio",
    "resample",
]

import dataclasses
import math
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import av
import av.error
import numpy as np
from numpy.typing import ArrayLike, NDArray

from trustavatar._atomic import atomic_output
from trustavatar._files import ffmpeg_path
from trustavatar.errors import AudioInputError

#: Sample rate of everything the generator's audio front end works on (Hz).
DEFAULT_SAMPLE_RATE: Final = 16000
#: Longest audio :func:`load_audio` accepts by default (seconds).
MAX_SECONDS: Final = 600.0
#: Audio whose RMS level is below this (dBFS) is refused as silent.
SILENCE_DBFS: Final = -60.0


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono audio: ``samples`` ``(N,) float32`` in ``[-1, 1]`` at ``sample_rate`` Hz.

    The samples array is read-only. Construction checks the shape, dtype and range and
    raises :class:`~trustavatar.errors.AudioInputError` naming what is wrong.
    """

    samples: NDArray[np.float32]
    sample_rate: int
    #: decoded from this channel of the file alone (its channels cancelled in the mix:
    #: one was the other inverted); None: the file's mix
    source_channel: int | None = None

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim != 1:
            raise AudioInputError(
                f"audio samples must be (N,) mono, got shape {tuple(samples.shape)}"
            )
        if samples.dtype != np.float32:
            raise AudioInputError(f"audio samples must be float32, got {samples.dtype}")
        if not isinstance(self.sample_rate, int | np.integer) or self.sample_rate <= 0:
            raise AudioInputError(
                f"sample rate must be a positive integer, got {self.sample_rate!r}"
            )
        if samples.size:
            if not np.isfinite(samples).all():
                raise AudioInputError("audio samples must be finite (found NaN or infinity)")
            peak = float(np.abs(samples).max())
            if peak > 1.0:
                raise AudioInputError(f"audio samples must lie in [-1, 1], got peak {peak:.3f}")
        view = np.ascontiguousarray(samples).view()
        view.flags.writeable = False
        object.__setattr__(self, "samples", view)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @classmethod
    def from_array(cls, samples: ArrayLike, sample_rate: int) -> Audio:
        """Mono audio from any real array, converted to float32 and clipped to ``[-1, 1]``."""
        array = np.asarray(samples, dtype=np.float32)
        if array.ndim == 1 and np.isfinite(array).all():
            array = np.clip(array, -1.0, 1.0)
        return cls(array, sample_rate)

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    @property
    def rms(self) -> float:
        """Root-mean-square sample value (0.0 for empty audio)."""
        n = self.num_samples
        if not n:
            return 0.0
        # Summed in float64 blocks: no full-length float64 copy of long audio.
        step = 1 << 20
        total = sum(float(np.dot(block, block))
                    for block in (self.samples[a:a + step].astype(np.float64)
                                  for a in range(0, n, step)))
        return math.sqrt(total / n)

    @property
    def rms_dbfs(self) -> float:
        """RMS level in dB relative to full scale (``-inf`` for empty or all-zero audio).

        Plain ``20·log10(rms)``: a full-scale sine reads -3 dB.
        """
        rms = self.rms
        return 20.0 * math.log10(rms) if rms > 0.0 else -math.inf

    def segment(self, start: float, end: float) -> Audio:
        """The part between ``start`` and ``end`` seconds (clamped to the audio)."""
        a = max(0, min(self.num_samples, round(start * self.sample_rate)))
        b = max(a, min(self.num_samples, round(end * self.sample_rate)))
        return Audio(self.samples[a:b], self.sample_rate)

    def to_pcm16(self) -> NDArray[np.int16]:
        """The samples as little-endian 16-bit PCM ``(N,) int16``."""
        return np.round(self.samples * 32767.0).astype("<i2")

    def write_wav(self, path: str | os.PathLike[str]) -> Path:
        """Write a 16-bit mono PCM WAV file (atomically) and return its path."""
        path = Path(path)
        with atomic_output(path) as tmp, wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.to_pcm16().tobytes())
        return path


#: Samples handed to the resampler at a time (memory stays small for long audio).
_RESAMPLE_CHUNK: Final = 1 << 16


def resample(audio: Audio, sample_rate: int) -> Audio:
    """``audio`` at ``sample_rate`` Hz (a no-op when the rate matches).

    FFmpeg's resampler (libswresample, through :class:`av.AudioResampler`), the one
    :func:`load_audio` uses: windowed-sinc, no delay (the output is aligned with the input
    sample for sample) and ``ceil(n * sample_rate / audio.sample_rate)`` samples long.
    (``scipy.signal.resample_poly``, used before, differs by about -40 dB, nearly all of it
    above 7 kHz, and importing ``scipy.signal`` took 0.5-0.7 s of every command that
    speaks a script.)
    """
    if sample_rate <= 0:
        raise AudioInputError(f"sample rate must be positive, got {sample_rate}")
    if sample_rate == audio.sample_rate or not audio.num_samples:
        return Audio(audio.samples, sample_rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[NDArray[np.float32]] = []
    samples = audio.samples
    for at in range(0, samples.shape[0], _RESAMPLE_CHUNK):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[at:at + _RESAMPLE_CHUNK])[None, :], format="flt",
            layout="mono")
        frame.sample_rate = audio.sample_rate
        chunks.extend(_mono(f) for f in resampler.resample(frame))
    chunks.extend(_mono(f) for f in resampler.resample(None))
    out = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    # the resampler rounds the length its own way, and gives nothing for a few samples
    want = max(1, math.ceil(samples.shape[0] * sample_rate / audio.sample_rate))
    out = np.pad(out[:want], (0, max(0, want - out.shape[0])))
    return Audio.from_array(out, sample_rate)


def _mono(frame: av.AudioFrame) -> NDArray[np.float32]:
    return np.asarray(frame.to_ndarray(), np.float32).reshape(-1)


def load_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    max_seconds: float = MAX_SECONDS,
) -> Audio:
    """Decode the first audio stream of ``path`` to mono float32 at ``sample_rate`` Hz.

    Any container and codec FFmpeg reads is accepted (WAV, MP3, M4A, FLAC, Opus, the audio
    track of an MP4/MOV/MKV video). Channels are mixed down by FFmpeg; when that leaves
    next to nothing of two channels that are loud (one is the other inverted, a recording
    mistake that cancels in the mix), the louder channel is used alone. Samples are clipped
    to ``[-1, 1]``. A file whose decoder stops early (a truncated file) gives the audio
    decoded up to that point, as players do.

    Raises :class:`~trustavatar.errors.AudioInputError` with a one-line message when the
    file is missing or unreadable, is not a media file, has no audio track, decodes to
    nothing, is silent (RMS below :data:`SILENCE_DBFS`), or is longer than ``max_seconds``.
    """
    if sample_rate <= 0:
        raise AudioInputError(f"sample rate must be positive, got {sample_rate}")
    if not max_seconds > 0:
        raise AudioInputError(f"max_seconds must be positive, got {max_seconds}")
    p = Path(path)
    # 1. The file exists and is a readable regular file.
    if not p.exists():
        raise AudioInputError(f"cannot read audio {p}: no such file")
    if not p.is_file():
        raise AudioInputError(f"cannot read audio {p}: not a regular file")
    if not os.access(p, os.R_OK):
        raise AudioInputError(f"cannot read audio {p}: permission denied")
    # 2. FFmpeg recognises it as a media container.
    try:
        container = av.open(ffmpeg_path(p), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as e:
        reason = e.strerror or type(e).__name__
        raise AudioInputError(
            f"audio {p} is not a media file FFmpeg can read, or is damaged ({reason})"
        ) from e
    with container:
        # 3. It has an audio track.
        if not container.streams.audio:
            raise AudioInputError(f"{p} has no audio track")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # (PyAV then has no rate: an AttributeError)
            raise AudioInputError(f"audio {p} is in a codec FFmpeg cannot decode (unknown or "
                                  "not built in): convert it to WAV or AAC, for instance")
        rate, channels = stream.rate or 0, stream.channels or 0
        if rate and not _MIN_SOURCE_RATE <= rate <= _MAX_SOURCE_RATE:
            raise AudioInputError(
                f"audio {p} has a sample rate of {rate} Hz; speech needs "
                f"{_MIN_SOURCE_RATE}-{_MAX_SOURCE_RATE} Hz")
        if channels > _MAX_CHANNELS:
            raise AudioInputError(f"audio {p} has {channels} channels; at most "
                                  f"{_MAX_CHANNELS} are mixed down")
        # 4. Its declared length (when there is one) is within the limit.
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds + 1.0:
            raise AudioInputError(
                f"audio {p} is {declared:.1f} s long; at most {max_seconds:g} s is accepted"
            )
        # 5. Decode and resample frame by frame, stopping once past the limit.
        samples = _decode_stream(container, stream, p, sample_rate, max_seconds)
        try:
            audio = Audio.from_array(samples, sample_rate)
        except AudioInputError as e:  # (a float WAV holding NaN: say which file)
            raise AudioInputError(f"audio {p}: {e.message}") from e
        if audio.num_samples and audio.rms_dbfs < _CANCELLED_DBFS and channels >= 2:
            # 6a. Near silent once mixed down: is one channel the other inverted (a wiring
            # or editing mistake), so that the mix cancels the speech?
            audio = _louder_channel(container, stream, p, sample_rate, max_seconds, audio)
    # 6. There is sound in it.
    if not audio.num_samples:
        raise AudioInputError(f"audio {p} decodes to no samples")
    level = audio.rms_dbfs
    if level < SILENCE_DBFS:
        shown = "-inf" if level == -math.inf else f"{level:.1f}"
        raise AudioInputError(
            f"audio {p} is silent (RMS {shown} dBFS, below {SILENCE_DBFS:g} dBFS)"
        )
    return audio


#: Source formats taken: telephone speech (8 kHz) needs at least 4 kHz, studio audio goes
#: up to 384 kHz; FFmpeg's resampler mixes down at most 64 channels (7.1 is 8).
_MIN_SOURCE_RATE, _MAX_SOURCE_RATE, _MAX_CHANNELS = 4000, 384000, 64


def _declared_seconds(container: av.container.InputContainer,
                      stream: av.audio.stream.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


#: A mixdown this quiet (dBFS) is checked for cancelled channels …
_CANCELLED_DBFS: Final = -40.0
#: … which it is when a channel is this much (dB) louder than the mix.
_CANCELLED_BY_DB: Final = 20.0


def _louder_channel(container: av.container.InputContainer,
                    stream: av.audio.stream.AudioStream, path: Path, sample_rate: int,
                    max_seconds: float, mix: Audio) -> Audio:
    """The louder of the first two channels of ``stream``, decoded again, when it is
    :data:`_CANCELLED_BY_DB` louder than ``mix`` (the channels cancelled in the mix;
    lossy stereo coding leaves a residue, so the mix need not be silent); else ``mix``."""
    best = mix
    for channel in (0, 1):
        try:
            container.seek(0, stream=stream)
        except av.error.FFmpegError:
            return mix
        one = dataclasses.replace(Audio.from_array(
            _decode_stream(container, stream, path, sample_rate, max_seconds, channel=channel),
            sample_rate), source_channel=channel)
        if one.rms > best.rms:
            best = one
    return best if best.rms_dbfs >= mix.rms_dbfs + _CANCELLED_BY_DB else mix


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    path: Path,
    sample_rate: int,
    max_seconds: float,
    *,
    channel: int | None = None,
) -> NDArray[np.float32]:
    """The stream mixed down to mono, or only its ``channel`` (counted from 0)."""
    limit = math.floor(max_seconds * sample_rate)
    chunks: list[NDArray[np.float32]] = []
    total = 0
    resampler: av.AudioResampler | None = None
    source_format: tuple[str, str, int] | None = None

    def take(frames: list[av.AudioFrame]) -> None:
        nonlocal total
        for out in frames:
            if channel is None:
                chunk = _mono(out)
            else:  # (a stream may turn mono part-way)
                rows = out.to_ndarray()
                chunk = np.asarray(rows[min(channel, rows.shape[0] - 1)], np.float32)
            chunks.append(chunk)
            total += chunk.shape[0]
        if total > limit:
            raise AudioInputError(
                f"audio {path} is longer than {max_seconds:g} s; at most {max_seconds:g} s "
                "is accepted"
            )

    try:
        for frame in container.decode(stream):
            fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
            if resampler is None or fmt != source_format:
                # A stream may change layout or rate mid-way: flush and start a new resampler.
                if resampler is not None:
                    take(resampler.resample(None))
                resampler = av.AudioResampler(
                    format="flt" if channel is None else "fltp",
                    layout="mono" if channel is None else frame.layout.name, rate=sample_rate)
                source_format = fmt
            take(resampler.resample(frame))
        if resampler is not None:
            take(resampler.resample(None))
    except AudioInputError:
        raise
    except av.error.FFmpegError as e:
        if not chunks:
            layout = getattr(stream.layout, "name", "?")
            raise AudioInputError(
                f"audio {path} cannot be decoded: {e.strerror or e} (FFmpeg, for its "
                f"{stream.channels} channel(s), layout {layout}, at {stream.rate} Hz: a mono "
                "or stereo file is the safe choice)") from e
        # Damage after some audio decoded: keep what was decoded (as players do).
    except (ValueError, RuntimeError) as e:
        raise AudioInputError(f"audio {path} cannot be decoded: {e}") from e
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks)
