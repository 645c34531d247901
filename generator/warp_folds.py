#!/usr/bin/env python3
"""Folds in the mouth warp, counted on real faces: a fold is a mesh triangle that the
warp turns over, so the output shows a mirrored sliver of the source there (the serrated
lip lines, flaps at the mouth corners and creases across the cheeks that closing an open
mouth used to leave).

For each clip, frames at the 5th, 50th, 80th and 95th percentile of its own mouth opening
(every 5th of the first 200 frames, mediapipe still-image mode) are each used as a source
and warped to inner-lip gaps of 0, 0.02, 0.04, 0.06 and 0.09 of face height, as the photo
renderer does. Triangles of less than half a pixel at either end do not count (the
slivers along a closed mouth's seam), nor triangles made only of inner-lip points (they
lie inside the opening, which the renderer paints over).

Usage (from the repository root)::

    python generator/warp_folds.py                 # the default clips of ../shared/media
    python generator/warp_folds.py --json /tmp/folds.json

Reads the clips by path; writes nothing into the repository. The code measured is the
``trustavatar`` on ``sys.path`` (``PYTHONPATH=<checkout>/src`` measures another checkout).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = REPO.parent / "shared" / "media"
CLIPS = (
    "real/KwaiVGI__LivePortrait__assets_examples_driving_d10.mp4",
    "real/KwaiVGI__LivePortrait__assets_examples_driving_d6.mp4",
    "real/Hangz-nju-cuhk__Talking-Face_PC-AVS__misc_Audio_Source_00015.mp4",
    "real/Hangz-nju-cuhk__Talking-Face_PC-AVS__misc_Pose_Source_00067.mp4",
    "real/Hangz-nju-cuhk__Talking-Face_PC-AVS__misc_Input_00098.mp4",
    "real/rizkiarm__LipNet__evaluation_samples_GRID_bbaf2n.mpg",
)
PERCENTILES = (5, 50, 80, 95)
TARGETS = (0.0, 0.02, 0.04, 0.06, 0.09)


# The count is computed here rather than with MeshWarp.flipped (same thresholds) so that
# the script also measures commits that predate it.
def _cross(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    return np.asarray(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def count_folds(media: Path, clips: tuple[str, ...]) -> list[dict[str, object]]:
    import av

    from trustavatar.face.mesh import FaceMesh, Region, mouth_opening
    from trustavatar.generator.deform import MouthPose
    from trustavatar.generator.render import PhotoRenderer

    inner = set(Region.LIPS_INNER.tolist())
    rows: list[dict[str, object]] = []
    with FaceMesh(video=False) as mesh:
        for clip in clips:
            with av.open(str(media / clip)) as container:
                frames = [f.to_ndarray(format="rgb24")
                          for f in itertools.islice(container.decode(video=0), 0, 200, 5)]
            found = [(f, lm) for f in frames if (lm := mesh.detect(f)) is not None]
            opening = np.array([mouth_opening(lm) for _, lm in found])
            for q in PERCENTILES:
                k = int(np.argmin(np.abs(opening - np.percentile(opening, q))))
                renderer = PhotoRenderer(*found[k])
                tri = renderer.warp.triangles
                only_inner = np.array([set(t.tolist()) <= inner for t in tri])
                for gap in TARGETS:
                    src, dst, _ = renderer._vertices(MouthPose(gap=gap))
                    cs, cd = _cross(src, tri), _cross(dst, tri)
                    folds = ((np.sign(cs) != np.sign(cd)) & (np.abs(cs) >= 1.0) &
                             (np.abs(cd) >= 1.5) & ~only_inner)
                    rows.append({"clip": clip, "percentile": q,
                                 "source_gap": round(float(opening[k]), 4), "target": gap,
                                 "direction": "close" if gap < opening[k] else "open",
                                 "folds": int(folds.sum())})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--json", dest="json_out", type=Path)
    args = ap.parse_args()
    missing = [c for c in CLIPS if not (args.media / c).is_file()]
    if missing:
        print(f"warp_folds: missing in {args.media}: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.json_out is not None and not args.json_out.resolve().parent.is_dir():
        print(f"warp_folds: --json: folder {args.json_out.parent} does not exist",
              file=sys.stderr)
        return 2
    rows = count_folds(args.media, CLIPS)
    print(f"{'direction':10s} {'cases':>6s} {'with a fold':>12s} {'folds':>6s}")
    for direction in ("close", "open"):
        folds = [int(str(r["folds"])) for r in rows if r["direction"] == direction]
        print(f"{direction:10s} {len(folds):6d} {sum(f > 0 for f in folds):12d} "
              f"{sum(folds):6d}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
