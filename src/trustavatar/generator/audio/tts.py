"""Text-to-speech with espeak-ng, with phoneme and word timings from its synthesis events.

espeak-ng is the C library shipped with its data in the ``espeakng-loader`` wheel
(:func:`espeakng_loader.get_library_path`, :func:`espeakng_loader.get_data_path`), called
through :mod:`ctypes` in synchronous mode: every buffer of samples arrives in a callback
together with the events for it (phoneme, word, sentence, end). Everything runs offline.

The library keeps global state (one voice, one set of parameters, one callback), so every
call holds a module lock, and the library is initialised once per process. Output is not
bit-identical from call to call: espeak-ng carries waveform state (pitch flutter, phase)
from one utterance to the next, so lengths vary by a few samples.

>>> speech = synthesize("Hello world")  # doctest: +SKIP
>>> speech.audio.duration, speech.phonemes[1].symbol  # doctest: +SKIP
(1.03, 'h')
"""

from __future__ import annotations

__all__ = [
    "MAX_TEXT_CHARS",
    "PITCH_RANGE",
    "RATE_RANGE",
    "Speech",
    "VoiceInfo",
    "WordEvent",
    "list_languages",
    "list_voices",
    "synthesize",
]

import ctypes
import re
import threading
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import ScriptInputError, SpeechSynthesisError
from trustavatar.generator.audio.decode import DEFAULT_SAMPLE_RATE, Audio, resample
from trustavatar.generator.audio.phonemes import PhonemeAlphabet, PhonemeEvent

if TYPE_CHECKING:
    from _ctypes import CFuncPtr

#: Longest text accepted, in characters (about ten minutes of speech).
MAX_TEXT_CHARS: Final = 20_000
#: Speaking rates espeak-ng accepts, words per minute (``espeakRATE_MINIMUM/MAXIMUM``).
RATE_RANGE: Final = (80, 450)
#: Base pitch values espeak-ng accepts (50 is the voice's normal pitch).
PITCH_RANGE: Final = (0, 100)

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_PHONEME_EVENTS: Final = 0x0001
_INITIALIZE_DONT_EXIT: Final = 0x8000
_CHARS_UTF8: Final = 1
_SSML: Final = 0x10
_POS_CHARACTER: Final = 1
_EVENT_LIST_TERMINATED: Final = 0
_EVENT_WORD: Final = 1
_EVENT_PHONEME: Final = 7
_EVENT_SAMPLERATE: Final = 8
_PARAM_RATE: Final = 1
_PARAM_PITCH: Final = 3
_EE_OK: Final = 0
_GENDERS: Final = {0: "unspecified", 1: "male", 2: "female"}
#: espeak-ng stress and emphasis marks that may prefix a phoneme mnemonic (``'aI``, ``,E``).
_STRESS_MARKS: Final = "',%=!"


@dataclass(frozen=True)
class WordEvent:
    """A word spoken from ``start`` to ``end`` seconds; ``text`` is taken from the input."""

    start: float
    end: float
    text: str
    text_position: int  #: 0-based offset of the word in the input text (characters)


@dataclass(frozen=True)
class VoiceInfo:
    """An espeak-ng voice: a language voice, or a variant (``languages == ("variant",)``).

    Pass a language voice's first language code as ``language=`` and a variant's
    ``identifier`` (``"f3"``, ``"klatt"``, ``"Alex"``) as ``voice=`` to :func:`synthesize`.
    """

    name: str
    languages: tuple[str, ...]
    gender: str
    identifier: str

    @property
    def is_variant(self) -> bool:
        return self.languages[:1] == ("variant",)


@dataclass(frozen=True, eq=False)
class Speech:
    """Synthesised speech: 16 kHz mono ``audio`` with phoneme and word timings (seconds).

    ``phonemes`` cover the audio end to end in time order (espeak-ng mnemonics with stress
    marks removed, pauses as ``_``); ``voice`` is the espeak-ng voice used
    (``"gmw/en-US+f3"``). ``native``: the same speech at the rate espeak-ng made it
    (22.05 kHz), which a generated video carries (16 kHz would cut its sibilants at 8 kHz).
    """

    audio: Audio
    phonemes: tuple[PhonemeEvent, ...]
    words: tuple[WordEvent, ...]
    language: str
    voice: str
    ssml: bool = field(default=False)
    native: Audio | None = field(default=None, repr=False, compare=False)


def list_voices(*, variants: bool = False) -> list[VoiceInfo]:
    """The language voices espeak-ng ships (or, with ``variants=True``, the voice variants)."""
    with _LOCK:
        lib = _library()
        if variants:
            spec = _Voice()
            spec.languages = ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p)
            return _list(lib, ctypes.byref(spec))
        return _list(lib, None)


def list_languages() -> list[str]:
    """Every language code accepted as ``language=`` (lower case, sorted)."""
    return sorted(_language_codes())


def synthesize(
    text: str,
    *,
    language: str = "en",
    voice: str | None = None,
    rate: int | None = None,
    pitch: int | None = None,
    ssml: bool | None = None,
    max_seconds: float | None = None,
) -> Speech:
    """Speak ``text`` with espeak-ng; return 16 kHz audio with phoneme and word timings.

    ``language`` is an espeak-ng language code (:func:`list_languages`: ``en``, ``en-us``,
    ``de``, ``fr``, ``cmn``, …). ``voice`` is a variant identifier or name from
    ``list_voices(variants=True)`` (``"f3"``, ``"m2"``, ``"klatt"``). ``rate`` is in words per
    minute (:data:`RATE_RANGE`, default 175), ``pitch`` the base pitch (:data:`PITCH_RANGE`,
    default 50). ``ssml=None`` treats text starting with ``<speak`` as SSML; SSML must be
    well-formed XML with a ``<speak>`` root (``<break>``, ``<prosody>``, ``<say-as>``, …).
    ``max_seconds``: stop, and refuse the text, as soon as the speech (pauses included)
    passes this length, instead of synthesising all of it first.

    Raises :class:`~trustavatar.errors.ScriptInputError` (a ``SpeechSynthesisError``; exit
    code 2) for empty or overlong text, an unknown language or voice, a rate or pitch out of
    range, malformed SSML, or text that gives no speech; ``SpeechSynthesisError`` itself
    when espeak-ng cannot be loaded or fails.
    """
    # 1. Arguments.
    if not isinstance(text, str):
        raise ScriptInputError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ScriptInputError("text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ScriptInputError(
            f"text is {len(text)} characters long; at most {MAX_TEXT_CHARS} are accepted"
        )
    if "\x00" in text:
        raise ScriptInputError("text contains a NUL character")
    _check_range("rate", rate, RATE_RANGE)
    _check_range("pitch", pitch, PITCH_RANGE)
    # 2. SSML: detect, then insist on well-formed XML with a <speak> root.
    if ssml is None:
        ssml = text.lstrip().startswith(("<speak", "<?xml"))
    # 3. Voice: a known language, optionally with a known variant.
    lang = _resolve_language(language)
    if ssml:
        _check_ssml(text, lang)
    variant = _resolve_variant(voice) if voice is not None else None
    voice_name = f"{lang}+{variant}" if variant else lang
    # 4. Synthesis, under the lock: the library is a process-wide singleton.
    with _LOCK:
        lib = _library()
        if lib.espeak_SetVoiceByName(voice_name.encode()) != _EE_OK:
            raise SpeechSynthesisError(f"espeak-ng cannot load voice {voice_name!r}")
        current = lib.espeak_GetCurrentVoice()
        used = current.contents.identifier.decode() if current else voice_name
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch)):
            default = lib.espeak_GetParameter(param, 0)
            lib.espeak_SetParameter(param, default if value is None else value, 0)
        collector = _Collector()
        if max_seconds is not None:
            collector.limit = int(max_seconds * _STATE.sample_rate) + 1
        _STATE.collector = collector
        try:
            data = text.encode("utf-8") + b"\x00"
            flags = _CHARS_UTF8 | (_SSML if ssml else 0)
            err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
            if err != _EE_OK:
                raise SpeechSynthesisError(f"espeak-ng refused the text (error {err})")
            if lib.espeak_Synchronize() != _EE_OK:
                raise SpeechSynthesisError("espeak-ng failed while synthesising")
        finally:
            _STATE.collector = None
    # 5. Samples → 16 kHz audio; events → phoneme and word tracks.
    if collector.error is not None:
        raise SpeechSynthesisError(f"reading espeak-ng output failed: {collector.error}")
    if collector.cut:
        raise ScriptInputError(f"the spoken script is longer than {max_seconds:g} s (its "
                               f"synthesis was stopped there); at most {max_seconds:g} s is "
                               "accepted (split it)")
    raw = (np.concatenate(collector.chunks) if collector.chunks
           else np.zeros(0, np.int16))
    rate_hz = collector.sample_rate or _STATE.sample_rate
    duration = raw.shape[0] / rate_hz
    phonemes = _phoneme_track(collector.phonemes, rate_hz, duration)
    if not any(not p.is_silence for p in phonemes):
        raise ScriptInputError("the text gives no speech (nothing to pronounce)")
    native = Audio.from_array(raw.astype(np.float32) / 32768.0, rate_hz)
    del raw
    audio = resample(native, DEFAULT_SAMPLE_RATE)
    words = _word_track(collector.words, rate_hz, phonemes, text)
    return Speech(audio=audio, phonemes=phonemes, words=words, language=lang, voice=used,
                  ssml=bool(ssml), native=native)


# --- ctypes binding -------------------------------------------------------------------------


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Collector:
    """What one synthesis call received: sample buffers and copied event fields."""

    def __init__(self) -> None:
        self.chunks: list[NDArray[np.int16]] = []
        self.phonemes: list[tuple[int, str]] = []  # (sample, mnemonic)
        self.words: list[tuple[int, int, int]] = []  # (sample, text_position, length)
        self.sample_rate = 0
        self.error: BaseException | None = None
        self.samples = 0
        #: stop after this many samples (None: no limit); ``cut``: it stopped there
        self.limit: int | None = None
        self.cut = False


class _State:
    def __init__(self) -> None:
        self.lib: ctypes.CDLL | None = None
        self.sample_rate = 0
        # keeps the C callback alive as long as the library
        self.callback: CFuncPtr | None = None
        self.collector: _Collector | None = None


_LOCK = threading.Lock()
_STATE = _State()


def _on_synth(wav: Any, numsamples: int, events: Any) -> int:
    collector = _STATE.collector
    if collector is None:
        return 1  # not ours: abort
    try:
        if wav and numsamples > 0:
            collector.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
            collector.samples += numsamples
            if collector.limit is not None and collector.samples > collector.limit:
                collector.cut = True
                return 1  # too long: stop synthesising
        i = 0
        while events and events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                name = bytes(ev.id.string).split(b"\x00", 1)[0].decode("utf-8", "replace")
                collector.phonemes.append((ev.sample, name))
            elif ev.type == _EVENT_WORD:
                collector.words.append((ev.sample, ev.text_position, ev.length))
            elif ev.type == _EVENT_SAMPLERATE:
                collector.sample_rate = ev.id.number
            i += 1
    except Exception as e:  # an exception must not cross into C
        collector.error = e
        return 1
    return 0


def _library() -> ctypes.CDLL:
    """The espeak-ng library, loaded and initialised once (call with ``_LOCK`` held)."""
    if _STATE.lib is not None:
        return _STATE.lib
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
    except (OSError, RuntimeError) as e:
        raise SpeechSynthesisError(f"cannot load espeak-ng from espeakng-loader: {e}") from e
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_GetCurrentVoice.argtypes = []
    lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_GetParameter.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.espeak_GetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    # DONT_EXIT: without it a missing data directory makes espeak-ng call exit().
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
        _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT,
    )
    if rate <= 0:
        raise SpeechSynthesisError(f"espeak-ng failed to initialise with data at {data_path}")
    callback = _SynthCallback(_on_synth)
    lib.espeak_SetSynthCallback(callback)
    _STATE.callback, _STATE.sample_rate, _STATE.lib = callback, rate, lib
    return lib


def _list(lib: ctypes.CDLL, spec: Any) -> list[VoiceInfo]:
    array = lib.espeak_ListVoices(spec)
    voices: list[VoiceInfo] = []
    i = 0
    while array and array[i]:
        v = array[i].contents
        identifier = (v.identifier or b"").decode("utf-8", "replace")
        if identifier.startswith("!v/"):
            identifier = identifier[3:]
        voices.append(VoiceInfo(
            name=(v.name or b"").decode("utf-8", "replace"),
            languages=_languages(v.languages),
            gender=_GENDERS.get(v.gender, "unspecified"),
            identifier=identifier,
        ))
        i += 1
    return voices


def _languages(pointer: int | None) -> tuple[str, ...]:
    """Decode espeak's language list: (priority byte, NUL-terminated name)*, then NUL."""
    out: list[str] = []
    if not pointer:
        return ()
    while ctypes.string_at(pointer, 1)[0] != 0:
        name = ctypes.string_at(pointer + 1)
        out.append(name.decode("utf-8", "replace"))
        pointer += 2 + len(name)
    return tuple(out)


# --- argument checks ------------------------------------------------------------------------

_LANGUAGES: frozenset[str] | None = None
_VARIANTS: dict[str, str] | None = None


def _language_codes() -> frozenset[str]:
    global _LANGUAGES
    if _LANGUAGES is None:
        _LANGUAGES = frozenset(
            lang.lower() for v in list_voices() for lang in v.languages
        )
    return _LANGUAGES


def _variant_ids() -> dict[str, str]:
    """Lower-cased identifier or name → identifier, for every variant."""
    global _VARIANTS
    if _VARIANTS is None:
        table: dict[str, str] = {}
        for v in list_voices(variants=True):
            table.setdefault(v.identifier.lower(), v.identifier)
            table.setdefault(v.name.lower(), v.identifier)
        _VARIANTS = table
    return _VARIANTS


def _resolve_language(language: str) -> str:
    code = language.strip().lower().replace("_", "-")
    if code not in _language_codes():
        raise ScriptInputError(
            f"unknown language {language!r} (espeak-ng knows e.g. 'en', 'en-us', 'de', 'fr'; "
            "see trustavatar.generator.audio.list_languages())"
        )
    return code


def _resolve_variant(voice: str) -> str:
    key = voice.strip().lstrip("+").lower()
    variant = _variant_ids().get(key)
    if variant is None:
        raise ScriptInputError(
            f"unknown voice {voice!r} (a variant such as 'f3', 'm2' or 'klatt'; "
            "see trustavatar.generator.audio.list_voices(variants=True))"
        )
    return variant


def _check_range(name: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ScriptInputError(f"{name} must be an integer, got {value!r}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ScriptInputError(f"{name} {value} is outside espeak-ng's range {lo}..{hi}")


#: What SSML attributes may not hold (names or values): a language or voice choice.
_SSML_SWITCH = re.compile(r"lang|name|voice", re.IGNORECASE)
#: The SSML elements a script may use: text structure, pauses, emphasis, prosody and
#: pronunciation. Not <audio> (espeak-ng splices the file its src names into the speech,
#: unrecorded as an ingredient: any local file), <voice> (a language switch) or anything
#: else espeak-ng may read a file or URI for.
_SSML_ELEMENTS = frozenset({"speak", "p", "s", "break", "emphasis", "prosody", "say-as",
                            "sub", "phoneme"})


def _check_ssml(text: str, language: str) -> None:
    """Well-formed XML, a ``<speak>`` root, only the elements of :data:`_SSML_ELEMENTS`, no
    DTD (no entity expansion), and no change of language: every ``xml:lang`` is
    ``language`` or a refinement of it (``en-gb`` under ``en``), and no other attribute
    names or holds a language or voice (``<voice name>``: espeak-ng's voice names are
    languages; its own parser finds ``xml:lang=`` even inside another attribute's value).
    The script's language is what a consent's scope is checked against; an SSML switch to
    another language passed the consent gate as ``language``."""
    root: list[str] = []
    parser = xml.parsers.expat.ParserCreate()
    base = language.lower()

    def start(name: str, attrs: dict[str, str]) -> None:
        if not root:
            root.append(name)
        if name.lower() not in _SSML_ELEMENTS:
            raise ScriptInputError(
                f"SSML element <{name}> is not accepted: a script may use "
                f"{', '.join(f'<{e}>' for e in sorted(_SSML_ELEMENTS))} (no <audio>: the "
                "speech is made from the text alone)")
        for key, value in attrs.items():
            # espeak-ng finds attributes by scanning a tag's raw text: "xml:lang=" or
            # "name=" written inside another attribute's value switched the language too
            if "=" in value or _SSML_SWITCH.search(value) or (
                    key != "xml:lang" and _SSML_SWITCH.search(key)):
                raise ScriptInputError(
                    f"SSML attribute {key}={value!r} on <{name}> is not accepted: attributes "
                    "may not name a language or voice (it can switch the language past the "
                    "consent check); give the language and voice as options instead")
        tag = attrs.get("xml:lang")
        if tag is not None and not (tag.lower() == base or tag.lower().startswith(base + "-")):
            raise ScriptInputError(
                f"the SSML switches the language to {tag!r} (xml:lang on <{name}>), but the "
                f"script is spoken in {language!r}, the language the consent is checked for: "
                "give that language as the script's language instead")

    def doctype(*_args: object) -> None:
        raise ScriptInputError("SSML must not contain a DOCTYPE")

    def entity(*_args: object) -> None:
        raise ScriptInputError("SSML must not declare entities")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as e:
        raise ScriptInputError(
            f"malformed SSML: {xml.parsers.expat.ErrorString(e.code)} at line {e.lineno}, "
            f"column {e.offset}"
        ) from e
    if root[:1] != ["speak"]:
        raise ScriptInputError(f"SSML root element must be <speak>, got <{root[0]}>")


# --- event tracks ---------------------------------------------------------------------------


def _normalise_symbol(mnemonic: str) -> str | None:
    """Stress marks removed; every pause is ``_``; boundary markers (``_|``) dropped."""
    if mnemonic.startswith("_"):
        return None if mnemonic == "_|" else "_"
    symbol = mnemonic.lstrip(_STRESS_MARKS)
    return symbol or None


def _phoneme_track(raw: list[tuple[int, str]], rate: int,
                   duration: float) -> tuple[PhonemeEvent, ...]:
    """Phoneme events covering ``[0, duration]``: each lasts until the next one starts."""
    marks = [(s / rate, sym) for s, m in raw if (sym := _normalise_symbol(m)) is not None]
    marks.sort(key=lambda m: m[0])
    events: list[PhonemeEvent] = []
    if not marks or marks[0][0] > 0.0:
        marks.insert(0, (0.0, "_"))
    for i, (start, symbol) in enumerate(marks):
        start = min(start, duration)
        end = min(marks[i + 1][0], duration) if i + 1 < len(marks) else duration
        if end <= start:
            continue
        if symbol == "_" and events and events[-1].symbol == "_":
            start = events.pop().start
        events.append(PhonemeEvent(start, end, symbol, PhonemeAlphabet.ESPEAK))
    return tuple(events)


def _word_track(raw: list[tuple[int, int, int]], rate: int,
                phonemes: tuple[PhonemeEvent, ...], text: str) -> tuple[WordEvent, ...]:
    """Word events; a word ends with its last sounding phoneme before the next word."""
    starts = sorted((s / rate, pos, length) for s, pos, length in raw)
    words: list[WordEvent] = []
    for i, (start, pos, length) in enumerate(starts):
        nxt = starts[i + 1][0] if i + 1 < len(starts) else float("inf")
        sounding = [p.end for p in phonemes
                    if not p.is_silence and start <= p.start < nxt]
        end = max(sounding, default=start)
        offset = max(pos - 1, 0)  # espeak counts characters from 1
        words.append(WordEvent(start, max(end, start), text[offset:offset + length], offset))
    return tuple(words)
