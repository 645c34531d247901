"""Choose the digits consent codes use: which digits does the recogniser confuse?

Runs the spoken-code check on espeak-ng voices that ``eval_spoken_code.py`` does **not**
use (other variants and accents), so that the alphabet is chosen on data the evaluation
never sees. Each utterance says a random code over ``--digits`` and is scored against it
with a template whose codes use exactly those digits (and against the code with one digit
changed, for false accepts). Prints the accept rate by voice and noise and the digit
confusions of the structure pass (true digit → heard digit), which say what to leave out.

    python consent/choose_code_digits.py --digits 0123456789   # all digits: see confusions
    python consent/choose_code_digits.py --digits 123478       # the shipped alphabet
    python consent/choose_code_digits.py --hard                 # louder noise, higher pitch
    python consent/choose_code_digits.py --hard --warps 0.85,0.9,0.95,1,1.05,1.1,1.15,1.2,1.25,1.3

Session 9 (``consent/README.md``): 0123456789 → 60 % accepted (87 of 144), confusions
dominated by 6→3, 4→0 ("oh"), 9→1, 5→9; 1234578 → 87 %, left 4→5 and 5→1; 123478 → 97-98 %
(140 and 141 of 144 in two runs: espeak-ng output varies slightly between calls).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import multiprocessing
import random
import sys
import time
from pathlib import Path
from typing import Any

from eval_spoken_code import DECIMAL_WORDS, _babble_sources, _mix, _noise, _wrong_one_digit

from trustavatar.consent import spoken_code
from trustavatar.consent.spoken_code import (
    CODE_LENGTH,
    ENGLISH_TEMPLATE,
    MIN_MARGIN,
    ConsentTemplate,
    score_spoken_code,
)
from trustavatar.errors import InputError
from trustavatar.generator.audio import Audio, synthesize

#: Voices kept apart from the evaluation's (``eval_spoken_code.VOICES``).
DEV_VOICES = [("en-us", "m1"), ("en", "f2"), ("en-gb-x-gbclan", "m4"), ("en-us-nyc", "f4"),
              ("en-gb-x-gbcwmd", "m6"), ("en", "klatt3"), ("en-us", "f1"), ("en-gb-x-rp", "m2")]
RATES = [130, 175, 220]
PITCHES = [35, 65]
NOISES = [("clean", None), ("white", 10.0), ("babble", 15.0)]
#: ``--hard``: a third, higher pitch and both noises at 10 dB (216 utterances), for
#: decoding changes that the default set (97-98 % accepted) is too easy to show.
HARD_PITCHES = [35, 65, 85]
HARD_NOISES = [("clean", None), ("white", 10.0), ("babble", 10.0)]


def template_for(digits: str) -> ConsentTemplate:
    return ConsentTemplate(language="en", asr_model="en-us",
                           statement=ENGLISH_TEMPLATE.statement,
                           code_sentence=ENGLISH_TEMPLATE.code_sentence,
                           digits={d: DECIMAL_WORDS[d] for d in digits})


def _trial(args: tuple[int, tuple[str, str], int, int, tuple[str, float | None], str, str,
                      tuple[float, ...] | None]) -> dict[str, Any]:
    index, (language, variant), rate, pitch, (noise, snr), digits, media, warps = args
    if warps is not None:  # a decoding experiment: other vocal-tract-length warps
        spoken_code.VTLN_WARPS = warps  # type: ignore[misc,assignment]
    template = template_for(digits)
    rng = random.Random(10_000 + index)  # noqa: S311 - reproducible test data
    code = "".join(rng.choice(digits) for _ in range(CODE_LENGTH))
    speech = synthesize(template.spoken(code), language=language, voice=variant, rate=rate,
                        pitch=pitch).audio
    samples = speech.samples.copy()
    if noise != "clean":
        assert snr is not None
        samples = _mix(samples, _noise(noise, len(samples), rng,
                                       _babble_sources(Path(media))), snr)
    audio = Audio.from_array(samples, speech.sample_rate)
    right = score_spoken_code(audio, code, template=template, min_margin=-math.inf)
    wrong = _wrong_one_digit(code, rng, digits)
    other = score_spoken_code(audio, wrong, template=template, min_margin=-math.inf)
    return {"voice": f"{language}+{variant}", "noise": f"{noise} {snr or ''}".strip(),
            "pitch": pitch, "warp": right.warp, "code": code, "readings": list(right.readings),
            "accepted": right.failure is None and right.margin >= MIN_MARGIN,
            "false_accept": other.failure is None and other.margin >= MIN_MARGIN}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", default=ENGLISH_TEMPLATE.code_digits)
    parser.add_argument("--media", default=str(Path(__file__).resolve().parents[2] /
                                               "shared" / "media"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--hard", action="store_true",
                        help="three pitches (35, 65, 85), white and babble noise at 10 dB")
    parser.add_argument("--warps", default=None,
                        help="comma-separated vocal-tract-length warps to try instead of "
                             "spoken_code.VTLN_WARPS")
    args = parser.parse_args(argv)
    warps: tuple[float, ...] | None = None
    if args.warps is not None:
        try:
            warps = tuple(float(w) for w in args.warps.split(","))
        except ValueError:
            parser.error(f"--warps {args.warps!r}: give numbers separated by commas")
        if not warps or not all(0.5 <= w <= 2.0 for w in warps):
            parser.error(f"--warps {args.warps!r}: each warp must be in 0.5..2")
    digits = "".join(sorted(set(args.digits)))
    try:
        template_for(digits)
    except InputError as e:
        parser.error(f"--digits {args.digits!r}: {e}")
    except KeyError:
        parser.error(f"--digits {args.digits!r}: give digits 0-9 only")
    noises, pitches = (HARD_NOISES, HARD_PITCHES) if args.hard else (NOISES, PITCHES)
    if not _babble_sources(Path(args.media)):
        noises = [n for n in noises if n[0] != "babble"]
    jobs = [(i, v, r, p, n, digits, args.media, warps) for i, (v, r, p, n) in
            enumerate(itertools.product(DEV_VOICES, RATES, pitches, noises))]
    started = time.perf_counter()
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        trials = pool.map(_trial, jobs, chunksize=1)
    accepted = sum(t["accepted"] for t in trials)
    print(f"digits {digits}: accepted {accepted} of {len(trials)} "
          f"({100 * accepted / len(trials):.1f} %), false accepts (one digit wrong) "
          f"{sum(t['false_accept'] for t in trials)}; {time.perf_counter() - started:.0f} s")
    for key in ("voice", "noise", "pitch", "warp"):
        groups: dict[str, list[bool]] = collections.defaultdict(list)
        for t in trials:
            groups[t[key]].append(t["accepted"])
        print(f"by {key}: " + ", ".join(f"{k} {sum(v)}/{len(v)}"
                                        for k, v in sorted(groups.items())))
    confusions: collections.Counter[tuple[str, str]] = collections.Counter()
    for t in trials:
        heard = [r for r in t["readings"] if r]
        if len(heard) == 1 and len(heard[0]) == len(t["code"]):
            confusions.update((a, b) for a, b in zip(t["code"], heard[0], strict=True)
                              if a != b)
    print("confusions (true -> heard: count): "
          + (", ".join(f"{a}->{b}: {n}" for (a, b), n in confusions.most_common()) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
