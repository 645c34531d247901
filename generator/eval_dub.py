"""Does a dub follow its plan, whatever the filmed mouth does? (video mode, mismatched audio)

`eval.py` dubs each real clip with its *own* audio, so there the plan and the filmed mouth
go together, and a renderer that lets the filmed mouth through looks better than it is.
Here each real clip is dubbed with speech from another source (`media/audio`), so the plan
says nothing about the filmed mouth, and the renderer's dependence on the filmed mouth can
be measured: the rendered opening is regressed on the plan and the filmed opening (each
clip's mean removed). A faithful renderer has the filmed coefficient b at 0 and
r(rendered, plan) near 1. Session 20 found b clearly negative (a filmed open mouth closed
to the plan read as more closed than planned: -0.037 on this script's pairs, -0.057 on
the study's) and fixed it (`generator/EVAL.md`).

The frames are rendered by the generator's own `VideoRenderer`, frame by frame, without
encoding or the watermark (those do not change the figures, and take most of the time),
and measured by mediapipe as `eval.py` measures. Nothing is written to the repository.

    python generator/eval_dub.py                 # 16 clips, ~1 min on 2 cores
    python generator/eval_dub.py --limit 4 --json /tmp/dub.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval as ev

#: seconds of speech dubbed onto each clip, and where it starts in the speech file
DUB_SECONDS, SPEECH_START = 4.0, 1.0
#: filmed-opening bins for the table of (rendered - planned)
BINS = ((0.0, 0.01), (0.01, 0.03), (0.03, 0.05), (0.05, 1.0))


def pairs(media: Path, limit: int) -> list[tuple[str, str]]:
    """(real clip, speech file) pairs: real clips with audible audio, each with speech from
    another source repository, dealt in manifest order (deterministic)."""
    manifest = json.loads((media / "manifest.json").read_text())
    clips = [m for m in ev.candidates(media) if not ev.NOT_SPEECH_NOTE.search(
        " ".join(str(m.get(k) or "") for k in ("notes", "how_judged")))]
    speech = [m for m in manifest if m.get("label") == "audio"
              and (m.get("duration_s") or 0) >= DUB_SECONDS + SPEECH_START + 0.5]
    # a spread over sources: round-robin over the clips' repositories
    by_repo: dict[str, list[dict[str, Any]]] = {}
    for m in clips:
        by_repo.setdefault(str(m.get("source_repo")), []).append(m)
    spread: list[dict[str, Any]] = []
    while any(by_repo.values()):
        for repo in list(by_repo):
            if by_repo[repo]:
                spread.append(by_repo[repo].pop(0))
    out = []
    for i, clip in enumerate(spread[:limit]):
        others = [s for s in speech if s.get("source_repo") != clip.get("source_repo")]
        out.append((clip["file"], others[(7 * i) % len(others)]["file"]))
    return out


def dub_one(media: Path, clip_file: str, speech_file: str) -> dict[str, Any]:
    """Render the clip's first seconds to the other speech's plan; measure every frame."""
    from trustavatar.face.mesh import FaceMesh, mouth_opening
    from trustavatar.generator import pipeline
    from trustavatar.generator.audio import load_audio
    from trustavatar.generator.render import VideoRenderer

    clip = media / clip_file
    reference, ref_lm, info = pipeline._reference(clip, "video", None)
    assert info is not None
    whole = load_audio(media / speech_file)
    seconds = min(DUB_SECONDS, info.duration - 0.6)
    audio = whole.segment(SPEECH_START, SPEECH_START + seconds)
    track = ev.plan_track(audio, info.fps, head=False)
    n = len(track.gap)
    h, w = reference.shape[:2]
    renderer = VideoRenderer(reference, ref_lm)
    rows = []
    with FaceMesh(video=True) as tracker, FaceMesh(video=True) as meter, \
            FaceMesh(video=True) as filmed_meter:
        for i, frame in enumerate(pipeline._video_frames(clip, (w, h), n, info.fps)):
            lm = tracker.detect(frame)
            if lm is None:
                continue
            out = renderer.render(frame, lm, pipeline._pose(track, i))
            got, filmed = meter.detect(out), filmed_meter.detect(frame)
            if got is not None and filmed is not None:
                rows.append((mouth_opening(got), float(track.gap[i]), mouth_opening(filmed)))
    return {"clip": clip_file, "speech": speech_file, "frames": rows}


def fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares y ~ x @ b + c: (b, standard errors of b)."""
    x1 = np.column_stack([x, np.ones(len(y))])
    b, *_ = np.linalg.lstsq(x1, y, rcond=None)
    e = y - x1 @ b
    s2 = float(e @ e) / max(1, len(y) - x1.shape[1])
    se = np.sqrt(np.diag(s2 * np.linalg.inv(x1.T @ x1)))
    return b[:-1], se[:-1]


def summarise(dubs: list[dict[str, Any]]) -> dict[str, Any]:
    per_clip, centred = [], []
    for d in dubs:
        a = np.asarray(d["frames"], float)
        if len(a) < 20:
            continue
        got, plan, filmed = a.T
        (_, b), _ = fit(got, np.column_stack([plan, filmed]))
        per_clip.append({"clip": Path(d["clip"]).stem, "frames": len(a),
                         "r_rendered_plan": float(np.corrcoef(got, plan)[0, 1]),
                         "r_plan_filmed": float(np.corrcoef(plan, filmed)[0, 1]),
                         "b_filmed": float(b)})
        centred.append(a - a.mean(0))
    if not centred:
        raise SystemExit("no dub had 20 frames with a face to measure")
    c = np.concatenate(centred)
    (a_w, b_w), (_, se_w) = fit(c[:, 0], c[:, 1:])
    every = np.concatenate([np.asarray(d["frames"], float) for d in dubs if len(d["frames"])])
    bins = []
    for lo, hi in BINS:
        m = (every[:, 2] >= lo) & (every[:, 2] < hi)
        bins.append({"filmed": [lo, hi], "frames": int(m.sum()), "rendered_minus_plan":
                     float(np.mean(every[m, 0] - every[m, 1])) if m.any() else None})
    rs = [p["r_rendered_plan"] for p in per_clip]
    bs = [p["b_filmed"] for p in per_clip]
    return {"clips": per_clip, "frames": len(c), "mean_r_rendered_plan": float(np.mean(rs)),
            "median_b_filmed": float(np.median(bs)),
            "clips_b_negative": int(np.sum(np.less(bs, 0))),
            "within_clip": {"a_plan": float(a_w), "b_filmed": float(b_w), "b_se": float(se_w)},
            "bins": bins}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2]
                   / "shared" / "media", help="shared media folder")
    p.add_argument("--limit", type=int, default=16, help="clips to dub (default 16)")
    p.add_argument("--json", dest="json_out", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    dubs = []
    for clip, speech in pairs(args.media, args.limit):
        t = time.perf_counter()
        try:
            dubs.append(dub_one(args.media, clip, speech))
        except Exception as e:  # a clip that cannot be dubbed is reported, not fatal
            print(f"{Path(clip).stem}: {type(e).__name__}: {e}", flush=True)
            continue
        print(f"[{time.perf_counter() - t0:6.1f}s] {Path(clip).stem[-40:]:40s} "
              f"+ {Path(speech).stem[-30:]:30s} {len(dubs[-1]['frames']):4d} frames "
              f"({time.perf_counter() - t:.1f} s)", flush=True)
    if not dubs:
        print("nothing dubbed", file=sys.stderr)
        return 1
    s = summarise(dubs)
    print(f"\n{'clip':40s} frames r(rendered,plan) r(plan,filmed) b(filmed)")
    for c in s["clips"]:
        print(f"{c['clip'][-40:]:40s} {c['frames']:6d} {c['r_rendered_plan']:16.3f} "
              f"{c['r_plan_filmed']:+14.3f} {c['b_filmed']:+9.3f}")
    w = s["within_clip"]
    print(f"\n{len(s['clips'])} dubs, {s['frames']} frames: mean r(rendered, plan) "
          f"{s['mean_r_rendered_plan']:.3f}; filmed coefficient b within clips "
          f"{w['b_filmed']:+.3f} ± {w['b_se']:.3f} (a = {w['a_plan']:.3f}); per clip median "
          f"{s['median_b_filmed']:+.3f}, negative in {s['clips_b_negative']}")
    for b in s["bins"]:
        shown = ("-" if b["rendered_minus_plan"] is None
                 else f"{b['rendered_minus_plan']:+.4f}")
        print(f"  filmed opening {b['filmed'][0]:.2f}-{b['filmed'][1]:.2f}: {b['frames']:5d} "
              f"frames, rendered - planned {shown}")
    print(f"runtime {time.perf_counter() - t0:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(s, indent=1))
    return 0 if all(math.isfinite(c["r_rendered_plan"]) for c in s["clips"]) else 1


if __name__ == "__main__":
    sys.exit(main())
