"""Recorded consent on clips timed the way phones and browsers time them: the checks go by
each frame's presentation time and by where the audio starts, not by frame numbers.

Each clip is the rendered ``good`` clip (``fixtures/consent_clips.py``) re-encoded here:
frames dropped with their timestamps kept (a phone in low light), the audio track starting
after the video (in sync when played), and a live WebM as a browser's MediaRecorder writes
it (VP9 and Opus, no duration, no frame count). Each plays in sync, so each must pass with
the figures of the constant-rate clip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fixtures.consent_clips import BLINK_TIMES, FPS
from tests.consent.conftest import Org

from trustavatar import consent
from trustavatar.consent.liveness import MOUTH_SYNC_MIN, analyse_liveness
from trustavatar.consent.record import IDENTITY_FRAMES
from trustavatar.errors import InputError
from trustavatar.generator.audio import load_audio
from trustavatar.registry import Registry
from trustavatar.video_io import probe

pytestmark = pytest.mark.slow

#: Video timestamps in milliseconds (every container here takes them).
_MS = Fraction(1, 1000)


@pytest.fixture(scope="module")
def good(consent_clip: Callable[[str], Path]) -> tuple[Path, list[np.ndarray], Any]:
    """The good clip, its frames and its audio (16 kHz mono)."""
    path = consent_clip("good")
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return path, frames, load_audio(path)


def _write(out: Path, frames: Sequence[np.ndarray], times_ms: Sequence[int], audio: Any, *,
           audio_start_ms: int = 0, live_webm: bool = False) -> Path:
    """Encode ``frames`` shown at ``times_ms`` and ``audio`` starting at ``audio_start_ms``:
    H.264 and AAC in MP4, or (``live_webm``) VP9 and Opus in a live WebM."""
    h, w = frames[0].shape[:2]
    options = {"live": "1"} if live_webm else {}
    with av.open(str(out), "w", format="webm" if live_webm else "mp4", options=options) as c:
        video = c.add_stream("libvpx-vp9" if live_webm else "libx264", rate=round(FPS))
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.codec_context.time_base = _MS
        video.options = ({"deadline": "realtime", "cpu-used": "8"} if live_webm
                         else {"bf": "0", "crf": "20"})
        rate = 48000 if live_webm else audio.sample_rate
        sound = c.add_stream("libopus" if live_webm else "aac", rate=rate)
        sound.layout = "mono"
        for frame, t in zip(frames, times_ms, strict=True):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = t, _MS
            c.mux(video.encode(vf))
        c.mux(video.encode(None))
        resampler = av.AudioResampler(format=sound.codec_context.codec.audio_formats[0].name,
                                      layout="mono", rate=rate,
                                      frame_size=sound.codec_context.frame_size or 1024)
        samples = np.ascontiguousarray(audio.samples[None, :], np.float32)
        af = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        af.sample_rate = audio.sample_rate
        af.pts, af.time_base = audio_start_ms * audio.sample_rate // 1000, Fraction(
            1, audio.sample_rate)
        for chunk in [*resampler.resample(af), *resampler.resample(None)]:
            c.mux(sound.encode(chunk))
        c.mux(sound.encode(None))
    return out


def _record(org: Org, registry: Registry, challenge: consent.Challenge, clip: Path,
            faces: dict[str, Path]) -> consent.RecordedConsent:
    return consent.record_clip(
        org.key, registry, challenge_id=challenge.challenge_id, clip=clip,
        portrait=faces["portrait"], at=challenge.created_at + dt.timedelta(minutes=1))


def test_a_clip_whose_frame_rate_halves_part_way_passes_with_its_blinks_in_time(
        org: Org, registry: Registry, challenge: consent.Challenge, faces: dict[str, Path],
        good: tuple[Path, list[np.ndarray], Any], tmp_path: Path) -> None:
    # the second half keeps every other frame, each at its own time (12.5 frames a second)
    _, frames, audio = good
    n = len(frames)
    keep = [*range(n // 2), *range(n // 2, n, 2)]
    clip = _write(tmp_path / "vfr.mp4", [frames[i] for i in keep],
                  [round(i * 1000 / FPS) for i in keep], audio)
    assert probe(clip).fps < 0.8 * FPS  # the average rate: no frame rate is right by index

    report = _record(org, registry, challenge, clip, faces).report
    live = report.liveness
    assert live.mouth_sync is not None and live.mouth_sync > 0.5 > MOUTH_SYNC_MIN
    assert abs(live.mouth_lag_s or 0.0) <= 0.05
    # blinks at the times they were rendered, also the one in the thinned half
    assert len(live.blinks) == len(BLINK_TIMES)
    assert live.blinks == pytest.approx(BLINK_TIMES, abs=0.1)
    assert report.duration == pytest.approx(n / FPS, abs=0.1)
    # the identity frames are spread over the clip by time
    times = [keep[i] / FPS for i in report.identity.frames]
    assert len(times) == IDENTITY_FRAMES
    assert times == pytest.approx([(k + 0.5) * n / FPS / IDENTITY_FRAMES
                                   for k in range(IDENTITY_FRAMES)], abs=0.15)


def test_an_audio_track_that_starts_after_the_video_is_compared_on_the_videos_clock(
        org: Org, registry: Registry, challenge: consent.Challenge, faces: dict[str, Path],
        good: tuple[Path, list[np.ndarray], Any], tmp_path: Path) -> None:
    # 12 frames (0.48 s) of the first picture, then the clip; the audio starts with the
    # clip: a player plays it in sync
    _, frames, audio = good
    lead = 12
    shown = [frames[0]] * lead + frames
    clip = _write(tmp_path / "late-audio.mp4", shown,
                  [round(i * 1000 / FPS) for i in range(len(shown))], audio,
                  audio_start_ms=round(lead * 1000 / FPS))
    with av.open(str(clip)) as c:
        a = c.streams.audio[0]
        assert a.start_time is not None and a.time_base is not None
        assert float(a.start_time * a.time_base) > 0.35  # AAC's priming starts it earlier

    report = _record(org, registry, challenge, clip, faces).report
    live = report.liveness
    assert live.mouth_sync is not None and live.mouth_sync > 0.5
    assert abs(live.mouth_lag_s or 0.0) <= 0.05


def test_a_live_webm_without_a_duration_has_its_identity_checked_over_the_clip(
        org: Org, registry: Registry, challenge: consent.Challenge, faces: dict[str, Path],
        good: tuple[Path, list[np.ndarray], Any], tmp_path: Path) -> None:
    _, frames, audio = good
    n = len(frames)
    clip = _write(tmp_path / "live.webm", frames, [round(i * 1000 / FPS) for i in range(n)],
                  audio, live_webm=True)
    import av

    with av.open(str(clip)) as c:  # what the container says: nothing
        assert not c.duration and not c.streams.video[0].duration
        assert not c.streams.video[0].frames

    result = _record(org, registry, challenge, clip, faces)
    identity = result.report.identity
    assert identity.failure is None
    assert len(identity.frames) == IDENTITY_FRAMES == result.artifact.evidence.clip.face_frames
    # one in each fifth of the clip
    assert [i * IDENTITY_FRAMES // n for i in identity.frames] == list(range(IDENTITY_FRAMES))
    assert result.report.duration == pytest.approx(n / FPS, abs=0.05)
    live = result.report.liveness
    assert live.mouth_sync is not None and live.mouth_sync > 0.5


def test_a_clip_with_two_video_streams_is_refused_without_using_an_attempt(
        org: Org, registry: Registry, challenge: consent.Challenge, faces: dict[str, Path],
        good: tuple[Path, list[np.ndarray], Any], tmp_path: Path) -> None:
    """Only the first stream is checked; a second one, which a player may show instead, is
    not one recording. Refused as bad input, before anything is counted."""
    import av

    _, frames, _ = good
    clip = tmp_path / "two.mp4"
    with av.open(str(clip), "w") as out:
        streams = []
        for _ in range(2):
            v = out.add_stream("libx264", rate=round(FPS))
            v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
            streams.append(v)
        for f in frames[:10]:
            for v in streams:
                out.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        for v in streams:
            out.mux(v.encode())
    with pytest.raises(InputError, match="holds 2 video streams"):
        _record(org, registry, challenge, clip, faces)
    again = consent.get_challenge(registry, challenge.challenge_id)
    assert again is not None and again.attempts == 0


# --- liveness on synthetic landmark tracks, by time ------------------------------------------


@pytest.fixture(scope="module")
def face_landmarks() -> np.ndarray:
    from trustavatar.face import load_image, sample_portrait_path
    from trustavatar.face.mesh import FaceMesh

    with FaceMesh(video=False) as mesh:
        return mesh.detect(load_image(sample_portrait_path()))


def _talking(lm: np.ndarray, times: np.ndarray, speaking: Callable[[np.ndarray], np.ndarray],
             blinks: Sequence[tuple[float, float]] = ()) -> list[np.ndarray | None]:
    """A face shown at ``times``: head sway that never repeats (three incommensurate
    sways: footage that repeats itself fails liveness), the mouth open while ``speaking``,
    the eyes shut within each ``(start, end)`` of ``blinks``."""
    from trustavatar.face.mesh import Region

    rng = np.random.default_rng(0)
    out: list[np.ndarray | None] = []
    for t, talk in zip(times, speaking(times), strict=True):
        sway = np.array([4.0 * np.sin(3.0 * t) + 3.0 * np.sin(4.24 * t + 1.0)
                         + 2.0 * np.sin(7.1 * t + 2.0),
                         3.0 * np.sin(2.3 * t + 0.5) + 2.0 * np.sin(5.3 * t + 1.5)])
        f = lm + sway + rng.normal(0, 0.05, 2)
        if any(a <= t < b for a, b in blinks):
            for ids in (Region.EAR_R, Region.EAR_L):
                f[ids[[1, 2]]] = (f[ids[[1, 2]]] + f[ids[[5, 4]]]) / 2 - 0.3
        f[14, 1] += 8.0 if talk else 0.0
        out.append(f.astype(np.float32))
    return out


def _speaking(t: np.ndarray) -> np.ndarray:
    return np.sin(t * 25.0 / 4.0) > 0  # syllables about a second apart


def test_liveness_resamples_the_mouth_by_time_onto_the_speech(
        face_landmarks: np.ndarray) -> None:
    fps = 25.0
    # 6 s of speech level at 25 a second, starting 0.5 s into the video
    start = 0.5
    grid = start + np.arange(150) / fps
    level = np.where(_speaking(grid), -20.0, -70.0)
    # frames: 25 a second for 3 s, then 10 a second (dropped in the dark)
    times = np.concatenate([np.arange(75) / fps, 3.0 + np.arange(40) / 10.0])
    track = _talking(face_landmarks, times, _speaking, blinks=[(1.0, 1.2), (4.0, 4.3)])

    result = analyse_liveness(track, fps=fps, speech_level=level, times=times,
                              speech_start=start)
    assert result.failures == ()
    assert result.mouth_sync is not None and result.mouth_sync > 0.8
    assert result.mouth_lag_s == 0.0
    assert result.blinks == (1.0, 4.0)
    # numbered frames at 25 a second (the old reading) fit neither the speech nor the blinks
    by_number = analyse_liveness(track, fps=fps, speech_level=level)
    assert by_number.mouth_sync is None or by_number.mouth_sync < 0.5


def test_liveness_over_a_constant_rate_is_the_same_by_time_and_by_number(
        face_landmarks: np.ndarray) -> None:
    fps = 30.0
    times = np.arange(180) / fps
    track = _talking(face_landmarks, times, _speaking, blinks=[(2.0, 2.2)])
    track[50] = track[51] = None  # the face lost for two frames
    level = np.where(_speaking(np.arange(200) / fps), -20.0, -70.0)
    by_time = analyse_liveness(track, fps=fps, speech_level=level, times=times)
    assert by_time == analyse_liveness(track, fps=fps, speech_level=level)
    assert by_time.failures == () and by_time.mouth_sync is not None


def test_liveness_refuses_frame_times_it_cannot_use(face_landmarks: np.ndarray) -> None:
    track = [face_landmarks] * 4
    for times, message in (([0.0, 0.1, 0.2], r"one time per frame \(4\), got shape \(3,\)"),
                           ([0.0, 0.2, 0.1, 0.3], "finite and increasing"),
                           ([0.0, 0.1, float("nan"), 0.3], "finite and increasing")):
        with pytest.raises(InputError, match=message):
            analyse_liveness(track, fps=25.0, speech_level=None, times=times)
    with pytest.raises(InputError, match="speech_start must be finite"):
        analyse_liveness(track, fps=25.0, speech_level=None, speech_start=float("inf"))
