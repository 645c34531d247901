"""CPU benchmark of ``scan``: speed against real time, decode floor, shares, memory.

    python detector/bench.py [--seconds 20] [--lengths 10,30,60] [--source CLIP]

The test clip is made at run time under /tmp (never committed): 1280x720 H.264 at 25 fps
with AAC speech-band audio, showing the packaged sample portrait moving slowly over a
textured background — or ``--source``, any clip, re-encoded to 720p. Measured:

- decode-only floor (PyAV decode + RGB conversion, what every scan pays);
- decode + face mesh (the tracker);
- the full default scan, as a multiple of real time;
- each analyzer's share: full scan time minus the time without it (and its own
  busy time as reported in its result);
- peak memory (RSS of a fresh process) against clip length: flat when streaming works.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_WORK, ROOT


def make_clip(path: Path, seconds: float, *, size: tuple[int, int] = (1280, 720),
              fps: int = 25, source: Path | None = None) -> Path:
    """A 720p H.264 + AAC clip (see the module docstring)."""
    from PIL import Image

    from trustavatar.face import sample_portrait_path

    w, h = size
    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    face = np.array(Image.open(sample_portrait_path()).convert("RGB"))
    face = cv2.resize(face, (480, 480), interpolation=cv2.INTER_CUBIC)
    src_frames = None
    if source is not None:
        src = av.open(str(source))
        src_frames = src.decode(video=0)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = {"preset": "veryfast", "crf": "23"}
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(n):
            if src_frames is not None:
                try:
                    img = cv2.resize(next(src_frames).to_ndarray(format="rgb24"), (w, h))
                except StopIteration:
                    break
            else:
                img = background.copy()
                x = 400 + int(30 * np.sin(i / 40))
                y = 120 + int(10 * np.cos(i / 55))
                img[y:y + 480, x:x + 480] = face
                img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255
                              ).astype(np.uint8)
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(v.encode())
        t = np.arange(int(seconds * 16000)) / 16000
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # syllable-rate loudness
        audio = (0.2 * env * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
        for k in range(0, len(audio), 1024):
            f = av.AudioFrame.from_ndarray(audio[None, k:k + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, k
            out.mux(a.encode(f))
        out.mux(a.encode())
    return path


def decode_floor(path: Path) -> tuple[int, float]:
    from trustavatar.detector import FrameReader

    t0 = time.perf_counter()
    n = sum(1 for _ in FrameReader(path))
    return n, time.perf_counter() - t0


def decode_and_mesh(path: Path) -> float:
    from trustavatar.detector import FaceTracker, FrameReader

    t0 = time.perf_counter()
    with FaceTracker() as tracker:
        for frame in FrameReader(path):
            tracker.observe(frame)
    return time.perf_counter() - t0


DEVICE = "cpu"


def timed_scan(path: Path, analyzers: list[str] | None = None) -> tuple[float, dict]:
    from trustavatar.detector import scan
    from trustavatar.keys import TrustStore

    t0 = time.perf_counter()
    r = scan(path, trust=TrustStore.of(), analyzers=analyzers, device=DEVICE)
    return time.perf_counter() - t0, r.to_dict()


def peak_rss_mb(path: Path) -> float:
    """Peak RSS (MiB) of a fresh process scanning ``path``."""
    code = ("import sys, resource; from trustavatar.detector import scan; "
            "from trustavatar.keys import TrustStore; scan(sys.argv[1], trust=TrustStore.of()); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--lengths", default="10,30,60",
                    help="clip lengths (s) for the memory curve; empty to skip")
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "detector" / "results")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where the lip-sync ViT runs (cuda: the GPU batch mode)")
    ap.add_argument("--batch", type=int, default=0,
                    help="also scan a folder of this many clips with --workers processes and "
                         "report end-to-end frames per second (the GPU batch-mode figure)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    from trustavatar.detector import list_analyzers

    args.work.mkdir(parents=True, exist_ok=True)
    clip = make_clip(args.work / f"bench_{args.seconds:g}s.mp4", args.seconds, source=args.source)
    n, t_decode = decode_floor(clip)
    duration = n / 25.0
    t_mesh = decode_and_mesh(clip)
    timed_scan(clip)  # warm-up: imports, model files, phoneme decoder
    t_full, full = timed_scan(clip)
    shares = {}
    names = list_analyzers(default_only=True)
    for name in names:
        t_without, _ = timed_scan(clip, [x for x in names if x != name])
        shares[name] = {"marginal_s": round(t_full - t_without, 3),
                        "busy_s": round(full["analyzers"][name]["seconds"], 3)}
    report = {
        "cpu": os.cpu_count(), "load_avg": os.getloadavg()[0], "clip": "1280x720 H.264 25 fps",
        "frames": n, "duration_s": duration,
        "decode_only": {"seconds": t_decode, "fps": n / t_decode,
                        "x_realtime": duration / t_decode},
        "decode_mesh": {"seconds": t_mesh, "fps": n / t_mesh, "x_realtime": duration / t_mesh},
        "scan": {"seconds": t_full, "fps": n / t_full, "x_realtime": duration / t_full},
        "analyzer_shares": shares,
        "memory_mb": {},
    }
    if args.batch:
        from trustavatar.detector import scan_many

        folder = [make_clip(args.work / f"batch_{i}.mp4", args.seconds, source=args.source)
                  for i in range(args.batch)]
        t0 = time.perf_counter()
        done = [item for item in scan_many(folder, workers=args.workers, device=args.device)]
        wall = time.perf_counter() - t0
        frames = sum(item.result.video["frames_decoded"] for item in done
                     if item.result is not None)
        report["batch"] = {"clips": args.batch, "workers": args.workers, "device": args.device,
                           "seconds": round(wall, 2), "fps": round(frames / wall, 1)}
    report["device"] = args.device
    for length in [float(x) for x in args.lengths.split(",") if x]:
        path = make_clip(args.work / f"bench_{length:g}s.mp4", length)
        report["memory_mb"][f"{length:g}"] = round(peak_rss_mb(path), 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=1) + "\n")
    md = render(report)
    (args.out / "bench.md").write_text(md)
    print(md)
    return 0


def render(r: dict) -> str:
    lines = [f"# Scan benchmark (CPU, {r['cpu']} cores, load average {r['load_avg']:.1f})", "",
             f"Clip: {r['clip']}, {r['duration_s']:.0f} s ({r['frames']} frames), made at run "
             "time from the packaged sample portrait.", "",
             "| stage | seconds | frames/s | × real time |", "|---|---|---|---|"]
    for key, label in (("decode_only", "decode only (floor)"),
                       ("decode_mesh", "decode + face mesh"),
                       ("scan", "full scan (default analyzers)")):
        m = r[key]
        lines.append(f"| {label} | {m['seconds']:.1f} | {m['fps']:.1f} | {m['x_realtime']:.2f} |")
    lines += ["", "| analyzer | marginal s (scan − scan without it) | own busy s |",
              "|---|---|---|"]
    for name, s in r["analyzer_shares"].items():
        lines.append(f"| {name} | {s['marginal_s']:.2f} | {s['busy_s']:.2f} |")
    if r["memory_mb"]:
        lines += ["", "| clip length (s) | peak RSS (MiB) |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in r["memory_mb"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
