"""Audio front-end fixtures: speech made by espeak-ng, encoded to common formats by PyAV.

Nothing is downloaded and nothing is mocked: the speech is real TTS output, the files are
real encodings of it.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from trustavatar.generator.audio import Audio, PhonemeEvent, Speech, phoneme_class, synthesize

SENTENCE = "The quick brown fox jumps over the lazy dog."
#: Longer English speech for phoneme-decoding agreement (phonetically varied).
PASSAGE = (
    "Please call Stella. Ask her to bring these things with her from the store: six spoons "
    "of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother "
    "Bob."
)


def _encode(path: Path, audio: Audio, codec: str, *, rate: int, layout: str = "mono",
           video: bool = False) -> Path:
    """Encode ``audio`` with PyAV (``codec`` at ``rate`` Hz), optionally beside an H.264 track."""
    with av.open(str(path), "w") as out:
        v = None
        if video:
            v = out.add_stream("libx264", rate=25)
            v.width = v.height = 64
            v.pix_fmt = "yuv420p"
            v.options = {"preset": "ultrafast"}
        a = out.add_stream(codec, rate=rate)
        a.layout = layout
        resampler = av.AudioResampler(format=a.format.name, layout=layout, rate=rate,
                                      frame_size=a.frame_size or None)
        frame = av.AudioFrame.from_ndarray(audio.samples[None, :], format="flt", layout="mono")
        frame.sample_rate = audio.sample_rate
        # Timestamps let the encoder mark its priming samples (AAC: 1024), which the MP4
        # muxer then hides with an edit list, as real encoders do.
        frame.pts, frame.time_base = 0, Fraction(1, audio.sample_rate)
        frames = resampler.resample(frame) + resampler.resample(None)
        if v is not None:
            for i in range(int(np.ceil(audio.duration * 25))):
                image = np.full((64, 64, 3), (i * 9) % 256, np.uint8)
                out.mux(v.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            out.mux(v.encode())
        for f in frames:
            out.mux(a.encode(f))
        out.mux(a.encode())
    return path


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except av.error.FFmpegError:
        return False
    except ValueError:
        return False
    return True


def _class_per_frame(events: tuple[PhonemeEvent, ...], n: int, rate: int = 100) -> np.ndarray:
    """Silence/vowel/consonant per ``1 / rate`` s frame (frames outside events: silence)."""
    out = np.full(n, "silence", dtype=object)
    for e in events:
        out[round(e.start * rate):round(e.end * rate)] = phoneme_class(e).value
    return out


@pytest.fixture(scope="session")
def speech() -> Speech:
    return synthesize(SENTENCE, language="en-us")


@pytest.fixture(scope="session")
def passage() -> Speech:
    return synthesize(PASSAGE, language="en-us")


@pytest.fixture(scope="session")
def encoded(speech: Speech, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sentence as WAV (16 kHz), M4A (AAC 48 kHz), MP4 (H.264 + AAC), FLAC (22.05 kHz),
    and MP3 (44.1 kHz stereo) when this PyAV build has an MP3 encoder."""
    d = tmp_path_factory.mktemp("encoded")
    files = {
        "wav": _encode(d / "speech.wav", speech.audio, "pcm_s16le", rate=16000),
        "m4a": _encode(d / "speech.m4a", speech.audio, "aac", rate=48000),
        "mp4": _encode(d / "speech.mp4", speech.audio, "aac", rate=16000, video=True),
        "flac": _encode(d / "speech.flac", speech.audio, "flac", rate=22050),
    }
    if _has_encoder("libmp3lame"):
        files["mp3"] = _encode(d / "speech.mp3", speech.audio, "libmp3lame", rate=44100,
                              layout="stereo")
    return files


@pytest.fixture
def tone() -> Callable[..., Audio]:
    """A sine ``tone(freq, seconds, amplitude=0.3, rate=16000)``."""

    def make(freq: float, seconds: float, amplitude: float = 0.3, rate: int = 16000) -> Audio:
        t = np.arange(round(seconds * rate)) / rate
        return Audio.from_array(amplitude * np.sin(2 * np.pi * freq * t), rate)

    return make


@pytest.fixture(scope="session")
def encode() -> Callable[..., Path]:
    """``encode(path, audio, codec, *, rate, layout="mono", video=False) -> path``."""
    return _encode


@pytest.fixture(scope="session")
def has_encoder() -> Callable[[str], bool]:
    return _has_encoder


@pytest.fixture(scope="session")
def class_per_frame() -> Callable[..., np.ndarray]:
    """``class_per_frame(events, n)``: silence/vowel/consonant per 10 ms frame."""
    return _class_per_frame
