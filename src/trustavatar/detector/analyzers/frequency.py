"""Frequency analyzer: is the mouth blurrier (or sharper) than the rest of the face?

Lip-sync generators synthesise the mouth at low resolution (Wav2Lip 96 px, MuseTalk a
256 px face) and paste it back, so the mouth lacks the high frequencies the camera and the
codec leave on the cheeks and forehead of the same frame. Measured on every face frame, at
the frame's own resolution (no resampling below 160 px between the eyes, so a pasted
low-resolution mouth stays visible on HD footage):

- ``hf_mouth``, ``hf_cheek``, ``hf_forehead``: log10 of the power in the upper half-band
  (0.25–0.5 cycles/pixel) over the power in 0.04–0.25 cycles/pixel of a Hann-windowed
  patch (mouth: 0.9 × the inter-ocular distance; cheeks and forehead: 0.35 ×);
- ``hf_mouth_cheek`` = ``hf_mouth - hf_cheek`` and ``hf_mouth_forehead``: the comparisons
  that cancel resolution and compression (both sides of the difference share them);
- ``slope_mouth_cheek``: radial (azimuthally averaged) spectrum slope of the mouth minus
  that of the cheeks, in log-power per log-frequency;
- ``seam``: sharpness of the strongest edge ring around the mouth (mean gradient on
  elliptical rings 1.3–2.3 × the mouth's size, max over median, log10) — a pasted region's
  border;
- ``colour_step``: the largest colour (Lab a*, b*) change between neighbouring rings,
  over the colour spread within rings;
- ``spectrum_mouth`` / ``spectrum_cheek``: mean radial log-power profiles (6 bands at
  ``spectrum_cycles_per_px``, relative to the highest band) — what the report plots.

Each figure is the median over the frames of a window (2 s), then over windows. ``score``
is ``-z(hf_mouth_forehead)`` against the distribution on real clips (from the fusion file):
positive = the mouth is blurrier, relative to the forehead, than on real footage. The
forehead is what dubbing tools never touch (Wav2Lip-style tools regenerate the whole lower
face, cheeks included), and in leave-one-source-out tests on the dev media this comparison
was the one that transferred most consistently across generators (``detector/README.md``);
the others are reported as figures.
"""

from __future__ import annotations

__all__ = [
    "FIGURES",
    "FrequencyAnalyzer",
    "cheek_score",
    "frame_figures",
    "frequency_score",
    "patch_figures",
]

import itertools
import time
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.detector.analyzers.base import (
    Analyzer,
    Reference,
    ScanContext,
    WindowAccumulator,
    median_figures,
    robust_z,
)
from trustavatar.detector.crops import MOUTH_CENTRE, similarity_to_template
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, WindowScore
from trustavatar.detector.tracking import FaceObservation, TrackSummary

FIGURES: Final = ("hf_mouth", "hf_cheek", "hf_forehead", "hf_mouth_cheek",
                  "hf_mouth_forehead", "slope_mouth_cheek", "seam", "colour_step")
#: Faces smaller than this (inter-ocular pixels) are skipped: patches would be too small.
MIN_IOD_PX: Final = 20.0
#: Patches are analysed at most at this many pixels between the eyes.
MAX_IOD_PX: Final = 160.0
_CHEEK_R, _CHEEK_L, _FOREHEAD = 205, 425, 151
_RINGS: Final = np.linspace(1.3, 2.3, 11)
_ANGLES: Final = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
#: Mouth ellipse semi-axes in template units (inter-ocular distance = 1).
_MOUTH_AXES: Final = np.array([0.55, 0.28])

_spectrum_cache: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}


def _radial(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Hann window and radial frequency (cycles/pixel) of an ``n × n`` FFT."""
    if n not in _spectrum_cache:
        w = np.hanning(n)
        fy = np.fft.fftfreq(n)[:, None]
        fx = np.fft.rfftfreq(n)[None, :]
        _spectrum_cache[n] = (np.outer(w, w), np.sqrt(fx * fx + fy * fy))
    return _spectrum_cache[n]


#: Band edges (cycles/pixel) of the radial spectrum profile.
SPECTRUM_EDGES: Final = np.geomspace(0.04, 0.5, 7)


def _patch_spectrum(patch: NDArray[np.float32]
                    ) -> tuple[float, float, NDArray[np.float64]] | None:
    """(high-band log ratio, radial slope, 6-band log-power profile) of a square patch."""
    n = patch.shape[0]
    if n < 12:
        return None
    window, radius = _radial(n)
    x = (patch - patch.mean()) * window
    power = np.abs(np.fft.rfft2(x)) ** 2
    hi = power[(radius >= 0.25) & (radius <= 0.5)].sum()
    lo = power[(radius >= 0.04) & (radius < 0.25)].sum()
    if lo <= 0 or hi <= 0:
        return None
    # radial profile on 6 log-spaced bands → slope of log power vs log frequency
    centres, levels = [], []
    for a, b in itertools.pairwise(SPECTRUM_EDGES):
        sel = (radius >= a) & (radius < b)
        centres.append(np.log10(np.sqrt(a * b)))
        levels.append(np.log10(power[sel].mean() + 1e-12) if sel.any() else np.nan)
    ok = np.isfinite(levels)
    slope = (float(np.polyfit(np.asarray(centres)[ok], np.asarray(levels)[ok], 1)[0])
             if ok.sum() >= 3 else float("nan"))
    return float(np.log10(hi / lo)), slope, np.asarray(levels, np.float64)


def patch_figures(patch: NDArray[np.float32]) -> tuple[float, float] | None:
    """(high-band log ratio, radial spectrum slope) of a square grey patch ``(n, n)``."""
    found = _patch_spectrum(patch)
    return None if found is None else (found[0], found[1])


def _patch(grey: NDArray[np.float32], centre: NDArray[np.float64], side_px: float,
           shrink: float) -> NDArray[np.float32] | None:
    """Axis-aligned square around ``centre`` (no resampling unless ``shrink`` < 1)."""
    h, w = grey.shape
    half = round(side_px / 2)
    cx, cy = round(centre[0]), round(centre[1])
    x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    if half < 4 or x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    p = grey[y0:y1, x0:x1]
    if shrink < 0.999:
        size = max(12, round(p.shape[0] * shrink))
        p = np.asarray(cv2.resize(p, (size, size), interpolation=cv2.INTER_AREA), np.float32)
    return p


def _from_template(m: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Template units → frame pixels (inverse of the similarity ``m``)."""
    a = m[:, :2]
    return (pts - m[:, 2]) @ np.linalg.inv(a).T


def frame_figures(image: NDArray[np.uint8], landmarks: NDArray[np.float32],
                  spectra: list[NDArray[np.float64] | None] | None = None
                  ) -> dict[str, float | None] | None:
    """The per-frame figures (see the module docstring), or None if the face is too small.

    ``spectra``, when given as ``[None, None]``, receives the mouth's and the cheeks' radial
    log-power profiles (6 bands, relative to the highest band) for the report's plot."""
    if spectra is None:
        spectra = [None, None]
    m = similarity_to_template(landmarks)
    iod = 1.0 / float(np.hypot(m[0, 0], m[1, 0]))  # frame pixels per template unit
    if iod < MIN_IOD_PX:
        return None
    shrink = min(1.0, MAX_IOD_PX / iod)
    # region of interest: the lower face, to keep the grey/gradient work small
    ring_pts = _ring_points(m)
    lo = np.floor(np.minimum(ring_pts.reshape(-1, 2).min(0),
                             landmarks[[_CHEEK_R, _CHEEK_L, _FOREHEAD]].min(0)) - iod * 0.3)
    hi = np.ceil(np.maximum(ring_pts.reshape(-1, 2).max(0),
                            landmarks[[_CHEEK_R, _CHEEK_L, _FOREHEAD]].max(0)) + iod * 0.3)
    h, w = image.shape[:2]
    x0, y0 = int(max(0, lo[0])), int(max(0, lo[1]))
    x1, y1 = int(min(w, hi[0])), int(min(h, hi[1]))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    roi = image[y0:y1, x0:x1]
    grey = cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY).astype(np.float32)
    off = np.array([x0, y0], np.float64)
    mouth_c = _from_template(m, MOUTH_CENTRE[None])[0] - off
    out: dict[str, float | None] = dict.fromkeys(FIGURES)
    mouth = _patch(grey, mouth_c, 0.9 * iod, shrink)
    fm = _patch_spectrum(mouth) if mouth is not None else None
    cheeks: list[tuple[float, float, NDArray[np.float64]]] = []
    for i in (_CHEEK_R, _CHEEK_L):
        patch = _patch(grey, landmarks[i].astype(np.float64) - off, 0.35 * iod, shrink)
        found = _patch_spectrum(patch) if patch is not None else None
        if found is not None:
            cheeks.append(found)
    fore_p = _patch(grey, landmarks[_FOREHEAD].astype(np.float64) - off, 0.35 * iod, shrink)
    ff = patch_figures(fore_p) if fore_p is not None else None
    if fm is not None:
        out["hf_mouth"] = fm[0]
    if cheeks:
        hf_cheek = float(np.mean([c[0] for c in cheeks]))
        out["hf_cheek"] = hf_cheek
        if fm is not None:
            out["hf_mouth_cheek"] = fm[0] - hf_cheek
            out["slope_mouth_cheek"] = fm[1] - float(np.mean([c[1] for c in cheeks]))
    if ff is not None:
        out["hf_forehead"] = ff[0]
        if fm is not None:
            out["hf_mouth_forehead"] = fm[0] - ff[0]
    out.update(_ring_figures(roi, grey, ring_pts - off))
    if fm is not None and cheeks:
        # level differences, not brightness: each profile relative to its highest band
        prof_m = fm[2] - fm[2][-1]  # the highest band is never empty
        prof_c = np.mean([c[2] - c[2][-1] for c in cheeks], axis=0)
        spectra[0], spectra[1] = prof_m, prof_c
    return out


def _ring_points(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(rings, angles, 2)`` frame pixels of ellipses around the mouth."""
    ux, uy = np.cos(_ANGLES), np.sin(_ANGLES)
    pts = np.stack([
        np.stack([MOUTH_CENTRE[0] + k * _MOUTH_AXES[0] * ux,
                  MOUTH_CENTRE[1] + k * _MOUTH_AXES[1] * uy], axis=-1)
        for k in _RINGS])
    return _from_template(m, pts.reshape(-1, 2)).reshape(pts.shape)


def _ring_figures(roi: NDArray[np.uint8], grey: NDArray[np.float32],
                  pts: NDArray[np.float64]) -> dict[str, float | None]:
    h, w = grey.shape
    inside = ((pts[..., 0] >= 0) & (pts[..., 0] <= w - 1) & (pts[..., 1] >= 0)
              & (pts[..., 1] <= h - 1))
    if inside.mean() < 0.8:
        return {"seam": None, "colour_step": None}
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy)
    lab = cv2.cvtColor(roi, cv2.COLOR_RGB2LAB).astype(np.float32)
    mx = np.clip(pts[..., 0], 0, w - 1).astype(np.float32)
    my = np.clip(pts[..., 1], 0, h - 1).astype(np.float32)
    g = cv2.remap(mag, mx, my, cv2.INTER_LINEAR)  # (rings, angles)
    ab = cv2.remap(lab[..., 1:], mx, my, cv2.INTER_LINEAR)  # (rings, angles, 2)
    profile = np.array([row[ok].mean() for row, ok in zip(g, inside, strict=True)])
    med = float(np.median(profile))
    seam = float(np.log10(profile.max() / med)) if med > 1e-3 else None
    means = np.array([c[ok].mean(0) for c, ok in zip(ab, inside, strict=True)])
    spread = float(np.mean([c[ok].std(0).mean() for c, ok in zip(ab, inside, strict=True)]))
    steps = np.linalg.norm(np.diff(means, axis=0), axis=1)
    return {"seam": seam, "colour_step": float(steps.max() / (spread + 1.0))}


def frequency_score(figures: dict[str, Any], reference: Reference) -> float | None:
    """``-z(hf_mouth_forehead)``: positive when the mouth is blurrier, relative to the
    forehead, than on real footage."""
    z = robust_z(figures.get("hf_mouth_forehead"),
                 reference.get("frequency.hf_mouth_forehead"))
    return None if z is None else -z


def cheek_score(figures: dict[str, Any], reference: Reference) -> float | None:
    """``-z(hf_mouth_cheek)``: the mouth against the cheeks (inside a pasted lower face)."""
    z = robust_z(figures.get("hf_mouth_cheek"), reference.get("frequency.hf_mouth_cheek"))
    return None if z is None else -z


class FrequencyAnalyzer(Analyzer):
    """See the module docstring. ``stride`` analyses every n-th face frame."""

    name = "frequency"
    version = "3"

    def __init__(self, *, stride: int = 1) -> None:
        self.stride = max(1, int(stride))

    def begin(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._acc = WindowAccumulator(ctx.window, self._reduce)
        self._frames = self._used = self._small = 0
        self._busy = 0.0
        self._spec_sum = np.zeros((2, len(SPECTRUM_EDGES) - 1))
        self._spec_n = np.zeros((2, len(SPECTRUM_EDGES) - 1), np.int64)

    def _reduce(self, index: int, values: dict[str, list[float]]) -> WindowScore:
        figs = median_figures(values, min_count=3)
        figs["frames"] = max((len(v) for v in values.values()), default=0)
        w = self._ctx.window
        return WindowScore(index * w, (index + 1) * w,
                           frequency_score(figs, self._ctx.reference), figs)

    def update(self, obs: FaceObservation) -> None:
        if obs.landmarks is None:
            return
        self._frames += 1
        if (self._frames - 1) % self.stride:
            return
        t0 = time.perf_counter()
        spectra: list[NDArray[np.float64] | None] = [None, None]
        figs = frame_figures(obs.image, obs.landmarks, spectra)
        if spectra[0] is not None and spectra[1] is not None:
            both = np.stack([spectra[0], spectra[1]])
            ok = np.isfinite(both)  # small patches leave the lowest band empty
            self._spec_sum += np.where(ok, both, 0.0)
            self._spec_n += ok
        if figs is None:
            self._small += 1
        else:
            self._used += 1
            self._acc.add(obs.time, figs)
        self._busy += time.perf_counter() - t0

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        windows = tuple(self._acc.close())
        figures: dict[str, Any] = {}
        for k in FIGURES:
            vals = [float(w.figures[k]) for w in windows if w.figures.get(k) is not None]
            figures[k] = float(np.median(vals)) if vals else None
        figures["frames_used"] = self._used
        figures["frames_face_too_small"] = self._small
        figures["windows"] = len(windows)
        if self._spec_n.any():
            mean = self._spec_sum / np.maximum(self._spec_n, 1)
            figures["spectrum_cycles_per_px"] = [
                float(np.sqrt(a * b)) for a, b in itertools.pairwise(SPECTRUM_EDGES)]
            figures["spectrum_mouth"] = [float(v) if n else None
                                         for v, n in zip(mean[0], self._spec_n[0], strict=True)]
            figures["spectrum_cheek"] = [float(v) if n else None
                                         for v, n in zip(mean[1], self._spec_n[1], strict=True)]
        score = frequency_score(figures, self._ctx.reference)
        reasons: list[str] = []
        if self._used == 0:
            status = AnalyzerStatus.NOT_APPLICABLE
            reasons.append("no face large enough to measure (at least "
                           f"{MIN_IOD_PX:.0f} px between the eyes)" if self._small
                           else "no face found")
            score = None
        elif figures["hf_mouth_forehead"] is None:
            status = AnalyzerStatus.INSUFFICIENT
            reasons.append("the mouth and forehead were not visible together long enough")
            score = None
        else:
            status = AnalyzerStatus.OK
            if score is not None and score >= 2.0:
                reasons.append(f"the mouth is blurrier than the forehead ({score:.1f} SD beyond "
                               "real footage): typical of a mouth synthesised at low "
                               "resolution and pasted in")
        return AnalyzerResult(self.name, self.version, status, score, figures, tuple(reasons),
                              windows, self._busy)
