#!/usr/bin/env python3
"""Fit the generator's mouth-openness table (phone posteriors → mouth opening).

    python generator/fit_mouth_openness.py [--media ../shared/media] [--out PATH] [--json F]
    python generator/fit_mouth_openness.py --exclude-repo Kedreamix/Linly-Talker \
        --ridge 3e-4 --phonetic-weight 0.8 --out /tmp/without-linly.json   # cross-fitting

**Teachers, not the test.** The table is learned from the mouths that *other* talking-head
generators drew for their audio: the generated videos with speech in ``shared/media/fake``
whose repository licence is permissive (``--licences``, default MIT, Apache-2.0, BSD;
TalkLip, with no licence, is left out). Those generators learned audio → mouth from hours
of real talking faces; their mouths are a far cleaner function of the audio than the
~8 minutes of real footage here, and they are not what ``generator/eval.py`` measures (the
real clips), so the evaluation stays held out.

For every teacher clip: the mouth opening of each frame (mediapipe, inner-lip gap over face
height, as the evaluation measures it), and the phone posteriors of its audio averaged over
each frame (:func:`trustavatar.generator.audio.phone_posteriors`), smoothed as the motion
planner smooths the mouth (Gaussian, ``MotionConfig.smooth_frames``). The non-speech phones
are merged into one column. A ridge regression predicts each clip's z-scored opening.

**Choices by leave-one-generator-out.** The ridge strength and the blend with loudness
(``MotionConfig.phonetic_weight``) are the pair whose *planned mouth* (the full
``posterior_viseme_track`` → ``plan_motion`` path the generator runs) correlates best with
the held-out generator's mouths, averaged over its clips. The table is then refitted on all
teachers and written with its provenance (clips, repositories, licences, seconds) and the
leave-one-generator-out figures. Nothing from the media is stored, only the 40 scores (the
three non-speech phones share one) and the floor and ceiling that map them to an opening.
Runtime: ~1 minute on 2 CPU cores.

``--exclude-repo`` leaves a repository's clips out, for a table that never saw them (the
detector's evaluation scans those clips with it, ``detector/_common.py``); with
``--ridge`` and ``--phonetic-weight`` given, the grid is skipped and the table is fitted
with those choices.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "generator"))

import eval as generator_eval  # noqa: E402  (generator/eval.py: the same mouth measure)

from trustavatar.generator.audio import frame_count, frame_energy, load_audio  # noqa: E402
from trustavatar.generator.audio.mouth_openness import (  # noqa: E402
    OPENNESS_FILE,
    OpennessTable,
    posterior_viseme_track,
)
from trustavatar.generator.audio.posteriors import (  # noqa: E402
    NON_SPEECH_PHONES,
    phone_posteriors,
)
from trustavatar.generator.motion import MotionConfig, plan_motion  # noqa: E402

DEFAULT_MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_OUT = ROOT / "src" / "trustavatar" / "data" / "generator" / OPENNESS_FILE
LICENCES = ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause")
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
PHONETIC_WEIGHTS = (0.55, 0.8, 1.0)
#: Openness 1 is this percentile of the teachers' speech-frame scores.
CEILING_PERCENTILE = 95.0
MIN_FRAMES = 50


@dataclasses.dataclass
class Clip:
    file: str
    repo: str
    licence: str
    fps: float
    opening: np.ndarray  #: (n,) NaN where no face
    posteriors: Any  #: PhonePosteriors
    energy: np.ndarray  #: (n,) speech-band loudness (dB)


def teachers(media: Path, licences: tuple[str, ...]) -> list[dict[str, Any]]:
    manifest = json.loads((media / "manifest.json").read_text())
    return [m for m in manifest if m.get("label") == "fake" and m.get("has_audio")
            and str(m.get("license", "")).split()[0] in licences]


def measure(entry: dict[str, Any], media: Path) -> Clip:
    """The clip's mouth opening per frame, measured as the evaluation measures it
    (``eval.measure_video``), and its audio's phone posteriors and loudness."""
    path = media / entry["file"]
    track = generator_eval.measure_video(path)
    audio = load_audio(path)
    n = min(len(track.opening), frame_count(audio.duration, track.fps))
    return Clip(entry["file"], str(entry.get("source_repo")), str(entry.get("license")),
                track.fps, track.opening[:n], phone_posteriors(audio),
                frame_energy(audio, track.fps)[:n])


def design(clip: Clip, smooth: float) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n, columns) smoothed posteriors with the non-speech phones merged (last column)."""
    frames = clip.posteriors.on_video_frames(clip.fps, len(clip.opening)).astype(np.float64)
    frames = gaussian_filter1d(frames, smooth, axis=0)
    phones = clip.posteriors.phones
    speech = [i for i, p in enumerate(phones) if p not in NON_SPEECH_PHONES]
    rest = [i for i, p in enumerate(phones) if p in NON_SPEECH_PHONES]
    columns = (*(phones[i] for i in speech), "SIL")
    return np.c_[frames[:, speech], frames[:, rest].sum(axis=1)], columns


def fit(clips: list[Clip], lam: float, smooth: float, pw: float,
        provenance: dict[str, Any] | None = None) -> OpennessTable:
    xs, ys = [], []
    columns: tuple[str, ...] = ()
    for c in clips:
        x, columns = design(c, smooth)
        ok = np.isfinite(c.opening)
        y = c.opening[ok]
        xs.append(x[ok])
        ys.append((y - y.mean()) / (y.std() + 1e-9))
    x, y = np.concatenate(xs), np.concatenate(ys)
    xc = x - x.mean(axis=0)
    w = np.linalg.solve(xc.T @ xc + lam * len(x) * np.eye(x.shape[1]), xc.T @ (y - y.mean()))
    score = x @ w
    floor = float(w[-1])  # a frame that is surely silence
    ceiling = float(np.percentile(score[x[:, -1] < 0.5], CEILING_PERCENTILE))
    return OpennessTable({p: round(float(v), 5) for p, v in zip(columns, w, strict=True)},
                         round(floor, 5), round(ceiling, 5), pw, provenance or {})


def planned(clip: Clip, table: OpennessTable) -> np.ndarray:
    n = len(clip.opening)
    vis = posterior_viseme_track(clip.posteriors, fps=clip.fps, n_frames=n, table=table)
    return plan_motion(vis, clip.energy, fps=clip.fps, seed=0,
                       config=table.motion_config()).gap


def leave_one_repo_out(clips: list[Clip], lam: float, smooth: float, pw: float) -> float:
    rs = []
    for repo in sorted({c.repo for c in clips}):
        table = fit([c for c in clips if c.repo != repo], lam, smooth, pw)
        rs += [generator_eval.pearson(planned(c, table), c.opening) or 0.0
               for c in clips if c.repo == repo]
    return float(np.mean(rs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--licences", default=",".join(LICENCES))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--exclude-repo", action="append", default=[],
                    help="leave this source repository's clips out (repeatable)")
    ap.add_argument("--ridge", type=float, help="fit with this ridge strength (no grid)")
    ap.add_argument("--phonetic-weight", type=float,
                    help="fit with this blend weight (no grid; with --ridge)")
    args = ap.parse_args(argv)
    if (args.ridge is None) != (args.phonetic_weight is None):
        ap.error("give --ridge and --phonetic-weight together")
    fixed = args.ridge is not None
    if not (args.media / "manifest.json").is_file():
        print(f"error: no manifest.json under {args.media}", file=sys.stderr)
        return 2
    entries = [e for e in teachers(args.media, tuple(args.licences.split(",")))
               if str(e.get("source_repo")) not in args.exclude_repo]
    clips = []
    for e in entries:
        c = measure(e, args.media)
        face = float(np.isfinite(c.opening).mean()) if len(c.opening) else 0.0
        print(f"{Path(c.file).stem[:60]:60} {len(c.opening):5d} frames  face {face:.0%}",
              flush=True)
        if np.isfinite(c.opening).sum() >= MIN_FRAMES:
            clips.append(c)
    if len({c.repo for c in clips}) < (1 if fixed else 2):
        print("error: need teacher clips from at least two repositories (one with --ridge "
              "and --phonetic-weight)", file=sys.stderr)
        return 2
    smooth = MotionConfig().smooth_frames
    if fixed:
        grid: dict[tuple[float, float], float] = {}
        lam, pw, best = args.ridge, args.phonetic_weight, float("nan")
    else:
        grid = {(lam, pw): leave_one_repo_out(clips, lam, smooth, pw)
                for lam in LAMBDAS for pw in PHONETIC_WEIGHTS}
        for (lam, pw), r in sorted(grid.items()):
            print(f"ridge {lam:g}  phonetic_weight {pw}: leave-one-generator-out r {r:.3f}")
        (lam, pw), best = max(grid.items(), key=lambda kv: kv[1])
    provenance = {
        "fitted": datetime.date.today().isoformat(),
        "recipe": "generator/fit_mouth_openness.py",
        "teachers": [{"file": c.file, "repo": c.repo, "licence": c.licence,
                      "frames": int(np.isfinite(c.opening).sum())} for c in clips],
        "seconds": round(sum(len(c.opening) / c.fps for c in clips), 1),
        "ridge": lam, "smooth_frames": smooth, "ceiling_percentile": CEILING_PERCENTILE,
        "leave_one_generator_out_r": None if fixed else round(best, 4),
        "grid": {f"ridge={k[0]:g},phonetic_weight={k[1]}": round(v, 4)
                 for k, v in sorted(grid.items())},
    }
    if args.exclude_repo:
        provenance["excluded_repos"] = list(args.exclude_repo)
    table = fit(clips, lam, smooth, pw, provenance)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(f"{'used' if fixed else 'chose'} ridge {lam:g}, phonetic_weight {pw}"
          f"{'' if fixed else f' (r {best:.3f})'}; wrote {args.out}")
    print("scores:", " ".join(f"{p} {v:+.2f}" for p, v in
                             sorted(table.scores.items(), key=lambda kv: kv[1])))
    if args.json:
        args.json.write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
