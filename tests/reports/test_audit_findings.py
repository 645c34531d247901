"""What the audit must flag beyond the studio's cases (red-team findings F6 and F15): a
video generated under an artifact other than the one recorded for its consent id, and
quality checks that failed but were kept with ``generate --qa report``.

The ledger rows are written directly (no rendering): the audit reads rows, not videos.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from trustavatar import _envelope, consent
from trustavatar._files import sha256_bytes
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import LedgerEntry, Registry, append_generation
from trustavatar.reports import build_audit

MISMATCH = "not the one recorded for this consent id"
QA_FAILED = "quality checks failed when the video was made"
#: what QAReport.figures() records, and what pipeline.generate adds
PASSED_QA = {"identity_median": 0.12, "identity_max": 0.2, "sync_offset_frames": 0,
             "sync_correlation": 0.8, "passed": 1, "language": "en"}


@pytest.fixture
def studio(tmp_path: Path) -> dict[str, Any]:
    home = Home.resolve(tmp_path / "home")
    ks = Keystore.create(home, organisation="Audit Org")
    key = ks.signing_key()
    release = tmp_path / "release.txt"
    release.write_text("signed model release")
    with Registry.for_home(home) as registry:
        genuine = consent.issue(
            key, portrait=sample_portrait_path(), display_name="Ada Example",
            languages=("en",), evidence=consent.Evidence.operator_attestation(release),
            registry=registry, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    # the red team's artifact: same consent id, another subject, re-signed, never recorded
    payload = json.loads(genuine.raw)["payload"]
    payload["subject"] = {**payload["subject"], "display_name": "Grace Hopper"}
    resigned = _envelope.seal(payload, key)
    return {"home": home, "genuine": genuine, "resigned_sha256": sha256_bytes(resigned),
            "dir": tmp_path}


def _row(studio: dict[str, Any], n: int, *, artifact_sha256: str,
         qa: dict[str, Any]) -> None:
    with Registry.for_home(studio["home"]) as registry:
        append_generation(registry, LedgerEntry(
            operator="op", consent_id=studio["genuine"].consent_id,
            consent_artifact_sha256=artifact_sha256, mode="photo", inputs={"face": "0" * 64},
            output_path=str(studio["dir"] / f"out{n}.mp4"), output_sha256="1" * 64,
            manifest_label=f"urn:c2pa:{n}", watermark_payload="00" * 8,
            qa={**qa, "generation_id": f"gen-{n}"}))


def _videos(studio: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rep = build_audit(studio["home"], check_watermark=False)
    return {v["generation_id"]: v for v in rep.data["videos"]}


def test_a_video_made_under_another_artifact_for_the_consent_id_needs_action(studio) -> None:
    _row(studio, 1, artifact_sha256=studio["genuine"].sha256, qa=PASSED_QA)
    _row(studio, 2, artifact_sha256=studio["resigned_sha256"], qa=PASSED_QA)
    videos = _videos(studio)
    good, forged = videos["gen-1"], videos["gen-2"]
    assert good["consent"]["artifact_matches"] is True
    assert not any(MISMATCH in w for w in good["needs_action"])
    assert forged["consent"]["artifact_matches"] is False
    assert forged["consent"]["artifact_sha256"] == studio["genuine"].sha256
    assert forged["consent"]["artifact_used_sha256"] == studio["resigned_sha256"]
    assert any(MISMATCH in w for w in forged["needs_action"]), forged["needs_action"]
    rep = build_audit(studio["home"], check_watermark=False)
    assert any(MISMATCH in w for n in rep.needs_action for w in n["why"])
    consented = next(c for c in rep.data["checklist"] if c["item"].startswith("Consent valid"))
    assert consented["status"] == "no" and consented["evidence"].startswith("1 of 2")


def test_quality_checks_kept_with_qa_report_need_action(studio) -> None:
    sha = studio["genuine"].sha256
    _row(studio, 1, artifact_sha256=sha, qa=PASSED_QA)
    _row(studio, 2, artifact_sha256=sha, qa={**PASSED_QA, "identity_median": 0.698,
                                            "identity_max": 0.71, "passed": 0})
    _row(studio, 3, artifact_sha256=sha, qa={**PASSED_QA, "sync_offset_frames": 3,
                                            "sync_correlation": 0.21, "passed": 0})
    _row(studio, 4, artifact_sha256=sha, qa={"language": "en"})  # no verdict recorded
    videos = _videos(studio)
    assert not any(QA_FAILED in w for w in videos["gen-1"]["needs_action"])
    assert not any(QA_FAILED in w for w in videos["gen-4"]["needs_action"])
    drifted = next(w for w in videos["gen-2"]["needs_action"] if QA_FAILED in w)
    assert "identity drifted (median distance 0.698 > 0.3)" in drifted
    assert "kept with --qa report" in drifted
    off = next(w for w in videos["gen-3"]["needs_action"] if QA_FAILED in w)
    assert "lip sync off by 3 frames" in off and "correlation 0.21 < 0.5" in off
    # rows that record the QA's own failures show them as decided then
    _row(studio, 5, artifact_sha256=sha, qa={**PASSED_QA, "passed": 0, "failures": [
        "no face recognisable in 3 of 8 checked output frames (first: 12)"]})
    recorded = next(w for w in _videos(studio)["gen-5"]["needs_action"] if QA_FAILED in w)
    assert "no face recognisable in 3 of 8 checked output frames" in recorded
