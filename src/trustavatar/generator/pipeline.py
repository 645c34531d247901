"""``generate()``: consent gate → audio → motion → render → encode → watermark → QA →
C2PA sign → ledger. Each step is its own module; this file only wires them together.

Nothing is rendered before the consent gate passes, and nothing is left behind (no output,
no ledger row) when any step fails.
"""

from __future__ import annotations

__all__ = ["MIN_FACE_PX", "GenerationResult", "QAPolicy", "generate"]

import contextlib
import math
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from trustavatar import _terminate, provenance
from trustavatar import consent as consent_api
from trustavatar._arguments import no_hidden_characters
from trustavatar._arguments import path as as_path
from trustavatar._atomic import atomic_output, refuse_existing, refuse_if_taken, scratch_file
from trustavatar._display import is_utf8
from trustavatar._files import sha256_bytes, sha256_file
from trustavatar.errors import (
    AudioInputError,
    ConsentIdentityError,
    ConsentScopeError,
    FaceError,
    FaceTrackingError,
    GenerationError,
    InputError,
    QualityCheckError,
)
from trustavatar.face import MATCH_THRESHOLD, FaceBox, FaceEmbedding, load_image
from trustavatar.face.identity_watch import UNRECOGNISED_MAX_SHARE, IdentityWatch
from trustavatar.face.mesh import FaceMesh, face_height
from trustavatar.generator import audio as audio_api
from trustavatar.generator.audio.soundtrack import FileSoundTrack
from trustavatar.generator.deform import MouthPose
from trustavatar.generator.encode import VideoWriter, check_written
from trustavatar.generator.finishing import FrameFinisher
from trustavatar.generator.motion import MotionConfig, MotionTrack, plan_motion
from trustavatar.generator.qa import (
    IDENTITY_MIN_FACE_PX,
    MIN_PLANNED_STD,
    SYNC_MIN_FRAMES,
    BoxFromMesh,
    QAReport,
    ReferenceFaces,
    assess,
    frames_to_check,
    identity_embedding,
    reference_for_qa,
)
from trustavatar.generator.qa_process import Meter, open_meter
from trustavatar.generator.render import PhotoRenderer, VideoRenderer
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry
from trustavatar.video_io import VideoInfo, iter_frames, iter_timed_frames, probe
from trustavatar.watermark import Watermark

#: the purpose a consent must grant for generation
PURPOSE = "avatar-generation"
QAPolicy = Literal["fail", "report"]
Progress = Callable[[str, int, int], None]
_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                   ".wmv", ".flv", ".3gp"}
_VIDEO_ANALYSIS_SECONDS = 5.0
#: Smallest face (forehead to chin, pixels at the working size) the renderer animates: below
#: it the mouth is a few pixels wide and lip motion cannot be drawn.
MIN_FACE_PX = 32
#: Video mode: how much longer than the face video the audio may be (the last frame is held).
_AUDIO_OVERRUN_S = 0.5
#: the output's longer side may be set from MIN_SIZE to MAX_SIZE pixels
MIN_SIZE, MAX_SIZE = 64, 2160
#: a photo is animated at this size (longer side) unless ``size`` says otherwise
_DEFAULT_SIDE = 512
#: a face video's longer side, at most, unless ``size`` asks for more: a phone's 4K clip
#: dubbed at full size took 1.8 GB and 15 s a second of output (8K: 3.4 GB)
VIDEO_DEFAULT_MAX_SIDE = 1920
#: a photo's face is made at least this tall (px) by a larger working size, when no
#: ``size`` is given, so that the QA can measure it (it measures faces of 90 px and more);
#: the working size then grows up to the photo's own, at most to :data:`_AUTO_MAX_SIDE`
QA_FACE_PX = 140
_AUTO_MAX_SIDE = 1024


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate` made: the signed output, under which consent, with which
    manifest, watermark and ledger row, its size and length, the quality checks' report
    and each stage's seconds (``timings``)."""

    output: str
    mode: Literal["photo", "video"]
    consent_id: str
    generation_id: str
    manifest_label: str
    output_sha256: str
    watermark: str
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    blinks: int
    qa: QAReport
    ledger_seq: int
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "qa"}
        d["qa"] = self.qa.to_dict()
        return d


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _even(n: float) -> int:
    return max(2, round(n) // 2 * 2)


def _fit(width: int, height: int, size: int | None) -> tuple[int, int]:
    if size is None:
        return _even(width), _even(height)
    scale = size / max(width, height)
    return _even(width * scale), _even(height * scale)


@dataclass(frozen=True)
class _Speech:
    audio16: audio_api.Audio
    #: the script's phoneme events (TTS), or None for recorded audio (its phone posteriors
    #: are computed in :meth:`plan_inputs`, after the consent gate)
    phonemes: tuple[audio_api.PhonemeEvent, ...] | None
    inputs: dict[str, str]
    ingredient: provenance.Ingredient | None
    language: str | None
    #: the recorded audio file, whose sound the output carries at its own quality (None:
    #: a script) …
    source: Path | None = None
    #: … or a script's speech as espeak-ng made it (22.05 kHz)
    spoken: audio_api.Audio | None = None

    def soundtrack(self) -> audio_api.Audio | FileSoundTrack:
        """What the output's audio track is encoded from."""
        if self.source is not None:
            return FileSoundTrack(self.source, channel=self.audio16.source_channel)
        return self.spoken or self.audio16

    def plan_inputs(self, fps: float, n: int, motion: MotionConfig | None,
                    ) -> tuple[np.ndarray, MotionConfig | None]:
        """Per-frame phonetic targets, and the motion settings to plan them with (recorded
        audio: the openness table's phonetic weight unless ``motion`` sets one)."""
        if self.phonemes is not None:
            return audio_api.viseme_track(self.phonemes, fps=fps, n_frames=n), motion
        table = audio_api.OpennessTable.load()
        posteriors = audio_api.phone_posteriors(self.audio16)
        return audio_api.posterior_viseme_track(posteriors, fps=fps, n_frames=n,
                                                table=table), table.motion_config(motion)


#: The shortest speech a talking head is made for (seconds, 0.4): below it the output is a
#: few frames, too short for the sync check (:data:`~.qa.SYNC_MIN_FRAMES` at 25 fps).
MIN_SPEECH_SECONDS = SYNC_MIN_FRAMES / 25.0


def _long_enough(duration: float, what: str) -> None:
    if duration < MIN_SPEECH_SECONDS:
        raise AudioInputError(f"{what} is {duration:.2f} s long; a talking head needs at least "
                              f"{MIN_SPEECH_SECONDS:g} s (the lip-sync check needs "
                              f"{SYNC_MIN_FRAMES} frames)")


def _speech(audio: str | os.PathLike[str] | None, script: str | None, language: str | None,
            voice: str | None, rate: int | None) -> _Speech:
    if (audio is None) == (script is None):
        raise InputError("give exactly one of audio or script")
    if language is not None and not language.strip():
        raise InputError("the language is empty: give a tag such as en or pt-br, or none")
    if language is not None:
        language = language.lower()  # BCP 47 is case-blind; consents store lower case
    if audio is not None:
        a = audio_api.load_audio(audio)
        _long_enough(a.duration, f"audio {Path(audio).name}")
        return _Speech(a, None, {"audio": sha256_file(audio)},
                       provenance.Ingredient.from_file(audio, title=Path(audio).name),
                       language, Path(audio))
    assert script is not None
    lang = language or "en"
    # held to the length --audio is (an SSML pause can be hours), stopped when it passes it
    sp = audio_api.synthesize(script, language=lang, voice=voice, rate=rate,
                              max_seconds=audio_api.MAX_SECONDS)
    _long_enough(sp.audio.duration, "the spoken script")
    digest = sha256_bytes(script.encode())
    return _Speech(sp.audio, sp.phonemes, {"script": digest},
                   provenance.Ingredient("script.txt", digest, "text/plain"), lang,
                   spoken=sp.native)


def generate(
    *,
    face: str | os.PathLike[str],
    consent: str | os.PathLike[str],
    out: str | os.PathLike[str],
    audio: str | os.PathLike[str] | None = None,
    script: str | None = None,
    language: str | None = None,
    voice: str | None = None,
    rate: int | None = None,
    size: int | None = None,
    fps: float = 25.0,
    seed: int = 0,
    qa: QAPolicy = "fail",
    home: Home | str | os.PathLike[str] | None = None,
    passphrase: bytes | None = None,
    operator: str | None = None,
    motion: MotionConfig | None = None,
    progress: Progress | None = None,
    overwrite: bool = True,
    revocations: Sequence[str | os.PathLike[str]] = (),
) -> GenerationResult:
    """Make a consented, watermarked, C2PA-signed talking-head MP4.

    ``face``: a portrait (JPEG/PNG: talking head from one image) or a face video
    (MP4/MOV/…: lip-sync dubbing of the mouth and jaw). ``audio`` (any format) or
    ``script`` (spoken by espeak-ng in ``language``). ``qa="report"`` keeps an output
    that fails the quality checks (the failures are in the result); ``"fail"`` raises
    :class:`QualityCheckError` and writes nothing. ``overwrite=False``: never replace a
    file at ``out``, not even one that appears there while the video is being made (the
    CLI without ``--force``); such a run fails with nothing written and nothing ledgered.
    ``revocations``: signed revocation lists (files from ``consent revocations export``)
    checked besides this home's registry: how a consent issued elsewhere is known to be
    revoked.

    Raises a :class:`~trustavatar.errors.ConsentError` (nothing rendered, nothing written)
    when the consent does not grant ``avatar-generation`` for this face and language now:
    the gate checks at the current time (there is no argument to verify as of another
    time, which let a revoked or expired consent through).
    """
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    report = progress or _noop
    home = Home.resolve(home)  # a path or a Home (None: the usual one)
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a callable, got {type(progress).__name__}")
    for name, value in (("face", face), ("out", out), ("consent", consent),
                        *((("audio", audio),) if audio is not None else ())):
        as_path(value, name)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)
                             or not MIN_SIZE <= size <= MAX_SIZE):
        raise InputError(f"size must be a whole number of pixels from {MIN_SIZE} to "
                         f"{MAX_SIZE} (the output's longer side), got {size!r}")
    for name, text in (("language", language), ("voice", voice), ("operator", operator),
                       ("script", script)):
        if text is not None and not isinstance(text, str):
            raise InputError(f"{name} must be a string, got {type(text).__name__}")
        if text is not None and not is_utf8(text):  # it failed only at the ledger
            raise InputError(f"{name} is not UTF-8 text (it holds undecodable bytes)")
    if revocations is None or isinstance(revocations, str | bytes | os.PathLike) or not all(
            isinstance(r, str | os.PathLike) for r in revocations):
        raise InputError("revocations must be a sequence of file paths (() for none)")
    face_p, out_p = Path(face), Path(out)
    if out_p.suffix.lower() != ".mp4":
        raise InputError(f"output must be an .mp4 file, got {out_p.name}")
    # what the ledger row will refuse, refused before the work (the ledger's own rules);
    # and an output name no one can read right (a right-to-left override in it)
    from trustavatar.registry.ledger import check_new_operator, check_output_path

    if operator is not None:
        check_new_operator(operator)
    check_output_path(out_p.absolute(), "the output path")
    no_hidden_characters(out_p.name, "the output's name")
    if not face_p.is_file():
        raise InputError(f"face {face_p} does not exist or is not a file")
    sources = [face_p, home.registry_path]
    sources += [Path(p) for p in (audio, consent, *revocations)
                if isinstance(p, (str, os.PathLike))]
    for source in sources:
        if out_p.exists() and source.exists() and out_p.samefile(source):
            raise InputError(f"the output {out_p.name} is an input of this generation; "
                             "write it somewhere else")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 5 <= fps <= 60):
        raise InputError(f"fps must be a number in 5..60, got {fps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a whole number in 0..2**63-1, got {seed!r}")
    suffix = face_p.suffix.lower()
    mode: Literal["photo", "video"]
    if suffix in _PHOTO_SUFFIXES:
        mode = "photo"
    elif suffix in _VIDEO_SUFFIXES:
        mode = "video"
    else:
        raise InputError(f"face must be a photo ({', '.join(sorted(_PHOTO_SUFFIXES))}) or "
                         f"a video ({', '.join(sorted(_VIDEO_SUFFIXES))}), got {face_p.name}")
    if qa not in ("fail", "report"):
        raise InputError(f"qa must be 'fail' or 'report', got {qa!r}")
    if not isinstance(overwrite, bool):
        raise InputError(f"overwrite must be True or False, got {overwrite!r}")
    if not overwrite:
        refuse_existing(out_p)  # before the render, not after it
    tsa_url = home.load_config().tsa_url  # a damaged setting: said now, not after the render

    # 0. Speech first (espeak-ng or decoding: nothing is rendered yet). Its length says
    #    whether the output is long enough to be measured by a QA process beside the
    #    renderer; that process then loads mediapipe and dlib while the gate runs.
    t = time.perf_counter()
    speech = _speech(audio, script, language, voice, rate)
    timings["audio_s"] = time.perf_counter() - t
    side = min(size or _DEFAULT_SIDE, _DEFAULT_SIDE)
    with open_meter(round(speech.audio16.duration * (fps if mode == "photo" else 25.0)),
                    width=side, height=side) as meter:
        # 1. The consent gate, before anything is rendered.
        t = time.perf_counter()
        keystore = Keystore.open(home)
        key = keystore.signing_key(passphrase)
        trust = keystore.trust_store()
        reference, ref_landmarks, video = _reference(face_p, mode, size)
        if mode == "video" and face_height(ref_landmarks) < IDENTITY_MIN_FACE_PX:
            # every part of the footage must be shown to be the subject: a face this small
            # cannot be (it was dubbed unchecked after the gate's one frame)
            raise FaceTrackingError(
                f"the face in {face_p.name} is {face_height(ref_landmarks):.0f} px tall at "
                f"the working size; dubbing needs at least {IDENTITY_MIN_FACE_PX} px to check "
                "the person throughout the video (use a larger --size or closer footage)")
        ref_embedding = _embed_one(reference, ref_landmarks, face_p)
        lang_for_scope = speech.language  # a script's (default en); audio's when given
        artifact = consent_api.load_artifact(consent)  # step 1 of the gate: read and parse once
        if lang_for_scope is None and "*" not in artifact.scope.languages:
            raise ConsentScopeError(
                f"consent {artifact.consent_id} covers only the languages "
                f"{', '.join(artifact.scope.languages)}: give the language of the audio "
                "(--lang) so that it can be checked")
        # the home's registry is read (revocations) if it exists (and brought up to the
        # current schema, as every writing command does), and made only once the gate has
        # passed: a refused run leaves a fresh home as it was
        with contextlib.ExitStack() as stack:
            known = (stack.enter_context(Registry.for_home(home))
                     if home.registry_path.is_file() else None)
            grant = consent_api.require(artifact, face=ref_embedding, purpose=PURPOSE,
                                        language=lang_for_scope, trust=trust, registry=known,
                                        revocation_lists=list(revocations), home=home)
        with Registry.for_home(home) as registry:
            registry.check_writable()  # the ledger row comes last: fail before the render
        subject = artifact.subject.face_embedding.dequantise()
        timings["consent_gate_s"] = time.perf_counter() - t

        # 2. Audio: phonetic targets (recorded audio: phone posteriors), per-frame features.
        t = time.perf_counter()
        out_fps = video.fps if video is not None else fps
        if video is not None and not 1 <= video.fps <= 240:  # (motion's limit, said of it)
            raise InputError(f"the face video {face_p.name} runs at {video.fps:g} frames per "
                             "second; a dub keeps the video's rate, which must be 1-240")
        n = audio_api.frame_count(speech.audio16.duration, out_fps)
        if n < SYNC_MIN_FRAMES:  # (the speech's length was checked at 25 fps)
            raise AudioInputError(
                f"{speech.audio16.duration:.2f} s of speech at {out_fps:g} fps is {n} "
                f"frame(s); a talking head needs at least {SYNC_MIN_FRAMES} for the lip-sync "
                "check (a higher frame rate, or longer speech)")
        if video is not None:
            _check_audio_fits(face_p, video.duration, speech.audio16.duration,
                              frames=video.frames)
        visemes, motion = speech.plan_inputs(out_fps, n, motion)
        energy = audio_api.frame_energy(speech.audio16, out_fps)[:n]
        timings["audio_s"] += time.perf_counter() - t

        # 3. Motion.
        track = plan_motion(visemes, energy, fps=out_fps, seed=seed, config=motion,
                            head=mode == "photo")
        if audio is not None and float(np.std(track.gap)) < MIN_PLANNED_STD:
            # noise, hum, music or a tone: rendered, it was a still face that failed the
            # QA as "identity drifted", a cause far from the real one
            raise AudioInputError(f"no speech found in {Path(audio).name}: the mouth would not "
                                  "move (is it noise, hum, music or silence?)")
        check_at = frames_to_check(track.gap, out_fps)
        generation_id = f"gen-{secrets.token_hex(8)}"
        payload = secrets.token_bytes(8)
        mark = Watermark(payload)

        # 4–7. Render, watermark and encode to a temporary file; QA; sign; ledger; rename.
        inputs = {"face": sha256_file(face_p), **speech.inputs}
        commit = contextlib.ExitStack()  # the ledger row and the rename: see below
        with commit, atomic_output(out_p, replace=overwrite) as final_tmp:
            with scratch_file(final_tmp, ".raw.mp4") as raw:
                t = time.perf_counter()
                stages = _Stages()
                face_px = face_height(ref_landmarks)
                wanted = check_at if face_px >= IDENTITY_MIN_FACE_PX else []
                # the QA compares outputs embedded as the meter embeds them; the gate's
                # embedding of the reference may have used the detector's upsampling
                qa_reference, boxes = (reference_for_qa(reference, ref_landmarks) if wanted
                                       else (ref_embedding, None))
                meter.begin(n, wanted, face_px, boxes)
                references, finisher = _render(
                    mode, face_p, reference, ref_landmarks, track, speech.soundtrack(), raw,
                    wanted, qa_reference, boxes, subject, report, stages, mark, meter)
                timings["render_encode_s"] = time.perf_counter() - t
                t = time.perf_counter()
                report("checking", 0, 1)
                measured = meter.result()
                if finisher.first is None:
                    raise GenerationError("no frame was rendered")
                check_written(raw, frames=n, first=finisher.first)
                qa_report = assess(measured, planned_gap=track.gap, fps=out_fps,
                                   references=references, face_height_px=face_px)
                report("checking", 1, 1)
                timings["qa_s"] = time.perf_counter() - t
                timings |= stages.timings(finisher, meter)
                if not qa_report.passed and qa == "fail":
                    raise QualityCheckError("quality checks failed: " +
                                            "; ".join(qa_report.failures))
                t = time.perf_counter()
                source_type = (provenance.SourceType.TRAINED_ALGORITHMIC_MEDIA if mode == "photo"
                               else provenance.SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)
                ingredients = [provenance.Ingredient.from_file(
                    face_p, title=face_p.name,
                    relationship="parentOf" if mode == "video" else "inputTo")]
                if speech.ingredient is not None:
                    ingredients.append(speech.ingredient)
                signed = provenance.sign(
                    raw, final_tmp, key=key, trust=trust, source_type=source_type,
                    consent=provenance.ConsentBinding(grant.consent_id, grant.artifact_sha256),
                    generation=provenance.GenerationBinding(generation_id, payload.hex()),
                    ingredients=ingredients, title=out_p.name,
                    tsa_url=tsa_url,
                )
                timings["sign_s"] = time.perf_counter() - t
            if not overwrite:  # before the ledger row; again, atomically, when moved in
                refuse_if_taken(out_p)
            from trustavatar.registry import LedgerEntry, append_generation

            # from the ledger row to the output's rename, signals wait: a Ctrl-C between
            # the two left a row naming an output that was then removed
            commit.enter_context(_terminate.held(commit=f"the output {out_p}"))

            t = time.perf_counter()
            with Registry.for_home(home) as registry:
                _not_revoked_since(registry, grant.consent_id)
                row = append_generation(registry, LedgerEntry(
                    operator=operator or _login_name(),
                    consent_id=grant.consent_id,
                    consent_artifact_sha256=grant.artifact_sha256,
                    mode=mode,
                    inputs=inputs,
                    output_path=str(out_p.absolute()),
                    output_sha256=signed.sha256,
                    manifest_label=signed.manifest_label,
                    watermark_payload=payload.hex(),
                    qa=qa_report.figures() | {"generation_id": generation_id,
                                                 "language": lang_for_scope},
                ))
        timings["ledger_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t_all
        h, w = reference.shape[:2]
        return GenerationResult(
            output=str(out_p), mode=mode, consent_id=grant.consent_id,
            generation_id=generation_id, manifest_label=signed.manifest_label,
            output_sha256=signed.sha256, watermark=payload.hex(), frames=n, fps=out_fps,
            width=w, height=h, duration=n / out_fps, blinks=track.blink_count if mode == "photo"
            else 0, qa=qa_report, ledger_seq=row.seq,
            timings={k: round(v, 3) for k, v in timings.items()},
        )


def _not_revoked_since(registry: Registry, consent_id: str) -> None:
    """Refuse the output of a consent revoked while it was being made (the gate checked
    before the render; a revocation recorded since then in this home's registry is found
    here, before the ledger row and the output's rename)."""
    from trustavatar._time import format_time, utc_now
    from trustavatar.consent.store import find_revocation
    from trustavatar.errors import ConsentRevokedError

    revocation = find_revocation(registry, consent_id)
    if revocation is not None and revocation.revoked_at <= utc_now():
        raise ConsentRevokedError(
            f"consent {consent_id} was revoked at {format_time(revocation.revoked_at)}, "
            "while the video was being made: it was not kept")


def _login_name() -> str:
    """``$USER`` for the ledger's operator; "unknown" when unset or not UTF-8."""
    name = os.environ.get("USER") or ""
    return name if name and is_utf8(name) else "unknown"


def _embed_one(image: np.ndarray, landmarks: np.ndarray, face: Path) -> FaceEmbedding:
    """The embedding the consent gate compares: of the face the renderer animates. dlib
    finds its own face; one that is not where the face mesh put the face to animate is
    refused (a small copy of the subject beside another, rotated, face let the gate check
    the one and the renderer animate the other)."""
    try:
        found = identity_embedding(image)
    except FaceError as e:  # the face mesh found one (or no rendering was possible)
        raise FaceTrackingError(
            f"the consent gate cannot compare this face with the consent's: {e.message} (dlib "
            "needs an upright, roughly frontal face: is the picture sideways?)") from e
    if found.box is None or not same_face(found.box, landmarks):
        raise FaceTrackingError(
            f"the consent gate cannot compare the face in {face.name} with the consent's: "
            "the face it would animate is not the face dlib recognises (is the face "
            "turned or tilted, or is there another face?)")
    return found


def same_face(box: FaceBox, landmarks: np.ndarray) -> bool:
    """Whether dlib's ``box`` frames the face of the mesh ``landmarks``: its centre within
    the mesh's bounding box, and a size between a third of the mesh's height and twice it
    (dlib's box runs from the brows to the chin, the mesh from the forehead)."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    size = max(box.right - box.left, box.bottom - box.top)
    height = face_height(landmarks)
    return bool(x0 <= cx <= x1 and y0 <= cy <= y1 and height / 3 <= size <= 2 * height)


def _photo_faces(photo: np.ndarray, side: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """``photo`` resized to ``side`` (longer side) and the faces mediapipe finds in it."""
    w, h = _fit(photo.shape[1], photo.shape[0], side)
    img = np.asarray(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    with FaceMesh(video=False, max_faces=2) as mesh:
        return img, list(mesh.detect_all(img))


def _big_enough(landmarks: np.ndarray, face: Path, size: tuple[int, int]) -> np.ndarray:
    """``landmarks``, unless the face is too small to animate at the working size."""
    height = face_height(landmarks)
    if height < MIN_FACE_PX:
        raise FaceTrackingError(
            f"the face in {face.name} is too small: {height:.0f} px tall at the working size "
            f"{size[0]}x{size[1]}, at least {MIN_FACE_PX} px are needed (use a larger or "
            "closer-cropped picture, or a larger --size)")
    return landmarks


def _reference(face: Path, mode: str, size: int | None
               ) -> tuple[np.ndarray, np.ndarray, VideoInfo | None]:
    """The image the consent gate checks and the renderer starts from, its landmarks, and
    the face video's facts (None for a photo)."""
    if mode == "photo":
        photo = load_image(face)
        side = size or min(_DEFAULT_SIDE, max(photo.shape[:2]))
        img, faces = _photo_faces(photo, side)
        if size is None and len(faces) == 1 and face_height(faces[0]) < QA_FACE_PX:
            # a phone photo whose face fills a quarter of it: at 512 px the face was too
            # small for the QA, which then measured nothing and passed (so it was unchecked)
            larger = min(max(photo.shape[:2]), _AUTO_MAX_SIDE,
                         math.ceil(side * QA_FACE_PX / face_height(faces[0])))
            if larger > side:
                img, faces = _photo_faces(photo, larger)
        w, h = img.shape[1], img.shape[0]
        if not faces:
            raise FaceTrackingError(
                f"no face found in {face.name}: the photo must show one face, frontal, "
                "unobstructed and filling a good part of the picture (crop it closer)")
        if len(faces) > 1:
            raise FaceTrackingError(f"the face photo must show exactly one face; found "
                                    f"{len(faces)}")
        return img, _big_enough(faces[0], face, (w, h)), None
    info = probe(face)
    if size is None and max(info.width, info.height) > VIDEO_DEFAULT_MAX_SIDE:
        size = VIDEO_DEFAULT_MAX_SIDE
    w, h = _fit(info.width, info.height, size)
    decoded = 0
    with FaceMesh(video=False, max_faces=2) as mesh:
        for i, frame in enumerate(iter_frames(face, size=(w, h))):
            decoded += 1
            if i > _VIDEO_ANALYSIS_SECONDS * info.fps:
                break
            faces = mesh.detect_all(frame)
            if len(faces) == 1:
                return frame, _big_enough(faces[0], face, (w, h)), info
            if len(faces) > 1:
                raise FaceTrackingError(f"the face video shows {len(faces)} faces at frame {i};"
                                        " dubbing needs exactly one")
    if not decoded:  # not "no face": nothing could be looked at
        raise InputError(f"{face.name} has no decodable video frames (damaged, or cut so "
                         "that it does not start at a keyframe)")
    raise FaceTrackingError(f"no face found in the first {_VIDEO_ANALYSIS_SECONDS:g} s of "
                            f"{face.name}")


def _pose(track: MotionTrack, i: int) -> MouthPose:
    roll, dx, dy, sc = (float(v) for v in track.head[i])
    return MouthPose(gap=float(track.gap[i]), width=float(track.width[i]),
                     rounding=float(track.rounding[i]), blink=float(track.blink[i]),
                     roll=roll, dx=dx, dy=dy, scale=sc)


class _Stages:
    """Where the frame loop's time goes: the rendering thread's wall and CPU seconds
    (``render_s``: in video mode decoding, tracking and dubbing too; ``wait_s``: waiting
    for the finishing thread), and the finishing thread's per stage (watermark, encode,
    QA feed). The two threads overlap, so the stages' wall seconds add up to more than
    the loop; their CPU seconds (:meth:`timings`) add up to the process's."""

    def __init__(self) -> None:
        self._wall = {"render_s": 0.0, "wait_s": 0.0}
        self._cpu = dict.fromkeys(self._wall, 0.0)
        self._t = time.perf_counter()
        self._c = time.thread_time()
        self._process0 = time.process_time()

    def lap(self, stage: str) -> None:
        """Charge the rendering thread's time since the previous lap to ``stage``."""
        now, cpu = time.perf_counter(), time.thread_time()
        self._wall[stage] += now - self._t
        self._cpu[stage] += cpu - self._c
        self._t, self._c = now, cpu

    def timings(self, finisher: FrameFinisher, meter: Meter) -> dict[str, float]:
        """``render_s``, ``watermark_s``, ``encode_s`` (wall, each on its thread) and CPU
        seconds per stage: ``cpu_qa_s`` as the meter reports it (decoding and measuring,
        in this process or the QA process), ``cpu_encode_s`` the rest of this process
        (libx264 and muxing, the QA process's feed, reading the file back)."""
        process = time.process_time() - self._process0
        fin = finisher.cpu
        known = sum(self._cpu.values()) + fin["watermark_s"] + meter.local_cpu_s
        return {"render_s": self._wall["render_s"],
                "watermark_s": finisher.seconds["watermark_s"],
                "encode_s": finisher.seconds["encode_s"],
                "cpu_render_s": self._cpu["render_s"] + self._cpu["wait_s"],
                "cpu_watermark_s": fin["watermark_s"],
                "cpu_encode_s": max(0.0, process - known), "cpu_qa_s": meter.cpu_s}


def _render(mode: str, face: Path, reference: np.ndarray, ref_landmarks: np.ndarray,
            track: MotionTrack, sound: audio_api.Audio | FileSoundTrack, raw: Path,
            check_at: list[int],
            qa_reference: FaceEmbedding, boxes: BoxFromMesh | None, subject: FaceEmbedding,
            report: Progress, stages: _Stages, mark: Watermark, meter: Meter
            ) -> tuple[dict[int, FaceEmbedding | ReferenceFaces], FrameFinisher]:
    """Render every frame and hand it to a :class:`FrameFinisher` (``mark``, the writer of
    ``raw``, ``meter``); return the identity reference of each frame in ``check_at``, and
    the closed finisher. ``boxes``: in video mode, the source frames in ``check_at`` are
    embedded with dlib's box placed from their tracked landmarks, as the QA embeds the
    output frames (None: the detector finds them)."""
    h, w = reference.shape[:2]
    n = len(track)
    references: dict[int, FaceEmbedding | ReferenceFaces] = {}
    wanted = set(check_at)
    with VideoWriter(raw, width=w, height=h, fps=track.fps, audio=sound,
                     threads=1) as writer, FrameFinisher(mark, writer, meter) as finisher:

        def emit(i: int, frame: np.ndarray) -> None:
            stages.lap("render_s")
            finisher.put(frame)
            stages.lap("wait_s")
            report("rendering", i + 1, n)

        if mode == "photo":
            renderer = PhotoRenderer(reference, ref_landmarks)
            if wanted:
                posed = _at_rest(renderer, qa_reference, boxes)
                references = dict.fromkeys(wanted, posed)
            for i in range(n):
                emit(i, renderer.render(_pose(track, i)))
        else:
            dubber = VideoRenderer(reference, ref_landmarks)
            missing = checked = unrecognised = 0
            watch = IdentityWatch(n, track.fps, wanted)
            last_match = qa_reference  # the latest source frame that matched the subject
            with FaceMesh(video=True) as mesh:
                for i, frame in enumerate(_video_frames(face, (w, h), n, track.fps)):
                    lm = mesh.detect(frame)
                    if lm is None:
                        missing += 1
                        watch.lost()
                        out = frame
                    else:
                        out = dubber.render(frame, lm, _pose(track, i))
                    if lm is not None and watch.due(i, frame, lm):
                        checked += 1
                        try:
                            src = identity_embedding(frame, face_height(lm), landmarks=lm,
                                                     boxes=boxes)
                        except FaceError:
                            src = None  # mediapipe sees a face dlib cannot embed
                            unrecognised += 1
                        if src is not None:
                            # the QA's frames must match the subject; the watch's others
                            # (random, or where the face changed) fail only when unlike both
                            # the subject and the footage's latest matching frame: dlib's
                            # distance on real 224 px footage reaches 0.62 now and then
                            far = src.distance(subject)
                            if far > MATCH_THRESHOLD and (
                                    i in wanted or src.distance(last_match) > MATCH_THRESHOLD):
                                raise ConsentIdentityError(
                                    f"frame {i} of {face.name} shows someone other than the "
                                    f"consenting subject (face distance {far:.3f})")
                            if far <= MATCH_THRESHOLD:
                                last_match = src
                            if i in wanted:
                                references[i] = src
                    emit(i, out)
            if missing > n / 2:
                raise FaceTrackingError(f"the face was lost in {missing} of {n} frames of "
                                        f"{face.name}")
            if unrecognised > UNRECOGNISED_MAX_SHARE * checked:
                raise ConsentIdentityError(
                    f"the face in {face.name} could not be recognised in {unrecognised} of "
                    f"{checked} checked frames: the dub cannot be shown to keep the "
                    "consenting subject")
    stages.lap("wait_s")  # the last frames, the encoder's flush and the audio track
    return references, finisher


def _at_rest(renderer: PhotoRenderer, photo: FaceEmbedding,
             boxes: BoxFromMesh | None) -> ReferenceFaces | FaceEmbedding:
    """What photo-mode output frames are compared with: the photo, and the photo rendered
    at rest with its lips closed (:class:`~.qa.ReferenceFaces`); the photo alone when the
    rest frame cannot be measured."""
    rest = renderer.render(MouthPose(gap=0.0))
    with FaceMesh(video=False) as mesh:
        landmarks = mesh.detect(rest)
    if landmarks is None:
        return photo
    try:
        posed = identity_embedding(rest, face_height(landmarks), landmarks=landmarks,
                                   boxes=boxes)
    except FaceError:
        return photo
    return ReferenceFaces((photo, posed))


def _check_audio_fits(face: Path, video_seconds: float, audio_seconds: float, *,
                      frames: int = 0) -> None:
    """Dubbing re-renders the mouth of existing footage: the audio must not outlast the
    video (beyond :data:`_AUDIO_OVERRUN_S`, covered by holding the last frame)."""
    if audio_seconds > video_seconds + _AUDIO_OVERRUN_S:
        if frames == 1:  # a still picture saved as a video
            raise AudioInputError(
                f"the face video {face.name} is a single still frame: give it as a photo "
                "(JPEG or PNG) to animate the whole face")
        raise AudioInputError(
            f"the audio is {audio_seconds:.1f} s long but the face video {face.name} only "
            f"{video_seconds:.1f} s: in video mode the audio must fit the video (trim the "
            "audio, or use a longer video or a photo)")


def _video_frames(face: Path, size: tuple[int, int], n: int,
                  fps: float) -> Iterator[np.ndarray]:
    """``n`` frames at ``fps``, each the video's frame showing at that time (by the
    frames' timestamps: variable-frame-rate footage keeps its speed, a gap repeats the
    frame before it). The last frame is held if the video ends sooner (by at most
    :data:`_AUDIO_OVERRUN_S`, which :func:`_check_audio_fits` ensured from the duration
    the file declares). A file that breaks off earlier than it declares (cut short in a
    copy) is refused, not frozen on its last good frame."""
    source = iter_timed_frames(face, size=size)
    shown: tuple[float, np.ndarray] | None = next(source, None)
    if shown is None:
        raise FaceTrackingError(f"{face.name} has no decodable frames")
    coming = next(source, None)
    slack = 0.25 / fps  # timestamps rounded to the container's time base
    for i in range(n):
        t = i / fps
        while coming is not None and coming[0] <= t + slack:
            shown, coming = coming, next(source, None)
        if coming is None and t - shown[0] > _AUDIO_OVERRUN_S + 1.5 / fps:
            raise FaceTrackingError(
                f"the face video {face.name} breaks off at {shown[0]:.1f} s but "
                f"{n / fps:.1f} s are needed: the file is truncated or damaged")
        yield shown[1]
