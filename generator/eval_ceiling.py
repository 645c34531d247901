"""How high can ``eval.py``'s lip-sync r go? The measure's own test-retest reliability.

For every clip ``eval.py`` evaluates (same candidates, same screening), the real clip's
mouth opening is measured twice: on the clip itself and on a copy that differs only in
pixels — 2 % cropped off the top and left, scaled to 90 %, re-encoded with libx264 at
CRF 28 (the generator's own ``VideoWriter``). A generator that reproduced the real mouth
exactly would still be measured through the landmarker's noise; Pearson r between the two
measurements is the ceiling of the lip-sync r on that clip.

    python generator/eval_ceiling.py [--media ../shared/media] [--jobs 2] [--json OUT]

Reads the shared media by path; the re-encoded copies live in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval import candidates, measure_video, pearson, screen

CROP = 0.02
SCALE = 0.9
CRF = 28


def perturbed_copy(src: Path, out: Path) -> None:
    """``src`` cropped, scaled and re-encoded into ``out`` (frame for frame)."""
    import itertools

    import cv2

    from trustavatar.generator.encode import VideoWriter
    from trustavatar.video_io import iter_frames, probe

    def shrink(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        frame = frame[int(h * CROP):, int(w * CROP):]
        h, w = frame.shape[:2]
        size = (int(w * SCALE) // 2 * 2, int(h * SCALE) // 2 * 2)
        return np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))

    frames = (shrink(f) for f in iter_frames(src))
    first = next(frames)
    with VideoWriter(out, width=first.shape[1], height=first.shape[0], fps=probe(src).fps,
                     audio=None, crf=CRF, preset="medium") as writer:
        for frame in itertools.chain([first], frames):
            writer.write(frame)


def retest(entry: dict[str, Any], media: str) -> dict[str, Any]:
    path = Path(media) / entry["file"]
    real = measure_video(path)
    row: dict[str, Any] = {"file": entry["file"], "source": entry.get("source_repo")}
    why = screen(entry, real)
    if why:
        return {**row, "excluded": why}
    with tempfile.TemporaryDirectory(prefix="trustavatar-retest-") as tmp:
        copy = Path(tmp) / "copy.mp4"
        perturbed_copy(path, copy)
        again = measure_video(copy)
    n = min(len(real.opening), len(again.opening))
    return {**row, "frames": n, "frames_copy": len(again.opening),
            "r": pearson(real.opening[:n], again.opening[:n])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", default=str(Path(__file__).resolve().parents[2] /
                                               "shared" / "media"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", default=None, help="write every row here")
    args = parser.parse_args(argv)
    media = Path(args.media)
    if not (media / "manifest.json").is_file():
        parser.error(f"no manifest.json in {media}")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json: folder {Path(args.json).parent} does not exist")
    entries = candidates(media)
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        rows = pool.starmap(retest, [(e, str(media)) for e in entries], chunksize=1)
    kept = [r for r in rows if r.get("r") is not None]
    by_source: dict[str, list[float]] = defaultdict(list)
    for r in kept:
        by_source[str(r["source"])].append(r["r"])
    print("| source | clips | mean r | lowest |")
    print("|---|---|---|---|")
    for source, values in sorted(by_source.items()):
        print(f"| {source} | {len(values)} | {statistics.fmean(values):.3f} | "
              f"{min(values):.3f} |")
    values = [r["r"] for r in kept]
    print(f"| **all** | {len(values)} | **{statistics.fmean(values):.3f}** "
          f"(median {statistics.median(values):.3f}) | {min(values):.3f} |")
    for r in rows:
        if "excluded" in r:
            print(f"excluded: {Path(r['file']).name}: {r['excluded']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
