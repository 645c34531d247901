"""Measure the spoken-code check: accept rate for correct codes, false-accept rate for wrong.

Three parts, each scored with :func:`trustavatar.consent.spoken_code.score_spoken_code`:

1. **Synthetic voices.** The English consent sentence with a random six-digit code, spoken
   by espeak-ng voices (accents and variants) at several rates and pitches, clean and
   with noise added: white noise, and babble made of real recorded speech, each at an SNR
   of 20 dB and 10 dB. Codes use the template's alphabet, as issued codes do. Every
   utterance is scored against the code it says (accept?), against that code with one
   digit changed (the hardest wrong code) and against a random other code (false
   accept?). One condition in three also says a *misread* code — one digit replaced by a
   digit the alphabet leaves out — scored against the code as issued.
2. **Real speech, spoken digits.** No recording of a real person reading the consent
   sentence exists in the shared media, so the closest honest test: the GRID corpus clips
   in ``../shared/media/real`` (real speakers reading "bin blue at f two now"-style
   sentences, one spoken digit each). The sentence minus the digit becomes the template;
   the true digit must be accepted, each of the nine others rejected.
3. **Real speech, no code.** Every clip of real speech in ``../shared/media/audio`` (and
   the real videos with sound) scored against a random code with the consent template:
   none may be accepted.

The shared media are read in place, by path; nothing from them is copied or written.

    python consent/eval_spoken_code.py [--media ../shared/media] [--jobs 2] [--quick]
        [--out results.json]

Prints a table (markdown) of accept / false-accept rates at the shipped threshold and at
a few others, and writes every trial to ``--out`` (JSON) when given.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from trustavatar.consent.challenge import LEGACY_TEMPLATE
from trustavatar.consent.spoken_code import (
    CODE_LENGTH,
    ENGLISH_TEMPLATE,
    MIN_MARGIN,
    ConsentTemplate,
    score_spoken_code,
)
from trustavatar.errors import AudioInputError
from trustavatar.generator.audio import Audio, load_audio, synthesize

VOICES = [  # (espeak-ng language, variant)
    ("en-us", None), ("en-us", "f3"), ("en-us", "klatt"), ("en-gb-x-rp", "m3"),
    ("en-gb-scotland", "f5"), ("en-029", "m7"),
]
RATES = [130, 175, 220]
PITCHES = [30, 50, 70]
NOISES = [("clean", None), ("white", 20.0), ("white", 10.0), ("babble", 20.0),
          ("babble", 10.0)]
THRESHOLDS = [0.0, 5.0, 10.0, 15.0, 20.0, 30.0]

GRID_WORDS = {
    0: {"b": "bin", "l": "lay", "p": "place", "s": "set"},
    1: {"b": "blue", "g": "green", "r": "red", "w": "white"},
    2: {"a": "at", "b": "by", "i": "in", "w": "with"},
    4: {"z": "0", **{str(d): str(d) for d in range(1, 10)}},
    5: {"a": "again", "n": "now", "p": "please", "s": "soon"},
}


# --- noise ----------------------------------------------------------------------------------


def _mix(speech: np.ndarray, noise: np.ndarray, snr_db: float, *,
         reference: np.ndarray | None = None) -> np.ndarray:
    """``speech`` plus ``noise`` scaled to ``snr_db`` (power over the whole utterance, or over
    ``reference``: the speech alone when ``speech`` is padded with silence)."""
    p_s = float(np.mean((speech if reference is None else reference).astype(np.float64) ** 2))
    p_n = float(np.mean(noise.astype(np.float64) ** 2)) or 1e-12
    scale = math.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))
    out = speech + scale * noise
    peak = float(np.abs(out).max())
    return (out / peak * 0.9 if peak > 1 else out).astype(np.float32)


def _babble_sources(media: Path) -> list[Path]:
    folder = media / "audio"
    return sorted(folder.glob("*.wav")) if folder.is_dir() else []


def _noise(kind: str, n: int, rng: random.Random, babble: list[Path]) -> np.ndarray:
    if kind == "white":
        return np.random.default_rng(rng.randrange(1 << 30)).normal(0, 1, n).astype(np.float32)
    # babble: two real speech clips from random offsets, summed
    out = np.zeros(n, np.float32)
    for path in rng.sample(babble, 2):
        samples = load_audio(path).samples
        if len(samples) <= n:
            samples = np.resize(samples, n + 1)
        start = rng.randrange(0, len(samples) - n)
        out += samples[start:start + n]
    return out


# --- trials ---------------------------------------------------------------------------------


ALPHABET = ENGLISH_TEMPLATE.code_digits
#: Every digit's word, for speech that may say any digit (GRID; misread codes): the
#: English sentence's words from before codes had an alphabet.
DECIMAL_WORDS = LEGACY_TEMPLATE.digits


def _random_code(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _wrong_one_digit(code: str, rng: random.Random, digits: str = ALPHABET) -> str:
    i = rng.randrange(len(code))
    d = rng.choice([c for c in digits if c != code[i]])
    return code[:i] + d + code[i + 1:]


def _random_other(code: str, rng: random.Random) -> str:
    while True:
        other = _random_code(rng)
        if other != code:
            return other


def _score(audio: Audio, expected: str, template: ConsentTemplate) -> dict[str, Any]:
    r = score_spoken_code(audio, expected, template=template, min_margin=-math.inf)
    return {"expected": expected, "code": r.code, "readings": list(r.readings),
            "margin": round(r.margin, 2), "failure": r.failure}


def _synthetic_trial(args: tuple[int, tuple[str, str | None], int, int,
                                 tuple[str, float | None], str]) -> dict[str, Any]:
    index, (language, variant), rate, pitch, (noise, snr), media = args
    rng = random.Random(index)  # noqa: S311 - reproducible test data, not secrets
    code = _random_code(rng)

    def speak(said: str) -> Audio:
        # (the legacy template reads any digit, with the English template's words)
        speech = synthesize(LEGACY_TEMPLATE.spoken(said), language=language, voice=variant,
                            rate=rate, pitch=pitch).audio
        samples = speech.samples.copy()
        if noise != "clean":
            babble = _babble_sources(Path(media))
            assert snr is not None
            samples = _mix(samples, _noise(noise, len(samples), rng, babble), snr)
        return Audio.from_array(samples, speech.sample_rate)

    audio = speak(code)
    base = {"part": "synthetic", "voice": f"{language}+{variant or 'default'}", "rate": rate,
            "pitch": pitch, "noise": noise, "snr_db": snr, "code": code}
    out = {**base, "correct": _score(audio, code, ENGLISH_TEMPLATE),
           "wrong_one_digit": _score(audio, _wrong_one_digit(code, rng), ENGLISH_TEMPLATE),
           "wrong_random": _score(audio, _random_other(code, rng), ENGLISH_TEMPLATE)}
    unused = "".join(d for d in DECIMAL_WORDS if d not in ALPHABET)
    if index % 3 == 0 and unused:
        misread = _wrong_one_digit(code, rng, unused)
        out["misread"] = {"said": misread, **_score(speak(misread), code, ENGLISH_TEMPLATE)}
    return out


def _grid_template(words: list[str]) -> ConsentTemplate:
    statement = " ".join(words[:4])
    return ConsentTemplate(language="en", asr_model="en-us", statement=statement,
                           code_sentence="{code} " + words[5], digits=DECIMAL_WORDS)


def _grid_trial(path_str: str) -> dict[str, Any]:
    path = Path(path_str)
    name = path.stem[-6:]
    words = [GRID_WORDS[i][c] if i in GRID_WORDS else c for i, c in enumerate(name)]
    digit = words[4]
    template = _grid_template(words)
    audio = load_audio(path)
    return {"part": "grid", "clip": path.name, "sentence": " ".join(words),
            "correct": _score(audio, digit, template),
            "wrong": [_score(audio, d, template) for d in DECIMAL_WORDS if d != digit]}


def _impostor_trial(args: tuple[str, int]) -> dict[str, Any]:
    path_str, seed = args
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    code = _random_code(rng)
    try:
        audio = load_audio(path_str, max_seconds=60)
    except AudioInputError as e:
        return {"part": "impostor", "clip": Path(path_str).name, "skipped": e.message}
    audio = Audio(audio.samples[: 30 * audio.sample_rate], audio.sample_rate)
    return {"part": "impostor", "clip": Path(path_str).name, "result": _score(audio, code,
                                                                               ENGLISH_TEMPLATE)}


# --- summary --------------------------------------------------------------------------------


def _accepted(score: dict[str, Any], threshold: float) -> bool:
    """Accepted at ``threshold``: every other check passed (scored with no margin limit)."""
    return score["failure"] is None and score["margin"] >= threshold


def _rate(scores: Iterable[dict[str, Any]], threshold: float) -> tuple[int, int]:
    items = list(scores)
    return sum(_accepted(s, threshold) for s in items), len(items)


def _pct(k: int, n: int) -> str:
    """``k`` of ``n`` as a percentage, with its 95 % Wilson score interval."""
    if not n:
        return "n/a"
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return f"{100 * k / n:.1f} % ({k}/{n}; {100 * ci.low:.1f}–{100 * ci.high:.1f})"


def summarise(trials: list[dict[str, Any]]) -> str:
    lines = []
    synthetic = [t for t in trials if t["part"] == "synthetic"]
    grid = [t for t in trials if t["part"] == "grid"]
    impostor = [t for t in trials if t["part"] == "impostor" and "result" in t]
    lines.append(f"Threshold in use: MIN_MARGIN = {MIN_MARGIN:g} nats\n")
    if synthetic:
        lines.append("| condition | accept (correct code) | false accept (one digit wrong) "
                     "| false accept (random code) |")
        lines.append("|---|---|---|---|")
        groups: dict[str, list[dict[str, Any]]] = {}
        for t in synthetic:
            key = t["noise"] if t["noise"] == "clean" else f"{t['noise']} {t['snr_db']:g} dB"
            groups.setdefault(key, []).append(t)
        groups["all synthetic"] = synthetic
        for key, ts in groups.items():
            lines.append(
                f"| {key} | {_pct(*_rate((t['correct'] for t in ts), MIN_MARGIN))} "
                f"| {_pct(*_rate((t['wrong_one_digit'] for t in ts), MIN_MARGIN))} "
                f"| {_pct(*_rate((t['wrong_random'] for t in ts), MIN_MARGIN))} |")
        wrong = [t[k] for t in synthetic for k in ("wrong_one_digit", "wrong_random")]
        lines.append(f"\nAll wrong codes together: false accept "
                     f"{_pct(*_rate(wrong, MIN_MARGIN))}. (Ranges: 95 % Wilson intervals.)")
        misread = [t["misread"] for t in synthetic if "misread" in t]
        if misread:
            lines.append(f"Misread codes (one digit replaced by one the alphabet "
                         f"{ALPHABET} leaves out), accepted as the issued code: "
                         f"{_pct(*_rate(misread, MIN_MARGIN))}.")
        lines.append("")
        lines.append("| margin threshold (nats) | accept | false accept (one digit) |")
        lines.append("|---|---|---|")
        for th in THRESHOLDS:
            lines.append(f"| {th:g} | {_pct(*_rate((t['correct'] for t in synthetic), th))} "
                         f"| {_pct(*_rate((t['wrong_one_digit'] for t in synthetic), th))} |")
        lines.append("")
        by_voice: dict[str, list[dict[str, Any]]] = {}
        for t in synthetic:
            by_voice.setdefault(t["voice"], []).append(t)
        lines.append("| voice | accept | false accept (one digit) |")
        lines.append("|---|---|---|")
        for voice, ts in by_voice.items():
            lines.append(f"| {voice} | {_pct(*_rate((t['correct'] for t in ts), MIN_MARGIN))} "
                         f"| {_pct(*_rate((t['wrong_one_digit'] for t in ts), MIN_MARGIN))} |")
        lines.append("")
    if grid:
        acc = _rate((t["correct"] for t in grid), MIN_MARGIN)
        fa = _rate((w for t in grid for w in t["wrong"]), MIN_MARGIN)
        lines.append(f"Real speech (GRID, one spoken digit, {len(grid)} clips): accept "
                     f"{_pct(*acc)}, false accept {_pct(*fa)}")
    if impostor:
        fa = _rate((t["result"] for t in impostor), MIN_MARGIN)
        lines.append(f"Real speech without the sentence ({len(impostor)} clips): false accept "
                     f"{_pct(*fa)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", default=str(Path(__file__).resolve().parents[2] /
                                               "shared" / "media"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a few conditions only")
    parser.add_argument("--out", default=None, help="write every trial here (JSON)")
    args = parser.parse_args(argv)
    media = Path(args.media)
    babble = _babble_sources(media)
    noises = NOISES if babble else [n for n in NOISES if n[0] != "babble"]
    voices, rates, pitches = VOICES, RATES, PITCHES
    if args.quick:
        voices, rates, pitches = VOICES[:2], RATES[1:2], PITCHES[1:2]
    synthetic = [(i, v, r, p, n, str(media)) for i, (v, r, p, n) in
                 enumerate(itertools.product(voices, rates, pitches, noises))]
    grid = sorted(str(p) for p in (media / "real").glob("*GRID*")) + \
        sorted(str(p) for p in (media / "real").glob("*id2_vcd*"))
    impostors = [str(p) for p in babble]
    started = time.perf_counter()
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        trials = pool.map(_synthetic_trial, synthetic, chunksize=1)
        trials += pool.map(_grid_trial, grid, chunksize=1)
        trials += pool.map(_impostor_trial, [(p, i) for i, p in enumerate(impostors)],
                           chunksize=1)
    elapsed = time.perf_counter() - started
    print(summarise(trials))
    print(f"\n{len(synthetic)} synthetic utterances, {len(grid)} GRID clips, "
          f"{len(impostors)} real speech clips; {elapsed:.0f} s"
          + ("" if babble else f"; no babble: {media / 'audio'} not found"))
    if args.out:
        Path(args.out).write_text(json.dumps(trials, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
