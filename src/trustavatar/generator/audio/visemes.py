"""Phonemes → visemes: articulatory mouth targets per video frame.

A :class:`Viseme` is a target, not a mouth shape: how far the jaw is open, how spread or
pursed the lips are, how rounded, and whether the lips are shut. The motion module turns
the per-frame targets of :func:`viseme_track` into motion (coarticulation, smoothing); this
module does none of that.

The tables
----------
``ARPABET_VISEMES`` (ARPAbet, as PocketSphinx decodes) is the reference table. Diphthongs
(``AW AY EY OW OY``) have two targets: the first holds for the first half of the phoneme,
the second for the rest.

``ESPEAK_ENGLISH`` maps the espeak-ng English mnemonics that appear in synthesis events
(``a``, ``aI``, ``@``, ``3:``, ``tS``, ``D``, …; stress marks already removed) to ARPAbet
symbols, so both sources share one set of targets. Other languages' espeak-ng mnemonics
(``y:``, ``2:``, ``x``, ``R``, …) fall back on the class of their first character
(:data:`ESPEAK_GENERIC`): front rounded, open, bilabial, velar, and so on. A symbol that
matches nothing gets :data:`NEUTRAL`; silence gets :data:`REST`.

Values are set by hand from phonetics (jaw height of vowels, lip rounding and spreading,
bilabial closure), on the scales of :class:`Viseme`.
"""

from __future__ import annotations

__all__ = [
    "ARPABET_VISEMES",
    "ARPABET_VOWELS",
    "COLUMNS",
    "ESPEAK_ENGLISH",
    "ESPEAK_GENERIC",
    "NEUTRAL",
    "REST",
    "PhonemeClass",
    "Viseme",
    "phoneme_class",
    "viseme_for",
    "viseme_track",
]

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import GenerationError
from trustavatar.generator.audio.phonemes import PhonemeAlphabet, PhonemeEvent

#: Column order of :func:`viseme_track`'s output.
COLUMNS: Final = ("jaw_open", "lip_width", "lip_round", "lips_closed")


@dataclass(frozen=True)
class Viseme:
    """Articulatory mouth target.

    ``jaw_open`` 0 (teeth together) … 1 (wide open); ``lip_width`` -1 (pursed, protruded) …
    +1 (spread, as in "ee"); ``lip_round`` 0 … 1 (as in "oo"); ``lips_closed``: the lips
    touch (bilabials ``p b m``, and rest).
    """

    jaw_open: float
    lip_width: float
    lip_round: float
    lips_closed: bool = False

    def __post_init__(self) -> None:
        if not (0.0 <= self.jaw_open <= 1.0 and -1.0 <= self.lip_width <= 1.0
                and 0.0 <= self.lip_round <= 1.0):
            raise GenerationError(
                f"viseme out of range: jaw_open {self.jaw_open} (0..1), lip_width "
                f"{self.lip_width} (-1..1), lip_round {self.lip_round} (0..1)"
            )

    def as_array(self) -> NDArray[np.float32]:
        """``(4,) float32`` in :data:`COLUMNS` order (``lips_closed`` as 0 or 1)."""
        return np.array([self.jaw_open, self.lip_width, self.lip_round,
                         float(self.lips_closed)], np.float32)


#: Silence and pauses: jaw and lips at rest, lips together.
REST: Final = Viseme(0.0, 0.0, 0.0, lips_closed=True)
#: Any symbol not in the tables: a slightly open, unrounded mouth.
NEUTRAL: Final = Viseme(0.25, 0.0, 0.0)

# Building blocks (IPA in comments).
_BILABIAL = Viseme(0.0, 0.0, 0.0, lips_closed=True)  # p b m
_LABIODENTAL = Viseme(0.1, 0.15, 0.0)  # f v: lower lip to upper teeth
_DENTAL = Viseme(0.2, 0.2, 0.0)  # θ ð: tongue between the teeth
_ALVEOLAR = Viseme(0.15, 0.3, 0.0)  # t d n s z
_LATERAL = Viseme(0.3, 0.2, 0.0)  # l
_POSTALVEOLAR = Viseme(0.15, -0.45, 0.65)  # ʃ ʒ tʃ dʒ: lips protruded
_RHOTIC = Viseme(0.2, -0.35, 0.5)  # ɹ
_LABIOVELAR = Viseme(0.15, -0.85, 1.0)  # w
_PALATAL = Viseme(0.2, 0.6, 0.0)  # j
_VELAR = Viseme(0.3, 0.1, 0.0)  # k g ŋ x
_GLOTTAL = Viseme(0.45, 0.1, 0.0)  # h ʔ
_A_OPEN = Viseme(0.85, 0.1, 0.0)  # ɑ
_A_FRONT = Viseme(0.8, 0.25, 0.0)  # a (start of aɪ aʊ)
_AE = Viseme(0.7, 0.5, 0.0)  # æ
_CARET = Viseme(0.6, 0.15, 0.0)  # ʌ
_SCHWA = Viseme(0.35, 0.0, 0.0)  # ə
_OPEN_O = Viseme(0.65, -0.35, 0.6)  # ɔ ɒ
_O = Viseme(0.45, -0.55, 0.8)  # o
_E = Viseme(0.4, 0.6, 0.0)  # e
_EPSILON = Viseme(0.5, 0.45, 0.0)  # ɛ
_ER = Viseme(0.35, -0.15, 0.4)  # ɝ ɜ
_SMALL_I = Viseme(0.3, 0.55, 0.0)  # ɪ
_I = Viseme(0.2, 0.85, 0.0)  # i
_HORSESHOE = Viseme(0.3, -0.5, 0.7)  # ʊ
_U = Viseme(0.2, -0.8, 1.0)  # u
_Y = Viseme(0.2, -0.6, 0.9)  # y (front rounded)
_SMALL_Y = Viseme(0.3, -0.45, 0.8)  # ʏ
_O_SLASH = Viseme(0.35, -0.5, 0.8)  # ø
_OE = Viseme(0.5, -0.4, 0.7)  # œ

_ARPABET: dict[str, tuple[Viseme, ...]] = {
    # vowels
    "AA": (_A_OPEN,), "AE": (_AE,), "AH": (_CARET,), "AO": (_OPEN_O,),
    "AW": (_A_FRONT, _HORSESHOE), "AY": (_A_FRONT, _SMALL_I), "EH": (_EPSILON,),
    "ER": (_ER,), "EY": (_E, _SMALL_I), "IH": (_SMALL_I,), "IY": (_I,),
    "OW": (_O, _HORSESHOE), "OY": (_OPEN_O, _SMALL_I), "UH": (_HORSESHOE,), "UW": (_U,),
    # consonants
    "B": (_BILABIAL,), "P": (_BILABIAL,), "M": (_BILABIAL,),
    "F": (_LABIODENTAL,), "V": (_LABIODENTAL,),
    "TH": (_DENTAL,), "DH": (_DENTAL,),
    "T": (_ALVEOLAR,), "D": (_ALVEOLAR,), "N": (_ALVEOLAR,), "S": (_ALVEOLAR,),
    "Z": (_ALVEOLAR,), "L": (_LATERAL,),
    "SH": (_POSTALVEOLAR,), "ZH": (_POSTALVEOLAR,), "CH": (_POSTALVEOLAR,),
    "JH": (_POSTALVEOLAR,),
    "R": (_RHOTIC,), "W": (_LABIOVELAR,), "Y": (_PALATAL,),
    "K": (_VELAR,), "G": (_VELAR,), "NG": (_VELAR,), "HH": (_GLOTTAL,),
    "SIL": (REST,),
}
#: ARPAbet symbol → one target, or two for a diphthong (first half, second half).
ARPABET_VISEMES: Final[Mapping[str, tuple[Viseme, ...]]] = MappingProxyType(_ARPABET)
#: The ARPAbet vowels.
ARPABET_VOWELS: Final = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)

#: espeak-ng English mnemonic (stress marks removed) → ARPAbet symbol(s) whose targets it
#: takes. Two symbols: first half, second half (diphthongs, r-coloured vowels).
ESPEAK_ENGLISH: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    # vowels
    "a": ("AE",), "a#": ("AH",), "a2": ("AH",), "aa": ("AA",), "A:": ("AA",),
    "A@": ("AA", "ER"), "A#": ("AA",), "0": ("AO",), "0#": ("AO",), "O:": ("AO",),
    "O": ("AO",), "O2": ("AO",), "O@": ("AO", "ER"), "o@": ("OW", "ER"), "OI": ("OY",),
    "oU": ("OW",), "oU#": ("OW",), "o": ("OW",), "aU": ("AW",), "aU@": ("AW",),
    "aI": ("AY",), "aI@": ("AY",), "aI2": ("AY",), "aI3": ("AY",), "eI": ("EY",),
    "e": ("EH",), "E": ("EH",), "E2": ("EH",), "E3": ("EH",), "e@": ("EH", "ER"),
    "i": ("IY",), "i:": ("IY",), "i@": ("IY", "AH"), "i@3": ("IY", "ER"),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "IR": ("IH", "ER"),
    "u:": ("UW",), "u": ("UW",), "U": ("UH",), "U@": ("UH", "ER"),
    "V": ("AH",), "VR": ("AH", "ER"), "3": ("ER",), "3:": ("ER",),
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@-": ("AH",), "@L": ("AH", "L"),
    # consonants
    "p": ("P",), "b": ("B",), "m": ("M",), "f": ("F",), "v": ("V",),
    "T": ("TH",), "D": ("DH",), "t": ("T",), "d": ("D",), "t#": ("D",), "d#": ("D",),
    "n": ("N",), "n-": ("N",), "s": ("S",), "z": ("Z",), "l": ("L",), "l/": ("L",),
    "S": ("SH",), "Z": ("ZH",), "tS": ("CH",), "dZ": ("JH",),
    "r": ("R",), "r-": ("R",), "w": ("W",), "w#": ("W",), "j": ("Y",),
    "k": ("K",), "g": ("G",), "N": ("NG",), "x": ("K",), "h": ("HH",), "?": ("HH",),
    "_": ("SIL",),
})

#: First character of an espeak-ng mnemonic not in :data:`ESPEAK_ENGLISH` (any language)
#: → its target. Covers vowel qualities and places of articulation of espeak-ng's
#: Kirshenbaum-style names (``y`` front rounded, ``2`` ø, ``9`` œ, ``x`` velar, …).
ESPEAK_GENERIC: Final[Mapping[str, Viseme]] = MappingProxyType({
    # vowels
    "a": _A_FRONT, "A": _A_OPEN, "&": _AE, "6": _SCHWA, "@": _SCHWA, "3": _ER, "V": _CARET,
    "e": _E, "E": _EPSILON, "i": _I, "I": _SMALL_I, "1": _SMALL_I, "o": _O, "O": _OPEN_O,
    "0": _OPEN_O, "u": _U, "U": _HORSESHOE, "y": _Y, "Y": _SMALL_Y, "2": _O_SLASH,
    "9": _OE, "8": _O_SLASH, "W": _OE,
    # consonants
    "p": _BILABIAL, "b": _BILABIAL, "m": _BILABIAL, "B": _LABIODENTAL, "F": _LABIODENTAL,
    "f": _LABIODENTAL, "v": _LABIODENTAL, "T": _DENTAL, "D": _DENTAL,
    "t": _ALVEOLAR, "d": _ALVEOLAR, "n": _ALVEOLAR, "s": _ALVEOLAR, "z": _ALVEOLAR,
    "c": _PALATAL, "J": _PALATAL, "j": _PALATAL, "C": _PALATAL, "l": _LATERAL,
    "L": _LATERAL, "S": _POSTALVEOLAR, "Z": _POSTALVEOLAR, "r": _RHOTIC, "R": _VELAR,
    "w": _LABIOVELAR, "k": _VELAR, "g": _VELAR, "N": _VELAR, "x": _VELAR, "G": _VELAR,
    "q": _VELAR, "X": _VELAR, "h": _GLOTTAL, "H": _GLOTTAL, "?": _GLOTTAL,
})
_ESPEAK_VOWEL_CHARS: Final = frozenset("aA&6@3VeEiI1oO0uUyY298W")


class PhonemeClass(enum.StrEnum):
    """Broad class of a phoneme: what lip motion most depends on."""

    SILENCE = "silence"
    VOWEL = "vowel"
    CONSONANT = "consonant"


def phoneme_class(event: PhonemeEvent) -> PhonemeClass:
    """Silence, vowel or consonant, in either alphabet (any espeak-ng language)."""
    if event.is_silence:
        return PhonemeClass.SILENCE
    if event.alphabet is PhonemeAlphabet.ARPABET:
        vowel = event.symbol.rstrip("012") in ARPABET_VOWELS
    else:
        english = ESPEAK_ENGLISH.get(event.symbol)
        if english is not None:
            vowel = english[0] in ARPABET_VOWELS
        else:
            vowel = event.symbol[:1] in _ESPEAK_VOWEL_CHARS
    return PhonemeClass.VOWEL if vowel else PhonemeClass.CONSONANT


def viseme_for(symbol: str,
               alphabet: PhonemeAlphabet = PhonemeAlphabet.ARPABET) -> tuple[Viseme, ...]:
    """The target(s) of ``symbol``: one, or two for a diphthong (first half, second half).

    ARPAbet symbols may carry a stress digit (``AH0``). Unknown symbols give
    ``(NEUTRAL,)``; silence gives ``(REST,)``.
    """
    if symbol in ("_", "SIL") or symbol.startswith("+"):
        return (REST,)
    if PhonemeAlphabet(alphabet) is PhonemeAlphabet.ARPABET:
        return _ARPABET.get(symbol.upper().rstrip("012"), (NEUTRAL,))
    english = ESPEAK_ENGLISH.get(symbol)
    if english is not None:
        if len(english) == 1:
            return _ARPABET[english[0]]
        return tuple(_ARPABET[arpabet][0] for arpabet in english)
    generic = ESPEAK_GENERIC.get(symbol.lstrip("'\",%=!")[:1])
    return (generic,) if generic is not None else (NEUTRAL,)


def viseme_track(phonemes: Iterable[PhonemeEvent], *, fps: float = 25.0,
                 n_frames: int) -> NDArray[np.float32]:
    """Per-frame targets ``(n_frames, 4) float32``, columns :data:`COLUMNS`.

    Frame ``t`` takes the target of the phoneme sounding at its centre ``(t + 0.5) / fps``
    (the second target of a diphthong in its second half); frames outside every phoneme
    are :data:`REST`. A lip closure (``p b m``) too short to hold any frame centre still
    closes the lips in the frame holding its midpoint: a missed closure is the most visible
    lip-sync error. No smoothing.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise GenerationError(f"fps must be positive, got {fps}")
    if n_frames < 0:
        raise GenerationError(f"n_frames must be >= 0, got {n_frames}")
    events = sorted(phonemes, key=lambda e: e.start)
    track = np.tile(REST.as_array(), (n_frames, 1))
    if not events or not n_frames:
        return track
    starts = np.array([e.start for e in events])
    ends = np.array([e.end for e in events])
    parts = [viseme_for(e.symbol, e.alphabet) for e in events]
    first = np.stack([p[0].as_array() for p in parts])
    second = np.stack([p[-1].as_array() for p in parts])
    # 1. Each frame centre takes the target of the phoneme sounding there.
    centres = (np.arange(n_frames) + 0.5) / fps
    index = np.searchsorted(starts, centres, side="right") - 1
    safe = np.maximum(index, 0)
    inside = (index >= 0) & (centres < ends[safe])
    late = centres >= (starts[safe] + ends[safe]) / 2
    track[inside] = np.where(late[inside, None], second[safe[inside]], first[safe[inside]])
    # 2. Lip closures missed by every frame centre claim the frame of their midpoint.
    for ev, targets in zip(events, parts, strict=True):
        if ev.is_silence or not all(v.lips_closed for v in targets):
            continue
        t_first = math.ceil(ev.start * fps - 0.5)  # first frame whose centre >= start
        if t_first + 0.5 < ev.end * fps:
            continue  # a frame centre falls inside: step 1 has it
        t = math.floor((ev.start + ev.end) / 2 * fps)
        if 0 <= t < n_frames:
            track[t] = targets[0].as_array()
    return track
