"""Per-frame motion: mouth (gap, width, rounding) from audio, blinks, head motion.

All tracks are sampled at the video frame rate and are deterministic for a given seed.
The mouth is driven by phonetic targets (jaw opening, lip width, rounding, bilabial
closure per frame) blended with speech loudness, gated to rest in silence (no jitter),
smoothed, and optionally led ahead of the audio (``MotionConfig.lead_frames``). The targets
come from a TTS script's phoneme events (:func:`~trustavatar.generator.audio.viseme_track`)
or, for recorded audio, from phone posteriors and the learned openness table
(:func:`~trustavatar.generator.audio.posterior_viseme_track`), which also says how much
loudness to blend in.
"""

from __future__ import annotations

__all__ = ["SCRIPT_PHONETIC_WEIGHT", "MotionConfig", "MotionTrack", "plan_motion"]

import math
from dataclasses import dataclass

import numpy as np

from trustavatar._series_filters import gaussian_smooth
from trustavatar.errors import InputError

#: Phonetic weight when :attr:`MotionConfig.phonetic_weight` is None: set by hand for the
#: hand-made phonetic targets of TTS phoneme events.
SCRIPT_PHONETIC_WEIGHT = 0.55


@dataclass(frozen=True)
class MotionConfig:
    """How the planned mouth, blinks and head move (each field says its unit and range)."""

    #: inner-lip gap at full opening, as a fraction of face height (real speech peaks ~0.1)
    max_gap: float = 0.085
    #: weight of the phonetic jaw target against loudness (0..1); None: the source's own
    #: (:data:`SCRIPT_PHONETIC_WEIGHT` for TTS phonemes; for recorded audio the generator
    #: takes the weight chosen with the openness table, ``OpennessTable.phonetic_weight``)
    phonetic_weight: float | None = None
    #: temporal smoothing of the mouth (frames, Gaussian sigma): coarticulation
    smooth_frames: float = 1.0
    #: the mouth leads the sound by this many frames (measured against real mouths on
    #: shared/media, a lead of 1 came out 1–2 frames early: phoneme timings already lead)
    lead_frames: int = 0
    #: mean blink rate while talking (per minute; physiological ~17–26)
    blink_rate_per_min: float = 20.0
    #: head motion amplitude (1 = natural, 0 = still)
    head_motion: float = 1.0

    def __post_init__(self) -> None:
        def within(name: str, low: float, high: float, whole: bool = False) -> None:
            value = getattr(self, name)
            ok = (isinstance(value, int if whole else int | float)
                  and not isinstance(value, bool) and math.isfinite(value)
                  and low <= value <= high)
            if not ok:
                kind = "a whole number" if whole else "a number"
                raise InputError(f"MotionConfig.{name} must be {kind} from {low:g} to "
                                 f"{high:g}, got {value!r}")

        within("max_gap", 0.0, 0.3)
        if self.phonetic_weight is not None:
            within("phonetic_weight", 0.0, 1.0)
        within("smooth_frames", 0.0, 10.0)
        within("lead_frames", -10, 10, whole=True)
        within("blink_rate_per_min", 0.0, 60.0)
        within("head_motion", 0.0, 3.0)


@dataclass(frozen=True)
class MotionTrack:
    """Motion per video frame.

    gap: (T,) inner-lip gap over face height; width: (T,) relative mouth-width change
    (-0.2..0.2); rounding: (T,) 0..1; blink: (T,) 0 open .. 1 closed; head: (T, 4) roll
    (radians), dx, dy (fractions of face height), scale factor offset.
    """

    fps: float
    gap: np.ndarray
    width: np.ndarray
    rounding: np.ndarray
    blink: np.ndarray
    head: np.ndarray
    speech: np.ndarray  #: (T,) 0..1 speech activity

    def __len__(self) -> int:
        return len(self.gap)

    @property
    def blink_count(self) -> int:
        closed = self.blink > 0.5
        return int(np.count_nonzero(closed[1:] & ~closed[:-1]) + int(closed[:1].sum()))


def _speech_activity(energy_db: np.ndarray) -> np.ndarray:
    """0..1 loudness relative to the clip's own floor and peak, with a soft gate."""
    if len(energy_db) == 0:
        return energy_db.astype(np.float32)
    floor = float(np.percentile(energy_db, 10))
    peak = float(np.percentile(energy_db, 97))
    span = max(peak - floor, 6.0)
    level = np.clip((energy_db - floor) / span, 0.0, 1.0)
    gate = np.clip((level - 0.12) / 0.18, 0.0, 1.0)  # silence → 0, speech → 1
    gate = gaussian_smooth(gate, 1.0)
    return (level * gate).astype(np.float32)


def _shift_earlier(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 0 or len(x) <= n:
        return x
    return np.concatenate([x[n:], np.repeat(x[-1:], n, axis=0)])


def _blinks(n: int, fps: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Blink closure per frame: gamma-distributed intervals, 150–400 ms blinks."""
    out = np.zeros(n, np.float32)
    if rate <= 0 or n == 0:
        return out
    mean_interval = 60.0 / rate
    t = float(rng.uniform(0.6, 0.6 + mean_interval))  # first blink
    duration_s = n / fps
    while t < duration_s:
        dur = float(rng.uniform(0.15, 0.40))
        close_s = dur * 0.35
        start = t * fps
        for i in range(int(start), min(n, int((t + dur) * fps) + 2)):
            local = (i - start) / fps
            if local < 0:
                continue
            v = local / close_s if local < close_s else 1 - (local - close_s) / (dur - close_s)
            out[i] = max(out[i], float(np.clip(v, 0, 1)))
        t += dur + max(0.8, float(rng.gamma(2.5, mean_interval / 2.5)))
    return out


def _smooth_noise(n: int, fps: float, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Band-limited noise with unit standard deviation (correlation time ~ ``seconds``).

    The noise is made and normalised over at least 20 correlation times, then cut to ``n``:
    normalising a clip shorter than the correlation time by its own (tiny) spread blew a
    1 s clip's head roll up to tens of degrees."""
    if n == 0:
        return np.zeros(0, np.float32)
    length = max(n, int(20 * seconds * fps))
    x = gaussian_smooth(rng.standard_normal(length + 200), seconds * fps / 2,
                        mode="wrap")[100:-100]
    return (x / (x.std() + 1e-9))[:n].astype(np.float32)


def plan_motion(
    visemes: np.ndarray,
    energy_db: np.ndarray,
    *,
    fps: float,
    seed: int = 0,
    config: MotionConfig | None = None,
    head: bool = True,
) -> MotionTrack:
    """Plan every frame's motion.

    visemes: (T, 4) float32 per-frame targets (jaw_open 0..1, lip_width -1..1,
    lip_round 0..1, lips_closed 0/1); energy_db: (T,) speech-band loudness in dB.
    """
    cfg = config or MotionConfig()
    if not isinstance(cfg, MotionConfig):
        raise InputError(f"config must be a MotionConfig, got {type(cfg).__name__}")
    if not (isinstance(fps, int | float) and math.isfinite(fps) and 1 <= fps <= 240):
        raise InputError(f"fps must be a number from 1 to 240, got {fps!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a whole number from 0, got {seed!r}")
    visemes = np.asarray(visemes, np.float32)
    energy_db = np.asarray(energy_db, np.float32)
    if visemes.ndim != 2 or visemes.shape[1] != 4:
        raise InputError(f"visemes must be (T, 4), got {visemes.shape}")
    if energy_db.shape != (len(visemes),):
        raise InputError(f"energy must be ({len(visemes)},), got {energy_db.shape}")
    n = len(visemes)
    rng = np.random.default_rng(seed)
    speech = _speech_activity(energy_db)
    # 1. opening: phonetic jaw target blended with loudness, gated by speech activity
    jaw = np.clip(visemes[:, 0], 0, 1)
    pw = SCRIPT_PHONETIC_WEIGHT if cfg.phonetic_weight is None else cfg.phonetic_weight
    if not 0.0 <= pw <= 1.0:
        raise InputError(f"phonetic_weight must be within 0..1, got {pw}")
    open_ = pw * jaw * (speech > 0.05) + (1 - pw) * speech
    open_ = gaussian_smooth(open_, cfg.smooth_frames) if n else open_
    # 2. bilabial closures (p, b, m) close the lips whatever the loudness
    closed = gaussian_smooth(np.clip(visemes[:, 3], 0, 1), 0.6) if n else visemes[:, 3]
    open_ = open_ * (1 - np.clip(closed * 1.3, 0, 1))
    # 3. lead the audio and scale to a gap
    gap = _shift_earlier(np.clip(open_, 0, 1), cfg.lead_frames) * cfg.max_gap
    width = _shift_earlier(gaussian_smooth(np.clip(visemes[:, 1], -1, 1), 1.2)
                           if n else visemes[:, 1], cfg.lead_frames) * 0.12 * (speech > 0.05)
    rounding = _shift_earlier(gaussian_smooth(np.clip(visemes[:, 2], 0, 1), 1.2)
                              if n else visemes[:, 2], cfg.lead_frames) * (speech > 0.05)
    # 4. blinks and head motion (photo mode); speech adds a slight nod
    blink = _blinks(n, fps, cfg.blink_rate_per_min, rng)
    headm = np.zeros((n, 4), np.float32)
    if head and cfg.head_motion > 0 and n:
        a = cfg.head_motion
        nod = gaussian_smooth(speech, fps * 0.15) if n else speech
        headm[:, 0] = np.deg2rad(1.2) * a * _smooth_noise(n, fps, rng, 2.5)
        headm[:, 1] = 0.010 * a * _smooth_noise(n, fps, rng, 3.0)
        headm[:, 2] = 0.006 * a * _smooth_noise(n, fps, rng, 2.0) + 0.006 * a * nod
        headm[:, 3] = 0.006 * a * _smooth_noise(n, fps, rng, 3.5)
    return MotionTrack(fps=fps, gap=gap.astype(np.float32), width=width.astype(np.float32),
                       rounding=rounding.astype(np.float32), blink=blink, head=headm,
                       speech=speech)
