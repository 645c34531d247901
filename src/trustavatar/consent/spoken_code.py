"""The spoken-code check: did the speaker read the consent sentence with the challenge code?

The subject reads a fixed English sentence that ends in a one-time code, digit by digit
("For safety purposes, my unique code is four seven one two eight three"). PocketSphinx
(US-English acoustic model and CMU dictionary from the ``pocketsphinx`` wheel; offline)
decodes the clip's audio in passes, each constrained by a finite-state grammar built from
the template (:class:`ConsentTemplate`):

1. **What was said** — the sentence, then six digits (or none), the code part repeatable
   (a code read twice is heard twice). Gives the transcript and every code heard. This
   pass runs once per vocal-tract-length warp in :data:`VTLN_WARPS` (the front end's
   frequency axis stretched or squeezed, as speaker normalisation does); the warp whose
   best path scores highest is the speaker's, and every later pass uses it. The choice
   does not depend on the expected code: every code is in this grammar.
2. **Speaker adaptation** — that best path is aligned to the audio state by state, an MLLR
   transform of the model's means is estimated from it (:mod:`.speaker_adaptation`), and
   pass 1 runs again with the adapted model; :data:`ADAPTATION_ROUNDS` times, each round
   fitted to the path of the one before. Again the expected code plays no part: the
   transform is fitted to whatever the first pass heard.
3. **Utterance verification** — the same audio forced through the sentence with exactly
   the expected code, and through the sentence with *any other* six-digit code (a grammar
   of every code that differs from the expected one in at least one digit). The margin is
   the difference of the two best path scores in nats (natural log of the likelihood
   ratio): how much better the expected code explains the audio than the best wrong code.
   Both grammars give every arc probability 1, so the margin is acoustic only (and the
   same word-insertion and silence penalties on both sides). Scored with the adapted model.

Codes use only the digits the template lists (its alphabet; English: 1 2 3 4 7 8, the
digits the acoustic model confuses least), and only those are in the grammars.

Only the speech is decoded: silence before and after it is cut off first
(:func:`_speech_span`). When the check fails, it runs once more on the audio up to where the
loudest voice stops (:func:`_speaker_end`), because someone talking in the background after
the subject finished is otherwise decoded as more of the sentence. The second try is used
only if it passes.

The check passes when the sentence was read once, the code heard in pass 2 is the challenge
code, pass 3 agrees (the expected code beats every other code) and the margin is at least
:data:`MIN_MARGIN`. Requiring both passes to agree halves the chance that a misheard wrong
code is accepted. Measured rates: ``consent/README.md``.

English only: the acoustic model and dictionary are US English. Other languages can show a
translation of the statement, but the sentence itself must be read in English.
"""

from __future__ import annotations

__all__ = [
    "ADAPTATION_ROUNDS",
    "ASR_ENGINE",
    "CODE_LENGTH",
    "ENGLISH_TEMPLATE",
    "MARGIN_CAP",
    "MIN_CODE_DIGITS",
    "MIN_MARGIN",
    "VTLN_WARPS",
    "ConsentTemplate",
    "SpokenCodeResult",
    "load_template",
    "score_spoken_code",
]

import functools
import importlib.metadata
import json
import math
import os
import re
import string
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pocketsphinx
from numpy.typing import NDArray

from trustavatar._files import read_input
from trustavatar.consent.speaker_adaptation import (
    NATS_PER_UNIT,
    AcousticModel,
    estimate,
    model_features,
    read_cepstra,
    state_labels,
    write_transform,
)
from trustavatar.errors import InputError

if TYPE_CHECKING:
    from trustavatar.generator.audio import Audio

#: The recogniser's sample rate (Hz); audio is resampled to it.
DEFAULT_SAMPLE_RATE: Final = 16000
#: Digits in a challenge code.
CODE_LENGTH: Final = 6
#: Fewest digits a template's code alphabet may have: 6 digits give 6**6 = 46,656 codes,
#: so three attempts guess a code with a chance below 1 in 15,000.
MIN_CODE_DIGITS: Final = 6
#: Every digit, in order: the alphabet of a template whose codes use them all.
DECIMAL_DIGITS: Final = "0123456789"
#: Smallest accepted margin (nats) of the expected code over the best other code: a floor
#: against borderline decodes. Measured with ``consent/eval_spoken_code.py`` (table in
#: ``consent/README.md``): with both passes required to agree, no wrong code was accepted
#: at any threshold from 0 to 30; 10 costs 0.7 points of accept over 0 (six-digit codes).
MIN_MARGIN: Final = 10.0
#: What decodes the speech (recorded in the artifact's evidence).
ASR_ENGINE: Final = (
    f"pocketsphinx {importlib.metadata.version('pocketsphinx')} en-us "
    "(fsg, vtln, mllr, utterance verification)"
)
#: Vocal-tract-length warps tried (PocketSphinx ``inverse_linear`` warp of the filter bank;
#: 1 = none). Picking the best-scoring one per clip raised the synthetic-voice accept rate
#: from 45.9 % to 50.0 % (270 utterances), still with no false accept (``consent/README.md``).
VTLN_WARPS: Final = (0.85, 0.90, 0.95, 1.0, 1.05, 1.10, 1.15)
#: Speaker adaptation rounds (:mod:`.speaker_adaptation`): each fits an MLLR transform to the
#: best path of the pass before and decodes pass 1 again. One round raised the synthetic-voice
#: accept rate from 48.5 % to 69.6 % (270 utterances); a second gained 3 more of 90 in a
#: sample (``consent/README.md``).
ADAPTATION_ROUNDS: Final = 2

#: Beams of the search (probabilities relative to the best path in a frame). Wide, so that
#: the best wrong code survives to the end even when it is far worse than the right one.
_BEAM: Final = 1e-200
_STRUCTURE_BEAM: Final = 1e-100
#: Margins are reported up to the search beam: beyond it the other code was pruned away.
MARGIN_CAP: Final = round(-math.log(_BEAM), 1)
#: PocketSphinx frames per second.
_FRAME_RATE: Final = 100
#: Audio kept before the code sentence for the utterance-verification pass (samples).
_LEAD_SAMPLES: Final = DEFAULT_SAMPLE_RATE * 3 // 10
#: Only the speech, with this much around it (s), is decoded: leading and trailing stretches
#: without voice activity (the recording's start and end) are cut off first, when that
#: removes at least :data:`_MIN_TRIM_S`. Decoding time grows with the audio's length.
_SPEECH_MARGIN_S: Final = 0.5
_MIN_TRIM_S: Final = 1.0
#: When the check fails, it is tried once more on the audio up to where the loudest voice
#: stops (its last 10 ms within this many dB of its loud frames, plus the margin), if that
#: cuts at least :data:`_MIN_SPEAKER_CUT_S`: talk in the background after the subject's
#: sentence is otherwise decoded as more of it (``consent/README.md``, session 16).
_SPEAKER_RANGE_DB: Final = 10.0
_MIN_SPEAKER_CUT_S: Final = 0.5
#: Seeded noise 40 dB below the audio's level is added before decoding: digital silence
#: (exact zeros, as in synthetic speech) upsets the recogniser's energy features.
_DITHER_DB: Final = -40.0
_MAX_TEMPLATE_BYTES: Final = 1 << 20
#: Probabilities of the "what was said" grammar: no code at all, repeating the code
#: sentence, repeating everything (each digit word of the code alphabet is equally likely;
#: the expected/other grammars use 1 everywhere).
_P_NO_CODE: Final = 0.05
_P_REPEAT: Final = 0.05
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_LOCK = threading.Lock()


# --- templates ------------------------------------------------------------------------------


#: The fields a template file must have (``instructions`` is optional).
_TEMPLATE_FIELDS: Final = ("language", "asr_model", "statement", "code_sentence", "digits")
#: The fields whose value is a string (all but ``digits``).
_TEXT_FIELDS: Final = ("language", "asr_model", "statement", "code_sentence", "instructions")


@dataclass(frozen=True)
class ConsentTemplate:
    """The consent sentence a subject reads: ``statement`` then ``code_sentence``, whose
    ``{code}`` is replaced by the challenge code, read digit by digit with the words in
    ``digits``, which also lists the digits codes read with it use (at least
    :data:`MIN_CODE_DIGITS`; English: ``1 2 3 4 7 8``). Every word must be in the CMU
    dictionary.

    ``language`` is the language of the sentence; ``asr_model`` the acoustic model it is
    decoded with (only ``"en-us"`` ships).
    """

    language: str
    asr_model: str
    statement: str
    code_sentence: str
    digits: Mapping[str, tuple[str, ...]]
    instructions: str = ""
    _words: tuple[tuple[str, ...], tuple[str, ...]] = field(init=False, repr=False,
                                                             compare=False)

    def __post_init__(self) -> None:
        if self.asr_model != "en-us":
            raise InputError(f"template asr_model must be 'en-us' (the only model shipped), "
                             f"got {self.asr_model!r}")
        _check_code_sentence(self.code_sentence)
        # the sentence and the language go into the artifact: its schema's rules, checked
        # here (a challenge is issued from the template) rather than when the clip passed
        if not re.fullmatch(r"en(-[a-z0-9]{1,8}){0,4}", self.language):
            raise InputError(f"the template's language must be English (en, or en-xx: the "
                             f"only speech model is en-us), got {self.language!r}")
        for name in ("statement", "code_sentence", "instructions"):
            text = getattr(self, name)
            if any(ord(c) < 32 or ord(c) == 127 for c in text):
                raise InputError(f"the template's {name} contains control characters")
        if len(self.statement) + len(self.code_sentence) > 1500:
            raise InputError("the template's statement and code sentence are longer than "
                             "1500 characters together")
        keys = sorted(self.digits)
        if (len(keys) < MIN_CODE_DIGITS or any(k not in DECIMAL_DIGITS or len(k) != 1
                                               for k in keys)
                or not all(self.digits.values())):
            raise InputError(
                f"the template must give words for at least {MIN_CODE_DIGITS} of the digits "
                f"0-9 (the digits its codes use), got {keys}")
        digits = {k: tuple(self.digits[k]) for k in keys}
        spoken: dict[str, str] = {}
        for digit, words in digits.items():
            for word in words:
                said = " ".join(_tokens(word))
                if not said:
                    raise InputError(f"the template gives digit {digit} an empty word")
                if spoken.setdefault(said, digit) != digit:
                    raise InputError(f"the template gives {word!r} to digits {spoken[said]} and "
                                     f"{digit}: a code read aloud would be ambiguous")
        if not _tokens(self.statement):
            raise InputError("the template's statement is empty: the subject must read what "
                             "they consent to")
        object.__setattr__(self, "digits", digits)
        before, after = self.code_sentence.split("{code}")
        object.__setattr__(self, "_words",
                           (_tokens(self.statement + " " + before), _tokens(after)))
        if not self.words_before + self.words_after:
            raise InputError("the template has no words to read besides the code")

    def check_words(self) -> None:
        """Raise :class:`InputError` unless every word is in the pronunciation dictionary."""
        words = _template_words(self)
        missing = sorted(words - _pronunciations(words).keys())
        if missing:
            raise InputError(f"template words not in the pronunciation dictionary: {missing}")

    def to_json(self) -> dict[str, Any]:
        """The template as :meth:`from_json` reads it (``consent/templates/*.json``)."""
        return {"language": self.language, "asr_model": self.asr_model,
                "statement": self.statement, "code_sentence": self.code_sentence,
                "digits": {d: list(w) for d, w in self.digits.items()},
                "instructions": self.instructions}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsentTemplate:
        if not isinstance(data, Mapping):
            raise InputError(f"not a consent statement template: a JSON object is needed, "
                             f"got {type(data).__name__}")
        missing = [k for k in _TEMPLATE_FIELDS if k not in data]
        if missing:
            raise InputError(
                f"not a consent statement template: missing {', '.join(map(repr, missing))} "
                f"(a template has {', '.join(_TEMPLATE_FIELDS)} and optionally instructions; "
                "see consent/templates/en.json)")
        unknown = sorted(set(data) - {*_TEMPLATE_FIELDS, "instructions"})
        if unknown:
            raise InputError(f"not a consent statement template: unknown field(s) "
                             f"{', '.join(map(repr, unknown))}")
        for key in _TEXT_FIELDS:
            if key in data and not isinstance(data[key], str):
                raise InputError(f"not a consent statement template: {key!r} must be a "
                                 f"string, got {type(data[key]).__name__}")
        digits = data["digits"]
        if not isinstance(digits, Mapping) or not all(
                isinstance(v, list) and all(isinstance(w, str) for w in v)
                for v in digits.values()):
            raise InputError("not a consent statement template: 'digits' must map each digit "
                             'to a list of its spoken words, e.g. {"1": ["one"]}')
        template = cls(
            language=data["language"], asr_model=data["asr_model"],
            statement=data["statement"], code_sentence=data["code_sentence"],
            digits={str(k): tuple(v) for k, v in digits.items()},
            instructions=data.get("instructions", ""),
        )
        template.check_words()
        return template

    @property
    def code_digits(self) -> str:
        """The digits a challenge code read with this template may contain (its alphabet),
        in order: ``"123478"`` for :data:`ENGLISH_TEMPLATE`."""
        return "".join(self.digits)

    @property
    def words_before(self) -> tuple[str, ...]:
        """Dictionary words before the code (statement and the start of the code sentence)."""
        return self._words[0]

    @property
    def words_after(self) -> tuple[str, ...]:
        return self._words[1]

    def code_digits_of(self, code: str) -> list[str]:
        """The digits of ``code``; :class:`InputError` unless every one is in
        :attr:`code_digits` (a code made for another template)."""
        digits = _digits(code)
        foreign = sorted({d for d in digits if d not in self.digits})
        if foreign:
            raise InputError(
                f"code {code} has digits {', '.join(foreign)}, which this template's codes "
                f"do not use (its digits: {self.code_digits}); the challenge was made with "
                "another template")
        return digits

    def sentence(self, code: str) -> str:
        """The sentence to read, the code shown as spaced digits ("... is 4 7 1 2 5 3.")."""
        spaced = " ".join(self.code_digits_of(code))
        return f"{self.statement} {self.code_sentence.format(code=spaced)}"

    def spoken_code(self, code: str) -> str:
        """How to say the code: ``"four seven one two five three"``."""
        return " ".join(self.digits[d][0] for d in self.code_digits_of(code))

    def spoken(self, code: str) -> str:
        """The whole sentence with the code in words (what a text-to-speech voice reads)."""
        return f"{self.statement} {self.code_sentence.format(code=self.spoken_code(code))}"


def load_template(path: str | os.PathLike[str]) -> ConsentTemplate:
    """Read a statement template (JSON, see the repository's ``consent/templates/``)."""
    raw = read_input(path, max_bytes=_MAX_TEMPLATE_BYTES, what="the consent template")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as e:
        raise InputError(f"cannot read the consent template {path}: {e}") from e
    except RecursionError as e:
        raise InputError(f"cannot read the consent template {path}: nested too deeply") from e
    return ConsentTemplate.from_json(data)


def _check_code_sentence(sentence: str) -> None:
    """``{code}`` exactly once and no other replacement field (the sentence is filled in
    with ``str.format``: ``{x}`` or a stray brace would fail there, ``{code.attr}`` would
    read Python's own words into the sentence)."""
    try:
        fields = [(name, spec, conversion)
                  for _, name, spec, conversion in string.Formatter().parse(sentence)
                  if name is not None]
    except ValueError as e:
        raise InputError(f"the template's code_sentence has a stray brace: {e} (write "
                         "{{ or }} for a brace itself)") from e
    if fields != [("code", "", None)]:
        raise InputError("the template's code_sentence must contain {code} exactly once and "
                         "no other {...} field")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def _digits(code: str) -> list[str]:
    if not isinstance(code, str) or not code.isascii() or not code.isdigit():
        raise InputError(f"a code is a string of digits, got {code!r}")
    return list(code)


#: The English template (byte for byte the one in ``consent/templates/en.json``; a test
#: checks they agree).
ENGLISH_TEMPLATE: Final = ConsentTemplate(
    language="en",
    asr_model="en-us",
    statement="I consent to the creation of my avatar.",
    code_sentence="For safety purposes, my unique code is {code}.",
    # Codes use six digits only: the recogniser confuses 0 ("oh"), 5, 6 and 9 with others
    # ("four"/"oh", "six"/"three", "nine"/"one", "four"/"five"). Chosen on voices kept out of
    # the evaluation (consent/README.md): accept 60 % with all ten digits, 97 % with these.
    digits={"1": ("one",), "2": ("two",), "3": ("three",), "4": ("four",), "7": ("seven",),
            "8": ("eight",)},
    instructions=(
        "Look into the camera, in good light, with only your face in the picture. Read the "
        "sentence aloud in English, saying each digit of the code on its own. Blink and move "
        "naturally; keep the clip under a minute. Record where no one else is talking, and "
        "stop soon after the last digit."
    ),
)


# --- the result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpokenCodeResult:
    """What :func:`score_spoken_code` heard.

    ``code``: the code of the best path through the sentence (the expected code when
    ``margin > 0``, else the best other code; None when the speech cannot be aligned to
    the sentence at all). ``margin``: nats by which the expected code explains the audio
    better than the best other code of the same length (negative when another code fits
    better; clamped to ±:data:`MARGIN_CAP`). ``readings``: what the structure pass heard
    for each reading of the code sentence (``""``: read without a code; two entries when
    it was read twice). ``transcript``: the sentence as recognised. ``decoded``: the part
    of the audio that was decoded, in seconds from its start (the speech and a margin, see
    :func:`_speech_span`); ``second_try``: whether that part was cut where the loudest voice
    stops, after the whole span failed (:func:`_speaker_end`). ``failure``: why the check
    fails, or None when it passes.
    """

    expected: str
    code: str | None
    margin: float
    readings: tuple[str, ...]
    transcript: str
    min_margin: float
    duration: float  #: seconds of audio decoded
    warp: float = 1.0  #: the vocal-tract-length warp chosen for this speaker
    adapted: bool = False  #: whether the model was adapted to the speaker (MLLR)
    decoded: tuple[float, float] = (0.0, 0.0)  #: seconds of the audio decoded, from–to
    second_try: bool = False  #: decoded up to where the loudest voice stops, on a retry

    @property
    def failure(self) -> str | None:
        """Why the speech fails, or None. It never says the issued code: whoever sees a
        rejection (a kiosk, a web front end) would otherwise learn it from a throwaway
        clip and pass the next attempt. What was heard is said."""
        expected = self.expected
        codes = list(dict.fromkeys(c for c in self.readings if c))
        margin = f"margin {self.margin:.1f} nats for the issued code over the best other"
        not_recognised = ("the consent sentence was not recognised in the speech (it must "
                          "be read in English, with the code shown when the challenge was "
                          "made)")
        if not self.readings:
            return not_recognised
        if not codes:  # (then the verification pass, which needs a code, finds no path)
            return "no code heard in the speech"
        if self.code is None:
            return not_recognised
        if len(codes) > 1:
            return (f"heard {len(codes)} different codes ({', '.join(codes)}); read the "
                    "issued code only")
        if len(self.readings) > 1:
            return (f"the code was read {len(self.readings)} times; read the sentence "
                    "once")
        if codes[0] != expected:
            return f"heard code {codes[0]}, not the issued code ({margin})"
        if self.code != expected:
            return (f"heard the issued code, but code {self.code} fits the speech better "
                    f"({margin})")
        if self.margin < self.min_margin:
            return (f"heard the issued code, but not clearly: {margin} is below "
                    f"{self.min_margin:g}")
        return None

    def figures(self) -> dict[str, Any]:
        """The figures, for a report: the issued code is not among them (see
        :attr:`failure`); ``code_matches`` says whether the heard one is it."""
        return {
            "code_matches": self.code is not None and self.code == self.expected,
            "heard_code": self.code,
            "readings": list(self.readings),
            "transcript": self.transcript,
            "margin": round(self.margin, 2),
            "min_margin": self.min_margin,
            "duration_s": round(self.duration, 2),
            "vtln_warp": self.warp,
            "speaker_adapted": self.adapted,
            "decoded_s": [round(self.decoded[0], 2), round(self.decoded[1], 2)],
            "second_try": self.second_try,
        }


# --- scoring --------------------------------------------------------------------------------


def score_spoken_code(
    audio: Audio,
    expected: str,
    *,
    template: ConsentTemplate = ENGLISH_TEMPLATE,
    min_margin: float = MIN_MARGIN,
) -> SpokenCodeResult:
    """Decode ``audio`` against ``template`` and score the ``expected`` code.

    Returns the measurements; the verdict is :attr:`SpokenCodeResult.failure`. Audio at any
    rate is resampled to 16 kHz. Deterministic: the same audio gives the same result.
    """
    from trustavatar.generator.audio import resample  # scipy.signal: slow to import

    digits = template.code_digits_of(expected)
    if not audio.num_samples:
        raise InputError("the audio is empty")
    audio = resample(audio, DEFAULT_SAMPLE_RATE)
    pcm = _dithered_pcm16(audio.samples, max(audio.rms * 10 ** (_DITHER_DB / 20), 1 / 32768))
    start, end = _speech_span(audio)
    rate = audio.sample_rate
    result = _score_pcm(pcm[start:end], expected, digits, template, min_margin, audio.duration)
    result = replace(result, decoded=(start / rate, end / rate))
    if result.failure is not None:
        # Someone may be talking after the subject stopped: decoded, their speech reads as
        # another reading or a digit of the code. Try again up to the subject's end.
        subject_end = _speaker_end(audio, start, end)
        if subject_end is not None:
            retry = _score_pcm(pcm[start:subject_end], expected, digits, template, min_margin,
                               audio.duration)
            if retry.failure is None:
                return replace(retry, decoded=(start / rate, subject_end / rate),
                               second_try=True)
    return result


def _score_pcm(pcm: NDArray[np.int16], expected: str, digits: list[str],
               template: ConsentTemplate, min_margin: float,
               duration: float) -> SpokenCodeResult:
    """:func:`score_spoken_code` of 16 kHz samples (``duration``: the whole clip's)."""
    prefix = _code_prefix(template)
    with _LOCK, tempfile.TemporaryDirectory(prefix="trustavatar-asr-") as tmp:
        dictionary = _write_dictionary(template, Path(tmp))
        # 1. Structure: the sentence, and a code (or none) each time the code sentence is
        #    read; where the last reading of the code sentence starts. Once per warp; the
        #    best-scoring warp is kept.
        warp, said, start, first = _best_warp(dictionary, template, len(digits), pcm, prefix,
                                              Path(tmp))
        # 2. The model adapted to the speaker from that pass's best path; pass 1 again. (The
        #    transform moves the model's means only: the features stay those of pass 1.)
        mllr = None
        features = None if first is None else _logged_features(first)
        for k in range(ADAPTATION_ROUNDS):
            if first is None or features is None:  # nothing to adapt to
                break
            transform = _speaker_transform(first, pcm, features, Path(tmp) / f"round-{k}")
            if transform is None:
                break
            first, words, found, _ = _structure_pass(dictionary, template, len(digits), pcm,
                                                     prefix, warp=warp, mllr=transform)
            if found is None:  # the adapted model lost the sentence: keep the last result
                break
            mllr, said, start = transform, words, found
        readings, said_text = _read(said, template)
        if start is None:
            return SpokenCodeResult(expected, None, -MARGIN_CAP, readings, said_text,
                                    min_margin, duration, warp, mllr is not None)
        # 3. Utterance verification on the code sentence: the expected code against the best
        #    other code, scored so that the two are comparable.
        region = pcm[max(0, start - _LEAD_SAMPLES):]
        exact = _decoder(dictionary, exact=True, warp=warp, mllr=mllr)
        exact.add_fsg("expected", _code_fsg(exact, template, prefix, digits, other=False))
        exact.add_fsg("other", _code_fsg(exact, template, prefix, digits, other=True))
        exp_words, exp_score = _decode(exact, "expected", region)
        other_words, other_score = _decode(exact, "other", region)
    statement = said_text.split(" ".join(prefix))[0].strip() if prefix else ""
    if exp_score is None and other_score is None:
        code, margin, transcript = None, -MARGIN_CAP, said_text
    else:
        if exp_score is None or other_score is None:  # one side pruned away entirely
            margin = -MARGIN_CAP if exp_score is None else MARGIN_CAP
        else:
            margin = (exp_score - other_score) * NATS_PER_UNIT
        if margin >= 0:
            code, transcript = expected, _read(exp_words, template)[1]
        else:
            heard, transcript = _read(other_words, template)
            code = next((c for c in heard if c), None)
    if statement:
        transcript = f"{statement} {transcript}"
    if len([r for r in readings if r]) != 1:  # no code, or several: show what was heard
        transcript = said_text
    return SpokenCodeResult(
        expected=expected, code=code, margin=float(np.clip(margin, -MARGIN_CAP, MARGIN_CAP)),
        readings=readings, transcript=transcript, min_margin=min_margin,
        duration=duration, warp=warp, adapted=mllr is not None)


def _best_warp(dictionary: Path, template: ConsentTemplate, length: int,
               pcm: NDArray[np.int16], prefix: tuple[str, ...], folder: Path,
               ) -> tuple[float, list[str], int | None, pocketsphinx.Decoder | None]:
    """The structure pass at every warp of :data:`VTLN_WARPS`: the warp whose best path
    scores highest, with that pass's words, code-sentence start and decoder (whose
    cepstra are logged under ``folder``); warp 1, no words and no decoder when no warp
    finds the sentence."""
    best: tuple[int, float, list[str], int | None, pocketsphinx.Decoder] | None = None
    for k, warp in enumerate(VTLN_WARPS):
        cepstra = folder / f"cepstra-{k}"
        cepstra.mkdir()
        decoder, said, start, score = _structure_pass(dictionary, template, length, pcm,
                                                      prefix, warp=warp, cepstra=cepstra)
        if score is not None and (best is None or score > best[0]):
            best = (score, warp, said, start, decoder)
    return (1.0, [], None, None) if best is None else best[1:]


def _structure_pass(dictionary: Path, template: ConsentTemplate, length: int,
                    pcm: NDArray[np.int16], prefix: tuple[str, ...], *, warp: float,
                    mllr: Path | None = None, cepstra: Path | None = None,
                    ) -> tuple[pocketsphinx.Decoder, list[str], int | None, int | None]:
    """Pass 1 at ``warp`` (with the speaker transform ``mllr``, logging cepstra to
    ``cepstra``): the decoder, and its words, code-sentence start and path score
    (:func:`_decode_said`)."""
    decoder = _decoder(dictionary, exact=False, warp=warp, mllr=mllr, cepstra=cepstra)
    decoder.add_fsg("said", _said_fsg(decoder, template, length))
    return (decoder, *_decode_said(decoder, pcm, prefix))


def _logged_features(decoder: pocketsphinx.Decoder) -> list[NDArray[np.float64]] | None:
    """The model's features of the cepstra ``decoder`` logged (``-mfclogdir``), or None when
    it logged none."""
    files = sorted(Path(decoder.get_config()["mfclogdir"]).glob("*.mfc"))
    return model_features(read_cepstra(files[0])) if files else None


def _speaker_transform(decoder: pocketsphinx.Decoder, pcm: NDArray[np.int16],
                       features: list[NDArray[np.float64]], folder: Path) -> Path | None:
    """An MLLR transform (file under ``folder``) fitted to the best path of ``decoder``'s
    last decode over ``features`` (:func:`_logged_features`), or None when that path
    cannot be aligned or is too short."""
    try:
        model = AcousticModel.load(_model_dir() / "en-us")
    except (OSError, ValueError) as e:  # a broken or different pocketsphinx install
        raise RuntimeError(f"cannot read the PocketSphinx model for adaptation: {e}") from e
    try:
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
    except RuntimeError:  # PocketSphinx could not force the path through the audio
        return None
    if alignment is None:
        return None
    senones, codebooks = state_labels(alignment, model)
    transforms = estimate(features, senones, codebooks, model)
    folder.mkdir(exist_ok=True)
    return None if transforms is None else write_transform(transforms, folder / "speaker.mllr")


def _speech_span(audio: Audio) -> tuple[int, int]:
    """The samples ``[start, end)`` worth decoding: from :data:`_SPEECH_MARGIN_S` before the
    first 10 ms of voice activity to as long after the last; all of them when that would
    remove less than :data:`_MIN_TRIM_S`, or when no activity is found."""
    from trustavatar.generator.audio.features import voice_activity

    n, rate = audio.num_samples, audio.sample_rate
    active = np.flatnonzero(voice_activity(audio, fps=_FRAME_RATE))
    if not active.size:
        return 0, n
    margin = _SPEECH_MARGIN_S * rate
    start = max(0, int(active[0] * rate / _FRAME_RATE - margin))
    end = min(n, int((active[-1] + 1) * rate / _FRAME_RATE + margin))
    if n - (end - start) < _MIN_TRIM_S * rate:
        return 0, n
    return start, end


def _speaker_end(audio: Audio, start: int, end: int) -> int | None:
    """Where the loudest voice of ``audio[start:end]`` stops: :data:`_SPEECH_MARGIN_S` after
    its last 10 ms within :data:`_SPEAKER_RANGE_DB` of its loud frames (the 99th percentile).
    None when that leaves less than :data:`_MIN_SPEAKER_CUT_S` to cut."""
    from trustavatar.generator.audio.features import frame_energy

    rate = audio.sample_rate
    level = frame_energy(audio, _FRAME_RATE)
    first, stop = start * _FRAME_RATE // rate, -(-end * _FRAME_RATE // rate)
    inside = level[first:stop]
    if not inside.size:
        return None
    loud = np.flatnonzero(inside > np.percentile(inside, 99) - _SPEAKER_RANGE_DB)
    cut = min(end, int((first + loud[-1] + 1) * rate / _FRAME_RATE + _SPEECH_MARGIN_S * rate))
    return cut if end - cut >= _MIN_SPEAKER_CUT_S * rate else None


def _dithered_pcm16(samples: NDArray[np.float32], level: float) -> NDArray[np.int16]:
    noise = np.random.default_rng(0).normal(0.0, level, samples.shape[0])
    return np.round(np.clip(samples + noise, -1.0, 1.0) * 32767.0).astype(np.int16)


def _model_dir() -> Path:
    return Path(pocketsphinx.get_model_path()) / "en-us"


@functools.cache
def _pronunciations(words: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Pronunciations of ``words`` in the CMU dictionary shipped with pocketsphinx (a word
    that is not there is left out). Only these words are kept: building the whole
    dictionary (135,000 words) costs more than the file scan."""
    table: dict[str, list[str]] = {}
    with (_model_dir() / "cmudict-en-us.dict").open(encoding="utf-8") as f:
        for line in f:
            head, _, phones = line.partition(" ")
            word = head.split("(", 1)[0]
            if word in words and phones.strip():
                table.setdefault(word, []).append(phones.strip())
    return {w: tuple(p) for w, p in table.items()}


def _template_words(template: ConsentTemplate) -> frozenset[str]:
    return frozenset(template.words_before + template.words_after
                     + tuple(w for ws in template.digits.values() for w in ws))


def _digit_token(digit: str, word: str) -> str:
    """A dictionary entry used only in the code slot, so digits there read unambiguously."""
    return f"d{digit}_{word}"


def _dictionary_lines(template: ConsentTemplate) -> list[str]:
    cmu = _pronunciations(_template_words(template))
    words = dict.fromkeys(template.words_before + template.words_after)
    lines = []
    for word in words:
        lines += [f"{word if i == 0 else f'{word}({i + 1})'} {p}" for i, p in enumerate(cmu[word])]
    for digit, spoken in template.digits.items():
        for word in spoken:
            token = _digit_token(digit, word)
            lines += [f"{token if i == 0 else f'{token}({i + 1})'} {p}"
                      for i, p in enumerate(cmu[word])]
    return lines


def _write_dictionary(template: ConsentTemplate, folder: Path) -> Path:
    template.check_words()
    path = folder / "consent.dict"
    path.write_text("\n".join(_dictionary_lines(template)) + "\n", encoding="utf-8")
    return path


def _decoder(dictionary: Path, *, exact: bool, warp: float = 1.0, mllr: Path | None = None,
             cepstra: Path | None = None) -> pocketsphinx.Decoder:
    """A decoder for our grammars. ``exact``: path scores comparable between grammars —
    every senone is scored in every frame (so the per-frame normalisation does not depend
    on the grammar) and the beams are very wide (so the best wrong code survives to the
    end). The structure pass needs wide beams too: with PocketSphinx's defaults, unusual
    voices lose every path through the sentence. ``mllr``: a speaker transform to apply;
    ``cepstra``: a folder the decoder logs its cepstra to."""
    beam = _BEAM if exact else _STRUCTURE_BEAM
    options: dict[str, Any] = {"beam": beam, "pbeam": beam, "wbeam": beam}
    if warp != 1.0:
        options.update(warp_type="inverse_linear", warp_params=f"{warp:g}")
    if mllr is not None:
        options["mllr"] = str(mllr)
    if cepstra is not None:
        options["mfclogdir"] = str(cepstra)
    if exact:
        options["compallsen"] = True
    try:
        return pocketsphinx.Decoder(
            hmm=str(_model_dir() / "en-us"), dict=str(dictionary), lm=None,
            samprate=float(DEFAULT_SAMPLE_RATE), loglevel="FATAL", bestpath=False, **options,
        )
    except (RuntimeError, ValueError) as e:  # a broken pocketsphinx install
        raise RuntimeError(f"cannot load the PocketSphinx model: {e}") from e


class _Fsg:
    """Transitions of a finite-state grammar, states numbered as they are made."""

    def __init__(self) -> None:
        self.transitions: list[tuple[int, int, float] | tuple[int, int, float, str]] = []
        self.states = 1

    def new(self) -> int:
        self.states += 1
        return self.states - 1

    def chain(self, start: int, words: Sequence[str]) -> int:
        state = start
        for word in words:
            nxt = self.new()
            self.transitions.append((state, nxt, 1.0, word))
            state = nxt
        return state


def _all_digit_tokens(template: ConsentTemplate) -> list[str]:
    return [_digit_token(d, w) for d, ws in template.digits.items() for w in ws]


def _said_fsg(decoder: pocketsphinx.Decoder, template: ConsentTemplate,
              length: int) -> pocketsphinx.FsgModel:
    """Statement, then the code sentence with no code or a code of ``length`` digits; the
    code sentence, or everything, may be repeated. (A free number of digits lets slow
    speech split one digit into two: a fixed length turns such errors into substitutions,
    which the margin catches.)"""
    g = _Fsg()
    tokens = _all_digit_tokens(template)
    code = g.chain(0, template.words_before)
    digits = code
    for _ in range(length):
        nxt = g.new()
        for token in tokens:
            g.transitions.append((digits, nxt, 1.0 / len(tokens), token))
        digits = nxt
    g.transitions.append((code, digits, _P_NO_CODE))
    code = digits
    # The final state is the one after the last word: PocketSphinx only ends an utterance
    # in the final state through a word, not through a null transition.
    end = g.chain(code, template.words_after)
    prefix_start = _prefix_start(template)
    if prefix_start is not None:  # "... my unique code is X, my unique code is Y"
        g.transitions.append((end, prefix_start, _P_REPEAT))
    g.transitions.append((end, 0, _P_REPEAT))
    return decoder.create_fsg("said", 0, end, g.transitions)


def _prefix_start(template: ConsentTemplate) -> int | None:
    """State where the code sentence starts in :func:`_said_fsg` (states follow the words)."""
    n_statement = len(_tokens(template.statement))
    return n_statement if n_statement < len(template.words_before) else None


def _code_fsg(decoder: pocketsphinx.Decoder, template: ConsentTemplate,
              before: Sequence[str], digits: list[str], *, other: bool,
              ) -> pocketsphinx.FsgModel:
    """``before``, then exactly the expected code, or (``other``) any code of the same
    length that differs from it in at least one digit, then the template's closing words.
    Every arc has probability 1: the path score is acoustic only."""
    g = _Fsg()
    start = g.chain(0, before)
    tokens = {d: [_digit_token(d, w) for w in ws] for d, ws in template.digits.items()}
    every = _all_digit_tokens(template)
    same, differs = start, None  # state while equal so far / after a difference
    for digit in digits:
        nxt_same = g.new()
        for token in tokens[digit]:
            g.transitions.append((same, nxt_same, 1.0, token))
        if other:
            nxt_diff = g.new()
            for token in every:
                if token not in tokens[digit]:
                    g.transitions.append((same, nxt_diff, 1.0, token))
                if differs is not None:
                    g.transitions.append((differs, nxt_diff, 1.0, token))
            differs = nxt_diff
        same = nxt_same
    last = differs if other else same
    assert last is not None
    end = g.chain(last, template.words_after)
    return decoder.create_fsg("other" if other else "expected", 0, end, g.transitions)


def _decode_said(decoder: pocketsphinx.Decoder, pcm: NDArray[np.int16],
                 prefix: tuple[str, ...]) -> tuple[list[str], int | None, int | None]:
    """The structure pass: its words, the sample where the last reading of ``prefix``
    (the words before the code) begins (None when the sentence was not recognised) and
    the path score (None when nothing was decoded)."""
    words, score = _decode(decoder, "said", pcm)
    if not words:
        return [], None, None
    segments = [(s.word.split("(")[0], s.start_frame) for s in decoder.seg()
                if not s.word.startswith(("<", "[", "+"))]
    names = [w for w, _ in segments]
    k = len(prefix)
    starts = [i for i in range(len(names) - k + 1) if tuple(names[i:i + k]) == prefix]
    if not starts:
        return words, None, score
    frame = segments[starts[-1]][1]
    return words, frame * DEFAULT_SAMPLE_RATE // _FRAME_RATE, score


def _decode(decoder: pocketsphinx.Decoder, search: str,
            pcm: NDArray[np.int16]) -> tuple[list[str], int | None]:
    """The words of the best path (fillers and silence dropped) and its score (units)."""
    decoder.activate_search(search)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    if hyp is None or not hyp.hypstr:
        return [], None
    score = hyp.score
    units = decoder.logmath.log(score) if score > 0 else None
    return hyp.hypstr.split(), units


def _read(words: list[str], template: ConsentTemplate) -> tuple[tuple[str, ...], str]:
    """Codes heard (the digits after each reading of the code sentence's opening words) and
    a readable transcript."""
    prefix = _code_prefix(template)
    codes: list[str] = []
    shown: list[str] = []
    in_code = False
    for word in words:
        m = re.fullmatch(r"d(\d)_([a-z]+)", word)
        if m:
            if not in_code:  # digits with no opening words before them (not in the grammar)
                codes.append("")
                in_code = True
            codes[-1] += m.group(1)
            shown.append(m.group(2))
            continue
        shown.append(word)
        in_code = bool(prefix) and tuple(shown[-len(prefix):]) == prefix
        if in_code:
            codes.append("")  # a code slot opens; it stays "" if no digit follows
    return tuple(codes), " ".join(shown)


def _code_prefix(template: ConsentTemplate) -> tuple[str, ...]:
    """The words said right before the code: the code sentence's opening (or, when the code
    opens the code sentence, the statement's last word)."""
    before = _tokens(template.code_sentence.split("{code}")[0])
    return before or template.words_before[-1:]
