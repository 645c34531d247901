"""Phoneme tracks: timed phoneme events, and phoneme decoding from audio with PocketSphinx.

Two sources give :class:`PhonemeEvent` tuples: text-to-speech events
(:func:`trustavatar.generator.audio.tts.synthesize`, espeak-ng mnemonics) and
:func:`decode_phonemes`, which runs PocketSphinx's US-English acoustic model with the
phone language model shipped in the ``pocketsphinx`` wheel ("allphone" search) and gives
ARPAbet symbols. Both are offline; nothing is downloaded.

Decoding works on English; on other languages it still finds speech and silence and a
rough place of articulation, which is what lip motion needs.
"""

from __future__ import annotations

__all__ = [
    "PHONE_FRAME_RATE",
    "SILENCE_SYMBOLS",
    "PhonemeAlphabet",
    "PhonemeEvent",
    "decode_phonemes",
]

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pocketsphinx
from numpy.typing import NDArray

from trustavatar.errors import AudioInputError, GenerationError
from trustavatar.generator.audio.decode import DEFAULT_SAMPLE_RATE, Audio, resample

#: Frames per second of PocketSphinx's front end (``seg().start_frame`` units).
PHONE_FRAME_RATE: Final = 100
#: Symbols meaning "no speech": espeak-ng's pause (normalised to ``_``) and ARPAbet ``SIL``.
SILENCE_SYMBOLS: Final = frozenset({"_", "SIL"})

#: Longest piece decoded in one utterance (seconds); longer audio is cut at quiet points.
_CHUNK_SECONDS: Final = 30.0
#: Where in the last part of a chunk a cut is looked for (seconds).
_CUT_SEARCH_SECONDS: Final = 6.0
#: Time from a frame's index (``i / 100`` s) to the boundary before it: PocketSphinx's
#: analysis window is 25.625 ms long, so frame ``i`` is centred 12.8 ms after ``i / 100`` s
#: and the boundary with frame ``i - 1`` lies half a hop earlier.
_FRAME_OFFSET: Final = 0.025625 / 2 - 0.5 / PHONE_FRAME_RATE
#: Level of the noise added before decoding, relative to the audio's RMS (dB). Digital
#: silence (exact zeros, as in synthetic speech) upsets the recogniser's energy features.
_DITHER_DB: Final = -40.0


class PhonemeAlphabet(enum.StrEnum):
    """Which symbol set a :class:`PhonemeEvent` uses."""

    #: CMU ARPAbet (``AA``, ``IY``, ``P``, ``SIL``), as PocketSphinx decodes.
    ARPABET = "arpabet"
    #: espeak-ng phoneme mnemonics (``a``, ``i:``, ``p``, ``tS``, ``_``), stress marks removed.
    ESPEAK = "espeak"


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme from ``start`` to ``end`` seconds.

    ``symbol`` is in ``alphabet``; silence is ``SIL`` (ARPAbet) or ``_`` (espeak-ng).
    """

    start: float
    end: float
    symbol: str
    alphabet: PhonemeAlphabet = PhonemeAlphabet.ARPABET

    def __post_init__(self) -> None:
        if not (0.0 <= self.start <= self.end):
            raise GenerationError(
                f"phoneme {self.symbol!r} must have 0 <= start <= end, got "
                f"{self.start:.3f}..{self.end:.3f} s"
            )
        if not self.symbol:
            raise GenerationError("phoneme symbol must not be empty")
        object.__setattr__(self, "alphabet", PhonemeAlphabet(self.alphabet))

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_silence(self) -> bool:
        """True for pauses and for the recogniser's noise fillers (``+NSN+``, ``+BREATH+``)."""
        return self.symbol in SILENCE_SYMBOLS or self.symbol.startswith("+")


def decode_phonemes(audio: Audio) -> tuple[PhonemeEvent, ...]:
    """ARPAbet phonemes heard in ``audio``, in time order, covering it end to end.

    Uses PocketSphinx allphone decoding (US-English acoustic model, phone bigram language
    model from the ``pocketsphinx`` wheel). Audio is resampled to 16 kHz if needed; audio
    longer than 30 s is decoded in pieces cut at quiet points. Silence is ``SIL``.

    Seeded noise 40 dB below the audio's level is added first: digital silence (exact
    zeros, as in synthetic speech) otherwise throws the recogniser's energy features off.
    Deterministic: the same audio gives the same events.
    """
    if not audio.num_samples:
        raise AudioInputError("audio is empty; nothing to decode")
    audio = resample(audio, DEFAULT_SAMPLE_RATE)
    dither = max(audio.rms * 10.0 ** (_DITHER_DB / 20.0), 1.0 / 32768.0)
    decoder = _new_decoder()
    events: list[PhonemeEvent] = []
    for start, stop in _chunks(audio.samples):
        pcm = _dithered_pcm16(audio.samples[start:stop], dither, seed=start)
        events.extend(_decode_chunk(decoder, pcm, start / DEFAULT_SAMPLE_RATE,
                                    stop / DEFAULT_SAMPLE_RATE))
    return tuple(_merge_silence(events))


# --- internals ------------------------------------------------------------------------------


def _model_dir() -> Path:
    return Path(pocketsphinx.get_model_path()) / "en-us"


def _new_decoder() -> pocketsphinx.Decoder:
    model = _model_dir()
    try:
        # Settings follow the PocketSphinx phoneme-recognition tutorial: a low language
        # weight and wide beams so the phone bigram does not override the acoustics.
        return pocketsphinx.Decoder(
            hmm=str(model / "en-us"),
            allphone=str(model / "en-us-phone.lm.bin"),
            dict=None,
            lw=2.0,
            beam=1e-20,
            pbeam=1e-20,
            samprate=float(DEFAULT_SAMPLE_RATE),
            loglevel="FATAL",
        )
    except (RuntimeError, ValueError) as e:
        raise GenerationError(f"cannot load the PocketSphinx phone model from {model}: {e}") from e


def _dithered_pcm16(samples: NDArray[np.float32], level: float, *,
                    seed: int) -> NDArray[np.int16]:
    """16-bit PCM with Gaussian noise of RMS ``level`` added (seeded: reproducible)."""
    noise = np.random.default_rng(seed).normal(0.0, level, samples.shape[0])
    mixed = np.clip(samples + noise, -1.0, 1.0)
    return np.round(mixed * 32767.0).astype(np.int16)


def _chunks(samples: NDArray[np.float32]) -> Iterator[tuple[int, int]]:
    """(start, stop) sample ranges of at most 30 s, cut at the quietest 10 ms nearby."""
    n = samples.shape[0]
    chunk = int(_CHUNK_SECONDS * DEFAULT_SAMPLE_RATE)
    hop = DEFAULT_SAMPLE_RATE // PHONE_FRAME_RATE
    search = int(_CUT_SEARCH_SECONDS * DEFAULT_SAMPLE_RATE)
    start = 0
    while n - start > chunk:
        lo, hi = start + chunk - search, start + chunk
        frames = samples[lo:hi].reshape(-1, hop)
        energy = np.mean(np.square(frames, dtype=np.float64), axis=1)
        # The quietest frame; among equals, the latest (longest chunk).
        k = len(energy) - 1 - int(np.argmin(energy[::-1]))
        stop = lo + k * hop + hop // 2
        yield start, stop
        start = stop
    yield start, n


def _decode_chunk(decoder: pocketsphinx.Decoder, pcm: NDArray[np.int16], t0: float,
                  t1: float) -> list[PhonemeEvent]:
    try:
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        decoder.end_utt()
        segments = [(s.word, s.start_frame, s.end_frame) for s in decoder.seg()]
    except RuntimeError as e:
        raise GenerationError(f"phoneme decoding failed: {e}") from e
    events: list[PhonemeEvent] = []
    for word, first, last in segments:
        start = min(t0 + first / PHONE_FRAME_RATE + _FRAME_OFFSET, t1)
        end = min(t0 + (last + 1) / PHONE_FRAME_RATE + _FRAME_OFFSET, t1)
        symbol = "SIL" if word.startswith(("+", "<")) or word == "SIL" else word.upper()
        if end > start:
            events.append(PhonemeEvent(start, end, symbol, PhonemeAlphabet.ARPABET))
    if not events:
        return [PhonemeEvent(t0, t1, "SIL", PhonemeAlphabet.ARPABET)]
    # Cover the chunk end to end: stretch the first and last events to its edges.
    first_ev, last_ev = events[0], events[-1]
    events[0] = PhonemeEvent(t0, first_ev.end, first_ev.symbol, first_ev.alphabet)
    events[-1] = PhonemeEvent(events[-1].start, max(t1, last_ev.end), last_ev.symbol,
                              last_ev.alphabet)
    return events


def _merge_silence(events: list[PhonemeEvent]) -> list[PhonemeEvent]:
    """Join neighbouring silences (at chunk cuts and between fillers)."""
    merged: list[PhonemeEvent] = []
    for ev in events:
        if merged and ev.is_silence and merged[-1].is_silence:
            prev = merged.pop()
            ev = PhonemeEvent(prev.start, ev.end, "SIL", PhonemeAlphabet.ARPABET)
        merged.append(ev)
    return merged
