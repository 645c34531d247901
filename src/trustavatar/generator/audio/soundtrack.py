"""The output's sound: what the viewer hears, at the quality it was given.

The analysis works on 16 kHz mono (:class:`~.decode.Audio`); the output's AAC track was
encoded from that too, so a 48 kHz stereo studio track came out with nothing above 8 kHz, in
mono. A :class:`FileSoundTrack` decodes the recorded file again while the video is encoded,
chunk by chunk (memory flat in its length), at its own rate (at most 48 kHz, the nearest
AAC rate at or above it) and in mono or stereo as it was (more channels are mixed down to
stereo). Both tracks are decoded the same way (every decoded frame in order, through
FFmpeg's resampler), so they start together and last as long.

A spoken script (espeak-ng) is delivered as the analysis has it (:class:`MemorySoundTrack`).
"""

from __future__ import annotations

__all__ = ["AAC_RATES", "FileSoundTrack", "MemorySoundTrack", "SoundTrack", "delivery_rate"]

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Final, Protocol

import av
import numpy as np
from numpy.typing import NDArray

from trustavatar._files import ffmpeg_path
from trustavatar.errors import AudioInputError
from trustavatar.generator.audio.decode import Audio

#: The sample rates AAC has (ISO/IEC 14496-3), up to the 48 kHz delivered.
AAC_RATES: Final = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class SoundTrack(Protocol):
    """Sound for :class:`~trustavatar.generator.encode.VideoWriter`."""

    sample_rate: int
    layout: str  #: "mono" or "stereo"

    def read(self, n: int) -> NDArray[np.float32]:
        """Up to ``n`` more samples, ``(channels, m)`` float32; ``m == 0`` at the end."""
        ...

    def close(self) -> None: ...


def delivery_rate(source_rate: int) -> int:
    """The AAC rate a source at ``source_rate`` Hz is delivered at: the lowest AAC rate at
    or above it, at most 48 kHz (nothing is made up by upsampling between AAC rates)."""
    return next((r for r in AAC_RATES if r >= source_rate), AAC_RATES[-1])


class MemorySoundTrack:
    """Mono samples already in memory (a spoken script)."""

    layout = "mono"

    def __init__(self, audio: Audio) -> None:
        self.sample_rate = audio.sample_rate
        self._samples = audio.samples
        self._pos = 0

    def read(self, n: int) -> NDArray[np.float32]:
        chunk = self._samples[self._pos:self._pos + n]
        self._pos += len(chunk)
        return np.asarray(chunk, np.float32)[None, :]

    def close(self) -> None:
        pass


class FileSoundTrack:
    """The first audio stream of ``path``, decoded as it is read (see the module); only its
    ``channel``, as mono, where the analysis took that one (:attr:`~.decode.Audio.
    source_channel`: the mix cancelled, and would be silent on a mono speaker). Errors
    are :class:`~trustavatar.errors.AudioInputError` (the file changed since it was
    checked); damage after some sound ends the track there, as :func:`~.load_audio` does."""

    def __init__(self, path: str | os.PathLike[str], *, channel: int | None = None) -> None:
        self._path = Path(path)
        self._channel = channel
        try:
            self._container = av.open(ffmpeg_path(self._path), mode="r",
                                      metadata_errors="ignore")
        except av.error.FFmpegError as e:
            raise AudioInputError(f"audio {self._path} cannot be read again: "
                                  f"{e.strerror or e}") from e
        audio = self._container.streams.audio
        if not audio or audio[0].codec_context is None:
            self._container.close()
            raise AudioInputError(f"audio {self._path} changed since it was read: its sound "
                                  "is gone")
        self._stream = audio[0]
        self.sample_rate = delivery_rate(self._stream.rate or 48000)
        self.layout = ("mono" if channel is not None or (self._stream.channels or 1) == 1
                       else "stereo")
        self._chunks = self._decoded()
        self._buffer = np.zeros((1 if self.layout == "mono" else 2, 0), np.float32)

    def _decoded(self) -> Generator[NDArray[np.float32], None, None]:
        resampler: av.AudioResampler | None = None
        source: tuple[str, str, int] | None = None
        try:
            for frame in self._container.decode(self._stream):
                fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
                if resampler is None or fmt != source:  # a stream may change mid-way
                    if resampler is not None:
                        yield from self._arrays(resampler.resample(None))
                    resampler = av.AudioResampler(
                        format="fltp", rate=self.sample_rate,
                        layout=self.layout if self._channel is None else frame.layout.name)
                    source = fmt
                yield from self._arrays(resampler.resample(frame))
            if resampler is not None:
                yield from self._arrays(resampler.resample(None))
        except av.error.FFmpegError:
            return  # damage after the part that decoded: the track ends there
        except (ValueError, RuntimeError) as e:
            raise AudioInputError(f"audio {self._path} cannot be decoded: {e}") from e

    def _arrays(self, frames: list[av.AudioFrame]) -> Iterator[NDArray[np.float32]]:
        for out in frames:
            rows = np.asarray(out.to_ndarray(), np.float32)
            if self._channel is not None:  # (a stream may turn mono part-way)
                rows = rows[min(self._channel, rows.shape[0] - 1)][None, :]
            yield np.clip(rows, -1.0, 1.0)

    def read(self, n: int) -> NDArray[np.float32]:
        while self._buffer.shape[1] < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer = np.concatenate([self._buffer, chunk], axis=1)
        out, self._buffer = self._buffer[:, :n], self._buffer[:, n:]
        return out

    def close(self) -> None:
        self._chunks.close()
        self._container.close()
