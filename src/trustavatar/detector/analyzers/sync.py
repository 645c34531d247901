"""Audio-visual sync analyzer: does the mouth move with the speech, and how late?

Per face frame the mouth opening (inner-lip gap over face height) is kept with its
timestamp; after the last frame it is resampled by time onto a 25 Hz grid (40 ms frames,
SyncNet's unit) within each track segment, so variable frame rates are handled. The speech
side, with ``signal="openness"`` (the default), is the mouth opening the generator would
plan for the soundtrack: phone posteriors from PocketSphinx's acoustic model through the
learned openness table, blended with loudness (``generator/MOUTH_OPENNESS.md``). It follows
real mouths at r ≈ 0.42 where loudness alone reaches 0.27. ``"energy"`` uses the
speech-band loudness alone; ``"viseme"`` the hand-set jaw targets of the single best
phoneme path; ``"both"`` (the default before version 3) loudness plus those. Each 2 s window
with speech and a visible mouth is cross-correlated over offsets of ±15 frames:
``offset`` (frames; positive = the mouth moves *after* the sound) at the peak, and
``confidence`` = peak minus median correlation (like SyncNet's LSE-C).

Figures: ``windows_speech`` (usable windows), ``windows_confident``, ``median_offset``,
``agreement`` (share of confident windows within ±1 frame of the median),
``mean_confidence``, ``sustained_offset`` (bool); how closely the mouth follows the speech
signal: ``follow`` (Pearson r over every frame with a face, best lag within ±3 frames) and
``median_peak`` (the median over speech windows of each window's peak correlation).
Audio-driven generators' mouths follow the planned opening more closely than filmed ones;
the fusion features ``sync.follow`` and ``sync.follow_windows`` compare these with real
footage (measured in ``detector/README.md``; not in the shipped fusion).

``score``: 0 unless a *sustained* offset is found — |median offset| ≥ 2 frames on at least
4 confident speech windows (8 s) with ≥ 60 % agreement — then ``|median offset| - 1``. Never
negative: generators often sync *better* than real footage, so good sync is no evidence of
authenticity. Without audio, or without speech, the status is ``not-applicable``.
Even the planned opening explains real mouths only in part, so offsets from single
windows scatter; only agreement across windows counts.
"""

from __future__ import annotations

__all__ = ["GRID_FPS", "SyncAnalyzer", "sync_score", "window_offset"]

import time
from array import array
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from trustavatar._correlation import best_lag_correlation
from trustavatar.detector.analyzers.base import Analyzer, Reference, ScanContext
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary
from trustavatar.errors import Error, InputError
from trustavatar.face.mesh import mouth_opening

#: Frames per second of the common grid (offsets are in these 40 ms frames).
GRID_FPS: Final = 25.0
MIN_CONFIDENCE: Final = 0.3
SUSTAINED_FRAMES: Final = 2
MIN_WINDOWS: Final = 4
MIN_AGREEMENT: Final = 0.6


def _z(x: NDArray[np.float64]) -> NDArray[np.float64]:
    s = x.std()
    return (x - x.mean()) / s if s > 1e-9 else np.zeros_like(x)


def window_offset(mouth: NDArray[np.float64], speech: NDArray[np.float64], start: int,
                  length: int, max_offset: int) -> tuple[int, float, float] | None:
    """Best offset of ``mouth[start:start+length]`` against ``speech`` (same grid).

    Returns (offset, confidence, peak correlation); offset > 0 means the mouth lags.
    """
    m = mouth[start:start + length]
    if np.isnan(m).mean() > 0.2 or np.nanstd(m) < 1e-6:
        return None
    valid = ~np.isnan(m)
    corr = []
    for lag in range(-max_offset, max_offset + 1):
        a0 = start - lag
        if a0 < 0 or a0 + length > speech.shape[0]:
            corr.append(np.nan)
            continue
        s = speech[a0:a0 + length][valid]
        mm = m[valid]
        if s.std() < 1e-9:
            corr.append(np.nan)
            continue
        corr.append(float(np.mean(_z(mm) * _z(s))))
    c = np.array(corr)
    if np.isnan(c).all():
        return None
    best = int(np.nanargmax(c))
    return best - max_offset, float(np.nanmax(c) - np.nanmedian(c)), float(np.nanmax(c))


#: Whole-clip follow: lags tried (frames either way) and the fewest frames with a face.
FOLLOW_LAGS: Final = 3
FOLLOW_MIN_FRAMES: Final = 50


def _follow(mouth: NDArray[np.float64], speech: NDArray[np.float64]) -> float | None:
    """Pearson r of the mouth with the speech signal over every grid frame with a face, at
    the best lag within ±:data:`FOLLOW_LAGS` frames (None below :data:`FOLLOW_MIN_FRAMES`
    frames)."""
    best = best_lag_correlation(mouth, speech, FOLLOW_LAGS, min_frames=FOLLOW_MIN_FRAMES,
                                min_std=1e-9)
    return None if best is None else best[1]


def sync_score(figures: dict[str, Any], reference: Reference | None = None) -> float | None:
    """``|median offset| - 1`` for a sustained offset, else 0; None when not measured."""
    if not figures.get("windows_speech"):
        return None
    if figures.get("sustained_offset"):
        return max(0.0, abs(float(figures["median_offset"])) - 1.0)
    return 0.0


class SyncAnalyzer(Analyzer):
    """See the module docstring."""

    name = "sync"
    version = "4"

    def __init__(self, *, max_offset: int = 15,
                 signal: Literal["energy", "viseme", "both", "openness"] = "openness",
                 table: str | Path | None = None) -> None:
        """``table``: an openness table JSON (``generator/fit_mouth_openness.py --out``) for
        ``signal="openness"``; default the packaged one."""
        self.max_offset = max_offset
        self.signal = signal
        self._table = None
        if table is not None:
            from trustavatar.generator.audio import OpennessTable

            try:
                self._table = OpennessTable.load(table)
            except (OSError, Error) as e:
                raise InputError(f"sync analyzer: cannot read the openness table {table}: "
                                 f"{e}") from e

    def begin(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._t = array("d")
        self._open = array("f")
        self._seg = array("i")
        self._busy = 0.0

    def update(self, obs: FaceObservation) -> None:
        if obs.landmarks is None or self._ctx.audio is None:
            return
        self._t.append(obs.time)
        self._open.append(mouth_opening(obs.landmarks))
        self._seg.append(obs.segment)

    def _not_applicable(self, why: str) -> AnalyzerResult:
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.NOT_APPLICABLE, None,
                              {"windows_speech": 0}, (why,), (), self._busy)

    def _speech_signal(self) -> tuple[NDArray[np.float64], NDArray[np.bool_], str]:
        """Speech signal and voice activity on the grid (both ``(n,)``), and what was used."""
        from trustavatar.generator.audio import frame_energy, voice_activity

        audio = self._ctx.audio
        assert audio is not None
        level = frame_energy(audio, GRID_FPS).astype(np.float64)
        n = level.shape[0]
        active = np.zeros(n, bool)
        va = voice_activity(audio, GRID_FPS)[:n]
        active[:va.shape[0]] = va
        floor = float(np.percentile(level, 99)) - 50.0 if level.size else -120.0
        energy = np.maximum(level, floor)
        used = "energy"
        signal = _z(energy)
        if self.signal == "openness":
            try:
                signal = _z(self._planned_opening(audio, level, n))
                used = "openness"
            except Error:
                used = "energy (phone scoring failed)"
        elif self.signal in ("viseme", "both"):
            try:
                from trustavatar.generator.audio import decode_phonemes, viseme_track

                track = viseme_track(decode_phonemes(audio), fps=GRID_FPS, n_frames=n)[:n]
                jaw = track[:, 0].astype(np.float64) * (1.0 - track[:, 3])
                jaw = np.convolve(jaw, np.ones(3) / 3.0, mode="same")
                signal = _z(jaw) if self.signal == "viseme" else _z(signal + _z(jaw))
                used = self.signal
            except Error:
                used = "energy (phoneme decoding failed)"
        return signal, active, used

    def _planned_opening(self, audio: Any, level: NDArray[np.float64], n: int,
                         ) -> NDArray[np.float64]:
        """The generator's planned mouth opening for ``audio`` on the grid (``(n,)``)."""
        from trustavatar.generator.audio import (
            OpennessTable,
            phone_posteriors,
            posterior_viseme_track,
        )
        from trustavatar.generator.motion import plan_motion

        table = self._table or OpennessTable.load()
        targets = posterior_viseme_track(phone_posteriors(audio), fps=GRID_FPS, n_frames=n,
                                         table=table)
        plan = plan_motion(targets, level.astype(np.float32), fps=GRID_FPS, head=False,
                           config=table.motion_config())
        return plan.gap.astype(np.float64)

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        t0 = time.perf_counter()
        ctx = self._ctx
        if ctx.audio is None:
            return self._not_applicable(f"not applicable: {ctx.audio_note or 'no audio'}")
        if not len(self._t):
            return self._not_applicable("not applicable: no face found")
        speech, active, used = self._speech_signal()
        n = speech.shape[0]
        # mouth opening on the grid, by time, never across segment boundaries
        times = np.frombuffer(self._t, np.float64)
        opening = np.frombuffer(self._open, np.float32).astype(np.float64)
        seg = np.frombuffer(self._seg, np.int32)
        mouth = np.full(n, np.nan)
        grid_video_t = np.arange(n) / GRID_FPS + ctx.video.audio_offset
        for s in np.unique(seg):
            sel = seg == s
            ts, op = times[sel], opening[sel]
            inside = (grid_video_t >= ts[0]) & (grid_video_t <= ts[-1])
            if ts.size >= 2:
                mouth[inside] = np.interp(grid_video_t[inside], ts, op)
        follow = _follow(mouth, speech)
        length = round(ctx.window * GRID_FPS)
        windows: list[WindowScore] = []
        offsets, confs, peaks = [], [], []
        for w0 in range(0, n - length + 1, length):
            speech_frac = float(active[w0:w0 + length].mean())
            figs: dict[str, Any] = {"speech_fraction": speech_frac}
            found = None
            if speech_frac >= 0.3:
                found = window_offset(mouth, speech, w0, length, self.max_offset)
            score = None
            if found is not None:
                off, conf, peak = found
                figs.update(offset=off, confidence=conf, peak=peak)
                peaks.append(peak)
                confident = conf >= MIN_CONFIDENCE
                figs["confident"] = confident
                if confident:
                    offsets.append(off)
                    confs.append(conf)
                    score = max(0.0, abs(off) - 1.0)
                figs["offset_evidence"] = score or 0.0
            start = w0 / GRID_FPS + ctx.video.audio_offset
            windows.append(WindowScore(start, start + ctx.window, score, figs))
        speech_windows = sum(1 for w in windows if "offset" in w.figures)
        figures: dict[str, Any] = {
            "signal": used, "windows_speech": speech_windows,
            "windows_confident": len(offsets),
            "median_offset": float(np.median(offsets)) if offsets else None,
            "agreement": None, "mean_confidence": float(np.mean(confs)) if confs else None,
            "sustained_offset": False,
            "median_peak": float(np.median(peaks)) if peaks else None,
            "follow": follow,
            "offsets": offsets[:300],
        }
        if offsets:
            med = figures["median_offset"]
            agree = float(np.mean([abs(o - med) <= 1 for o in offsets]))
            figures["agreement"] = agree
            figures["sustained_offset"] = bool(
                abs(med) >= SUSTAINED_FRAMES and len(offsets) >= MIN_WINDOWS
                and agree >= MIN_AGREEMENT)
        figures["offset_evidence"] = sync_score(figures) or 0.0
        self._busy += time.perf_counter() - t0
        if not speech_windows:
            return AnalyzerResult(
                self.name, self.version, AnalyzerStatus.NOT_APPLICABLE, None, figures,
                ("not applicable: no speech while the mouth was visible",), tuple(windows),
                self._busy)
        score = sync_score(figures)
        reasons: list[str] = []
        if figures["sustained_offset"]:
            reasons.append(
                f"the mouth is consistently {abs(figures['median_offset']):.0f} frames "
                f"({abs(figures['median_offset']) * 40:.0f} ms) "
                f"{'behind' if figures['median_offset'] > 0 else 'ahead of'} the speech in "
                f"{len(offsets)} windows")
        reasons.append("good lip sync is not evidence of authenticity (generators sync well)")
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.OK, score, figures,
                              tuple(reasons), tuple(windows), self._busy)
