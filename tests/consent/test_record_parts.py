"""The parts of recorded consent on their own: challenge codes and storage, the statement
template, the spoken-code scorer, liveness figures, the clip evidence in the artifact."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import numpy as np
import pytest
from tests.consent.conftest import CLIP_DRAFT, CLIP_NONCE

from trustavatar import consent
from trustavatar.consent.challenge import (
    LEGACY_TEMPLATE,
    claim,
    derive_code,
    release,
    require_open,
)
from trustavatar.consent.liveness import (
    BLINK_DEPTH,
    HEAD_MOTION_MIN,
    analyse_liveness,
    eye_aspect_ratio,
)
from trustavatar.consent.schema import ARTIFACT_SCHEMA, schema_problem
from trustavatar.consent.spoken_code import (
    ENGLISH_TEMPLATE,
    VTLN_WARPS,
    load_template,
    score_spoken_code,
)
from trustavatar.errors import (
    ConsentChallengeError,
    ConsentEvidenceError,
    ConsentMalformedError,
    ExitCode,
    InputError,
    RegistryError,
)
from trustavatar.registry import MIGRATIONS, Registry

REPO = Path(__file__).resolve().parents[2]


# --- challenges ---------------------------------------------------------------------------


def test_code_is_six_digits_bound_to_draft_and_nonce() -> None:
    draft = consent.ConsentDraft(**CLIP_DRAFT)
    alphabet = ENGLISH_TEMPLATE.code_digits
    code = derive_code(draft, CLIP_NONCE, alphabet)
    assert len(code) == 6 and set(code) <= set(alphabet)
    assert derive_code(consent.ConsentDraft(**CLIP_DRAFT), CLIP_NONCE, alphabet) == code
    other_scope = consent.ConsentDraft(**{**CLIP_DRAFT, "purposes": ("training",)})
    other_nonce = bytes(16)
    codes = {derive_code(other_scope, CLIP_NONCE, alphabet),
             derive_code(draft, other_nonce, alphabet)}
    assert code not in codes  # (a 2e-5 chance each of a clash for these fixed inputs: none)
    with pytest.raises(InputError, match="16 bytes"):
        derive_code(draft, b"short")
    for bad in ("12345", "1234577", "8765432", "12345a", ""):
        with pytest.raises(InputError, match="at least 6 distinct digits in increasing order"):
            derive_code(draft, CLIP_NONCE, bad)


def test_decimal_codes_are_those_made_before_alphabets() -> None:
    # Challenges stored before templates had an alphabet keep their code: n mod 10**6.
    draft = consent.ConsentDraft(**CLIP_DRAFT)
    digest = hmac.new(CLIP_NONCE, b"trustavatar.consent-challenge.v1\x00" + draft.canonical(),
                      hashlib.sha256).digest()
    old = str(int.from_bytes(digest[:8], "big") % 10**6).zfill(6)
    assert derive_code(draft, CLIP_NONCE) == derive_code(draft, CLIP_NONCE, "0123456789") == old


@pytest.mark.parametrize("alphabet", ["0123456789", "123478"])
def test_codes_are_spread_over_the_alphabet(alphabet: str) -> None:
    draft = consent.ConsentDraft(display_name="Someone")
    codes = [derive_code(draft, i.to_bytes(16, "big"), alphabet) for i in range(2000)]
    digits = np.array([[alphabet.index(c) for c in code] for code in codes])
    counts = np.bincount(digits.ravel(), minlength=len(alphabet))
    assert counts.min() > 0.8 * counts.mean()  # roughly uniform
    assert len(set(codes)) > 1900  # 2000 draws from 46,656 codes: ~43 clashes expected


def test_a_challenge_keeps_its_template(registry: Registry, known_nonce: bytes) -> None:
    # The template is stored with the challenge: read back, it is the same template, and
    # the code and sentence follow from it.
    custom = dataclasses.replace(
        ENGLISH_TEMPLATE, statement="I agree that Example Studio may create my avatar.",
        digits={"1": ("one",), "2": ("two",), "3": ("three",), "4": ("four",),
                "5": ("five",), "7": ("seven",), "8": ("eight",)})
    made = consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT),
                                    template=custom)
    back = consent.get_challenge(registry, made.challenge_id)
    assert back is not None and back.template == custom and back.code_digits == "1234578"
    assert back.code == made.code == derive_code(back.draft, CLIP_NONCE, "1234578")
    assert back.sentence() == custom.sentence(back.code)
    assert back.sentence().startswith("I agree that Example Studio may create my avatar. ")
    assert back.to_dict()["code_digits"] == "1234578"


def test_a_challenge_from_before_templates_reads_back_as_the_ten_digit_english(
        tmp_path: Path) -> None:
    draft = consent.ConsentDraft(**CLIP_DRAFT)
    path = tmp_path / "old.sqlite3"
    with Registry.open(path, migrations=MIGRATIONS[:3]) as before, \
            before.transaction() as conn:  # a registry and row from before migration 4
        conn.execute(
            "INSERT INTO consent_challenges (challenge_id, draft, draft_sha256, nonce, language,"
            " created_at, expires_at) VALUES ('old', ?, ?, ?, 'en', '2026-01-01T00:00:00Z',"
            " '2026-01-01T00:15:00Z')",
            (draft.canonical().decode(), hashlib.sha256(draft.canonical()).hexdigest(),
             CLIP_NONCE.hex()))
    with Registry.open(path) as registry:
        old = consent.get_challenge(registry, "old")
    assert old is not None and old.template == LEGACY_TEMPLATE
    assert old.code_digits == "0123456789" and old.code == derive_code(draft, CLIP_NONCE)
    assert old.code == "890435"  # what it was before; the sentence says it as it was shown
    assert old.sentence().endswith("my unique code is 8 9 0 4 3 5.")
    # The English template of today cannot read it (no 0, 5, 6 or 9 in its codes).
    with pytest.raises(InputError, match=r"digits 0, 5, 9, .* another template"):
        ENGLISH_TEMPLATE.sentence(old.code)


def test_a_damaged_template_row_is_a_registry_error(registry: Registry,
                                                    known_nonce: bytes) -> None:
    ch = consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT))
    with registry.transaction() as conn:
        conn.execute("UPDATE consent_challenges SET template = '{\"language\": 1}'")
    with pytest.raises(RegistryError, match=f"row of challenge {ch.challenge_id} is damaged"):
        consent.get_challenge(registry, ch.challenge_id)


def test_the_language_is_the_templates(registry: Registry, known_nonce: bytes) -> None:
    ch = consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT))
    assert ch.language == ch.template.language == "en" and ch.to_dict()["language"] == "en"
    # The stored language column must agree with the stored template.
    with registry.transaction() as conn:
        conn.execute("UPDATE consent_challenges SET language = 'de'")
    with pytest.raises(RegistryError, match=r"damaged: its language column says 'de', its "
                                            r"template 'en'"):
        consent.get_challenge(registry, ch.challenge_id)


def test_draft_is_validated() -> None:
    with pytest.raises(InputError, match="display name must not be empty"):
        consent.ConsentDraft(display_name=" ")
    with pytest.raises(InputError, match="invalid purpose 'Ads!'"):
        consent.ConsentDraft(display_name="A", purposes=("Ads!",))
    with pytest.raises(InputError, match="valid_days or not_after, not both"):
        consent.ConsentDraft(display_name="A", valid_days=3,
                             not_after=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(InputError, match="valid_days must be an integer"):
        consent.ConsentDraft(display_name="A", valid_days=0)
    draft = consent.ConsentDraft(display_name="A", languages=("EN-gb",), valid_days=30)
    assert draft.languages == ("en-gb",) and draft.valid_for == dt.timedelta(days=30)
    assert consent.ConsentDraft.from_json(draft.to_json()) == draft


def test_challenge_lifecycle_in_the_registry(registry: Registry, known_nonce: bytes,
                                             t0: dt.datetime, clip_code: str) -> None:
    assert registry.schema_version() == len(MIGRATIONS) == 4
    ch = consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT), at=t0)
    assert ch.code == clip_code and ch.expires_at - ch.created_at == consent.CHALLENGE_TTL
    assert consent.get_challenge(registry, ch.challenge_id) == ch
    assert consent.list_challenges(registry) == [ch]
    stored = registry.query("SELECT * FROM consent_challenges")[0]
    assert clip_code not in json.dumps(dict(stored))  # the code is derived, not stored
    assert ch.to_dict(at=t0)["status"] == "open" and "code" not in ch.to_dict()
    assert ch.sentence() == ("I consent to the creation of my avatar. For safety purposes, my "
                             f"unique code is {' '.join(clip_code)}.")

    assert require_open(registry, ch.challenge_id, at=t0) == ch
    used = claim(registry, ch.challenge_id, "c-1", at=t0 + dt.timedelta(minutes=1))
    assert used.status(t0) == "used" and used.consent_id == "c-1"
    with pytest.raises(ConsentChallengeError, match="already used") as e:
        claim(registry, ch.challenge_id, "c-2", at=t0 + dt.timedelta(minutes=2))
    assert e.value.exit_code == ExitCode.REJECTED
    release(registry, ch.challenge_id, "c-1")
    assert consent.get_challenge(registry, ch.challenge_id).used_at is None
    with pytest.raises(ConsentChallengeError, match="expired"):
        require_open(registry, ch.challenge_id, at=ch.expires_at)

    with pytest.raises(InputError, match="a challenge lives between"):
        consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT),
                                 ttl=dt.timedelta(days=2))


def test_a_changed_draft_is_detected(registry: Registry, t0: dt.datetime) -> None:
    ch = consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT), at=t0)
    with registry.transaction() as conn:
        conn.execute("UPDATE consent_challenges SET draft = replace(draft, 'Eileen', 'Mallory')")
    with pytest.raises(RegistryError, match="was changed"):
        consent.get_challenge(registry, ch.challenge_id)


# --- the statement template ---------------------------------------------------------------


def test_the_english_template_matches_the_repository_copy() -> None:
    path = REPO / "consent" / "templates" / "en.json"
    assert load_template(path) == ENGLISH_TEMPLATE
    assert ENGLISH_TEMPLATE.spoken("147").endswith("my unique code is one four seven.")
    assert ENGLISH_TEMPLATE.code_digits == "123478"
    ENGLISH_TEMPLATE.check_words()


def test_a_template_needs_six_digits_and_refuses_codes_it_cannot_read(tmp_path: Path) -> None:
    data = json.loads((REPO / "consent" / "templates" / "en.json").read_text())
    del data["digits"]["8"]
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"at least 6 of the digits 0-9 .* got \['1', '2', "):
        load_template(tmp_path / "t.json")
    data["digits"] = {**data["digits"], "8": ["eight"], "x": ["ex"]}
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="at least 6 of the digits 0-9"):
        load_template(tmp_path / "t.json")
    with pytest.raises(InputError, match=r"code 471093 has digits 0, 9, which this template"):
        score_spoken_code(_say("one"), "471093")


def test_a_template_with_unknown_words_is_refused(tmp_path: Path) -> None:
    data = json.loads((REPO / "consent" / "templates" / "en.json").read_text())
    data["statement"] = "I consent to the zorblification of my avatar."
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"dictionary: \['zorblification'\]"):
        load_template(tmp_path / "t.json")
    data["code_sentence"] = "no code here"
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="exactly once"):
        load_template(tmp_path / "t.json")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("asr_model"), r"missing 'asr_model' \(a template has language, "
                                   r"asr_model, statement, code_sentence, digits"),
    (lambda d: d.update(statment="typo"), r"unknown field\(s\) 'statment'"),
    (lambda d: d.update(statement=["I", "consent"]), r"'statement' must be a string, got list"),
    (lambda d: d.update(digits=["one", "two"]), r"'digits' must map each digit to a list"),
    (lambda d: d["digits"].update({"1": "one"}), r"'digits' must map each digit to a list"),
])
def test_a_malformed_template_file_says_what_is_wrong(tmp_path: Path, change,
                                                     message: str) -> None:
    data = json.loads((REPO / "consent" / "templates" / "en.json").read_text())
    change(data)
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a consent statement template: " + message):
        load_template(tmp_path / "t.json")
    (tmp_path / "t.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="a JSON object is needed, got list"):
        load_template(tmp_path / "t.json")


# --- the spoken code (espeak-ng speech, real pocketsphinx) -----------------------------------


def _say(text: str):
    from trustavatar.generator.audio import synthesize

    return synthesize(text, language="en-us").audio


@pytest.mark.slow
def test_spoken_code_scores() -> None:
    t = ENGLISH_TEMPLATE
    good = score_spoken_code(_say(t.spoken("471283")), "471283")
    assert good.failure is None, good.failure
    assert good.code == "471283" and good.readings == ("471283",)
    assert good.margin >= good.min_margin
    assert good.warp in VTLN_WARPS and good.figures()["vtln_warp"] == good.warp
    assert good.adapted and good.figures()["speaker_adapted"] is True
    wrong = score_spoken_code(_say(t.spoken("471288")), "471283")
    assert wrong.code == "471288" and wrong.margin < 0
    assert wrong.failure.startswith("heard code 471288, not the issued code (margin -")
    assert "471283" not in wrong.failure and wrong.figures()["code_matches"] is False
    other = score_spoken_code(_say("The quick brown fox jumps over the lazy dog."), "471283")
    assert other.code is None
    assert other.failure.startswith("the consent sentence was not recognised")
    twice = score_spoken_code(
        _say(f"{t.spoken('471283')} {t.code_sentence.format(code=t.spoken_code('471283'))}"),
        "471283")
    assert twice.readings == ("471283", "471283")
    assert twice.failure.startswith("the code was read 2 times")


def _padded(audio, before: float, after: float, noise_db: float | None):
    from trustavatar.generator.audio import Audio

    sr = audio.sample_rate
    x = np.concatenate([np.zeros(int(before * sr), np.float32), audio.samples,
                        np.zeros(int(after * sr), np.float32)])
    if noise_db is not None:  # room noise, noise_db below the speech
        x += np.random.default_rng(1).normal(0, audio.rms * 10 ** (noise_db / 20), x.size)
    return Audio.from_array(x.astype(np.float32), sr)


def test_only_the_speech_and_a_margin_are_decoded() -> None:
    from trustavatar.consent.spoken_code import _speech_span
    from trustavatar.generator.audio import Audio

    sr = 16000
    rng = np.random.default_rng(0)
    burst = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr)).astype(np.float32)
    quiet = rng.normal(0, 1e-4, 8 * sr).astype(np.float32)
    x = quiet.copy()
    x[2 * sr:4 * sr] += burst
    start, end = _speech_span(Audio.from_array(x, sr))
    assert abs(start - 1.5 * sr) <= 0.02 * sr and abs(end - 4.5 * sr) <= 0.02 * sr
    # nothing worth cutting (under a second), no activity, activity everywhere: all of it
    y = quiet[:int(2.6 * sr)].copy()
    y[int(0.3 * sr):int(2.3 * sr)] += burst
    assert _speech_span(Audio.from_array(y, sr)) == (0, y.size)
    assert _speech_span(Audio.from_array(quiet, sr)) == (0, quiet.size)
    assert _speech_span(Audio.from_array(burst, sr)) == (0, burst.size)


@pytest.mark.slow
def test_silence_around_the_sentence_is_not_decoded_and_changes_nothing() -> None:
    from trustavatar.consent.spoken_code import _speech_span

    speech = _say(ENGLISH_TEMPLATE.spoken("471283"))
    for noise_db in (None, -35.0):
        padded = _padded(speech, 2.0, 3.0, noise_db)
        start, end = _speech_span(padded)
        assert start >= 1.0 * padded.sample_rate  # the lead is cut...
        assert end <= padded.num_samples - 2.0 * padded.sample_rate  # ... and the tail
        result = score_spoken_code(padded, "471283")
        assert result.failure is None, result.failure
        assert result.code == "471283" and result.readings == ("471283",)
        assert result.duration == pytest.approx(padded.duration)
        sr = padded.sample_rate
        assert result.decoded == (start / sr, end / sr) and not result.second_try


def test_the_speakers_end_is_where_the_loudest_voice_stops() -> None:
    from trustavatar.consent.spoken_code import _speaker_end
    from trustavatar.generator.audio import Audio

    sr = 16000
    t = np.arange(2 * sr) / sr
    loud = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    x = np.concatenate([loud, 0.03 * loud])  # then a voice 20 dB lower, for 2 s
    assert _speaker_end(Audio.from_array(x, sr), 0, x.size) == pytest.approx(2.5 * sr, abs=160)
    # one level throughout, or less than half a second to cut: nothing to cut
    assert _speaker_end(Audio.from_array(np.concatenate([loud, loud]), sr), 0, 4 * sr) is None
    y = np.concatenate([loud, 0.03 * loud[:int(0.8 * sr)]])
    assert _speaker_end(Audio.from_array(y, sr), 0, y.size) is None


@pytest.mark.slow
def test_someone_talking_after_the_sentence_does_not_fail_the_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from trustavatar.consent import spoken_code
    from trustavatar.generator.audio import Audio, synthesize

    speech = _say(ENGLISH_TEMPLATE.spoken("471283"))
    other = synthesize("Did you see the game last night? It went on far too long, and then "
                       "it rained for an hour.", language="en-us", voice="f2", rate=190).audio
    sr = speech.sample_rate
    x = _padded(speech, 1.0, 3.0, None).samples.copy()
    at = sr + speech.num_samples - int(0.3 * sr)  # they start as the subject finishes
    talk = other.samples[:x.size - at] * (speech.rms / other.rms * 10 ** (-15 / 20))
    x[at:at + talk.size] += talk
    clip = Audio.from_array(x, sr)
    result = score_spoken_code(clip, "471283")
    assert result.failure is None, result.failure
    assert result.readings == ("471283",) and result.duration == pytest.approx(clip.duration)
    # the result says which part was decoded, and that it took the second try
    assert result.second_try and result.figures()["second_try"] is True
    start, end = result.decoded
    assert start == spoken_code._speech_span(clip)[0] / sr
    assert (speech.num_samples + int(0.2 * sr)) / sr < end < x.size / sr - 0.5
    # without the second try, the background voice is decoded as more of the sentence
    # (another reading, or no sentence at all: espeak-ng's waveform varies between calls)
    monkeypatch.setattr(spoken_code, "_speaker_end", lambda *args: None)
    assert score_spoken_code(clip, "471283").failure is not None


# --- liveness on synthetic landmark tracks ---------------------------------------------------


@pytest.fixture(scope="module")
def face_landmarks() -> np.ndarray:
    from trustavatar.face import load_image, sample_portrait_path
    from trustavatar.face.mesh import FaceMesh

    with FaceMesh(video=False) as mesh:
        return mesh.detect(load_image(sample_portrait_path()))


def _track(lm: np.ndarray, n: int, *, blink_at: tuple[int, ...] = (), blink_len: int = 5,
           head: float = 0.0, mouth: np.ndarray | None = None) -> list[np.ndarray]:
    from trustavatar.face.mesh import Region

    rng = np.random.default_rng(0)
    # head motion that never repeats: a smoothed random walk, about ±1 in amplitude
    walk = np.convolve(np.cumsum(rng.normal(0, 1, (n + 20, 2)), axis=0).T[0],
                       np.ones(9) / 9, "same")[10:10 + n]
    drift = np.stack([walk, np.roll(walk, 7)], axis=1)
    drift = (drift - drift.mean(axis=0)) / max(float(np.abs(drift).max()), 1e-9)
    out = []
    for i in range(n):
        f = lm.copy()
        if head:
            f += head * 90 * drift[i] + rng.normal(0, 0.05, 2)
        if any(a <= i < a + blink_len for a in blink_at):
            for ids in (Region.EAR_R, Region.EAR_L):
                f[ids[[1, 2]]] = (f[ids[[1, 2]]] + f[ids[[5, 4]]]) / 2 - 0.3  # lids meet
        if mouth is not None:
            f[14, 1] += mouth[i]
        out.append(f)
    return out


def test_liveness_passes_a_moving_blinking_talking_face(face_landmarks: np.ndarray) -> None:
    n, fps = 150, 25.0
    speech = np.where(np.sin(np.arange(n) / 4.0) > 0, -20.0, -70.0)
    mouth = np.where(speech > -30, 8.0, 0.0)
    result = analyse_liveness(_track(face_landmarks, n, blink_at=(40, 100), head=0.02,
                                     mouth=mouth), fps=fps, speech_level=speech)
    assert result.failures == ()
    assert result.blinks == (40 / fps, 100 / fps)
    assert result.deepest_blink < BLINK_DEPTH and result.head_motion > HEAD_MOTION_MIN
    assert result.mouth_sync > 0.9 and result.blink_rate_per_min == pytest.approx(20.0)


def test_liveness_rejects_a_still_face_with_every_reason(face_landmarks: np.ndarray) -> None:
    n = 100
    result = analyse_liveness([face_landmarks] * n, fps=25.0,
                              speech_level=np.linspace(-60, -20, n))
    text = result.failure
    assert "no natural blink" in text and "no head motion: 0.0000" in text
    assert "the mouth does not move: 0.0000" in text
    assert "the mouth does not follow the speech: correlation not measurable" in text


def test_a_long_eye_closure_is_not_a_blink(face_landmarks: np.ndarray) -> None:
    result = analyse_liveness(_track(face_landmarks, 100, blink_at=(30,), blink_len=25,
                                     head=0.02), fps=25.0, speech_level=None)
    assert result.blinks == () and result.deepest_blink < BLINK_DEPTH
    assert result.failures[0].startswith("no natural blink")
    assert result.mouth_sync is None


def test_liveness_needs_the_face_in_most_frames(face_landmarks: np.ndarray) -> None:
    result = analyse_liveness([face_landmarks, None, None, None], fps=25.0, speech_level=None)
    assert result.failure == "the face is visible in only 1 of 4 frames (need 80%)"
    with pytest.raises(InputError, match=r"landmarks must be \(478, 2\)"):
        eye_aspect_ratio(np.zeros((68, 2)))


# --- the evidence in the artifact -------------------------------------------------------------


CHECKS = consent.ClipEvidence(
    challenge_id="0b8f2c1e-4a4e-4f6b-9d1e-2a3b4c5d6e7f", language="en",
    sentence="I consent. For safety purposes, my unique code is 1 2 3 4 5 6.",
    transcript="i consent for safety purposes my unique code is one two three four five six",
    asr_engine="pocketsphinx 5.1.1 en-us", asr_margin=42.25, asr_min_margin=10.0, blinks=2,
    head_motion=0.0123, mouth_motion=0.0163, mouth_sync=0.828, face_distance=0.272,
    face_threshold=0.6, face_frames=5, duration_s=6.52, speech_decoded=(0.48, 5.9),
    second_try=True,
)


def test_clip_evidence_round_trips_and_is_schema_valid(
        make_artifact, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"clip")
    evidence = consent.Evidence.recorded_clip(clip, checks=CHECKS)
    artifact = make_artifact(evidence=evidence)
    assert consent.parse_artifact(artifact.raw).evidence == evidence
    payload = json.loads(artifact.raw)["payload"]
    assert payload["evidence"]["clip"]["speech"]["margin"] == 42.25
    assert payload["evidence"]["clip"]["face"] == {"distance": 0.272, "frames": 5,
                                                   "threshold": 0.6}
    assert payload["evidence"]["clip"]["speech"]["decoded"] == {
        "from_s": 0.48, "to_s": 5.9, "second_try": True}
    # artifacts issued before the decoded span was recorded still parse and are valid
    older = dataclasses.replace(CHECKS, speech_decoded=None, second_try=None)
    artifact = make_artifact(evidence=consent.Evidence.recorded_clip(clip, checks=older))
    assert "decoded" not in json.loads(artifact.raw)["payload"]["evidence"]["clip"]["speech"]
    assert consent.parse_artifact(artifact.raw).evidence.clip == older
    assert schema_problem(ARTIFACT_SCHEMA, json.loads(artifact.raw)) is None
    # a clip report on an attestation, or a field too many, is not a v1 artifact
    document = json.loads(artifact.raw)
    document["payload"]["evidence"]["method"] = "operator-attestation"
    document["payload"]["evidence"]["documents"][0]["kind"] = "signed-release"
    assert schema_problem(ARTIFACT_SCHEMA, document) is not None
    document = json.loads(artifact.raw)
    document["payload"]["evidence"]["clip"]["liveness"]["rating"] = "great"
    assert "rating" in schema_problem(ARTIFACT_SCHEMA, document)
    document = json.loads(artifact.raw)
    document["payload"]["evidence"]["clip"]["speech"]["decoded"] = {"from_s": 0, "to_s": 1}
    assert "second_try" in schema_problem(ARTIFACT_SCHEMA, document)


def test_consent_verify_says_which_part_of_the_audio_was_decoded() -> None:
    from rich.console import Console

    from trustavatar._cli.consent import _show_clip_evidence

    def shown(checks: consent.ClipEvidence) -> str:
        con = Console(record=True, width=300)
        _show_clip_evidence(con, consent.Evidence.recorded_clip(b"clip", checks=checks))
        return con.export_text()

    assert ("decoded: 0.48–5.9 s of the clip's audio (a second try: the whole span had "
            "failed, so the audio was cut where the loudest voice stops)") in shown(CHECKS)
    first = shown(dataclasses.replace(CHECKS, second_try=False))
    assert "decoded: 0.48–5.9 s of the clip's audio\n" in first and "second try" not in first
    assert "decoded:" not in shown(dataclasses.replace(CHECKS, speech_decoded=None,
                                                       second_try=None))


def test_evidence_figures_must_be_finite(make_artifact) -> None:
    bad = dataclasses.replace(CHECKS, asr_margin=float("inf"))
    with pytest.raises(InputError, match="finite"):
        make_artifact(evidence=consent.Evidence.recorded_clip(b"clip", checks=bad))


def test_an_artifact_with_a_broken_clip_report_is_malformed(make_artifact) -> None:
    artifact = make_artifact(evidence=consent.Evidence.recorded_clip(b"clip", checks=CHECKS))
    document = json.loads(artifact.raw)
    del document["payload"]["evidence"]["clip"]["face"]
    from trustavatar import _envelope

    with pytest.raises(ConsentMalformedError, match="face"):
        consent.parse_artifact(_envelope.canonical_json(document))


def test_error_classes() -> None:
    e = ConsentEvidenceError("speech check failed: x", check="speech", figures={"margin": 1.0})
    assert e.exit_code == ExitCode.REJECTED and e.check == "speech" and e.report is None
    assert e.figures == {"margin": 1.0}
    c = ConsentChallengeError("freshness: expired", reason="expired")
    assert c.reason == "expired" and c.exit_code == ExitCode.REJECTED



@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(statement="   "), r"statement is empty"),
    (lambda d: d["digits"].update({"2": ["two"], "3": ["Two"]}), r"'Two' to digits 2 and 3"),
    (lambda d: d["digits"].update({"2": ["  "]}), r"digit 2 an empty word"),
    (lambda d: d.update(code_sentence="My code is {code} and {x}."), r"no other \{\.\.\.\}"),
    (lambda d: d.update(code_sentence="My code is {code} {}."), r"no other \{\.\.\.\}"),
    (lambda d: d.update(code_sentence="My code is {code.__class__}."), r"no other"),
    (lambda d: d.update(code_sentence="My code is {code} {"), r"stray brace"),
    (lambda d: d.update(language=""), r"language must be English"),
    (lambda d: d.update(language="de"), r"language must be English"),
    (lambda d: d.update(statement="I consent\u0000 to it."), r"statement contains control"),
])
def test_a_template_that_would_make_an_ambiguous_or_empty_reading_is_refused(
        tmp_path: Path, change, message: str) -> None:
    data = json.loads((REPO / "consent" / "templates" / "en.json").read_text())
    change(data)
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        load_template(tmp_path / "t.json")
