"""Benchmark checking a recorded consent clip: how long the checks of a 10 s clip take.

Renders one webcam-like test clip (640x480, 25 fps, AAC audio; the sample portrait reading
the consent sentence, padded with silence to ``--seconds``) with the fixture renderer,
then times :func:`trustavatar.consent.check_clip` (decode, spoken code, liveness,
identity, provenance screen) and the whole :func:`trustavatar.consent.record_clip`
(plus challenge, signing and the registry). The first run also loads the models (dlib,
mediapipe, PocketSphinx); the median is over ``--runs`` more. Not a test: numbers depend
on the machine.

    python consent/bench_record.py [--runs 3] [--seconds 10] [--size 640x480] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import consent_clips

from trustavatar import consent
from trustavatar.consent import challenge as challenge_module
from trustavatar.face import sample_portrait_path
from trustavatar.generator.audio import Audio
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry

NONCE = bytes(range(16))
DRAFT = consent.ConsentDraft(display_name="Bench Subject")


def make_clip(path: Path, *, seconds: float, width: int, height: int) -> Path:
    """The portrait on a ``width`` x ``height`` canvas reading the sentence, silence around
    it so the clip lasts ``seconds``."""
    code = challenge_module.derive_code(DRAFT, NONCE, consent.ENGLISH_TEMPLATE.code_digits)
    speech = consent_clips.speech_for(consent.ENGLISH_TEMPLATE.spoken(code))
    rate = speech.audio.sample_rate
    lead = int(1.5 * rate)
    total = max(int(seconds * rate), speech.audio.num_samples + lead)
    samples = np.zeros(total, np.float32)
    samples[lead:lead + speech.audio.num_samples] = speech.audio.samples
    shift = lead / rate
    phonemes = tuple(type(p)(p.start + shift, p.end + shift, p.symbol, p.alphabet)
                     for p in speech.phonemes)
    padded = type(speech)(audio=Audio(samples, rate), phonemes=phonemes, words=(),
                          language=speech.language, voice=speech.voice)
    face = cv2.resize(consent_clips.portrait_image(), (height, height),
                      interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(face, 0, 0, (width - height) // 2, width - height -
                                (width - height) // 2, cv2.BORDER_REPLICATE)
    return consent_clips.render(path, canvas, padded)


def _time(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(runs: int, seconds: float, width: int, height: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        clip = make_clip(d / "clip.mp4", seconds=seconds, width=width, height=height)
        render_s = time.perf_counter() - t
        code = challenge_module.derive_code(DRAFT, NONCE, consent.ENGLISH_TEMPLATE.code_digits)
        portrait = sample_portrait_path()

        def check() -> None:
            report = consent.check_clip(clip, code=code, portrait=portrait)
            assert not report.failures(), report.failures()

        first = _time(check)
        checks = [_time(check) for _ in range(runs)]

        keystore = Keystore.create(Home.resolve(d / "home"), organisation="Bench Org")
        key = keystore.signing_key()
        challenge_module._new_nonce = lambda: NONCE  # the clip says this nonce's code
        records = []
        with Registry.open(d / "registry.sqlite3") as registry:
            for _ in range(runs):
                ch = consent.create_challenge(registry, DRAFT)
                at = ch.created_at + dt.timedelta(seconds=30)
                records.append(_time(lambda ch=ch, at=at: consent.record_clip(
                    key, registry, challenge_id=ch.challenge_id, clip=clip,
                    portrait=portrait, at=at)))
        return {
            "machine": {"python": platform.python_version(), "cpu": platform.processor()
                        or platform.machine(), "cores": _cores()},
            "clip": {"seconds": seconds, "size": f"{width}x{height}", "fps": consent_clips.FPS,
                     "render_s": round(render_s, 2)},
            "check_clip_first_s": round(first, 2),
            "check_clip_median_s": round(statistics.median(checks), 2),
            "check_clip_runs_s": [round(x, 2) for x in checks],
            "record_clip_median_s": round(statistics.median(records), 2),
        }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = run(args.runs, args.seconds, width, height)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"clip: {result['clip']['seconds']:g} s, {result['clip']['size']}, "
          f"{result['clip']['fps']:g} fps ({result['machine']['cores']} cores)")
    print(f"check_clip: first {result['check_clip_first_s']} s (loads the models), "
          f"median {result['check_clip_median_s']} s over {args.runs} runs")
    print(f"record_clip (checks + challenge + sign + registry): median "
          f"{result['record_clip_median_s']} s")


if __name__ == "__main__":
    main()
