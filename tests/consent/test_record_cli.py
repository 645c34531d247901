"""``trustavatar consent challenge`` / ``record`` / ``verify`` of recorded consent, in-process."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.clitools import invoke

pytestmark = pytest.mark.slow


@pytest.fixture
def h(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    home = ["--home", str(tmp_path / "home")]
    # a signing certificate of 30 days: a consent asked for a year ends with it
    assert invoke(capsys, *home, "keys", "init", "--org", "CLI Org", "--valid-days",
                  "30").code == 0
    return home


def _challenge(h: list[str], capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen Collins",
               "--language", "en", *extra, "--json")
    assert r.code == 0, r.err
    return r.json()


def test_challenge_prints_the_sentence_to_read(h: list[str], capsys, known_nonce: bytes,
                                               clip_code: str) -> None:
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen Collins",
               "--language", "en", "--expires", "10")
    assert r.code == 0, r.err
    assert ('"I consent to the creation of my avatar. For safety purposes, my unique code is '
            f'{" ".join(clip_code)}."') in r.out
    assert "(in 10 min), 3 attempts" in r.out
    assert "reading, in English:" in r.out and "English only" in r.out
    assert "trustavatar consent record --challenge " in r.out

    data = _challenge(h, capsys, "--scope", "training", "--valid-days", "30")
    ch = data["challenge"]
    assert ch["draft"]["purposes"] == ["training"] and ch["draft"]["valid_days"] == 30
    assert ch["status"] == "open" and ch["attempts"] == 0 and ch["max_attempts"] == 3
    assert len(ch["code"]) == 6 and data["sentence"].endswith(f"{' '.join(ch['code'])}.")

    assert data["certificate_ends"] > ch["expires_at"]
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen", "--valid-days", "3650")
    assert "for 3650 days from the recording" in r.out and (
        f"it will end by {data['certificate_ends']})") in r.out

    r = invoke(capsys, *h, "consent", "challenge", "--subject", " ", "--json")
    assert r.code == 2 and r.json()["error"]["message"] == "the display name must not be empty"


def test_challenge_with_a_template_of_ones_own(h: list[str], capsys, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    data = json.loads((repo / "consent" / "templates" / "en.json").read_text())
    data["statement"] = "I agree that Example Studio may create my avatar."
    template = tmp_path / "studio.json"
    template.write_text(json.dumps(data))
    out = _challenge(h, capsys, "--template", str(template))
    assert out["sentence"].startswith("I agree that Example Studio may create my avatar. For "
                                      "safety purposes, my unique code is ")
    assert out["challenge"]["code_digits"] == "123478"
    # bad templates are bad input (exit 2), before any challenge is stored
    data["statement"] = "I agree to the zorblification of my avatar."
    template.write_text(json.dumps(data))
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen", "--template",
               str(template), "--json")
    assert r.code == 2 and "dictionary: ['zorblification']" in r.json()["error"]["message"]
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen", "--template",
               str(tmp_path / "missing.json"))
    assert r.code == 2 and "cannot read the consent template" in r.err


def test_challenge_needs_a_signing_identity(tmp_path: Path, capsys) -> None:
    home = tmp_path / "empty-home"
    r = invoke(capsys, "--home", str(home), "consent", "challenge", "--subject", "Eileen")
    assert r.code == 1 and "no signing identity" in r.err and "keys init" in r.err
    assert not (home / "registry.sqlite3").exists()


def test_record_verify_and_replay(h: list[str], capsys, tmp_path: Path, known_nonce: bytes,
                                  consent_clip: Callable[[str], Path],
                                  faces: dict[str, Path]) -> None:
    # a year asked (the default), under a signing certificate of 30 days: the consent ends
    # with the certificate, and says so
    data = _challenge(h, capsys)
    cid, cert_end = data["challenge"]["challenge_id"], data["certificate_ends"]
    out = tmp_path / "eileen.consent.json"
    args = ("consent", "record", "--challenge", cid, "--clip", consent_clip("good"),
            "--portrait", faces["portrait"], "--out", out)
    # an output that cannot be written is refused before the challenge is used up
    r = invoke(capsys, *h, *args[:-1], tmp_path / "missing" / "x.json")
    assert r.code == 2 and "output directory" in r.err and "does not exist" in r.err
    r = invoke(capsys, *h, *args)
    assert r.code == 0, r.err
    for words in ("recorded consent ", "✓ freshness", "✓ speech: heard code", "✓ liveness: ",
                  "✓ identity: at most 1 face(s)", "✓ provenance: watermark z",
                  f" to {cert_end}\n", "(asked until ", "its signing certificate does"):
        assert words in r.out, (words, r.out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    r = invoke(capsys, *h, "consent", "verify", out, "--face", faces["portrait"])
    assert r.code == 0, r.err
    for words in ("evidence: recorded-clip", "recorded consent clip (sha256 ",
                  "the subject was asked to read (en): \"I consent to the creation",
                  "speech heard: \"i consent to the creation", "nats better than any other code",
                  "liveness: ", "blink(s)", "clip frames matched the portrait",
                  "s of the clip's audio"):
        assert words in r.out, (words, r.out)
    assert "a second try" not in r.out  # this clip passed on the first
    r = invoke(capsys, *h, "consent", "verify", out, "--json")
    assert r.json()["evidence"]["method"] == "recorded-clip"
    assert r.json()["evidence"]["clip"]["challenge_id"] == cid
    assert r.json()["evidence"]["clip"]["speech"]["decoded"]["second_try"] is False

    # the same clip again: the challenge is used (exit 3, one error line)
    r = invoke(capsys, *h, *args[:-1], tmp_path / "again.json", "--json")
    assert r.code == 3
    assert r.json()["error"]["type"] == "ConsentChallengeError"
    assert r.json()["error"]["reason"] == "used"  # for a program: no English to parse
    assert "already used" in r.json()["error"]["message"]
    assert not (tmp_path / "again.json").exists()


def test_rejected_clip_exits_3_with_every_check(h: list[str], capsys, tmp_path: Path,
                                                known_nonce: bytes,
                                                consent_clip: Callable[[str], Path],
                                                faces: dict[str, Path]) -> None:
    cid = _challenge(h, capsys)["challenge"]["challenge_id"]
    out = tmp_path / "x.json"
    args = ("consent", "record", "--challenge", cid, "--clip", consent_clip("still"),
            "--portrait", faces["portrait"], "--out", out)
    r = invoke(capsys, *h, *args, "--json")
    assert r.code == 3 and not out.exists()
    data = r.json()
    assert data["ok"] is False and data["error"]["check"] == "liveness"
    checks = data["report"]["checks"]
    assert checks["speech"]["passed"] and not checks["liveness"]["passed"]
    assert checks["liveness"]["blinks"] == 0 and checks["liveness"]["head_motion"] < 0.002
    assert r.err.startswith("trustavatar: error: liveness check failed: no natural blink")

    r = invoke(capsys, *h, *args)
    assert r.code == 3
    assert "✗ liveness: no natural blink" in r.out and "✓ speech" in r.out
    assert "attempt 2 of 3" in r.err


def test_bad_input_exits_2(h: list[str], capsys, tmp_path: Path, known_nonce: bytes,
                           consent_clip: Callable[[str], Path], faces: dict[str, Path]) -> None:
    cid = _challenge(h, capsys)["challenge"]["challenge_id"]
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip",
               consent_clip("corrupted"), "--portrait", faces["portrait"], "--out",
               tmp_path / "x.json", "--json")
    assert r.code == 2 and "not a readable video" in r.json()["error"]["message"]
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip",
               consent_clip("good"), "--portrait", faces["no_face"], "--out",
               tmp_path / "x.json")
    assert r.code == 2 and "no face found" in r.err
    # a still image is not a clip: bad input, not a rejected attempt
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip",
               faces["portrait"], "--portrait", faces["portrait"], "--out",
               tmp_path / "x.json", "--json")
    assert r.code == 2 and "is a still image, not a video" in r.json()["error"]["message"]
    # the output may never replace the evidence, --force or not
    clip = consent_clip("good")
    before = clip.read_bytes()
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip", clip,
               "--portrait", faces["portrait"], "--out", clip, "--force")
    assert r.code == 2 and "is also the input --clip" in r.err
    assert clip.read_bytes() == before
    # none of these used an attempt: the challenge still takes the good clip
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip", clip,
               "--portrait", faces["portrait"], "--out", tmp_path / "x.json", "--json")
    assert r.code == 0, r.err


def test_challenge_whose_consent_would_have_ended_is_refused(h: list[str], capsys) -> None:
    r = invoke(capsys, *h, "consent", "challenge", "--subject", "Eileen Collins",
               "--not-after", "2020-01-01T00:00:00Z", "--json")
    assert r.code == 2
    assert "must be later than the challenge's expiry" in r.json()["error"]["message"]


def test_an_out_that_appears_while_the_clip_is_checked_is_kept(
        h: list[str], capsys, tmp_path: Path, known_nonce: bytes, monkeypatch,
        consent_clip: Callable[[str], Path], faces: dict[str, Path]) -> None:
    """The challenge is used and the consent recorded by the time the artifact is written:
    an --out that appeared meanwhile is kept (no --force), and the error says how to get
    the artifact, which the registry holds."""
    from trustavatar._cli import consent as consent_cli

    out = tmp_path / "eileen.consent.json"
    check = consent_cli.consent_api.record_clip

    def check_then_someone_writes(*args, **kwargs):
        result = check(*args, **kwargs)
        out.write_text("theirs")
        return result

    monkeypatch.setattr(consent_cli.consent_api, "record_clip", check_then_someone_writes)
    cid = _challenge(h, capsys)["challenge"]["challenge_id"]
    r = invoke(capsys, *h, "consent", "record", "--challenge", cid, "--clip",
               consent_clip("good"), "--portrait", faces["portrait"], "--out", out, "--json")
    assert r.code == 2 and out.read_text() == "theirs"
    message = r.json()["error"]["message"]
    assert "appeared while the clip was checked and was kept" in message
    consent_id = message.split()[1]
    assert message.endswith(f"trustavatar --home {h[1]} consent export {consent_id} --out FILE")
    r = invoke(capsys, *h, "consent", "export", consent_id, "--out", tmp_path / "got.json")
    assert r.code == 0, r.err
    r = invoke(capsys, *h, "consent", "verify", tmp_path / "got.json")
    assert r.code == 0 and "evidence: recorded-clip" in r.out
