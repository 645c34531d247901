"""Decoding audio with PyAV: formats, resampling, and every refusal with its message."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fixtures.synthetic_media import make_video
from tests.fresh_python import fresh_python_json

from trustavatar.errors import AudioInputError, InputError
from trustavatar.generator.audio import Audio, Speech, frame_energy, load_audio, resample


def _envelope_correlation(a: Audio, b: Audio) -> float:
    """Correlation of the 25 fps speech-band amplitude envelopes over the shorter length."""
    ea, eb = 10 ** (frame_energy(a) / 20), 10 ** (frame_energy(b) / 20)
    n = min(len(ea), len(eb))
    return float(np.corrcoef(ea[:n], eb[:n])[0, 1])


@pytest.mark.parametrize("kind", ["wav", "m4a", "mp4", "flac", "mp3"])
def test_decodes_common_formats(kind: str, speech: Speech, encoded: dict[str, Path]) -> None:
    if kind not in encoded:
        pytest.skip("this PyAV build has no MP3 encoder (libmp3lame), so no MP3 fixture")
    audio = load_audio(encoded[kind])
    assert audio.sample_rate == 16000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert float(np.abs(audio.samples).max()) <= 1.0
    # Codec delay and padding (AAC: 1024 samples) add a little; nothing is lost.
    assert audio.duration == pytest.approx(speech.audio.duration, abs=0.1)
    assert audio.rms_dbfs == pytest.approx(speech.audio.rms_dbfs, abs=1.0)
    assert _envelope_correlation(audio, speech.audio) > 0.9


def test_wav_round_trip_is_exact_to_16_bits(speech: Speech, tmp_path: Path) -> None:
    path = speech.audio.write_wav(tmp_path / "out.wav")
    back = load_audio(path)
    assert back.num_samples == speech.audio.num_samples
    assert np.max(np.abs(back.samples - speech.audio.samples)) <= 1.5 / 32767


def test_other_sample_rate(encoded: dict[str, Path]) -> None:
    audio = load_audio(encoded["wav"], sample_rate=22050)
    assert audio.sample_rate == 22050
    assert audio.duration == pytest.approx(load_audio(encoded["wav"]).duration, abs=0.01)


def test_video_without_audio(tmp_path: Path) -> None:
    video = make_video(tmp_path / "silent_film.mp4", seconds=0.5, audio=False)
    with pytest.raises(AudioInputError, match="has no audio track"):
        load_audio(video)


def test_silent_audio(tmp_path: Path) -> None:
    path = Audio(np.zeros(16000, np.float32), 16000).write_wav(tmp_path / "zeros.wav")
    with pytest.raises(AudioInputError, match=r"is silent \(RMS -inf dBFS"):
        load_audio(path)
    hiss = np.random.default_rng(1).normal(0, 10 ** (-75 / 20), 16000)
    quiet = Audio.from_array(hiss, 16000).write_wav(tmp_path / "hiss.wav")
    with pytest.raises(AudioInputError, match="is silent"):
        load_audio(quiet)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.m4a"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioInputError, match="is not a media file") as info:
        load_audio(path)
    assert "\n" not in str(info.value)


def test_truncated_m4a_is_refused(encoded: dict[str, Path], tmp_path: Path) -> None:
    # MP4/M4A keep their index (moov) at the end: half a file cannot be opened.
    data = encoded["m4a"].read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioInputError, match="not a media file FFmpeg can read, or is damaged"):
        load_audio(cut)


def test_truncated_wav_gives_what_is_there(encoded: dict[str, Path], tmp_path: Path) -> None:
    # A stream cut short decodes up to the cut, as players play it (documented behaviour).
    data = encoded["wav"].read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    full, half = load_audio(encoded["wav"]), load_audio(cut)
    assert half.duration == pytest.approx(full.duration / 2, abs=0.01)
    np.testing.assert_array_equal(half.samples, full.samples[: half.num_samples])


def test_empty_wav_decodes_to_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(AudioInputError, match="decodes to no samples"):
        load_audio(path)


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        load_audio(tmp_path / "absent.wav")
    with pytest.raises(AudioInputError, match="not a regular file"):
        load_audio(tmp_path)


def test_too_long(speech: Speech, encoded: dict[str, Path]) -> None:
    # The declared length (from the header) is checked before decoding...
    with pytest.raises(AudioInputError, match=r"is 2\.\d s long; at most 1 s is accepted"):
        load_audio(encoded["wav"], max_seconds=1.0)
    # ...and the decoded length while decoding (headers may be missing or wrong).
    limit = speech.audio.duration - 0.5
    with pytest.raises(AudioInputError, match=rf"longer than {limit:g} s"):
        load_audio(encoded["m4a"], max_seconds=limit)
    assert load_audio(encoded["wav"], max_seconds=speech.audio.duration + 0.5).num_samples


def test_errors_are_input_errors() -> None:
    # The CLI maps InputError to its usage exit code.
    assert issubclass(AudioInputError, InputError)


def test_audio_checks_its_samples() -> None:
    with pytest.raises(AudioInputError, match=r"must be \(N,\) mono, got shape \(2, 3\)"):
        Audio(np.zeros((2, 3), np.float32), 16000)
    with pytest.raises(AudioInputError, match="must be float32, got float64"):
        Audio(np.zeros(3), 16000)
    with pytest.raises(AudioInputError, match=r"in \[-1, 1\], got peak 2.000"):
        Audio(np.array([0.0, 2.0], np.float32), 16000)
    with pytest.raises(AudioInputError, match="finite"):
        Audio(np.array([np.nan], np.float32), 16000)
    with pytest.raises(AudioInputError, match="positive integer"):
        Audio(np.zeros(3, np.float32), 0)
    audio = Audio.from_array([0.5, -3.0], 8000)
    assert audio.samples.tolist() == [0.5, -1.0]
    assert not audio.samples.flags.writeable
    assert audio.duration == 2 / 8000


def test_resample_keeps_a_tone(tone: Callable[..., Audio]) -> None:
    a = tone(440.0, 1.0)
    b = resample(a, 22050)
    assert b.sample_rate == 22050 and b.num_samples == 22050
    back = resample(b, 16000)
    # Away from the edges the tone survives the round trip.
    err = np.abs(back.samples[800:-800] - a.samples[800:-800]).max()
    assert err < 0.01
    assert resample(a, 16000).samples is not None


def test_resampling_keeps_time_and_length_and_needs_no_scipy_signal() -> None:
    # a click stays where it was (no filter delay), lengths are ceil(n * new / old), long
    # audio goes through in chunks, and a few samples still give a sample
    x = np.zeros(4 * 22050, np.float32)
    x[[1000, 70000]] = 0.9  # the second one beyond the first chunk
    y = resample(Audio(x, 22050), 16000).samples
    assert y.shape == (64000,)
    for at in (1000, 70000):
        t = at * 16000 / 22050
        window = np.arange(int(t) - 20, int(t) + 21)
        assert abs(window[np.argmax(y[window])] - t) <= 0.5
    assert resample(Audio(np.full(1, 0.5, np.float32), 22050), 16000).num_samples == 1
    assert resample(Audio(np.zeros(5, np.float32), 8000), 44100).num_samples == 28
    loaded = fresh_python_json(
        "from trustavatar.generator.audio import Audio, resample\n"
        "import numpy as np\n"
        "resample(Audio(np.zeros(22050, np.float32), 22050), 16000)\n"
        "print(json.dumps('scipy.signal' in sys.modules))")
    assert loaded is False


@pytest.mark.parametrize(("rate", "channels", "says"), [
    (1, 1, r"sample rate of 1 Hz; speech needs 4000-384000 Hz"),
    (16000, 65, r"65 channels; at most 64"),
])
def test_source_formats_speech_cannot_come_in_are_named(tmp_path: Path, rate: int,
                                                        channels: int, says: str) -> None:
    path = tmp_path / "odd.wav"
    noise = np.random.default_rng(0).normal(0, 3000, (max(rate, 10) * 2, channels))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(noise.astype("<i2").tobytes())
    with pytest.raises(AudioInputError, match=says):
        load_audio(path)


def _stereo(path: Path, left: np.ndarray, right: np.ndarray, rate: int, codec: str) -> Path:
    """Two channels encoded with PyAV (``codec``; timed, so that the MP4 muxer hides AAC's
    priming samples as in the fixtures)."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream(codec, rate=rate)
        a.layout = "stereo"
        resampler = av.AudioResampler(format=a.format.name, layout="stereo", rate=rate,
                                      frame_size=a.frame_size or None)
        frame = av.AudioFrame.from_ndarray(np.stack([left, right]).astype(np.float32),
                                           format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts, frame.time_base = 0, Fraction(1, rate)
        for f in resampler.resample(frame) + resampler.resample(None):
            out.mux(a.encode(f))
        out.mux(a.encode())
    return path


@pytest.mark.parametrize(("codec", "suffix"), [("pcm_s16le", "wav"), ("aac", "m4a")])
def test_stereo_with_one_channel_inverted_is_heard(speech: Speech, tmp_path: Path,
                                                    codec: str, suffix: str) -> None:
    """Mixed down, L = -R cancels to silence (PCM) or to a codec's residue (AAC's
    mid/side coding leaves ~ -47 dBFS): the speech is taken from one channel instead."""
    x = speech.audio.samples * 0.8
    path = _stereo(tmp_path / f"inverted.{suffix}", x, -x, speech.audio.sample_rate, codec)
    audio = load_audio(path)
    assert audio.rms_dbfs == pytest.approx(Audio.from_array(x, 16000).rms_dbfs, abs=1.0)
    assert _envelope_correlation(audio, speech.audio) > 0.9
    # an ordinary stereo file keeps FFmpeg's mixdown (both channels, +3 dB)
    same = load_audio(_stereo(tmp_path / f"same.{suffix}", x, x, speech.audio.sample_rate,
                              codec))
    assert same.rms_dbfs == pytest.approx(audio.rms_dbfs + 3.0, abs=1.0)
    # and silence in both channels is still silence
    quiet = np.zeros_like(x)
    with pytest.raises(AudioInputError, match="is silent"):
        load_audio(_stereo(tmp_path / f"silent.{suffix}", quiet, quiet,
                           speech.audio.sample_rate, codec))
