"""The spoken-code check on clips with silence or noise around the sentence, as recordings have.

``eval_spoken_code.py`` scores utterances that are all speech. A recorded clip also has a
stretch before the subject starts and after they stop, with whatever the room sounds like
(silence, fan noise, other people talking). This study pads each utterance of the
development voices (``choose_code_digits.py``'s set: eight espeak-ng voices the evaluation
does not use, 3 rates x 2 pitches x clean / white noise 10 dB / babble 15 dB = 144) with
``--before`` and ``--after`` seconds, lays the noise over the whole padded clip at the
condition's SNR (relative to the speech), and scores it on the same audio in up to three
ways (``--variants``):

* ``whole``: the whole clip decoded, in one try;
* ``span``: only the speech span (``spoken_code._speech_span``), in one try;
* ``shipped``: what the check does: the speech span, and when that fails, a second try up to
  where the loudest voice stops (``spoken_code._speaker_end``).

Each utterance is also scored against its code with one digit changed (false accepts).

    python consent/padded_clips.py [--before 1.5] [--after 2.5] [--jobs 2] [--out F.json]
                                   [--voices dev|eval] [--variants span,shipped]
                                   [--limit N]

Session 16 (``consent/README.md``; 16 minutes on 2 cores for two variants): whole clip 121,
speech span 123 of 144 accepted, no wrong code accepted; babble at 15 dB 32 of 48 either way
(background talk after the sentence is decoded as more of it).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import multiprocessing
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from choose_code_digits import DEV_VOICES, NOISES, PITCHES, RATES, template_for
from eval_spoken_code import PITCHES as EVAL_PITCHES
from eval_spoken_code import VOICES as EVAL_VOICES
from eval_spoken_code import _babble_sources, _mix, _noise, _random_code, _wrong_one_digit

from trustavatar.consent import spoken_code
from trustavatar.consent.spoken_code import MIN_MARGIN, score_spoken_code
from trustavatar.generator.audio import Audio, synthesize

_SPAN = spoken_code._speech_span
_SPEAKER_END = spoken_code._speaker_end
#: variant → (speech span, second-try end point)
VARIANTS: dict[str, tuple[Any, Any]] = {
    "whole": (lambda audio: (0, audio.num_samples), lambda *args: None),
    "span": (_SPAN, lambda *args: None),
    "shipped": (_SPAN, _SPEAKER_END),
}


def padded_utterance(index: int, voice: tuple[str, str | None], rate: int, pitch: int,
                     noise: tuple[str, float | None], media: Path, before: float,
                     after: float) -> tuple[Audio, str, str]:
    """The padded clip, its code and the code with one digit changed."""
    (language, variant), (kind, snr) = voice, noise
    rng = random.Random(20_000 + index)  # noqa: S311 - reproducible test data
    code = _random_code(rng)
    speech = synthesize(spoken_code.ENGLISH_TEMPLATE.spoken(code), language=language,
                        voice=variant, rate=rate, pitch=pitch).audio
    sr = speech.sample_rate
    s = speech.samples.astype(np.float32)
    x = np.concatenate([np.zeros(int(before * sr), np.float32), s,
                        np.zeros(int(after * sr), np.float32)])
    if kind != "clean":
        assert snr is not None
        x = _mix(x, _noise(kind, len(x), rng, _babble_sources(media)), snr, reference=s)
    return Audio.from_array(x.astype(np.float32), sr), code, _wrong_one_digit(code, rng)


def _trial(args: tuple[int, tuple[str, str | None], int, int, tuple[str, float | None], str,
                      float, float, tuple[str, ...]]) -> dict[str, Any]:
    index, voice, rate, pitch, noise, media, before, after, variants = args
    audio, code, wrong = padded_utterance(index, voice, rate, pitch, noise, Path(media),
                                          before, after)
    template = template_for(spoken_code.ENGLISH_TEMPLATE.code_digits)
    out: dict[str, Any] = {"voice": f"{voice[0]}+{voice[1] or 'default'}", "rate": rate,
                           "pitch": pitch,
                           "noise": f"{noise[0]} {noise[1] or ''}".strip(), "code": code}
    for name in variants:
        spoken_code._speech_span, spoken_code._speaker_end = VARIANTS[name]
        try:
            started = time.process_time()
            right = score_spoken_code(audio, code, template=template, min_margin=-math.inf)
            other = score_spoken_code(audio, wrong, template=template, min_margin=-math.inf)
            out[name] = {"cpu_s": round(time.process_time() - started, 3),
                         "accepted": right.failure is None and right.margin >= MIN_MARGIN,
                         "false_accept": other.failure is None and other.margin >= MIN_MARGIN,
                         "margin": round(right.margin, 2), "failure": right.failure}
        finally:
            spoken_code._speech_span, spoken_code._speaker_end = _SPAN, _SPEAKER_END
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=float, default=1.5, help="seconds before the speech")
    parser.add_argument("--after", type=float, default=2.5, help="seconds after the speech")
    parser.add_argument("--media", default=str(Path(__file__).resolve().parents[2] /
                                               "shared" / "media"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="write every trial here (JSON)")
    parser.add_argument("--limit", type=int, default=None, help="the first N utterances only")
    parser.add_argument("--voices", choices=("dev", "eval"), default="dev",
                        help="the development voices (default), or the evaluation's six "
                             "voices and three pitches (a held-out check)")
    parser.add_argument("--variants", default="span,shipped",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if not variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants {args.variants!r}: choose from {', '.join(VARIANTS)}")
    if args.before < 0 or args.after < 0:
        parser.error("--before and --after must be >= 0")
    noises = NOISES if _babble_sources(Path(args.media)) else \
        [n for n in NOISES if n[0] != "babble"]
    voices_pitches = (DEV_VOICES, RATES, PITCHES) if args.voices == "dev" else \
        (EVAL_VOICES, RATES, EVAL_PITCHES)
    jobs = [(i, v, r, p, n, args.media, args.before, args.after, variants)
            for i, (v, r, p, n) in
            enumerate(itertools.product(*voices_pitches, noises))][:args.limit]
    started = time.perf_counter()
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        trials = pool.map(_trial, jobs, chunksize=1)
    print(f"{len(trials)} utterances ({args.voices} voices), {args.before:g} s before and "
          f"{args.after:g} s after; {time.perf_counter() - started:.0f} s")
    for name in variants:
        rows = [t[name] for t in trials]
        print(f"{name}: accepted {sum(r['accepted'] for r in rows)} of {len(rows)}, "
              f"wrong codes accepted {sum(r['false_accept'] for r in rows)}, "
              f"CPU {sum(r['cpu_s'] for r in rows):.0f} s")
        by_noise: dict[str, list[bool]] = collections.defaultdict(list)
        for t in trials:
            by_noise[t["noise"]].append(t[name]["accepted"])
        print("  by noise: " + ", ".join(f"{k} {sum(v)}/{len(v)}"
                                         for k, v in sorted(by_noise.items())))
        kinds = collections.Counter(re.sub(r"\d+", "#", r["failure"]).split("(")[0].strip()
                                    for r in rows if r["failure"])
        print("  failures: " + (", ".join(f"{k}: {n}" for k, n in kinds.most_common())
                                or "none"))
    if args.out:
        Path(args.out).write_text(json.dumps(trials, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
