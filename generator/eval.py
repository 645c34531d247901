#!/usr/bin/env python3
"""Quality evaluation of the talking-head generator against real talking clips.

For every selected real clip with speech in ``<media>/real`` (see ``EVAL.md`` for the
selection rule) the generator is run twice with the clip's own audio:

* **photo mode**: the clip's first frame with a face (a temporary PNG) is animated;
* **video mode**: the clip itself is re-dubbed.

Each output is compared with the real clip:

* **lip-sync** ``r``: Pearson correlation, at lag 0, between the generated and the real
  mouth opening (inner-lip gap over face height, mediapipe landmarks 13/14 over 10/152)
  over the frames where both show a face. Photo-mode output is 25 fps; the real opening is
  linearly resampled to the output's frame centres when the clip has another rate.
* **loudness baseline** ``r``: Pearson(speech-band loudness of the clip's audio, real
  opening) on the clip's own frames, at lag 0 (headline) and at the best lag in ±3 frames.
* **identity**: median dlib embedding distance between output frames (one per second) and
  the frame each was made from (photo: the first frame; video: the same-index real frame).
* **sync offset**: the lag in [-5, 5] frames maximising the correlation between generated and
  real mouth opening. Positive = the generated mouth moves *later* than the real one.
* **open mouths** (``interior_look``): in frames whose mouth is open at least 0.04 of the
  face height, the median luminance inside the inner lips over the cheeks', and the share
  of inside pixels brighter than 0.9 of the cheeks; per clip, the medians of the real clip
  and of each output (how the painted interior compares with real teeth and cavity).
  In frames open at least 0.05 (``interior_look(..., corners=True)``), the median
  luminance of the opening's outer corners (beyond 0.7 of its half-width from the middle)
  over the cheeks': real mouths are dark there, where the teeth turn away.

Usage (from the repository root)::

    python generator/eval.py                    # all selected clips, 2 worker processes
    python generator/eval.py --limit 3 --clips 'PC-AVS' --json /tmp/eval.json

Nothing is written into the repository: inputs are read by path from ``--media``, temporary
PNGs, keystores and outputs live in a temporary folder that is removed at the end (unless
``--keep DIR`` names a folder outside the repository for the generated MP4s).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = REPO.parent / "shared" / "media"

#: thresholds of the issue
TARGET_R = 0.6
TARGET_IDENTITY = 0.25
TARGET_OFFSET = 1
#: lag search windows (frames)
SYNC_LAGS = 5
BASELINE_LAGS = 3
#: selection rule (measured on the *real* clip, before anything is generated)
MIN_FACE_FRACTION = 0.9  # one face tracked in at least this share of frames
MIN_MOUTH_P90 = 0.01  # the speaker visibly opens the mouth (90th pct. of inner-lip gap/face)
#: manifest notes that mark a clip as not plain speech
NOT_SPEECH_NOTE = re.compile(r"\b(sing|singing|rapping|music)\b", re.I)
#: file suffixes ``generate()`` accepts as a face video (others are linked under .mp4)
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"}


# --------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------

def pearson(a: np.ndarray, b: np.ndarray, min_n: int = 10) -> float | None:
    """Pearson r over the entries where both are finite; None if too few or constant."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_n:
        return None
    x, y = a[ok], b[ok]
    if x.std() < 1e-12 or y.std() < 1e-12:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def lagged(a: np.ndarray, b: np.ndarray, lag: int) -> float | None:
    """Pearson(a[t + lag], b[t]): with lag > 0, ``a`` is compared with earlier ``b``."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    if lag >= 0:
        return pearson(a[lag:], b[:n - lag])
    return pearson(a[:n + lag], b[-lag:])


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[int | None, float | None]:
    """The lag in [-max_lag, max_lag] maximising :func:`lagged`; ties go to the smaller |lag|."""
    best: tuple[int | None, float | None] = (None, None)
    for lag in sorted(range(-max_lag, max_lag + 1), key=lambda x: (abs(x), x)):
        r = lagged(a, b, lag)
        if r is not None and (best[1] is None or r > best[1] + 1e-12):
            best = (lag, r)
    return best


def resample_track(x: np.ndarray, fps_in: float, fps_out: float, n_out: int) -> np.ndarray:
    """``x`` (one value per frame at ``fps_in``) at the centres of ``n_out`` frames at
    ``fps_out``, by linear interpolation; NaN where a neighbour is NaN or out of range."""
    x = np.asarray(x, np.float64)
    if abs(fps_in - fps_out) < 1e-6:
        out = np.full(n_out, np.nan)
        m = min(n_out, len(x))
        out[:m] = x[:m]
        return out
    pos = ((np.arange(n_out) + 0.5) / fps_out) * fps_in - 0.5
    lo = np.floor(pos).astype(int)
    hi = lo + 1
    frac = pos - lo
    out = np.full(n_out, np.nan)
    lo_c = np.clip(lo, 0, len(x) - 1)
    hi_c = np.clip(hi, 0, len(x) - 1)
    inside = (pos >= -0.5) & (pos <= len(x) - 0.5)
    val = (1 - frac) * x[lo_c] + frac * x[hi_c]
    # at the very ends, hold the edge frame
    val = np.where(lo < 0, x[hi_c], np.where(hi > len(x) - 1, x[lo_c], val))
    out[inside] = val[inside]
    return out


def identity_sample(n: int, fps: float) -> list[int]:
    """One frame per second: the middle frame of each second (as the generator's QA)."""
    step = max(1, round(fps))
    return list(range(min(step // 2, max(n - 1, 0)), n, step))


@dataclass
class Track:
    opening: np.ndarray  #: (T,) inner-lip gap / face height, NaN where no face
    fps: float
    multi_faces: int  #: frames with more than one face
    embeddings: dict[int, Any]  #: frame index → FaceEmbedding (or None: dlib found none)
    #: per open-mouth frame (opening ≥ INTERIOR_MIN_OPENING): (median luminance inside the
    #: inner lips over the cheeks', share of inside pixels brighter than 0.9 of the cheeks)
    interior: list[tuple[float, float]]
    #: per wide-open frame (opening ≥ WIDE_OPENING): the corners' luminance over the cheeks'
    corners: list[float]


#: Frames whose mouth is open at least this much (inner-lip gap / face height) are measured
#: for the look of the mouth's inside (:func:`interior_look`).
INTERIOR_MIN_OPENING = 0.04
#: Frames open at least this much are also measured at the opening's corners
#: (:func:`interior_look` with ``corners``); beyond this share of the opening's
#: half-width is a corner. (At 0.07, only 3-6 of the 33 clips had 5 such frames in both
#: real and generated clips; at 0.05, 19-25.)
WIDE_OPENING = 0.05
CORNER_FROM = 0.7


def interior_look(frame: np.ndarray, lm: np.ndarray, *, corners: bool = False
                  ) -> tuple[float, float, float | None] | None:
    """How the inside of an open mouth looks, relative to the same face's cheeks: median
    luminance inside the inner-lip contour (eroded by a pixel) over the cheeks' median
    (mediapipe points 50 and 280, squares of 0.08 face heights), the share of inside
    pixels brighter than 0.9 of the cheeks (teeth, or a too-bright painted interior), and
    with ``corners`` the median luminance of its corners (pixels beyond
    :data:`CORNER_FROM` of its half-width from its middle) over the cheeks' (None without
    ``corners`` or under 10 such pixels). None when the opening covers fewer than 10
    pixels."""
    import cv2

    from trustavatar.generator.mouth_interior import (
        cheek_luminance,
        inner_polygon,
        luminance,
    )

    poly = inner_polygon(lm)
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    mask = np.asarray(cv2.erode(mask, np.ones((3, 3), np.uint8)), bool)
    if mask.sum() < 10:
        return None
    skin = cheek_luminance(frame, lm)
    if skin <= 0:
        return None
    inside = luminance(frame[mask])
    corner = None
    if corners:
        cx = (poly[:, 0].min() + poly[:, 0].max()) / 2
        half = max((poly[:, 0].max() - poly[:, 0].min()) / 2, 1.0)
        outer = np.abs(np.nonzero(mask)[1] - cx) / half > CORNER_FROM  # same order as inside
        if outer.sum() >= 10:
            corner = float(np.median(inside[outer])) / skin
    return float(np.median(inside)) / skin, float(np.mean(inside > 0.9 * skin)), corner


def measure_video(path: Path, *, embed_at: set[int] | None = None,
                  max_faces: int = 1) -> Track:
    """Mouth opening of every frame (mediapipe, tracking mode), the look of the inside of
    open mouths (:func:`interior_look`) and dlib embeddings of the frames in ``embed_at``.
    Frames are read one at a time (memory flat in length)."""
    from trustavatar.errors import FaceError
    from trustavatar.face import embed_face
    from trustavatar.face.mesh import FaceMesh, mouth_opening
    from trustavatar.video_io import iter_frames, probe

    info = probe(path)
    opening: list[float] = []
    multi = 0
    emb: dict[int, Any] = {}
    interior: list[tuple[float, float]] = []
    corners: list[float] = []
    with FaceMesh(video=True, max_faces=max_faces) as mesh:
        for i, frame in enumerate(iter_frames(path)):
            faces = mesh.detect_all(frame)
            multi += len(faces) > 1
            opening.append(mouth_opening(faces[0]) if faces else math.nan)
            if faces and opening[-1] >= INTERIOR_MIN_OPENING:
                look = interior_look(frame, faces[0], corners=opening[-1] >= WIDE_OPENING)
                if look is not None:
                    interior.append(look[:2])
                    if look[2] is not None:
                        corners.append(look[2])
            if embed_at is not None and i in embed_at:
                try:
                    emb[i] = embed_face(frame)
                except FaceError:
                    emb[i] = None
    return Track(np.asarray(opening, np.float64), info.fps, multi, emb, interior, corners)


def interior_summary(track: Track) -> dict[str, Any]:
    """Per clip: open-mouth frames measured and the medians of :func:`interior_look`."""
    out: dict[str, Any] = {"frames": 0, "luma_ratio": None, "bright_share": None,
                           "wide_frames": len(track.corners),
                           "corner_ratio": (r4(float(np.median(track.corners)))
                                            if track.corners else None)}
    if track.interior:
        a = np.asarray(track.interior)
        out.update(frames=len(a), luma_ratio=r4(float(np.median(a[:, 0]))),
                   bright_share=r4(float(np.median(a[:, 1]))))
    return out


def first_face_frame(path: Path, out_png: Path, max_frames: int = 250) -> int:
    """Save the first frame where mediapipe (still-image mode) and dlib each find exactly
    one face as ``out_png``; return its index."""
    from PIL import Image

    from trustavatar.errors import FaceError
    from trustavatar.face import embed_face
    from trustavatar.face.mesh import FaceMesh
    from trustavatar.video_io import iter_frames

    with FaceMesh(video=False, max_faces=2) as mesh:
        for i, frame in enumerate(iter_frames(path)):
            if i >= max_frames:
                break
            if len(mesh.detect_all(frame)) != 1:
                continue
            try:
                embed_face(frame)
            except FaceError:
                continue
            Image.fromarray(frame).save(out_png)
            return i
    raise RuntimeError(f"no frame with exactly one face in the first {max_frames} frames")


def distances(out: Track, refs: dict[int, Any]) -> list[float]:
    """Distance of each embedded output frame to its reference (inf: no face in output)."""
    d = []
    for i, e in sorted(out.embeddings.items()):
        ref = refs.get(i)
        if ref is None:
            continue
        d.append(math.inf if e is None else float(e.distance(ref)))
    return d


def partial(r_xy: float | None, r_xz: float | None, r_yz: float | None) -> float | None:
    """Partial correlation of x and y given z, from the three pairwise correlations."""
    if r_xy is None or r_xz is None or r_yz is None:
        return None
    den = math.sqrt(max((1 - r_xz ** 2) * (1 - r_yz ** 2), 0.0))
    return None if den < 1e-9 else (r_xy - r_xz * r_yz) / den


def median_or_none(x: list[float]) -> float | None:
    return float(np.median(x)) if x else None


def r4(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


# --------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------

def candidates(media: Path) -> list[dict[str, Any]]:
    """Real clips whose audio is audible (manifest ``has_audio``)."""
    manifest = json.loads((media / "manifest.json").read_text())
    return [m for m in manifest if m.get("label") == "real" and m.get("has_audio")]


def screen(entry: dict[str, Any], real: Track) -> str | None:
    """Why a clip is excluded (None: kept). Uses only the manifest and the real clip."""
    notes = " ".join(str(entry.get(k) or "") for k in ("notes", "how_judged"))
    if NOT_SPEECH_NOTE.search(notes):
        return f"manifest says not plain speech ({entry.get('notes')!r})"
    face = float(np.mean(np.isfinite(real.opening))) if len(real.opening) else 0.0
    if face < MIN_FACE_FRACTION:
        return f"face tracked in only {face:.0%} of frames (cuts / off-screen)"
    p90 = float(np.nanpercentile(real.opening, 90))
    if p90 < MIN_MOUTH_P90:
        return (f"mouth closed throughout (90th percentile opening {p90:.4f} < "
                f"{MIN_MOUTH_P90}): the audio is not this speaker's speech")
    return None


# --------------------------------------------------------------------------------------
# one clip (runs in a worker process)
# --------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_init(tmp_root: str) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _WORKER["tmp"] = Path(tempfile.mkdtemp(prefix=f"worker{os.getpid()}_", dir=tmp_root))


def _home() -> tuple[Any, Any]:
    """This worker's throwaway home and keystore (created once per worker)."""
    if "home" not in _WORKER:
        from trustavatar.home import Home
        from trustavatar.keys import Keystore

        home = Home.resolve(_WORKER["tmp"] / "home")
        _WORKER["home"] = home
        _WORKER["ks"] = Keystore.create(home, organisation="eval")
    return _WORKER["home"], _WORKER["ks"]


def _consent(portrait: Path, out: Path) -> None:
    from trustavatar import consent
    from trustavatar.registry import Registry

    home, ks = _home()
    with Registry.for_home(home) as registry:
        art = consent.issue(ks.signing_key(), portrait=portrait, display_name="eval subject",
                            evidence=consent.Evidence.operator_attestation(b"evaluation only"),
                            registry=registry)
    out.write_bytes(art.raw)


def plan_track(audio: Any, fps: float, *, posteriors: Any = None, head: bool = True,
               **cfg: float) -> Any:
    """The generator's motion plan for ``audio`` at ``fps`` (the same audio front end and
    planner as generate(), seed 0; ``cfg``: MotionConfig fields to change)."""
    from trustavatar.generator.audio import (
        OpennessTable,
        frame_count,
        frame_energy,
        phone_posteriors,
        posterior_viseme_track,
    )
    from trustavatar.generator.motion import MotionConfig, plan_motion

    n = frame_count(audio.duration, fps)
    table = OpennessTable.load()
    if posteriors is None:
        posteriors = phone_posteriors(audio)
    vis = posterior_viseme_track(posteriors, fps=fps, n_frames=n, table=table)
    return plan_motion(vis, frame_energy(audio, fps)[:n], fps=fps, seed=0, head=head,
                       config=table.motion_config(MotionConfig(**cfg)))


def evaluate_clip(entry: dict[str, Any], media: str, keep: str | None) -> dict[str, Any]:
    """Screen one clip and, if kept, generate and measure both modes."""
    from trustavatar.face import embed_face
    from trustavatar.generator import generate
    from trustavatar.generator.audio import frame_energy, load_audio, phone_posteriors
    from trustavatar.video_io import probe

    t0 = time.perf_counter()
    clip = Path(media) / entry["file"]
    name = Path(entry["file"]).stem
    res: dict[str, Any] = {"file": entry["file"], "name": name,
                           "source_repo": entry.get("source_repo")}
    work = Path(tempfile.mkdtemp(prefix="clip_", dir=_WORKER["tmp"]))
    try:
        info = probe(clip)
        n_real_est = info.frames
        # 1. the real clip: opening everywhere, embeddings at one frame per second
        real = measure_video(clip, embed_at=set(identity_sample(n_real_est + 2, info.fps)),
                             max_faces=2)
        n_real = len(real.opening)
        res.update(fps=info.fps, frames=n_real, width=info.width, height=info.height,
                   duration_s=round(n_real / info.fps, 3),
                   face_fraction=round(float(np.mean(np.isfinite(real.opening))), 4),
                   multi_face_frames=real.multi_faces,
                   real_opening_p90=r4(float(np.nanpercentile(real.opening, 90))),
                   real_opening_std=r4(float(np.nanstd(real.opening))),
                   real_interior=interior_summary(real))
        why = screen(entry, real)
        if why:
            res["excluded"] = why
            return res

        # 2. the loudness baseline, on the clip's own frames
        audio = load_audio(clip)
        energy = frame_energy(audio, info.fps)
        base0 = lagged(energy, real.opening, 0)
        bl, blr = best_lag(energy, real.opening, BASELINE_LAGS)
        res["baseline"] = {"r_lag0": r4(base0), "best_lag": bl, "r_best": r4(blr)}

        # diagnostics: the generator's planned mouth (same audio front end and motion
        # planner as generate()), to separate planning (audio → mouth) from rendering
        posteriors = phone_posteriors(audio)

        def plan(fps: float, **cfg: float) -> np.ndarray:
            return np.asarray(plan_track(audio, fps, posteriors=posteriors, **cfg).gap)

        # 3. inputs: first face frame (PNG), consent for it, the clip under a video suffix
        png = work / "face.png"
        first = first_face_frame(clip, png)
        first_emb = embed_face(png)
        res["first_face_frame"] = first
        _consent(png, work / "consent.json")
        face_video = clip
        if clip.suffix.lower() not in VIDEO_SUFFIXES:
            face_video = work / "clip.mp4"  # generate() picks the mode from the suffix
            face_video.symlink_to(clip.resolve())
            res["linked_as_mp4"] = True
        # identity of the real clip against its own first face frame: the yardstick
        real_vs_first = [float(e.distance(first_emb)) for i, e in sorted(real.embeddings.items())
                         if e is not None and i < n_real]
        res["identity_real_vs_first_median"] = r4(median_or_none(real_vs_first))

        home, _ = _home()
        for mode, face in (("photo", png), ("video", face_video)):
            out = work / f"{mode}.mp4"
            m: dict[str, Any] = {}
            res[mode] = m
            t = time.perf_counter()
            try:
                g = generate(face=face, consent=work / "consent.json", out=out, audio=clip,
                             qa="report", home=home, seed=0)
            except Exception as e:  # a failed mode is a result, not a crash
                m["error"] = f"{type(e).__name__}: {e}"
                continue
            m["generate_s"] = round(time.perf_counter() - t, 3)
            m["timings"] = g.timings
            m["frames"], m["fps"] = g.frames, g.fps
            m["size"] = [g.width, g.height]
            m["qa"] = g.qa.figures() | {"failures": list(g.qa.failures)}
            t = time.perf_counter()
            sample = set(identity_sample(g.frames, g.fps))
            gen = measure_video(out, embed_at=sample)
            # the real opening on the output's frame grid
            n = len(gen.opening)
            if mode == "photo":
                real_on_grid = resample_track(real.opening, info.fps, g.fps, n)
                refs = {i: first_emb for i in sample}
            else:
                real_on_grid = np.full(n, np.nan)
                k = min(n, n_real)
                real_on_grid[:k] = real.opening[:k]
                refs = {i: real.embeddings.get(i) for i in sample if i < n_real}
            both = np.isfinite(gen.opening) & np.isfinite(real_on_grid)
            m["frames_compared"] = int(both.sum())
            m["gen_face_fraction"] = round(float(np.mean(np.isfinite(gen.opening))), 4)
            m["gen_opening_std"] = r4(float(np.nanstd(gen.opening)))
            m["r"] = r4(lagged(gen.opening, real_on_grid, 0))
            ok = both
            m["amplitude_ratio"] = r4(float(np.std(gen.opening[ok]) / np.std(real_on_grid[ok]))
                                      if ok.sum() > 1 and np.std(real_on_grid[ok]) > 0 else None)
            m["gen_opening_p90"] = r4(float(np.nanpercentile(gen.opening, 90)))
            m["interior"] = interior_summary(gen)
            m["real_opening_p90_on_grid"] = r4(float(np.nanpercentile(real_on_grid, 90)))
            planned = plan(g.fps)
            r_pr = lagged(planned, real_on_grid, 0)
            r_gp = lagged(gen.opening, planned, 0)
            m["diag"] = {
                "r_plan_vs_real": r4(r_pr),
                "r_generated_vs_plan": r4(r_gp),
                # what of the real mouth is in the output beyond the plan (video mode: the
                # filmed mouth showing through the dub; negative: it shows through inverted)
                "r_generated_vs_real_given_plan": r4(partial(m["r"], r_gp, r_pr)),
                "r_plan_loudness_only_vs_real": r4(lagged(plan(g.fps, phonetic_weight=0.0),
                                                          real_on_grid, 0)),
                "r_plan_phonetic_only_vs_real": r4(lagged(plan(g.fps, phonetic_weight=1.0),
                                                          real_on_grid, 0)),
            }
            off, roff = best_lag(gen.opening, real_on_grid, SYNC_LAGS)
            m["sync_offset"], m["r_at_offset"] = off, r4(roff)
            # the loudness baseline on this output's grid too (equal to the clip's at 25 fps)
            e_grid = frame_energy(audio, g.fps)
            m["baseline_r_lag0_on_grid"] = r4(lagged(e_grid, real_on_grid, 0))
            d = distances(gen, refs)
            m["identity_frames"] = len(d)
            m["identity_median"] = r4(median_or_none(d))
            m["identity_max"] = r4(max(d) if d else None)
            m["measure_s"] = round(time.perf_counter() - t, 3)
            m["series"] = {"generated": [r4(x) for x in gen.opening],
                           "real": [r4(x) for x in real_on_grid],
                           "planned": [r4(float(x)) for x in planned]}
            if keep:
                shutil.copyfile(out, Path(keep) / f"{name}.{mode}.mp4")
        res["real_series"] = [r4(x) for x in real.opening]
        res["energy_series_db"] = [round(float(x), 2) for x in energy]
    except Exception as e:
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc(limit=4)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        res["wall_s"] = round(time.perf_counter() - t0, 2)
    return res


# --------------------------------------------------------------------------------------
# summary and printing
# --------------------------------------------------------------------------------------

def _vals(rows: list[dict[str, Any]], *path: str) -> list[float]:
    out = []
    for r in rows:
        v: Any = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _stats(x: list[float]) -> dict[str, float | int | None]:
    if not x:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(x), "mean": round(statistics.fmean(x), 4),
            "median": round(statistics.median(x), 4), "min": round(min(x), 4),
            "max": round(max(x), 4)}


def _interior_stats(ok: list[dict[str, Any]], mode: str, min_frames: int = 5
                    ) -> dict[str, Any]:
    """The look of open mouths, generated vs real, over clips where both show at least
    ``min_frames`` open-mouth frames (:func:`interior_look`)."""
    pairs = [(r["real_interior"], r[mode]["interior"]) for r in ok
             if r.get("real_interior", {}).get("frames", 0) >= min_frames
             and r[mode].get("interior", {}).get("frames", 0) >= min_frames]
    out: dict[str, Any] = {"clips": len(pairs)}
    for key in ("luma_ratio", "bright_share"):
        real = [a[key] for a, _ in pairs]
        gen = [b[key] for _, b in pairs]
        out[key] = {"real": _stats(real)["mean"], "generated": _stats(gen)["mean"],
                    "mean_abs_diff": (round(statistics.fmean(
                        abs(a - b) for a, b in zip(real, gen, strict=True)), 4)
                        if pairs else None)}
    wide = [(r["real_interior"]["corner_ratio"], r[mode]["interior"]["corner_ratio"])
            for r in ok if r.get("real_interior", {}).get("wide_frames", 0) >= min_frames
            and r[mode].get("interior", {}).get("wide_frames", 0) >= min_frames]
    out["corners"] = {"clips": len(wide), "real": _stats([a for a, _ in wide])["mean"],
                      "generated": _stats([b for _, b in wide])["mean"]}
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kept = [r for r in rows if "excluded" not in r and "error" not in r]
    s: dict[str, Any] = {"clips_evaluated": len(kept),
                         "baseline_r_lag0": _stats(_vals(kept, "baseline", "r_lag0")),
                         "baseline_r_best_lag": _stats(_vals(kept, "baseline", "r_best")),
                         "identity_real_vs_first": _stats(_vals(kept,
                                                                "identity_real_vs_first_median"))}
    for mode in ("photo", "video"):
        ok = [r for r in kept if isinstance(r.get(mode), dict) and "error" not in r[mode]]
        offs = [int(v) for v in _vals(ok, mode, "sync_offset")]
        ids = _vals(ok, mode, "identity_median")
        pairs = [(r[mode]["r"], r[mode]["baseline_r_lag0_on_grid"]) for r in ok
                 if r[mode].get("r") is not None and
                 r[mode].get("baseline_r_lag0_on_grid") is not None]
        wilcoxon_p = None
        if len(pairs) >= 6:
            try:
                from scipy.stats import wilcoxon

                wilcoxon_p = round(float(wilcoxon([a for a, _ in pairs],
                                                  [b for _, b in pairs]).pvalue), 5)
            except ValueError:
                pass
        s[mode] = {
            "clips": len(ok),
            "errors": len([r for r in kept if isinstance(r.get(mode), dict)
                           and "error" in r[mode]]),
            "r": _stats(_vals(ok, mode, "r")),
            "r_at_best_offset": _stats(_vals(ok, mode, "r_at_offset")),
            "baseline_r_lag0_same_grid": _stats([b for _, b in pairs]),
            "beats_baseline": sum(a > b for a, b in pairs),
            "mean_gain_over_baseline": (round(statistics.fmean(a - b for a, b in pairs), 4)
                                        if pairs else None),
            "wilcoxon_p_vs_baseline": wilcoxon_p,
            "clips_r_at_least_target": sum(v >= TARGET_R for v in _vals(ok, mode, "r")),
            "identity_median": _stats(ids),
            "clips_identity_ok": sum(v <= TARGET_IDENTITY for v in ids),
            "sync_offset": {"median": statistics.median(offs) if offs else None,
                            # the best lag means something only where there is a peak
                            "confident_r_min": 0.3,
                            "confident": sorted(int(r[mode]["sync_offset"]) for r in ok
                                                if (r[mode].get("r_at_offset") or -1) >= 0.3),
                            "histogram": {str(k): offs.count(k) for k in sorted(set(offs))},
                            "clips_within_target": sum(abs(o) <= TARGET_OFFSET for o in offs)},
            "amplitude_ratio": _stats(_vals(ok, mode, "amplitude_ratio")),
            "diag": {k: _stats(_vals(ok, mode, "diag", k)) for k in (
                "r_plan_vs_real", "r_generated_vs_plan", "r_generated_vs_real_given_plan",
                "r_plan_loudness_only_vs_real",
                "r_plan_phonetic_only_vs_real")},
            "qa_identity_median_incl_widest_mouth": _stats(_vals(ok, mode, "qa",
                                                                 "identity_median")),
            "qa_passed": sum(bool(r[mode].get("qa", {}).get("passed")) for r in ok),
            "interior": _interior_stats(ok, mode),
            "generate_s_total": round(sum(_vals(ok, mode, "generate_s")), 1),
        }
        s[mode]["targets_met"] = {
            "mean_r_ge_0.6": bool(s[mode]["r"]["mean"] is not None
                                  and s[mode]["r"]["mean"] >= TARGET_R),
            "mean_r_above_baseline": bool(
                s[mode]["mean_gain_over_baseline"] is not None
                and s[mode]["mean_gain_over_baseline"] > 0),
            "median_identity_le_0.25": bool(s[mode]["identity_median"]["median"] is not None
                                            and s[mode]["identity_median"]["median"]
                                            <= TARGET_IDENTITY),
            "all_offsets_within_1": bool(offs) and all(abs(o) <= TARGET_OFFSET for o in offs),
        }
    # per source group: the sources differ in resolution, framing and speech style
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in kept:
        groups.setdefault(str(r.get("source_repo")), []).append(r)
    s["by_source"] = {
        g: {"clips": len(rs), "baseline_r_lag0": _stats(_vals(rs, "baseline", "r_lag0"))["mean"],
            "photo_r": _stats(_vals(rs, "photo", "r"))["mean"],
            "video_r": _stats(_vals(rs, "video", "r"))["mean"]}
        for g, rs in sorted(groups.items())}
    return s


def _f(v: Any, fmt: str = "{:.2f}", width: int = 6) -> str:
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float) and math.isinf(v):
        return "inf".rjust(width)
    return fmt.format(v).rjust(width)


def short_name(file: str) -> str:
    stem = Path(file).stem
    for pre in ("Hangz-nju-cuhk__Talking-Face_PC-AVS__misc_", "KwaiVGI__LivePortrait__assets_"
                "examples_driving_", "rizkiarm__LipNet__evaluation_samples_"):
        if stem.startswith(pre):
            tag = {"H": "PC-AVS ", "K": "LP ", "r": "LipNet "}[pre[0]]
            return tag + stem[len(pre):]
    return stem.split("__")[0] + " " + stem.split("__")[-1][-28:]


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any], out=sys.stdout) -> None:
    kept = [r for r in rows if "excluded" not in r and "error" not in r]
    hdr = (f"{'clip':40s} {'fps':>5s} {'s':>5s} | {'base0':>6s} {'baseB':>6s} | "
           f"{'r_ph':>6s} {'off':>3s} {'id_ph':>6s} | {'r_vid':>6s} {'off':>3s} {'id_vid':>6s}"
           f" | {'id_re':>6s} {'gen_s':>6s}")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for r in kept:
        ph, vi = r.get("photo", {}), r.get("video", {})
        b = r.get("baseline", {})
        print(f"{short_name(r['file'])[:40]:40s} {r['fps']:5.1f} {r['duration_s']:5.1f} | "
              f"{_f(b.get('r_lag0'))} {_f(b.get('r_best'))} | "
              f"{_f(ph.get('r'))} {_f(ph.get('sync_offset'), '{:d}', 3)} "
              f"{_f(ph.get('identity_median'), '{:.3f}')} | "
              f"{_f(vi.get('r'))} {_f(vi.get('sync_offset'), '{:d}', 3)} "
              f"{_f(vi.get('identity_median'), '{:.3f}')} | "
              f"{_f(r.get('identity_real_vs_first_median'), '{:.3f}')} "
              f"{_f((ph.get('generate_s') or 0) + (vi.get('generate_s') or 0), '{:.1f}')}"
              + ("  ERR " + (ph.get("error") or vi.get("error") or "")[:60]
                 if "error" in ph or "error" in vi else ""), file=out)
    print("-" * len(hdr), file=out)
    sp, sv = summary["photo"], summary["video"]
    print(f"{'mean':40s} {'':5s} {'':5s} | {_f(summary['baseline_r_lag0']['mean'])} "
          f"{_f(summary['baseline_r_best_lag']['mean'])} | {_f(sp['r']['mean'])} {'':3s} "
          f"{_f(sp['identity_median']['mean'], '{:.3f}')} | {_f(sv['r']['mean'])} {'':3s} "
          f"{_f(sv['identity_median']['mean'], '{:.3f}')} | "
          f"{_f(summary['identity_real_vs_first']['mean'], '{:.3f}')}", file=out)
    print(f"{'median':40s} {'':5s} {'':5s} | {_f(summary['baseline_r_lag0']['median'])} "
          f"{_f(summary['baseline_r_best_lag']['median'])} | {_f(sp['r']['median'])} "
          f"{_f(sp['sync_offset']['median'], '{:.0f}', 3)} "
          f"{_f(sp['identity_median']['median'], '{:.3f}')} | {_f(sv['r']['median'])} "
          f"{_f(sv['sync_offset']['median'], '{:.0f}', 3)} "
          f"{_f(sv['identity_median']['median'], '{:.3f}')} | "
          f"{_f(summary['identity_real_vs_first']['median'], '{:.3f}')}", file=out)
    print("\nbase0/baseB: loudness-vs-real-mouth r at lag 0 / best lag in ±3; r_ph/r_vid: "
          "generated-vs-real mouth r at lag 0;\noff: best lag in ±5 (+ = generated mouth "
          "late); id_*: median dlib distance to the source frame; id_re: real frames vs the "
          "first frame.", file=out)
    for mode, s in (("photo", sp), ("video", sv)):
        t = s["targets_met"]
        print(f"\n{mode}: {s['clips']} clips ({s['errors']} errors); mean r {_f(s['r']['mean'])}"
              f" (target ≥ {TARGET_R}: {'met' if t['mean_r_ge_0.6'] else 'NOT met'}); "
              f"baseline on the same frames {_f(s['baseline_r_lag0_same_grid']['mean'])}, "
              f"beats it on {s['beats_baseline']}/{s['clips']} clips "
              f"(mean gain {_f(s['mean_gain_over_baseline'], '{:+.3f}')}, Wilcoxon p "
              f"{s['wilcoxon_p_vs_baseline']}); clips with r ≥ {TARGET_R}: "
              f"{s['clips_r_at_least_target']}", file=out)
        print(f"  identity median of clip medians {_f(s['identity_median']['median'], '{:.3f}')}"
              f" (≤ {TARGET_IDENTITY} on {s['clips_identity_ok']}/{s['clips']} clips); sync "
              f"offset histogram {s['sync_offset']['histogram']} (|offset| ≤ {TARGET_OFFSET} on "
              f"{s['sync_offset']['clips_within_target']}/{s['clips']}); generator's own QA "
              f"passed {s['qa_passed']}/{s['clips']}", file=out)
        conf = s["sync_offset"]["confident"]
        if conf:
            print(f"  offsets where the best-lag r ≥ 0.3 ({len(conf)} clips): median "
                  f"{statistics.median(conf):+g}, {conf}", file=out)
        dg = {k: v["mean"] for k, v in s["diag"].items()}
        print(f"  diagnostics (mean r at lag 0): planned mouth vs real "
              f"{_f(dg['r_plan_vs_real'], width=0)}, generated vs planned "
              f"{_f(dg['r_generated_vs_plan'], width=0)}, generated vs real given the plan "
              f"{_f(dg['r_generated_vs_real_given_plan'], width=0)}; plan from loudness only "
              f"{_f(dg['r_plan_loudness_only_vs_real'], width=0)}, from phonemes only "
              f"{_f(dg['r_plan_phonetic_only_vs_real'], width=0)}; generated/real opening "
              f"std ratio {_f(s['amplitude_ratio']['median'], width=0)} (median)", file=out)
        it = s["interior"]
        print(f"  open mouths ({it['clips']} clips with ≥ 5 open frames in both): inside vs "
              f"cheek luminance real {_f(it['luma_ratio']['real'], width=0)}, generated "
              f"{_f(it['luma_ratio']['generated'], width=0)} (mean |diff| "
              f"{_f(it['luma_ratio']['mean_abs_diff'], width=0)}); share brighter than the "
              f"cheeks real {_f(it['bright_share']['real'], width=0)}, generated "
              f"{_f(it['bright_share']['generated'], width=0)}", file=out)
        co = it["corners"]
        print(f"  wide-open mouths ({co['clips']} clips with ≥ 5 frames open ≥ {WIDE_OPENING} in "
              f"both): corners vs cheek luminance real {_f(co['real'], width=0)}, generated "
              f"{_f(co['generated'], width=0)}", file=out)
    print("\nby source (mean r): " + "; ".join(
        f"{g.split('/')[-1]} n={v['clips']} base {_f(v['baseline_r_lag0'], width=0)} photo "
        f"{_f(v['photo_r'], width=0)} video {_f(v['video_r'], width=0)}"
        for g, v in summary["by_source"].items()), file=out)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def code_state() -> dict[str, Any]:
    """Which code was evaluated: the commit and a digest of the (possibly uncommitted)
    generator, face and watermark sources. Read-only."""
    import hashlib
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        head = None
    digest = {}
    for sub in ("generator", "face", "watermark"):
        h = hashlib.sha256()
        for f in sorted((REPO / "src" / "trustavatar" / sub).rglob("*.py")):
            h.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes())
        digest[sub] = h.hexdigest()[:16]
    return {"git_head": head, "sources_sha256_16": digest}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA,
                    help=f"shared media folder (default: {DEFAULT_MEDIA})")
    ap.add_argument("--clips", default=None,
                    help="only clips whose manifest path matches this regular expression")
    ap.add_argument("--limit", type=int, default=None,
                    help="evaluate at most N clips (after selection, in manifest order)")
    ap.add_argument("--json", dest="json_out", type=Path, default=None,
                    help="write everything (per-clip figures, series, summary) here")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes (default: 2)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="copy the generated MP4s to this folder (must be outside the repo)")
    args = ap.parse_args(argv)

    media = args.media.resolve()
    if not (media / "manifest.json").is_file():
        ap.error(f"{media}/manifest.json not found (use --media)")
    if args.keep is not None:
        keep = args.keep.resolve()
        if keep == REPO or REPO in keep.parents:
            ap.error("--keep must be outside the repository (no derived media in the repo)")
        keep.mkdir(parents=True, exist_ok=True)
    if args.json_out is not None and REPO in args.json_out.resolve().parents:
        print("note: the JSON holds per-frame measurements of third-party clips; keep it "
              "out of commits", file=sys.stderr)

    t0 = time.perf_counter()
    load0 = _loadavg()
    cands = candidates(media)
    if args.clips:
        pat = re.compile(args.clips)
        cands = [c for c in cands if pat.search(c["file"])]
    print(f"{len(cands)} real clips with audible audio"
          + (f" matching {args.clips!r}" if args.clips else ""), file=sys.stderr)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="trustavatar-eval-") as tmp:
        # Screening is done inside each job (it needs the real clip's landmarks); --limit
        # counts kept clips, so jobs are submitted in manifest order until enough are kept.
        order = sorted(range(len(cands)), key=lambda i: -(cands[i].get("duration_s") or 0))
        if args.limit is not None:
            order = list(range(len(cands)))  # manifest order, so --limit is predictable
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=ctx,
                                    initializer=_worker_init, initargs=(tmp,)) as pool:
            pending: dict[cf.Future[dict[str, Any]], int] = {}
            queue = list(order)
            kept = 0

            def submit() -> None:
                while queue and len(pending) < max(1, args.jobs) and (
                        args.limit is None or kept + len(pending) < args.limit):
                    i = queue.pop(0)
                    pending[pool.submit(evaluate_clip, cands[i], str(media),
                                        str(args.keep.resolve()) if args.keep else None)] = i

            submit()
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    r = fut.result()
                    r["_order"] = i
                    rows.append(r)
                    status = ("excluded: " + r["excluded"] if "excluded" in r else
                              "ERROR " + r["error"] if "error" in r else
                              f"photo r {r.get('photo', {}).get('r')} video r "
                              f"{r.get('video', {}).get('r')}")
                    if "excluded" not in r:
                        kept += 1
                    print(f"[{time.perf_counter() - t0:6.1f}s] {short_name(r['file'])}: "
                          f"{status} ({r['wall_s']} s)", file=sys.stderr, flush=True)
                submit()
    rows.sort(key=lambda r: r.pop("_order"))
    if args.limit is not None:
        kept_rows = [r for r in rows if "excluded" not in r][:args.limit]
        rows = [r for r in rows if "excluded" in r or r in kept_rows]
    runtime = time.perf_counter() - t0
    summary = summarise(rows)
    summary["runtime_s"] = round(runtime, 1)
    summary["loadavg_start_end"] = [load0, _loadavg()]
    summary["jobs"] = args.jobs
    summary["cpu_count"] = os.cpu_count()
    excluded = [(r["file"], r["excluded"]) for r in rows if "excluded" in r]
    errors = [(r["file"], r["error"]) for r in rows if "error" in r]

    print_table(rows, summary)
    if excluded:
        print(f"\nexcluded ({len(excluded)}):")
        for f, why in excluded:
            print(f"  {short_name(f)}: {why}")
    if errors:
        print(f"\nerrors ({len(errors)}):")
        for f, why in errors:
            print(f"  {short_name(f)}: {why}")
    print(f"\nruntime {runtime:.1f} s with {args.jobs} worker(s) on {os.cpu_count()} CPU(s) "
          f"(1-min load average at start/end: {summary['loadavg_start_end']}; other work on "
          f"the machine slows this down)")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "method": {"target_r": TARGET_R, "target_identity": TARGET_IDENTITY,
                       "target_offset": TARGET_OFFSET, "sync_lags": SYNC_LAGS,
                       "baseline_lags": BASELINE_LAGS, "min_face_fraction": MIN_FACE_FRACTION,
                       "min_mouth_p90": MIN_MOUTH_P90,
                       "offset_sign": "positive = generated mouth later than the real one"},
            "media": str(media), "code": code_state(), "summary": summary, "clips": rows},
            indent=1))
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
