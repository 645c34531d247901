from __future__ import annotations

import numpy as np
import pytest

from trustavatar.errors import InputError
from trustavatar.generator import MotionConfig, plan_motion

FPS = 25.0


def _speechlike(seconds: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Visemes and loudness of alternating syllables and pauses (deterministic)."""
    n = int(seconds * FPS)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    syllable = (np.sin(2 * np.pi * t / 6.0) > 0).astype(np.float32)
    pause = ((t // 50) % 4 == 3)
    vis = np.zeros((n, 4), np.float32)
    vis[:, 0] = 0.8 * syllable * ~pause
    vis[:, 1] = rng.uniform(-0.3, 0.3, n)
    energy = np.where(pause, -70.0, -30.0 + 10 * syllable).astype(np.float32)
    return vis, energy


def test_same_seed_same_motion_other_seed_other_blinks() -> None:
    vis, e = _speechlike(20)
    a = plan_motion(vis, e, fps=FPS, seed=7)
    b = plan_motion(vis, e, fps=FPS, seed=7)
    c = plan_motion(vis, e, fps=FPS, seed=8)
    for name in ("gap", "width", "rounding", "blink", "head"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.blink, c.blink)
    assert np.array_equal(a.gap, c.gap)  # the mouth depends on the audio only


def test_silence_is_still() -> None:
    n = 100
    track = plan_motion(np.zeros((n, 4), np.float32), np.full(n, -80.0, np.float32), fps=FPS)
    assert np.all(track.gap == 0) and np.all(track.width == 0) and np.all(track.rounding == 0)


def test_mouth_follows_syllables_and_pauses_close_it() -> None:
    vis, e = _speechlike(20)
    track = plan_motion(vis, e, fps=FPS)
    n = len(track)
    pause = ((np.arange(n) // 50) % 4 == 3)
    inner_pause = pause & np.roll(pause, 5) & np.roll(pause, -5)
    assert track.gap[inner_pause].max() < 0.005
    assert track.gap[~pause].max() > 0.05
    assert track.gap.max() <= MotionConfig().max_gap + 1e-6
    # in step with the phonemes by default; led by ``lead_frames`` when asked
    syll = vis[:, 0]
    for lead in (0, 1, 2):
        gap = plan_motion(vis, e, fps=FPS, config=MotionConfig(lead_frames=lead)).gap
        lags = [np.corrcoef(np.roll(syll, -k)[10:-10], gap[10:-10])[0, 1] for k in (0, 1, 2)]
        assert int(np.argmax(lags)) == lead


def test_bilabial_closure_closes_the_lips() -> None:
    vis, e = _speechlike(4)
    vis[40:44, 3] = 1.0  # p, b, m
    vis[40:44, 0] = 0.0
    track = plan_motion(vis, e, fps=FPS, config=MotionConfig(lead_frames=0))
    assert track.gap[41:43].max() < 0.25 * track.gap[10:70].max()


def test_blinks_are_physiological() -> None:
    vis, e = _speechlike(600)
    track = plan_motion(vis, e, fps=FPS, seed=3)
    rate = track.blink_count / 10.0
    assert 12 <= rate <= 30, rate
    closed = track.blink > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    ends = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
    durations_ms = (ends[: len(starts)] - starts[: len(ends)]) / FPS * 1000
    assert durations_ms.min() >= 40 and durations_ms.max() <= 400  # half-closed span
    intervals = np.diff(starts) / FPS
    assert intervals.min() >= 0.8 and np.std(intervals) > 0.5  # irregular, never rapid-fire


def test_head_motion_is_small_and_smooth() -> None:
    vis, e = _speechlike(30)
    head = plan_motion(vis, e, fps=FPS).head
    assert np.abs(np.rad2deg(head[:, 0])).max() < 5
    assert np.abs(head[:, 1:3]).max() < 0.05
    assert np.abs(np.diff(head, axis=0)).max() < 0.01  # no jumps between frames
    still = plan_motion(vis, e, fps=FPS, head=False).head
    assert not still.any()


@pytest.mark.parametrize("seconds", [0.2, 0.6, 1.0, 2.0])
def test_head_motion_stays_subtle_on_short_clips(seconds: float) -> None:
    """Short clips once normalised the noise by its own tiny spread: seed 1 rolled a 0.6 s
    clip's head by 49 degrees and zoomed it 2.6 times."""
    n = int(seconds * FPS)
    vis, e = np.zeros((n, 4), np.float32), np.full(n, -30.0, np.float32)
    for seed in range(12):
        head = plan_motion(vis, e, fps=FPS, seed=seed).head
        assert np.abs(np.rad2deg(head[:, 0])).max() < 5, seed
        assert np.abs(head[:, 1:]).max() < 0.05, seed


def test_shapes_are_checked() -> None:
    with pytest.raises(InputError, match=r"visemes must be \(T, 4\), got \(10, 3\)"):
        plan_motion(np.zeros((10, 3)), np.zeros(10), fps=FPS)
    with pytest.raises(InputError, match=r"energy must be \(10,\), got \(9,\)"):
        plan_motion(np.zeros((10, 4)), np.zeros(9), fps=FPS)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"max_gap": float("nan")}, "max_gap must be a number from 0 to 0.3"),
    ({"max_gap": -1}, "max_gap"),
    ({"smooth_frames": -1}, "smooth_frames"),
    ({"lead_frames": 1.5}, "lead_frames must be a whole number"),
    ({"blink_rate_per_min": 1e6}, "blink_rate_per_min"),
    ({"head_motion": float("inf")}, "head_motion"),
])
def test_a_motion_config_out_of_range_is_refused(kwargs, says) -> None:
    with pytest.raises(InputError, match=says):
        MotionConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"fps": 0}, "fps must be a number from 1 to 240"), ({"fps": float("nan")}, "fps"),
    ({"fps": -1}, "fps"), ({"seed": -1}, "seed must be a whole number"),
    ({"seed": "a"}, "seed"), ({"config": {"max_gap": 0.1}}, "config must be a MotionConfig"),
])
def test_plan_motion_names_a_wrong_argument(kwargs, says) -> None:
    args = {"fps": FPS} | kwargs
    with pytest.raises(InputError, match=says):
        plan_motion(np.zeros((5, 4), np.float32), np.zeros(5, np.float32), **args)
