"""Benchmark: C2PA sign + verify of a 60 s 512×512 H.264 MP4 (and the still/audio formats).

    python provenance/bench.py [--seconds 60] [--repeat 7] [--json]

Not a timed test: it prints medians for the record (the issue expects tens of ms).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.synthetic_media import make_image, make_video, make_wav

from trustavatar import provenance as pv
from trustavatar.home import Home
from trustavatar.keys import Keystore


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ks = Keystore.create(Home.resolve(tmp / "home"), organisation="Bench")
        key, trust = ks.signing_key(), ks.trust_store()
        t0 = time.perf_counter()
        inputs = {
            f"mp4 {args.seconds:g}s 512x512": make_video(tmp / "v.mp4", seconds=args.seconds,
                                                         size=(512, 512)),
            "jpeg 512x512": make_image(tmp / "i.jpg", size=(512, 512)),
            "png 512x512": make_image(tmp / "i.png", size=(512, 512)),
            "wav 60s 16kHz": make_wav(tmp / "a.wav", seconds=60),
        }
        make_s = time.perf_counter() - t0
        binding = pv.ConsentBinding("bench", "00" * 32)
        rows = []
        for name, src in inputs.items():
            out = tmp / f"signed{src.suffix}"
            sign_ms = _median_ms(lambda src=src, out=out: pv.sign(
                src, out, key=key, trust=trust, consent=binding), args.repeat)
            verify_ms = _median_ms(lambda out=out: pv.verify(out, trust=trust), args.repeat)
            assert pv.verify(out, trust=trust).state is pv.ValidationState.TRUSTED
            rows.append({"input": name, "bytes": src.stat().st_size,
                         "sign_ms_incl_self_check": round(sign_ms, 1),
                         "verify_ms": round(verify_ms, 1)})
    result = {"machine": f"{platform.processor() or platform.machine()}, "
                         f"{platform.python_implementation()} {platform.python_version()}",
              "repeat": args.repeat, "make_inputs_s": round(make_s, 1), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'input':<22}{'bytes':>12}{'sign ms':>10}{'verify ms':>11}")
    for r in rows:
        print(f"{r['input']:<22}{r['bytes']:>12}{r['sign_ms_incl_self_check']:>10}"
              f"{r['verify_ms']:>11}")
    print("(sign includes reading the signed output back to verify it; medians of "
          f"{args.repeat} runs)")


if __name__ == "__main__":
    main()
