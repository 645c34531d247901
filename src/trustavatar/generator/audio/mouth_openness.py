"""How open the mouth is, per video frame, from phone posteriors of decoded audio.

Each phone has a learned *openness score* (``AE`` and ``AA`` high, ``M P B``, ``W`` and the
rounded ``UW`` low); a frame's score is the posterior-weighted mean of its phones', mapped
to 0 (silence) … 1 (wide open). The scores are a ridge regression from phone posteriors to
the mouth opening that other talking-head generators, trained on hours of real talking
faces, drew for the same audio: ``generator/fit_mouth_openness.py`` measures their mouths in
``shared/media/fake`` (permissively licensed ones only), fits the table and chooses, by
leave-one-generator-out correlation, the ridge strength and how much speech loudness to
blend in. The file it writes ships in the package (``data/generator/mouth-openness-v1.json``,
41 numbers and their provenance); nothing is downloaded.

Rounding and lip width are not learned: they are the posterior-weighted means of the
phonetic targets of :mod:`.visemes`.
"""

from __future__ import annotations

__all__ = ["OPENNESS_FILE", "OpennessTable", "posterior_viseme_track"]

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import GenerationError
from trustavatar.generator.audio.posteriors import NON_SPEECH_PHONES, PhonePosteriors
from trustavatar.generator.audio.visemes import viseme_for
from trustavatar.generator.motion import MotionConfig

#: The shipped table, inside the package.
OPENNESS_FILE: Final = "mouth-openness-v1.json"
_FORMAT: Final = "trustavatar-mouth-openness/1"


@dataclass(frozen=True)
class OpennessTable:
    """Per-phone openness scores and how to use them.

    ``scores``: phone → score; the non-speech phones (``SIL``, ``+NSN+``, ``+SPN+``) share
    the score of ``"SIL"``. ``floor``: the score of silence (openness 0); ``ceiling``: the
    score of a wide-open frame (openness 1; the fit takes the 95th percentile of its speech
    frames). ``phonetic_weight``: the :class:`~trustavatar.generator.motion.MotionConfig`
    blend chosen with the table. ``provenance``: what it was fitted on, and how well it did.
    """

    scores: Mapping[str, float]
    floor: float
    ceiling: float
    phonetic_weight: float
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = [*self.scores.values(), self.floor, self.ceiling, self.phonetic_weight]
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise GenerationError("mouth-openness table: every number must be finite")
        if "SIL" not in self.scores:
            raise GenerationError("mouth-openness table: no score for silence ('SIL')")
        if not self.ceiling > self.floor:
            raise GenerationError(f"mouth-openness table: ceiling {self.ceiling} must be above "
                                  f"floor {self.floor}")
        if not 0.0 <= self.phonetic_weight <= 1.0:
            raise GenerationError(f"mouth-openness table: phonetic_weight "
                                  f"{self.phonetic_weight} is outside 0..1")

    @classmethod
    def load(cls, path: str | Path | None = None) -> OpennessTable:
        """The table in ``path`` (a JSON file :meth:`to_dict` wrote), or the shipped one."""
        if path is None:
            return _shipped()
        return cls._read(Path(path).read_text("utf-8"), str(path))

    @classmethod
    def _read(cls, text: str, where: str) -> OpennessTable:
        try:
            d = json.loads(text)
            if d.get("format") != _FORMAT:
                raise ValueError(f"format is {d.get('format')!r}, not {_FORMAT!r}")
            return cls({str(k): float(v) for k, v in d["scores"].items()}, float(d["floor"]),
                       float(d["ceiling"]), float(d["phonetic_weight"]),
                       dict(d.get("provenance", {})))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise GenerationError(f"cannot read the mouth-openness table {where}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "scores": dict(self.scores), "floor": self.floor,
                "ceiling": self.ceiling, "phonetic_weight": self.phonetic_weight,
                "provenance": dict(self.provenance)}

    def motion_config(self, motion: MotionConfig | None = None) -> MotionConfig:
        """``motion`` (default settings when None) planned with this table's
        ``phonetic_weight``, unless it sets its own."""
        motion = motion or MotionConfig()
        if motion.phonetic_weight is not None:
            return motion
        return replace(motion, phonetic_weight=self.phonetic_weight)

    def score_vector(self, phones: tuple[str, ...]) -> NDArray[np.float64]:
        """The score of each of ``phones`` (non-speech phones: silence's; a phone the table
        lacks: :class:`GenerationError`)."""
        try:
            return np.array([self.scores["SIL" if p in NON_SPEECH_PHONES else p]
                             for p in phones])
        except KeyError as e:
            raise GenerationError(f"mouth-openness table has no score for phone {e}") from e

    def openness(self, frames: NDArray[np.floating], phones: tuple[str, ...],
                 ) -> NDArray[np.float32]:
        """``(n,)`` openness 0..1 of ``frames`` (``(n, phones)`` posteriors)."""
        score = np.asarray(frames, np.float64) @ self.score_vector(phones)
        return np.clip((score - self.floor) / (self.ceiling - self.floor), 0.0,
                       1.0).astype(np.float32)


@functools.cache
def _shipped() -> OpennessTable:
    ref = resources.files("trustavatar") / "data" / "generator" / OPENNESS_FILE
    try:
        text = ref.read_text("utf-8")
    except OSError as e:
        raise GenerationError(f"the packaged mouth-openness table is missing: {e}") from e
    return OpennessTable._read(text, OPENNESS_FILE)


def _targets(phones: tuple[str, ...]) -> NDArray[np.float64]:
    """``(phones, 2)``: lip width and rounding of each phone (diphthongs: the mean of their
    two targets; non-speech: rest)."""
    rows = []
    for p in phones:
        parts = viseme_for("SIL" if p in NON_SPEECH_PHONES else p)
        rows.append([np.mean([v.lip_width for v in parts]), np.mean([v.lip_round for v in parts])])
    return np.asarray(rows)


def posterior_viseme_track(posteriors: PhonePosteriors, *, fps: float, n_frames: int,
                           table: OpennessTable | None = None) -> NDArray[np.float32]:
    """Per-frame targets ``(n_frames, 4) float32`` in :data:`~.visemes.COLUMNS` order, from
    phone posteriors: ``jaw_open`` is the table's openness, ``lip_width`` and ``lip_round``
    the posterior-weighted phonetic targets, ``lips_closed`` 0 (the table scores ``M P B``
    lowest, so closures are in the openness)."""
    table = table or _shipped()
    frames = posteriors.on_video_frames(fps, n_frames)
    track = np.zeros((n_frames, 4), np.float32)
    track[:, 0] = table.openness(frames, posteriors.phones)
    track[:, 1:3] = frames @ _targets(posteriors.phones)
    return track
