"""Benchmark ``trustavatar.consent.require``: median time with and without the face check.

Makes a throw-away home and keystore, issues one artifact for the sample portrait, then
times ``require()`` ``--runs`` times per case (after one warm-up call that also loads the
dlib models). Not a test: numbers depend on the machine.

    python consent/bench.py [--runs 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustavatar import consent
from trustavatar.face import embed_face, load_image, sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry


def _time(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
    }


def run(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Home.resolve(Path(tmp) / "home")
        keystore = Keystore.create(home, organisation="Bench Org")
        trust = keystore.trust_store()
        release = Path(tmp) / "release.txt"
        release.write_text("signed release")
        portrait = sample_portrait_path()
        with Registry.for_home(home) as registry:
            artifact = consent.issue(
                keystore.signing_key(), portrait=portrait, display_name="Sample Subject",
                evidence=consent.Evidence.operator_attestation(release), registry=registry,
            )
            raw = artifact.raw
            pixels = load_image(portrait)
            probe = embed_face(pixels)

            def check(**kw: Any) -> Callable[[], object]:
                return lambda: consent.require(
                    raw, purpose="avatar-generation", trust=trust, registry=registry, **kw
                )

            cases = {
                "require, no face": check(),
                "require, face image (detect + embed)": check(face=pixels),
                "require, precomputed face embedding": check(face=probe),
                "embed_face alone (256x256)": lambda: embed_face(pixels),
            }
            results = {name: _time(fn, runs) for name, fn in cases.items()}
    return {
        "runs": runs,
        "artifact_bytes": len(raw),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per case")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    report = run(max(1, args.runs))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"consent require() benchmark, median of {report['runs']} runs "
          f"(artifact {report['artifact_bytes']} bytes)")
    print(f"{'case':<40} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, r in report["results"].items():
        print(f"{name:<40} {r['median_ms']:>10.2f} {r['min_ms']:>8.2f} {r['max_ms']:>8.2f}")


if __name__ == "__main__":
    main()
