"""Fit the shipped fusion file from the dev media (shared/media).

    python detector/fit_fusion.py [--features a,b,...] [--limit N] [--out PATH]

Every real and fake video of ``shared/media/manifest.json`` is scanned (cached under /tmp,
shared with eval.py); the fusion is fitted on the *original* clips of every source
repository: reference statistics from the real clips, a logistic regression with
non-negative weights on all clips, Platt scaling and thresholds from leave-one-source-out
(out-of-fold) scores. The file records the sources, counts and generators it was fitted
on, and its own leave-one-source-out figures. Writes
``src/trustavatar/data/detector/fusion-v1.json`` by default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_MEDIA,
    DEFAULT_WORK,
    figures_of,
    load_clips,
    scan_all,
)

from trustavatar.detector.fusion import (
    DEFAULT_FEATURES,
    TrainingRow,
    default_fusion_path,
    fit_fusion,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--features", default=",".join(DEFAULT_FEATURES))
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation strength")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=default_fusion_path())
    args = ap.parse_args(argv)
    clips = load_clips(args.media, limit=args.limit)
    results = scan_all(clips, ["original"], args.media, args.work, workers=args.workers)
    rows = []
    for c in clips:
        r = results[("original", c.file)]
        if "error" in r:
            print(f"skipped {c.file}: {r['error']}", file=sys.stderr)
            continue
        rows.append(TrainingRow(figures_of(r), c.label, c.group, c.generator, c.file))
    features = [f for f in args.features.split(",") if f]
    model = fit_fusion(
        rows, features=features, c=args.c,
        notes=("fitted by detector/fit_fusion.py on the real and fake videos of shared/media "
               "(third-party research media, read by path, never shipped); reals and fakes "
               "come from different source repositories, so the leave-one-source-out "
               "figures in 'metrics' are the honest ones — see detector/README.md"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "features": model.features,
                      "weights": model.weights, "thresholds": model.thresholds,
                      "metrics": model.metrics, "fitted_on": model.fitted_on}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
