"""How the consent check's loop test (``trustavatar.face.repetition``) does on real footage.

For every real clip in ``../shared/media/real``:

* the clip itself: real footage should not be flagged (a flag is a false reject, unless the
  clip really repeats: some published test clips are themselves looped; the script prints
  each flag so it can be checked on the pixels);
* three looped copies of its first ``--seconds`` (2.5 s), re-encoded by libx264 (CRF 23)
  as an attacker would make them:

  - ``loop``: the stretch three times;
  - ``pingpong``: the stretch, then the same frames backwards;
  - ``jitter``: the stretch, then a copy zoomed 2 % and turned 1° and shifted 3 px right
    and 2 px down, then one moved the opposite way (what a loop that dodges exact
    matching would do).

Every clip is read as ``trustavatar consent record`` reads it (the same frame reader,
analysis size and face mesh: ``trustavatar.consent.record._read_frames``).

    python consent/eval_repetition.py [--media ../shared/media] [--jobs 2] [--limit N]
                                      [--json OUT]

Nothing from the media is written anywhere but a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from trustavatar.consent.record import _read_frames
from trustavatar.face.repetition import find_repetition
from trustavatar.video_io import probe

VARIANTS = ("real", "loop", "pingpong", "jitter")


def _frames(path: Path, seconds: float) -> tuple[list[np.ndarray], float]:
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                break
            out.append(frame.to_ndarray(format="rgb24"))
    return out, fps


def _write(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23"}
        for f in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _moved(frame: np.ndarray, k: int) -> np.ndarray:
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.0 * k, 1.0 + 0.02 * k)
    m[:, 2] += (3 * k, 2 * k)
    return cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _variant(name: str, segment: list[np.ndarray]) -> list[np.ndarray]:
    if name == "loop":
        return segment * 3
    if name == "pingpong":
        return segment + segment[::-1]
    return segment + [_moved(f, 1) for f in segment] + [_moved(f, -1) for f in segment]


def _check(path: Path) -> dict[str, Any]:
    info = probe(path)
    frames = _read_frames(path, info.fps, info.frames, watermark=False)
    start = time.perf_counter()
    found = find_repetition(frames.landmarks, frames.times)
    return {"seconds": round(time.perf_counter() - start, 3),
            "frames": len(frames.times),
            "found": None if found is None else found.to_dict(),
            "what": None if found is None else found.describe()}


def evaluate(args: tuple[Path, float]) -> list[dict[str, Any]]:
    clip, seconds = args
    rows = [{"clip": clip.name, "variant": "real", **_check(clip)}]
    segment, fps = _frames(clip, seconds)
    if len(segment) < 2 * fps:
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANTS[1:]:
            made = Path(tmp) / f"{name}.mp4"
            _write(made, _variant(name, segment), fps)
            rows.append({"clip": clip.name, "variant": name, **_check(made)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", default=str(Path(__file__).resolve().parents[2] /
                                               "shared" / "media"))
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", default=None)
    a = parser.parse_args()
    clips = sorted((Path(a.media) / "real").glob("*.mp4"))[: a.limit]
    if not clips:
        sys.exit(f"no clips in {a.media}/real")
    rows: list[dict[str, Any]] = []
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        for done in pool.imap_unordered(evaluate, [(c, a.seconds) for c in clips]):
            rows.extend(done)
            for r in done:
                if (r["variant"] == "real") == (r["found"] is not None):
                    flag = "FLAGGED" if r["found"] else "missed"
                    print(f"{flag:8s} {r['variant']:8s} {r['clip']}: {r['what'] or ''}",
                          flush=True)
    by: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in rows:
        by[r["variant"]].append(r)
    print(f"\n{'variant':9s} {'clips':>5s} {'flagged':>8s} {'aligned':>8s} {'reversed':>8s}"
          f" {'worst distance (max)':>21s}")
    for name in VARIANTS:
        got = [r["found"] for r in by[name] if r["found"]]
        worst = max((f["distance"] for f in got), default=float("nan"))
        print(f"{name:9s} {len(by[name]):5d} {len(got):8d} "
              f"{sum(f['aligned'] for f in got):8d} {sum(f['reversed'] for f in got):8d} "
              f"{worst:21.4f}")
    times = [r["seconds"] for r in rows]
    print(f"find_repetition: {np.mean(times) * 1000:.0f} ms a clip on average, "
          f"{max(times) * 1000:.0f} ms at most")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
