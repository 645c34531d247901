"""Lip-sync analyzer: the shipped ViT (:mod:`trustavatar.detector.lipsync_model`) on
stacks of aligned mouth crops along the face track.

Every ``stride`` face frames a stack of the last 8 aligned 64 px RGB mouth crops is scored
(stacks never cross a track segment). Stacks are batched (``batch``, default 32 on the CPU,
256 on CUDA) so memory holds one batch, one float per stack and the few most suspicious
stacks' middle crops — flat in the video's length.

- ``score`` (and figure ``mean_logit``): the mean stack logit; > 0 leans manipulated. It is
  the fusion feature ``lipsync.score`` once the fusion is refitted with it.
- figures: ``stacks``, ``mean_logit``, ``p90_logit``, ``positive_fraction`` (stacks with
  logit > 0) and ``evidence``: the ``top`` most suspicious stacks, each with its time, logit,
  the middle mouth crop (PNG, base64) and an occlusion map (8 × 8: how much the logit drops
  when that patch of every frame is greyed out) — what an HTML report shows.
- timeline: per window, the mean logit of its stacks.
"""

from __future__ import annotations

__all__ = ["LipSyncAnalyzer"]

import base64
import heapq
import math
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.detector.analyzers.base import Analyzer, ScanContext
from trustavatar.detector.crops import MouthStacker
from trustavatar.detector.lipsync_model import LipSyncModel
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary

#: Fewer stacks than this (about 1.3 s of face at 25 fps) → insufficient footage.
MIN_STACKS = 8


def occlusion_map(model: LipSyncModel, stack: NDArray[np.uint8], grid: int = 8
                  ) -> NDArray[np.float32]:
    """``(grid, grid)``: logit drop when each cell is replaced by the stack's mean colour in
    every frame (positive: that region made the stack look manipulated)."""
    base = float(model.logits(stack[None])[0])
    s = stack.shape[1]
    cell = s // grid
    mean = stack.reshape(-1, 3).mean(0).astype(np.uint8)
    batch = np.repeat(stack[None], grid * grid, axis=0)
    for k in range(grid * grid):
        y, x = divmod(k, grid)
        batch[k, :, y * cell:(y + 1) * cell, x * cell:(x + 1) * cell] = mean
    out = np.empty(grid * grid, np.float32)
    for i in range(0, len(batch), 32):
        out[i:i + 32] = model.logits(batch[i:i + 32])
    return (base - out).reshape(grid, grid)


def _png_b64(image: NDArray[np.uint8]) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


class LipSyncAnalyzer(Analyzer):
    """See the module docstring. ``model``: a config JSON path (default: the packaged
    model); ``top``: how many suspicious stacks to keep as evidence."""

    name = "lipsync"
    version = "1"

    def __init__(self, *, model: str | Path | None = None, stride: int = 4,
                 batch: int | None = None, top: int = 3) -> None:
        self._model_path = model
        self._stride, self._batch_size, self._top = stride, batch, top

    def begin(self, ctx: ScanContext) -> None:
        t = time.perf_counter()
        self._model = LipSyncModel.load(self._model_path, device=ctx.device)
        info = self._model.info
        self._stacker = MouthStacker(length=info.frames, stride=self._stride, size=info.size,
                                     grey=False)
        self._batch_size = self._batch_size or (256 if ctx.device == "cuda" else 32)
        self._window = ctx.window
        self._pending: list[NDArray[np.uint8]] = []
        self._pending_t: list[float] = []
        self._logits: list[float] = []
        self._times: list[float] = []
        # min-heap of (logit, seq, time, stack): the most suspicious stacks so far
        self._heap: list[tuple[float, int, float, NDArray[np.uint8]]] = []
        self._seq = 0
        self._seconds = time.perf_counter() - t

    def update(self, obs: FaceObservation) -> None:
        stack = self._stacker.push(obs.image, obs.landmarks, new_segment=obs.new_segment)
        if stack is None:
            return
        self._pending.append(stack)
        self._pending_t.append(obs.time)
        if len(self._pending) >= (self._batch_size or 32):
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        t = time.perf_counter()
        stacks = np.stack(self._pending)
        logits = self._model.logits(stacks)
        for lg, tt, st in zip(logits.tolist(), self._pending_t, stacks, strict=True):
            self._logits.append(lg)
            self._times.append(tt)
            self._seq += 1
            item = (lg, self._seq, tt, st.copy())
            if len(self._heap) < self._top:
                heapq.heappush(self._heap, item)
            elif lg > self._heap[0][0]:
                heapq.heapreplace(self._heap, item)
        self._pending, self._pending_t = [], []
        self._seconds += time.perf_counter() - t

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        self._flush()
        t = time.perf_counter()
        logits = np.asarray(self._logits, np.float64)
        n = len(logits)
        if n < MIN_STACKS:
            return AnalyzerResult(
                self.name, self.version, AnalyzerStatus.INSUFFICIENT, None, {"stacks": n},
                (f"only {n} mouth stacks (needs {MIN_STACKS}: about 1.3 s of face)",),
                seconds=self._seconds)
        evidence: list[dict[str, Any]] = []
        for lg, _, tt, st in sorted(self._heap, reverse=True):
            occ = occlusion_map(self._model, st)
            evidence.append({"time": round(tt, 3), "logit": round(lg, 4),
                             "crop_png": _png_b64(st[len(st) // 2]),
                             "occlusion": np.round(occ, 3).tolist()})
        figures: dict[str, Any] = {
            "stacks": n, "mean_logit": float(logits.mean()),
            "p90_logit": float(np.percentile(logits, 90)),
            "positive_fraction": float((logits > 0).mean()),
            "model": self._model.info.name, "model_sha256": self._model.info.sha256[:16],
            "evidence": evidence,
        }
        windows: dict[int, list[float]] = {}
        for lg, tt in zip(self._logits, self._times, strict=True):
            windows.setdefault(int(tt // self._window), []).append(lg)
        timeline = tuple(
            WindowScore(k * self._window, (k + 1) * self._window, float(np.mean(v)),
                        {"mean_logit": float(np.mean(v)), "stacks": len(v)})
            for k, v in sorted(windows.items()))
        score = float(logits.mean())
        p = 1.0 / (1.0 + math.exp(-score))
        lean = ("leans manipulated" if score > 0 else "leans authentic")
        reasons = (f"lip-sync model: mean logit {score:+.2f} over {n} mouth stacks "
                   f"(raw {p:.0%}, uncalibrated; {lean}); "
                   f"{figures['positive_fraction']:.0%} of stacks above 0",)
        self._seconds += time.perf_counter() - t
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.OK, score, figures,
                              reasons, timeline, seconds=self._seconds)

    def close(self) -> None:
        self._pending, self._heap = [], []
