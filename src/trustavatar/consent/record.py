"""Recorded consent: check a clip of the subject reading the challenge, then issue consent.

:func:`record_clip` runs these steps and either returns the signed artifact or raises:

1. **Freshness** — the challenge exists, has not expired, is not used and not spent
   (:class:`~trustavatar.errors.ConsentChallengeError`).
2. **Input** — the clip is a readable video of at most :data:`MAX_CLIP_SECONDS`; the
   portrait shows one face (:class:`~trustavatar.errors.InputError`: bad input, not
   counted as an attempt).
3. **Speech** — the clip has sound, the consent sentence is read once with the challenge
   code, and the margin of that code over the best other code is at least
   :data:`~trustavatar.consent.spoken_code.MIN_MARGIN` (:mod:`.spoken_code`).
4. **Liveness** — a natural blink, head micro-motion, mouth motion that follows the
   speech (:mod:`.liveness`).
5. **Identity** — exactly one face in the clip, and every checked frame within
   :data:`~trustavatar.face.MATCH_THRESHOLD` of the portrait.
6. **Provenance** — the clip carries no trustavatar watermark and no C2PA manifest that
   declares AI generation.
7. **Use and issue** — the challenge is used up (in a transaction that re-checks step 1)
   and the artifact is signed and recorded, with the figures of steps 3-5 as evidence.

Steps 3-6 all run, so a rejected clip reports every problem at once; the error names the
first failing step (:class:`~trustavatar.errors.ConsentEvidenceError`) and counts one
attempt against the challenge. :func:`check_clip` runs steps 2-6 alone (no registry).

The frames are read one at a time with their presentation times, and the checks go by
those times, not by frame numbers: phones drop frames in low light (variable frame rate),
an audio track may start later than the video (liveness compares the mouth with the speech
on the video's clock), and a browser's live WebM states no duration or frame count
(identity still checks frames spread over the whole clip).
"""

from __future__ import annotations

__all__ = [
    "FACE_COUNT_RATE",
    "IDENTITY_FRAMES",
    "MAX_CLIP_SECONDS",
    "ClipReport",
    "IdentityResult",
    "ProvenanceScreen",
    "RecordedConsent",
    "check_clip",
    "record_clip",
]

import contextlib
import datetime as dt
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar import provenance
from trustavatar._arguments import KEY_HINT, REGISTRY_HINT, instance
from trustavatar._arguments import path as as_path
from trustavatar._files import sha256_file
from trustavatar._time import later, to_second, utc_now
from trustavatar.consent.artifact import ClipEvidence, ConsentArtifact, Evidence, EvidenceDocument
from trustavatar.consent.challenge import (
    MAX_ATTEMPTS,
    Challenge,
    claim,
    get_challenge,
    refund_attempt,
    release,
    require_open,
    reserve_attempt,
)
from trustavatar.consent.issuance import STORED_DRAFT, issue
from trustavatar.consent.liveness import LivenessResult, analyse_liveness
from trustavatar.consent.speech_process import SpeechProcess
from trustavatar.consent.spoken_code import (
    ASR_ENGINE,
    ENGLISH_TEMPLATE,
    ConsentTemplate,
    SpokenCodeResult,
)
from trustavatar.consent.store import record_consent
from trustavatar.errors import (
    AudioInputError,
    ConsentEvidenceError,
    FaceError,
    InputError,
    ProvenanceInputError,
    VideoInputError,
    WatermarkError,
)
from trustavatar.face import MATCH_THRESHOLD, FaceEmbedding, embed_face, load_image
from trustavatar.face.identity_watch import IdentityWatch
from trustavatar.face.mesh import FaceCounter, FaceMesh, face_height
from trustavatar.generator.audio import frame_energy, load_audio
from trustavatar.keys import SigningKey, TrustStore
from trustavatar.registry import Registry
from trustavatar.video_io import probe
from trustavatar.watermark import Z_PRESENT, WatermarkReader, WatermarkReading

#: Longest clip accepted (seconds).
MAX_CLIP_SECONDS: Final = 60.0
#: Frames spread over the clip (by time) whose face is compared with the portrait.
IDENTITY_FRAMES: Final = 5
#: How often per second the faces in a frame are counted.
FACE_COUNT_RATE: Final = 5.0
#: A second face in at least this many counted frames fails the identity check (one stray
#: detection is tolerated).
MULTI_FACE_FRAMES: Final = 2
#: Frames are analysed at most this large (longer side, pixels); landmarks are scale-free.
ANALYSIS_MAX_SIDE: Final = 640
#: Frames per window of the watermark screen: every frame is read, in windows of this many,
#: and a mark in any window fails the clip (a still prefix of 150 frames hid a generated
#: clip's mark when only the first 150 frames were read).
WATERMARK_FRAMES: Final = 150
#: Face crops kept for the identity check beyond the :data:`IDENTITY_FRAMES` (a random frame
#: each second, and each frame whose face changes from the frame before), at most: a clip
#: whose face changes more often than this cannot be checked.
MAX_WATCHED_CROPS: Final = 240
#: Face crops smaller than this (shorter side) are upscaled before embedding.
_EMBED_MIN_SIDE: Final = 300
#: Frames read per second of clip at most (a bound on the work for any timestamps).
_MAX_FRAME_RATE: Final = 240.0
_MAX_FRAMES: Final = int(MAX_CLIP_SECONDS * _MAX_FRAME_RATE)
#: Where the clip states no frame count: identity candidates start this far apart (s),
#: and at most this many are held (twice :data:`IDENTITY_FRAMES`, so that each target
#: has its own).
_CANDIDATE_STEP_S: Final = 0.1
_MAX_CANDIDATES: Final = 2 * IDENTITY_FRAMES

CHECKS: Final = ("speech", "liveness", "identity", "provenance")


@dataclass(frozen=True)
class IdentityResult:
    """Faces in the clip and their distance to the portrait.

    ``max_faces``: most faces seen in one counted frame (``counted_frames`` of them, about
    :data:`FACE_COUNT_RATE` per second); ``distances``: per checked frame (``frames``).
    """

    counted_frames: int
    multi_face_frames: int
    max_faces: int
    frames: tuple[int, ...]
    distances: tuple[float, ...]
    threshold: float
    failures: tuple[str, ...]

    @property
    def distance(self) -> float | None:
        """The largest distance (the one the check is decided on)."""
        return max(self.distances) if self.distances else None

    @property
    def failure(self) -> str | None:
        return "; ".join(self.failures) if self.failures else None

    def figures(self) -> dict[str, Any]:
        return {
            "max_faces": self.max_faces,
            "frames_with_several_faces": self.multi_face_frames,
            "counted_frames": self.counted_frames,
            "checked_frames": list(self.frames),
            "distances": [round(d, 3) for d in self.distances],
            "distance_max": None if self.distance is None else round(self.distance, 3),
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class ProvenanceScreen:
    """Signs that the clip was made by a generator: a trustavatar watermark (``watermark_z``;
    None when the clip is too small to read one) or a C2PA manifest declaring AI generation
    (``c2pa_state`` None: not readable here, e.g. not an MP4)."""

    watermark_z: float | None
    watermark_present: bool
    c2pa_state: str | None
    ai_generated: bool | None
    failures: tuple[str, ...]

    @property
    def failure(self) -> str | None:
        return "; ".join(self.failures) if self.failures else None

    def figures(self) -> dict[str, Any]:
        return {
            "watermark_z": None if self.watermark_z is None else round(self.watermark_z, 2),
            "watermark_present": self.watermark_present,
            "watermark_z_threshold": Z_PRESENT,
            "c2pa_state": self.c2pa_state,
            "c2pa_ai_generated": self.ai_generated,
        }


@dataclass(frozen=True)
class ClipReport:
    """Every check of a clip. ``speech`` is None when the clip has no usable audio
    (``speech_problem`` says why); ``provenance`` None when the screen was not run."""

    clip: str
    clip_sha256: str
    duration: float
    fps: float
    width: int
    height: int
    code: str
    sentence: str
    speech: SpokenCodeResult | None
    speech_problem: str | None
    liveness: LivenessResult
    identity: IdentityResult
    provenance: ProvenanceScreen | None

    def failures(self) -> list[tuple[str, str]]:
        """(check, message) for every failed check, in step order."""
        out = []
        for name in CHECKS:
            problem = self._failure(name)
            if problem is not None:
                out.append((name, problem))
        return out

    def _failure(self, name: str) -> str | None:
        if name == "speech":
            return self.speech_problem or (self.speech.failure if self.speech else None)
        if name == "liveness":
            return self.liveness.failure
        if name == "identity":
            return self.identity.failure
        return self.provenance.failure if self.provenance else None

    def figures(self, name: str) -> dict[str, Any]:
        if name == "speech":
            return self.speech.figures() if self.speech else {"problem": self.speech_problem}
        if name == "liveness":
            return self.liveness.figures()
        if name == "identity":
            return self.identity.figures()
        return self.provenance.figures() if self.provenance else {"checked": False}

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "clip_sha256": self.clip_sha256,
            "duration_s": round(self.duration, 2),
            "fps": round(self.fps, 3),
            "size": [self.width, self.height],
            "sentence": self.sentence,
            "checks": {
                name: {"passed": self._failure(name) is None, "failure": self._failure(name),
                       **self.figures(name)}
                for name in CHECKS
                if name != "provenance" or self.provenance is not None
            },
        }


@dataclass(frozen=True)
class RecordedConsent:
    """A consent issued from a verified clip: the artifact, the report, the used challenge."""

    artifact: ConsentArtifact
    report: ClipReport
    challenge: Challenge

    @property
    def asked_until(self) -> dt.datetime:
        """The end the challenge asked for (its ``not_after``, or ``valid_days`` from the
        recording). The artifact's end is earlier when the signing certificate ends first:
        a consent holds only while the chain that signed it does."""
        draft = self.challenge.draft
        if draft.not_after is not None:
            return draft.not_after
        return later(self.artifact.validity.not_before, draft.valid_for, "the consent's end")


# --- the checks -----------------------------------------------------------------------------


def check_clip(
    clip: str | os.PathLike[str],
    *,
    code: str,
    portrait: str | os.PathLike[str] | bytes | FaceEmbedding,
    template: ConsentTemplate = ENGLISH_TEMPLATE,
    screen_provenance: bool = True,
    trust: TrustStore | None = None,
) -> ClipReport:
    """Run steps 2-6 on ``clip`` for the challenge ``code`` and the subject's ``portrait``
    (an image, or its embedding). Returns every figure; decides nothing (see
    :meth:`ClipReport.failures`). Raises :class:`~trustavatar.errors.InputError` for an
    unreadable clip or portrait.
    """
    path = Path(clip)
    # 2. Input: a readable video, not too long; the portrait's face.
    info = probe(path)
    if len(info.video_streams) > 1:  # which one would a person reviewing the clip see?
        raise InputError(f"clip {path.name} holds {len(info.video_streams)} video streams; a "
                         "consent clip is one recording with one video stream")
    if info.audio_streams > 1:  # which one would a person reviewing the clip hear?
        raise InputError(f"clip {path.name} holds {info.audio_streams} audio streams; a consent "
                         "clip is one recording with one audio stream (the first was checked "
                         "while a player may play another)")
    if info.duration > MAX_CLIP_SECONDS + 1:
        raise InputError(f"clip {path.name} is {info.duration:.1f} s long; at most "
                         f"{MAX_CLIP_SECONDS:g} s is accepted")
    # 3. Speech, decoded in a second process while the rest is checked here (PocketSphinx
    #    holds the GIL: on a thread the two would only take turns).
    speech_problem: str | None = None
    level: NDArray[np.float32] | None = None
    speech_start = 0.0  # where the audio starts on the video's clock (s)
    with contextlib.ExitStack() as stack:
        scoring: SpeechProcess | None = None
        if not info.has_audio:
            speech_problem = "the clip has no audio track (the sentence must be spoken)"
        else:
            try:
                audio = load_audio(path, max_seconds=MAX_CLIP_SECONDS + 1)
            except AudioInputError as e:
                speech_problem = f"the clip's audio cannot be used: {e.message}"
            else:
                scoring = stack.enter_context(SpeechProcess(audio, code, template=template))
                level = frame_energy(audio, info.fps)
                speech_start = info.audio_offset
        reference = (portrait if isinstance(portrait, FaceEmbedding)
                     else _embed_portrait(portrait))
        digest = sha256_file(path)
        # 4-6. Liveness, identity and provenance (one pass over the frames), while the
        #      speech is still being scored.
        frames = _read_frames(path, info.fps, info.frames, watermark=screen_provenance)
        liveness = analyse_liveness(frames.landmarks, fps=info.fps, speech_level=level,
                                    times=frames.times, speech_start=speech_start)
        identity = _identity(frames, reference)
        screen = _screen(path, trust, frames.watermark) if screen_provenance else None
        speech = scoring.result() if scoring is not None else None
    return ClipReport(
        clip=str(path), clip_sha256=digest, duration=frames.times[-1] + 1.0 / info.fps,
        fps=info.fps, width=info.width, height=info.height, code=code,
        sentence=template.sentence(code), speech=speech, speech_problem=speech_problem,
        liveness=liveness, identity=identity, provenance=screen,
    )


def _embed_portrait(portrait: str | os.PathLike[str] | bytes) -> FaceEmbedding:
    try:
        return embed_face(load_image(portrait))
    except FaceError as e:
        name = "the portrait" if isinstance(portrait, bytes) else f"portrait {Path(portrait).name}"
        raise FaceError(f"{name}: {e.message}") from e


@dataclass
class _Frames:
    landmarks: list[NDArray[np.float32] | None]
    times: list[float]  #: each frame's presentation time (s from the stream's start)
    counts: list[int]  #: faces in each counted frame
    crops: dict[int, _Crop]  #: frame index → face crop (full resolution)
    #: the most suspicious watermark reading over the clip's windows of
    #: :data:`WATERMARK_FRAMES` frames (None: not asked, or frames too small to carry one)
    watermark: WatermarkReading | None = None
    #: crops of the frames the identity watch picked (a random one a second, and where the
    #: face changed), and whether it had to stop picking (:data:`MAX_WATCHED_CROPS`)
    watched: dict[int, _Crop] = field(default_factory=dict)
    watch_overflow: bool = False


@dataclass(frozen=True)
class _Crop:
    image: NDArray[np.uint8]
    face_px: float  #: the face's height (forehead to chin) in ``image``


def _read_frames(path: Path, fps: float, estimate: int, *, watermark: bool = True) -> _Frames:
    """One pass, by each frame's presentation time: landmarks of every frame (tracked),
    faces counted about :data:`FACE_COUNT_RATE` times a second, face crops of
    :data:`IDENTITY_FRAMES` frames spread over the clip (:class:`_IdentitySampler`), and
    (``watermark``) the first frames read for a watermark. ``fps``: the clip's nominal rate;
    ``estimate``: its frame count (0: unknown)."""
    from trustavatar.detector.video import FrameReader  # the detector package is large

    half = 0.5 / fps
    # as many frames as MAX_CLIP_SECONDS at the nominal rate, plus two, by time
    limit_s = (int(MAX_CLIP_SECONDS * fps) + 2) / fps - half
    count_every = max(1, round(fps / FACE_COUNT_RATE)) / fps
    next_count = 0.0
    sampler = _IdentitySampler(fps, estimate)
    watch = IdentityWatch(estimate or int(MAX_CLIP_SECONDS * fps) + 2, fps)
    out = _Frames([], [], [], {})
    reader = WatermarkReader(max_frames=WATERMARK_FRAMES) if watermark else None
    readings: list[WatermarkReading] = []
    source = FrameReader(path, max_side=1 << 30)  # full resolution: the crops need it
    decoded = iter(source)
    try:
        with FaceMesh(video=True) as tracker, FaceCounter(max_faces=3) as counter:
            for item in decoded:
                i, t, frame = item.index, item.time, item.image
                if t >= limit_s:
                    raise InputError(f"the clip is longer than {MAX_CLIP_SECONDS:g} s")
                if i >= _MAX_FRAMES:
                    raise InputError(f"the clip has more than {_MAX_FRAMES} frames (at most "
                                     f"{_MAX_FRAME_RATE:g} per second are read)")
                if reader is not None:
                    if reader.full:  # the next window
                        readings.append(reader.reading())
                        reader = WatermarkReader(max_frames=WATERMARK_FRAMES)
                    try:
                        reader.add(frame)
                    except WatermarkError:
                        reader = None  # too small to carry one
                        readings.clear()
                small, scale = _analysis_size(frame)
                lm = tracker.detect(small)
                out.landmarks.append(lm)
                out.times.append(t)
                if t >= next_count - half:
                    out.counts.append(counter.count(small))
                    next_count = t + count_every
                if sampler.due(i, t) and lm is not None:
                    sampler.take(_face_crop(frame, (lm / scale).astype(np.float32)))
                if lm is None:
                    watch.lost()
                elif watch.due(i, small, lm) and not out.watch_overflow:
                    if len(out.watched) >= MAX_WATCHED_CROPS:
                        out.watch_overflow = True
                    else:
                        out.watched[i] = _face_crop(frame, (lm / scale).astype(np.float32))
    except VideoInputError as e:  # nothing decoded (the container itself passed probe())
        raise InputError(f"clip {path.name} has no decodable video frames") from e
    finally:
        if isinstance(decoded, Generator):
            decoded.close()  # the file, also when a check stopped the reading
    if source.damaged:  # checks on part of a clip would judge what nobody recorded
        raise InputError(f"clip {path.name} is damaged or truncated: decoding stopped or "
                         f"skipped data after {source.frames} frames "
                         f"({source.last_time:.1f} s); record or export it again")
    out.crops = sampler.chosen(out.times[-1] + 1.0 / fps)
    if reader is not None and reader.frames:
        readings.append(reader.reading())
    if readings:  # the window most like a marked one
        out.watermark = max(readings, key=lambda r: r.z_score)
    return out


class _IdentitySampler:
    """Chooses the frames whose face is compared with the portrait: :data:`IDENTITY_FRAMES`
    spread evenly over the clip by time, each the first frame with a face from its target
    time on.

    With the frame count known (``estimate``), the targets are the frames
    ``int((k + 0.5) * estimate / IDENTITY_FRAMES)`` at the nominal ``fps``, known up front.
    Without (a live WebM, as browsers record, states no duration), candidates are taken at
    a spacing that doubles whenever more than :data:`_MAX_CANDIDATES` are held (memory stays
    flat), and those nearest the targets of the clip's length are chosen at the end.
    """

    def __init__(self, fps: float, estimate: int) -> None:
        self._half = 0.5 / fps
        self._targets: list[float] | None = None
        if estimate > 0:
            self._targets = sorted({int((k + 0.5) * estimate / IDENTITY_FRAMES) / fps
                                    for k in range(IDENTITY_FRAMES)}, reverse=True)
        self._step = _CANDIDATE_STEP_S  # without targets: candidates at multiples of this
        self._next = 0  # the next target or candidate slot to fall due
        self._pending: list[tuple[int, int, float]] = []  # (slot, frame index, time)
        self._taken: dict[int, tuple[int, float, _Crop]] = {}  # slot → (index, time, crop)

    def due(self, index: int, t: float) -> bool:
        """Note frame ``index`` shown at ``t``; True when a crop of its face is wanted."""
        if self._targets is not None:
            while self._targets and t >= self._targets[-1] - self._half:
                self._targets.pop()
                self._pending.append((self._next, index, t))
                self._next += 1
        else:
            slot = int(t // self._step)
            if slot >= self._next:  # slots skipped over (a gap in the video) fall together
                self._pending.append((slot, index, t))
                self._next = slot + 1
        return bool(self._pending)

    def take(self, crop: _Crop) -> None:
        """The face crop of the frame just noted (the earliest waiting target gets it)."""
        slot, index, t = self._pending.pop(0)
        self._taken[slot] = (index, t, crop)
        if self._targets is None and len(self._taken) > _MAX_CANDIDATES:
            # twice the spacing: keep the candidates (and waiting slots) at its multiples
            self._step *= 2
            self._taken = {s // 2: v for s, v in self._taken.items() if s % 2 == 0}
            self._pending = [(s // 2, i, ts) for s, i, ts in self._pending if s % 2 == 0]
            self._next = (self._next - 1) // 2 + 1

    def chosen(self, duration: float) -> dict[int, _Crop]:
        """Frame index → face crop of the frames chosen over a clip of ``duration`` s."""
        if self._targets is not None:
            return {index: crop for index, _, crop in self._taken.values()}
        left = sorted(self._taken.values(), key=lambda v: v[1])
        out: dict[int, _Crop] = {}
        for k in range(IDENTITY_FRAMES):
            if not left:
                break
            target = (k + 0.5) * duration / IDENTITY_FRAMES
            index, _, crop = left.pop(min(range(len(left)),
                                          key=lambda j: abs(left[j][1] - target)))
            out[index] = crop
        return out


def _analysis_size(frame: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
    side = max(frame.shape[:2])
    if side <= ANALYSIS_MAX_SIDE:
        return frame, 1.0
    scale = ANALYSIS_MAX_SIDE / side
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8), scale


def _face_crop(frame: NDArray[np.uint8], landmarks: NDArray[np.float32]) -> _Crop:
    """The face with a wide margin (dlib's detector needs context), upscaled if small."""
    h, w = frame.shape[:2]
    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    left, top = int(max(cx - half, 0)), int(max(cy - half, 0))
    right, bottom = int(min(cx + half, w)), int(min(cy + half, h))
    crop = np.ascontiguousarray(frame[top:bottom, left:right])
    side = min(crop.shape[:2])
    f = 1.0
    if 0 < side < _EMBED_MIN_SIDE:
        f = _EMBED_MIN_SIDE / side
        crop = np.asarray(cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC),
                          np.uint8)
    return _Crop(crop, face_height(landmarks) * f)


def _someone_else(frames: _Frames, reference: FaceEmbedding,
                  matching: list[FaceEmbedding]) -> str | None:
    """Whether a frame the identity watch picked shows someone other than the portrait's
    person: unlike both the portrait and every spread frame that matched it (dlib's
    distance between frames of one person in low-quality footage reaches 0.6 now and
    then). The spread frames alone are predictable from the clip's length: another
    person filmed between them passed (a red-team review, session 21)."""
    if frames.watch_overflow:
        return (f"the face changes too often to be checked (more than {MAX_WATCHED_CROPS} "
                "changes); record one person in one continuous shot")
    for index, crop in sorted(frames.watched.items()):
        if index in frames.crops:
            continue
        try:
            found = embed_face(crop.image, face_px=crop.face_px)
        except FaceError:
            continue  # a face dlib cannot read: the spread frames decide
        far = found.distance(reference)
        if far > MATCH_THRESHOLD and all(found.distance(m) > MATCH_THRESHOLD
                                         for m in matching):
            return (f"the face in the clip is not the portrait's: frame {index} shows "
                    f"someone else (face distance {far:.3f} > threshold {MATCH_THRESHOLD})")
    return None


def _identity(frames: _Frames, reference: FaceEmbedding) -> IdentityResult:
    failures: list[str] = []
    counts = frames.counts
    multi = sum(c > 1 for c in counts)
    most = max(counts, default=0)
    if multi >= MULTI_FACE_FRAMES:
        failures.append(f"{most} faces in the picture ({multi} of {len(counts)} counted "
                        f"frames show more than one); exactly one is required")
    checked: list[int] = []
    distances: list[float] = []
    matching: list[FaceEmbedding] = []
    for index, crop in sorted(frames.crops.items()):
        try:
            found = embed_face(crop.image, face_px=crop.face_px)
            distances.append(found.distance(reference))
            if distances[-1] <= MATCH_THRESHOLD:
                matching.append(found)
        except FaceError:
            distances.append(float("inf"))
        checked.append(index)
    other = _someone_else(frames, reference, matching)
    if other is not None:
        failures.append(other)
    if not checked:
        failures.append("no face found in the clip to compare with the portrait")
    else:
        worst = max(distances)
        if worst > MATCH_THRESHOLD:
            at = checked[distances.index(worst)]
            shown = "no face found by the recogniser" if not np.isfinite(worst) else \
                f"face distance {worst:.3f} > threshold {MATCH_THRESHOLD}"
            failures.append(f"the face in the clip is not the portrait's: frame {at}: {shown}")
    return IdentityResult(
        counted_frames=len(counts), multi_face_frames=multi, max_faces=most,
        frames=tuple(checked), distances=tuple(float(d) for d in distances),
        threshold=MATCH_THRESHOLD, failures=tuple(failures))


def _screen(path: Path, trust: TrustStore | None,
            watermark: WatermarkReading | None) -> ProvenanceScreen:
    failures: list[str] = []
    z = watermark.z_score if watermark is not None else None
    present = watermark is not None and watermark.present
    if watermark is not None and watermark.present:
        failures.append(f"the clip carries a trustavatar watermark (z = {z:.1f} ≥ "
                        f"{Z_PRESENT}{watermark.orientation_note}): it was generated, not "
                        "recorded")
    state: str | None = None
    ai: bool | None = None
    try:
        report = provenance.verify(path, trust=trust or TrustStore.of())
        state, ai = str(report.state), report.ai_generated
    except ProvenanceInputError:
        pass  # a format the C2PA reader does not take
    if ai:
        failures.append(f"the clip's C2PA manifest ({state}) declares AI-generated content")
    return ProvenanceScreen(z, present, state, ai, tuple(failures))


# --- record ---------------------------------------------------------------------------------


def record_clip(
    key: SigningKey,
    registry: Registry,
    *,
    challenge_id: str,
    clip: str | os.PathLike[str],
    portrait: str | os.PathLike[str] | bytes,
    template: ConsentTemplate | None = None,
    trust: TrustStore | None = None,
    at: dt.datetime | None = None,
) -> RecordedConsent:
    """Verify ``clip`` against challenge ``challenge_id`` and the subject's ``portrait``; on
    success use the challenge up and issue (sign and record) the consent it was drafted
    for, with the clip as ``recorded-clip`` evidence.

    ``template``: the statement template the clip is checked against — by default, and
    necessarily, the one the challenge was made with (stored with it). ``at``: the time of
    the check and of the issue (default: now). ``trust``: anchors for reading a C2PA
    manifest on the clip (default: none needed; an AI-generation claim is refused whoever
    signed it).

    Raises :class:`~trustavatar.errors.ConsentChallengeError` (step 1),
    :class:`~trustavatar.errors.InputError` (step 2: unreadable clip or portrait, no face
    in the portrait, another template than the challenge's),
    :class:`~trustavatar.errors.ConsentEvidenceError` (steps 3-6, with the report; counts
    one attempt).
    """
    instance(key, SigningKey, "key", KEY_HINT)
    instance(registry, Registry, "registry", REGISTRY_HINT)
    as_path(clip, "clip")  # before an attempt is counted
    if not isinstance(portrait, bytes | bytearray | memoryview):
        as_path(portrait, "portrait")
    now = utc_now() if at is None else to_second(at, "at")
    # 1. Freshness.
    challenge = require_open(registry, challenge_id, at=now)
    if template is None:
        template = challenge.template
    elif template != challenge.template:  # the subject was shown another sentence
        raise InputError(
            f"challenge {challenge_id} was made with another statement template than the one "
            f"given (its sentence: {challenge.template.sentence(challenge.code)!r}); check "
            "the clip against the challenge's own template (template=None)")
    # 2-6. The clip, its attempt counted first (clips checked at once cannot exceed
    #      MAX_ATTEMPTS) and given back unless the clip is rejected.
    attempts = reserve_attempt(registry, challenge_id, at=now)
    try:
        report = check_clip(clip, code=challenge.code, portrait=portrait, template=template,
                            trust=trust)
    except BaseException:
        refund_attempt(registry, challenge_id)
        raise
    failures = report.failures()
    if not failures:
        refund_attempt(registry, challenge_id)
    else:
        check, message = failures[0]
        more = f" (also failed: {', '.join(c for c, _ in failures[1:])})" if failures[1:] else ""
        raise ConsentEvidenceError(
            f"{check} check failed: {message}{more}; attempt {attempts} of "
            f"{MAX_ATTEMPTS}", check=check, figures=report.figures(check), report=report,
            detail="\n".join(f"{c}: {m}" for c, m in failures))
    # 7. Use the challenge, issue the consent.
    artifact = _issue(key, challenge, report, portrait, template, now)
    claim(registry, challenge_id, artifact.consent_id, at=now)
    try:
        record_consent(registry, artifact, at=now)
    except BaseException:
        release(registry, challenge_id, artifact.consent_id)
        raise
    used = get_challenge(registry, challenge_id)
    assert used is not None and used.used_at is not None
    return RecordedConsent(artifact=artifact, report=report, challenge=used)


def _issue(key: SigningKey, challenge: Challenge, report: ClipReport,
           portrait: str | os.PathLike[str] | bytes, template: ConsentTemplate,
           now: dt.datetime) -> ConsentArtifact:
    speech, live, ident = report.speech, report.liveness, report.identity
    assert speech is not None and live.mouth_sync is not None and ident.distance is not None
    assert live.head_motion is not None and live.mouth_motion is not None
    checks = ClipEvidence(
        challenge_id=challenge.challenge_id, language=template.language,
        sentence=report.sentence, transcript=speech.transcript, asr_engine=ASR_ENGINE,
        asr_margin=speech.margin, asr_min_margin=speech.min_margin, blinks=len(live.blinks),
        head_motion=live.head_motion, mouth_motion=live.mouth_motion,
        mouth_sync=live.mouth_sync, face_distance=ident.distance,
        face_threshold=ident.threshold, face_frames=len(ident.frames),
        duration_s=report.duration, speech_decoded=speech.decoded,
        second_try=speech.second_try,
    )
    evidence = Evidence("recorded-clip",
                        (EvidenceDocument("consent-clip", report.clip_sha256),), checks)
    draft = challenge.draft
    stored = STORED_DRAFT.set(True)  # its names were accepted when the challenge was made
    try:
        return issue(
            key, portrait=portrait, display_name=draft.display_name, evidence=evidence,
            purposes=draft.purposes, languages=draft.languages, channels=draft.channels,
            not_after=draft.not_after, valid_for=draft.valid_for, operator=draft.operator,
            at=now,
        )
    finally:
        STORED_DRAFT.reset(stored)

