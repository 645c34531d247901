"""Fusion: one-sided features, non-negative weights, calibration, thresholds, decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustavatar.detector import AnalyzerResult, AnalyzerStatus, FusionModel, TrackSummary, Verdict
from trustavatar.detector.fusion import (
    FEATURES,
    TrainingRow,
    decide,
    default_fusion_path,
    feature_vector,
    fit_fusion,
)
from trustavatar.errors import DetectionError

TRACK = TrackSummary(frames=250, frames_with_face=250, seconds=10.0, face_seconds=10.0,
                     segments=1, longest_segment_s=10.0, median_face_height_px=200.0)


def test_the_packaged_model_is_complete_and_one_sided():
    model = FusionModel.load()
    assert default_fusion_path().is_file()
    data = json.loads(default_fusion_path().read_text())
    assert data["format"] == "trustavatar.detector.fusion/1"
    assert model.fitted_on["sources"], "the fusion file says what it was fitted on"
    assert all(f in FEATURES for f in model.features)
    assert all(w >= 0 for w in model.weights)
    assert model.platt[0] > 0
    lo, hi = model.thresholds["likely_authentic"], model.thresholds["likely_manipulated"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    for key in (k for f in model.features for k in FEATURES[f].reference_keys):
        assert model.reference[key]["std"] > 0


def test_features_are_never_negative_and_never_lower_the_probability():
    model = FusionModel.load()
    rng = np.random.default_rng(0)
    figures = {"frequency": {"hf_mouth_cheek": None, "hf_mouth_forehead": None, "seam": None,
                             "colour_step": None},
               "motion": {"mouth_jitter": None, "head_speed": None},
               "sync": {"windows_speech": 4, "sustained_offset": False, "median_peak": None,
                        "follow": None},
               "blink": {"face_seconds": 10.0}}
    base = model.probability(feature_vector(figures, model.reference, model.features))
    for _ in range(50):
        figures["sync"]["median_peak"] = float(rng.uniform(-1, 1))
        figures["sync"]["follow"] = float(rng.uniform(-1, 1))
        for k in figures["frequency"]:
            figures["frequency"][k] = float(rng.normal(0, 2))
        for k in figures["motion"]:
            figures["motion"][k] = float(rng.normal(0, 2))
        feats = feature_vector(figures, model.reference, list(FEATURES))
        assert all(v >= 0 for v in feats.values())
        assert model.probability(feature_vector(figures, model.reference, model.features)) \
            >= base - 1e-12


def test_sync_follow_counts_a_mouth_that_follows_the_speech_too_closely():
    reference = {"sync.follow": {"mean": 0.55, "std": 0.1, "n": 30.0},
                 "sync.median_peak": {"mean": 0.55, "std": 0.1, "n": 30.0}}

    def value(r: float | None, feature: str = "sync.follow") -> float:
        figure = FEATURES[feature].reference_keys[0].split(".", 1)[1]
        return feature_vector({"sync": {"windows_speech": 3, figure: r}},
                              reference, [feature])[feature]

    assert value(0.85) == pytest.approx(3.0)
    assert value(0.40) == 0.0  # following less closely than real footage is no evidence
    assert value(None) == 0.0  # not measured (no speech windows): no evidence
    assert value(0.85, "sync.follow_windows") == pytest.approx(3.0)


def _result(name: str, score: float | None, *, decisive: bool = False, reasons=(),
            status=AnalyzerStatus.OK, figures=None) -> AnalyzerResult:
    return AnalyzerResult(name, "1", status, score, figures or {}, tuple(reasons),
                          decisive=decisive)


def test_decisive_provenance_wins_and_absence_decides_nothing():
    model = FusionModel.load()
    prov = _result("provenance", 1.0, decisive=True, reasons=["the trustavatar watermark is "
                                                               "present"])
    d = decide({"provenance": prov}, TRACK, model)
    assert d.verdict is Verdict.LIKELY_MANIPULATED and d.probability == 1.0
    assert d.decided_by == "provenance" and "watermark" in d.reasons[0]
    nothing = _result("provenance", 0.0, reasons=["no provenance evidence"])
    noface = TrackSummary(50, 0, 2.0, 0.0, 0, 0.0, None)
    d = decide({"provenance": nothing,
                "frequency": _result("frequency", None, status=AnalyzerStatus.NOT_APPLICABLE)},
               noface, model)
    assert d.verdict is Verdict.INCONCLUSIVE and d.probability is None
    assert "no face was found" in d.reasons[0]


def test_little_face_or_an_untrusted_ai_claim_is_never_likely_authentic():
    model = FusionModel.load()
    typical = {k.split(".", 1)[1]: v["mean"] for k, v in model.reference.items()
               if k.startswith("frequency.")}
    quiet = {"frequency": _result("frequency", 0.0, figures=typical)}
    short = TrackSummary(50, 10, 2.0, 0.4, 1, 0.4, 100.0)
    assert decide(quiet, short, model).verdict is not Verdict.LIKELY_AUTHENTIC
    for said in ("a C2PA manifest that is valid-untrusted (signer 'X') declares the video "
                 "AI-generated", "the trustavatar watermark is present (…), claimed, not "
                 "verified"):
        claim = _result("provenance", 0.0, reasons=[said],
                        figures={"unverified_claims": [said]})
        d = decide({**quiet, "provenance": claim}, TRACK, model)
        assert d.verdict is not Verdict.LIKELY_AUTHENTIC
        assert said in d.reasons


def _rows(n: int = 40, seed: int = 0) -> list[TrainingRow]:
    """Synthetic rows: mouth blur separates the classes; forehead blur points the wrong way."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(i % 3 == 0)
        group = f"src{i % 5}"
        rows.append(TrainingRow(
            {"frequency": {"hf_mouth_cheek": float(rng.normal(-1.5 if label else 0.0, 0.6)),
                           "hf_mouth_forehead": float(rng.normal(1.0 if label else 0.0, 0.6))}},
            label, group, "gen" if label else None, f"clip{i}"))
    return rows


def test_fitting_keeps_weights_non_negative_and_false_positives_low():
    rows = _rows()
    model = fit_fusion(rows, features=["frequency.mouth_blur", "frequency.mouth_forehead_blur"])
    weights = dict(zip(model.features, model.weights, strict=True))
    assert weights["frequency.mouth_blur"] > 0
    assert weights["frequency.mouth_forehead_blur"] == 0.0  # pointed the wrong way: dropped
    assert model.metrics["loso_auc"] > 0.8
    assert model.metrics["loso_fpr_at_threshold"] <= 0.05
    assert model.fitted_on["sources"] == [f"src{i}" for i in range(5)]
    again = FusionModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model


def test_bad_fusion_files_are_clear_errors(tmp_path):
    bad = tmp_path / "fusion.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DetectionError, match="not a fusion file"):
        FusionModel.load(bad)
    data = FusionModel.load().to_dict()
    data["features"] = ["nonexistent.feature"]
    data["weights"] = [1.0]
    bad.write_text(json.dumps(data))
    with pytest.raises(DetectionError, match="unknown features"):
        FusionModel.load(bad)
    with pytest.raises(DetectionError, match="cannot read fusion file"):
        FusionModel.load(tmp_path / "missing.json")
    # numbers that would decide every verdict: NaN weights made every video 'manipulated'
    good = FusionModel.load().to_dict()
    for change, says in (({"weights": ["NaN"] * 3}, "weights must be finite"),
                         ({"intercept": "Infinity"}, "intercept must be finite"),
                         ({"thresholds": {"likely_manipulated": 0.1, "likely_authentic": 0.9}},
                          "likely_authentic \\(0.9\\) at most likely_manipulated \\(0.1\\)"),
                         ({"thresholds": {"likely_manipulated": 5, "likely_authentic": -3}},
                          "must be probabilities")):
        bad.write_text(json.dumps(good | change))
        with pytest.raises(DetectionError, match=says):
            FusionModel.load(bad)
    with pytest.raises(DetectionError, match="real and fake"):
        fit_fusion([r for r in _rows() if r.label == 0])
