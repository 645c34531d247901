"""Fusion: analyzer figures → features → one calibrated probability → a verdict.

Features (:data:`FEATURES`) are small named functions of one analyzer's figures and the
real-footage reference statistics stored in the fusion file. Every feature is *one-sided*:
0 means "nothing unusual" (and is also the value when its analyzer does not apply), larger
means more unusual in the direction manipulations go. Weights are constrained to be
non-negative (a feature whose fitted weight comes out negative is dropped and the model
refitted), so no analyzer can argue *for* authenticity: a ``likely-authentic`` verdict only
ever means "nothing unusual was found, with enough face to look at".

The model is a logistic regression on the features; its score is mapped to a probability
by Platt scaling fitted on leave-one-source-out (out-of-fold) scores, with equal prior
odds of real and manipulated. Thresholds are chosen on the same out-of-fold probabilities:
``likely_manipulated`` keeps the false-positive rate ≤ 5 % on the real clips of *every*
source repository (a pooled rate hides sources whose real clips all score high).

Decision, in order:

1. decisive provenance evidence (trusted AI-generation manifest, a watermark the home's
   ledger or the trusted manifest confirms) → ``likely-manipulated`` with probability 1;
2. nothing measurable (no face, no applicable analyzer) → ``inconclusive``, no probability;
3. probability ≥ ``likely_manipulated`` → ``likely-manipulated``;
4. probability ≤ ``likely_authentic`` with enough face (half the frames, 3 s) and no
   unverified provenance claim (an untrusted AI declaration, an unconfirmed watermark) →
   ``likely-authentic``;
5. otherwise ``inconclusive``.

A learned analyzer (the lip-sync ViT) joins by registering a :class:`FeatureDef` for its
output (:func:`register_feature`) and refitting with ``detector/fit_fusion.py``.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "FUSION_FORMAT",
    "PRIOR_WEIGHTS",
    "Decision",
    "FeatureDef",
    "FusionModel",
    "TrainingRow",
    "decide",
    "default_fusion_path",
    "feature_vector",
    "fit_fusion",
    "out_of_fold_scores",
    "reference_from_reals",
    "register_feature",
    "thresholds_for",
]

import datetime as dt
import importlib.resources
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from trustavatar._files import read_input
from trustavatar.detector.analyzers.base import Reference, robust_z
from trustavatar.detector.analyzers.blink import blink_score
from trustavatar.detector.analyzers.frequency import cheek_score
from trustavatar.detector.analyzers.sync import sync_score
from trustavatar.detector.result import (
    DETECTOR_VERSION,
    AnalyzerResult,
    Figures,
    TimelineWindow,
    Verdict,
    WindowScore,
)
from trustavatar.detector.tracking import TrackSummary
from trustavatar.errors import DetectionError, InputError

FUSION_FORMAT: Final = "trustavatar.detector.fusion/1"
_DEFAULT_FILE: Final = "fusion-v1.json"
_MAX_FILE_BYTES: Final = 16 << 20  # the shipped one is ~10 kB


@dataclass(frozen=True)
class FeatureDef:
    """One fusion feature: ``fn(figures, reference) -> float | None`` (None = 0)."""

    name: str
    analyzer: str
    fn: Callable[[Figures, Reference], float | None]
    words: str  #: plain words for a reason: "the mouth is blurrier than the cheeks"
    unit: str = "SD"
    reference_keys: tuple[str, ...] = ()
    windowed: bool = True  #: computable from one window's figures (else the video's value)


def _pos(x: float | None) -> float | None:
    return None if x is None else max(0.0, x)


def _neg(x: float | None) -> float | None:
    return None if x is None else max(0.0, -x)


def _z(key: str, sign: float) -> Callable[[Figures, Reference], float | None]:
    def fn(figures: Figures, reference: Reference) -> float | None:
        z = robust_z(figures.get(key.split(".", 1)[1]), reference.get(key))
        return None if z is None else max(0.0, sign * z)

    return fn


#: Known features, by name. ``FusionModel.features`` says which ones a model uses.
FEATURES: dict[str, FeatureDef] = {}


def register_feature(feature: FeatureDef) -> FeatureDef:
    """Add a feature (e.g. ``lipsync_vit.score``) that a refitted fusion model may use."""
    FEATURES[feature.name] = feature
    return feature


for _f in (
    FeatureDef("frequency.mouth_blur", "frequency",
               lambda f, r: _pos(cheek_score(dict(f), r)),
               "the mouth is blurrier than the cheeks compared with real footage",
               reference_keys=("frequency.hf_mouth_cheek",)),
    FeatureDef("frequency.mouth_sharp", "frequency",
               lambda f, r: _neg(cheek_score(dict(f), r)),
               "the mouth is sharper than the cheeks compared with real footage",
               reference_keys=("frequency.hf_mouth_cheek",)),
    FeatureDef("frequency.mouth_forehead_blur", "frequency", _z("frequency.hf_mouth_forehead", -1),
               "the mouth is blurrier than the forehead compared with real footage",
               reference_keys=("frequency.hf_mouth_forehead",)),
    FeatureDef("frequency.mouth_forehead_sharp", "frequency",
               _z("frequency.hf_mouth_forehead", +1),
               "the mouth is sharper than the forehead compared with real footage",
               reference_keys=("frequency.hf_mouth_forehead",)),
    FeatureDef("frequency.colour_smooth", "frequency", _z("frequency.colour_step", -1),
               "unusually even colour around the mouth",
               reference_keys=("frequency.colour_step",)),
    FeatureDef("frequency.seam", "frequency", _z("frequency.seam", +1),
               "an unusually sharp edge ring around the mouth (a pasted region's border)",
               reference_keys=("frequency.seam",)),
    FeatureDef("frequency.colour_step", "frequency", _z("frequency.colour_step", +1),
               "an unusual colour step around the mouth",
               reference_keys=("frequency.colour_step",)),
    FeatureDef("motion.mouth_jitter", "motion", _z("motion.mouth_jitter", +1),
               "the lips tremble more than the brows compared with real footage",
               reference_keys=("motion.mouth_jitter",)),
    FeatureDef("motion.mouth_smooth", "motion", _z("motion.mouth_jitter", -1),
               "the lips move more smoothly than the brows compared with real footage",
               reference_keys=("motion.mouth_jitter",)),
    FeatureDef("motion.head_moving", "motion", _z("motion.head_speed", +1),
               "the head moves more than in real footage",
               reference_keys=("motion.head_speed",)),
    FeatureDef("motion.head_still", "motion", _z("motion.head_speed", -1),
               "the head moves less than in real footage",
               reference_keys=("motion.head_speed",)),
    FeatureDef("lipsync.score", "lipsync", _z("lipsync.mean_logit", +1),
               "the lip-sync model finds the mouth pasted or synthesised, more than on real "
               "footage", reference_keys=("lipsync.mean_logit",)),
    FeatureDef("sync.offset", "sync",
               lambda f, r: (sync_score(dict(f), r) if "windows_speech" in f
                             else f.get("offset_evidence")),
               "a sustained audio-visual offset", unit="frames beyond 1"),
    FeatureDef("sync.follow", "sync", _z("sync.follow", +1),
               "the mouth follows the speech more closely than in real footage (as "
               "audio-driven generators draw it)", reference_keys=("sync.follow",)),
    FeatureDef("sync.follow_windows", "sync", _z("sync.median_peak", +1),
               "the mouth follows the speech, window by window, more closely than in real "
               "footage", reference_keys=("sync.median_peak",)),
    FeatureDef("blink.abnormal", "blink", lambda f, r: blink_score(dict(f), r),
               "blinking outside human norms", unit="doublings", windowed=False),
):
    register_feature(_f)

#: The shipped model's features (chosen by leave-one-source-out tests, detector/README.md).
DEFAULT_FEATURES: Final = ("frequency.mouth_forehead_blur", "sync.offset", "blink.abnormal")
#: Weights set by hand, in calibrated log-odds per unit, for features the dev media cannot
#: fit (no clip there has 60 s of face; one real clip and no fake has a sustained offset). A 3-frame
#: sustained offset (feature 2) adds 3 log-odds; blinking twice outside the norms adds 1.5.
PRIOR_WEIGHTS: Final = {"sync.offset": 1.5, "blink.abnormal": 1.5}
#: A feature with a prior is fitted only if it is non-zero on this many clips of each class.
MIN_ACTIVE: Final = 5


def feature_vector(figures: Mapping[str, Figures], reference: Reference,
                   features: Sequence[str]) -> dict[str, float]:
    """Feature values from per-analyzer figures (missing analyzer or figure → 0)."""
    out: dict[str, float] = {}
    for name in features:
        fdef = FEATURES.get(name)
        if fdef is None:
            raise DetectionError(f"unknown fusion feature '{name}'")
        figs = figures.get(fdef.analyzer)
        value = fdef.fn(figs, reference) if figs is not None else None
        out[name] = float(value) if value is not None and math.isfinite(value) else 0.0
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass(frozen=True)
class FusionModel:
    """A fitted fusion (see the module docstring); load with :meth:`load`."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    platt: tuple[float, float]  #: p = sigmoid(a * score + b)
    thresholds: Mapping[str, float]
    reference: Reference
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    version: str = "1"
    created: str = ""
    detector_version: str = DETECTOR_VERSION

    def __post_init__(self) -> None:
        if len(self.features) != len(self.weights):
            raise DetectionError(f"fusion model has {len(self.features)} features but "
                                 f"{len(self.weights)} weights")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise DetectionError(f"fusion model uses unknown features {unknown}")
        for k in ("likely_manipulated", "likely_authentic"):
            if k not in self.thresholds:
                raise DetectionError(f"fusion model lacks the '{k}' threshold")
        numbers = {"weights": self.weights, "intercept": (self.intercept,),
                   "platt": self.platt, "thresholds": tuple(self.thresholds.values()),
                   "reference": tuple(v for r in self.reference.values() for v in r.values())}
        for what, values in numbers.items():  # a NaN weight made every video 'manipulated'
            if not all(math.isfinite(v) for v in values):
                raise DetectionError(f"fusion model's {what} must be finite numbers")
        hi, lo = self.thresholds["likely_manipulated"], self.thresholds["likely_authentic"]
        if not 0.0 <= lo <= hi <= 1.0:
            raise DetectionError(
                f"fusion model's thresholds must be probabilities with likely_authentic "
                f"({lo:g}) at most likely_manipulated ({hi:g})")

    # -- scoring -------------------------------------------------------------------------
    def score(self, features: Mapping[str, float]) -> float:
        """The logistic-regression score (log-odds before calibration)."""
        return self.intercept + sum(w * features.get(f, 0.0)
                                    for f, w in zip(self.features, self.weights, strict=True))

    def probability(self, features: Mapping[str, float]) -> float:
        a, b = self.platt
        return _sigmoid(a * self.score(features) + b)

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the calibrated log-odds (``a * w * x``)."""
        a = self.platt[0]
        return {f: a * w * features.get(f, 0.0)
                for f, w in zip(self.features, self.weights, strict=True)}

    # -- files ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FUSION_FORMAT, "version": self.version, "created": self.created,
            "detector_version": self.detector_version,
            "features": list(self.features), "weights": list(self.weights),
            "intercept": self.intercept, "platt": {"a": self.platt[0], "b": self.platt[1]},
            "thresholds": dict(self.thresholds),
            "reference": {k: dict(v) for k, v in self.reference.items()},
            "fitted_on": dict(self.fitted_on), "metrics": dict(self.metrics),
        }

    def summary(self) -> dict[str, Any]:
        """What a scan result records about the model that judged it."""
        return {"version": self.version, "created": self.created,
                "features": list(self.features),
                "sources": list(self.fitted_on.get("sources", [])),
                "metrics": dict(self.metrics)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionModel:
        if data.get("format") != FUSION_FORMAT:
            raise DetectionError(f"not a fusion file (format {data.get('format')!r}, expected "
                                 f"{FUSION_FORMAT!r})")
        try:
            return cls(
                features=tuple(data["features"]), weights=tuple(float(w) for w in data["weights"]),
                intercept=float(data["intercept"]),
                platt=(float(data["platt"]["a"]), float(data["platt"]["b"])),
                thresholds={k: float(v) for k, v in data["thresholds"].items()},
                reference={k: {kk: float(vv) for kk, vv in v.items()}
                           for k, v in data["reference"].items()},
                fitted_on=data.get("fitted_on", {}), metrics=data.get("metrics", {}),
                version=str(data.get("version", "1")), created=str(data.get("created", "")),
                detector_version=str(data.get("detector_version", DETECTOR_VERSION)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DetectionError(f"malformed fusion file: {e}") from e

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> FusionModel:
        """The packaged model (``path=None``) or one from a JSON file."""
        try:
            if path is None:
                text = default_fusion_path().read_text(encoding="utf-8")
            else:
                text = read_input(path, max_bytes=_MAX_FILE_BYTES,
                                  what="fusion file").decode("utf-8")
            data = json.loads(text)
        except InputError as e:
            raise DetectionError(e.message) from e
        except OSError as e:
            raise DetectionError(f"cannot read fusion file {path or _DEFAULT_FILE}: "
                                 f"{e.strerror or e}") from e
        except ValueError as e:
            raise DetectionError(f"fusion file {path or _DEFAULT_FILE} is not JSON: {e}") from e
        except RecursionError as e:
            raise DetectionError(f"fusion file {path or _DEFAULT_FILE} is nested too "
                                 "deeply") from e
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n",
                     encoding="utf-8")
        return p


def default_fusion_path() -> Path:
    """Where the packaged fusion file lives (``trustavatar/data/detector/``)."""
    ref = importlib.resources.files("trustavatar") / "data" / "detector" / _DEFAULT_FILE
    return Path(str(ref))


# -- the decision --------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    probability: float | None
    decided_by: str
    reasons: tuple[str, ...]
    features: Mapping[str, float]
    contributions: Mapping[str, float]
    timeline: tuple[TimelineWindow, ...]


def _fmt(fdef: FeatureDef, value: float) -> str:
    return f"{fdef.words} ({value:.1f} {fdef.unit})"


def decide(results: Mapping[str, AnalyzerResult], track: TrackSummary, model: FusionModel,
           *, window: float = 2.0, coverage: Mapping[int, Sequence[int]] | None = None
           ) -> Decision:
    """Fuse analyzer results into a verdict (the numbered steps of the module docstring).

    ``coverage`` maps a window index to (frames, frames with a face), for the timeline.
    """
    figures = {name: {**r.figures} for name, r in results.items()
               if r.status.value in ("ok", "insufficient-footage")}
    features = feature_vector(figures, model.reference, model.features)
    contributions = model.contributions(features)
    timeline = _timeline(results, model, features, window, coverage or {})
    prov = results.get("provenance")
    # 1. decisive provenance evidence
    if prov is not None and prov.decisive:
        reasons = [*prov.reasons[:2]]
        return Decision(Verdict.LIKELY_MANIPULATED, 1.0, "provenance", tuple(reasons),
                        features, contributions, timeline)
    # claims: an untrusted manifest's AI declaration, a watermark nothing confirms
    claims = [str(r) for r in (prov.figures.get("unverified_claims") or ()
                               if prov is not None else ())]
    # 2. anything measured at all?
    measured = [r for n, r in results.items() if n != "provenance" and r.applicable]
    if not measured:
        why = ("no face was found in any frame" if track.frames_with_face == 0
               else "no analyzer could measure this video")
        reasons = [f"inconclusive: {why}; the face analyzers could not run", *claims]
        return Decision(Verdict.INCONCLUSIVE, None, "none", tuple(reasons), features,
                        contributions, timeline)
    # 3–5. the fused probability against the thresholds
    p = model.probability(features)
    t_hi = model.thresholds["likely_manipulated"]
    t_lo = model.thresholds["likely_authentic"]
    findings = [_fmt(FEATURES[f], features[f]) for f, c in
                sorted(contributions.items(), key=lambda kv: -kv[1]) if c > 0.05]
    enough_face = track.face_fraction >= 0.5 and track.face_seconds >= 3.0
    if p >= t_hi:
        verdict = Verdict.LIKELY_MANIPULATED
        head = f"likely manipulated (p = {p:.2f} ≥ {t_hi:.2f})"
    elif p <= t_lo and enough_face and not claims:
        verdict = Verdict.LIKELY_AUTHENTIC
        head = (f"likely authentic (p = {p:.2f} ≤ {t_lo:.2f}): no analyzer found anything "
                "unusual")
    else:
        verdict = Verdict.INCONCLUSIVE
        head = f"inconclusive (p = {p:.2f}; thresholds {t_lo:.2f} / {t_hi:.2f})"
        if not findings and not claims:
            head = (f"inconclusive (p = {p:.2f}): no analyzer found anything unusual, which "
                    "these analyzers cannot turn into evidence of authenticity")
        if p <= t_lo and not enough_face:
            head += (f"; too little face to call it authentic ({track.face_seconds:.1f} s, "
                     f"{track.face_fraction:.0%} of frames)")
    reasons = [head, *(f"evidence: {f}" for f in findings), *claims]
    for name, r in results.items():
        if name != "provenance" and not r.applicable and r.reasons:
            reasons.append(f"{name}: {r.reasons[0]}")
    return Decision(verdict, p, "fusion", tuple(reasons), features, contributions, timeline)


def _timeline(results: Mapping[str, AnalyzerResult], model: FusionModel,
              video_features: Mapping[str, float], window: float,
              coverage: Mapping[int, Sequence[int]]) -> tuple[TimelineWindow, ...]:
    """Per window: each analyzer's window score and the model on the window's features
    (window figures where the analyzer has them, the video's value otherwise)."""
    by_index: dict[int, dict[str, WindowScore]] = {}
    for name, r in results.items():
        for w in r.timeline:
            by_index.setdefault(round(w.start / window), {})[name] = w
    out = []
    for key in sorted(set(by_index) | set(coverage)):
        ws = by_index.get(key, {})
        frames, faces = (*coverage.get(key, (0, 0)), 0, 0)[:2]
        feats = dict(video_features)
        for f in model.features:
            fdef = FEATURES[f]
            win = ws.get(fdef.analyzer)
            if win is not None and fdef.windowed and win.figures:
                value = fdef.fn({**win.figures}, model.reference)
                feats[f] = float(value) if value is not None and math.isfinite(value) else 0.0
        out.append(TimelineWindow(
            key * window, (key + 1) * window,
            face_fraction=faces / frames if frames else 0.0,
            probability=model.probability(feats) if faces else None,
            scores={n: w.score for n, w in ws.items()}))
    return tuple(out)


# -- fitting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRow:
    """One labelled video for fitting: per-analyzer figures, label (1 = fake), group
    (source repository: the unit of leave-one-source-out), generator (None for real)."""

    figures: Mapping[str, Figures]
    label: int
    group: str
    generator: str | None = None
    name: str = ""


def reference_from_reals(rows: Sequence[TrainingRow], features: Sequence[str]
                         ) -> dict[str, dict[str, float]]:
    """Robust mean (median) and std (1.4826 × MAD) of each referenced figure on reals."""
    keys = sorted({k for f in features for k in FEATURES[f].reference_keys})
    ref: dict[str, dict[str, float]] = {}
    for key in keys:
        analyzer, fig = key.split(".", 1)
        vals = np.array([r.figures.get(analyzer, {}).get(fig) for r in rows
                         if r.label == 0 and r.figures.get(analyzer, {}).get(fig) is not None],
                        float)
        if vals.size < 3:
            continue
        med = float(np.median(vals))
        mad = float(np.median(np.abs(vals - med))) * 1.4826
        ref[key] = {"mean": med, "std": max(mad, 1e-6), "n": float(vals.size)}
    return ref


def _fit_lr(x: np.ndarray, y: np.ndarray, names: Sequence[str], c: float
            ) -> tuple[dict[str, float], float]:
    """Logistic regression with non-negative weights (drop a negative one, refit)."""
    from sklearn.linear_model import LogisticRegression

    active = [i for i in range(x.shape[1]) if np.ptp(x[:, i]) > 0]
    while True:
        if not active:
            return dict.fromkeys(names, 0.0), 0.0
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        lr.fit(x[:, active], y)
        coef = lr.coef_[0]
        if (coef >= 0).all():
            weights = dict.fromkeys(names, 0.0)
            for i, w in zip(active, coef, strict=True):
                weights[names[i]] = float(w)
            return weights, float(lr.intercept_[0])
        active.pop(int(np.argmin(coef)))


def _fit_core(rows: Sequence[TrainingRow], features: Sequence[str], c: float
              ) -> tuple[dict[str, dict[str, float]], dict[str, float], float]:
    reference = reference_from_reals(rows, features)
    x = np.array([[feature_vector(r.figures, reference, features)[f] for f in features]
                  for r in rows])
    y = np.array([r.label for r in rows])
    weights, intercept = _fit_lr(x, y, features, c)
    return reference, weights, intercept


def _core_score(rows: Sequence[TrainingRow], reference: Reference, weights: Mapping[str, float],
                intercept: float, features: Sequence[str]) -> np.ndarray:
    return np.array([intercept + sum(weights[f] * v for f, v in
                                     feature_vector(r.figures, reference, features).items())
                     for r in rows])


def out_of_fold_scores(rows: Sequence[TrainingRow], features: Sequence[str], *, c: float = 1.0
                       ) -> np.ndarray:
    """Leave-one-group-out scores: each row scored by a model fitted without its group."""
    groups = sorted({r.group for r in rows})
    scores = np.full(len(rows), np.nan)
    for g in groups:
        train = [r for r in rows if r.group != g]
        test_idx = [i for i, r in enumerate(rows) if r.group == g]
        if len({r.label for r in train}) < 2:
            continue
        ref, w, b = _fit_core(train, features, c)
        scores[test_idx] = _core_score([rows[i] for i in test_idx], ref, w, b, features)
    return scores


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    ok = ~np.isnan(scores)
    if len(set(y[ok].tolist())) < 2 or np.ptp(scores[ok]) == 0:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000)
    lr.fit(scores[ok, None], y[ok])
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fpr_threshold(p: np.ndarray, max_fpr: float) -> float:
    r = np.sort(p[~np.isnan(p)])[::-1]
    k = math.floor(max_fpr * r.size)
    return float(r[k]) + 1e-6 if r.size > k else 0.0


def thresholds_for(p_real: np.ndarray, p_fake: np.ndarray, *, max_fpr: float = 0.05,
                   max_fnr: float = 0.05, real_groups: Sequence[str] | None = None
                   ) -> dict[str, float]:
    """``likely_manipulated``: false-positive rate ≤ ``max_fpr`` on the reals *of every
    source* in ``real_groups`` (with fewer than 1/``max_fpr`` clips a source allows none),
    and overall; never below 0.5. ``likely_authentic``: at most ``max_fnr`` of fakes at or
    below it, never above 0.5.

    Per source, because a pooled rate hides sources whose real clips all score high: on
    the dev media a pooled 5 % became 53 % on one unseen source (``detector/README.md``).
    """
    hi = _fpr_threshold(p_real, max_fpr)
    if real_groups is not None:
        groups = np.asarray(real_groups)
        for g in set(groups.tolist()):
            hi = max(hi, _fpr_threshold(p_real[groups == g], max_fpr))
    f = np.sort(p_fake[~np.isnan(p_fake)])
    k2 = math.floor(max_fnr * f.size)
    lo = float(f[k2]) - 1e-6 if f.size > k2 else 0.0
    return {"likely_manipulated": min(1.0, max(0.5, hi)),
            "likely_authentic": max(0.0, min(0.5, lo))}


def fit_fusion(rows: Sequence[TrainingRow], *, features: Sequence[str] = DEFAULT_FEATURES,
               c: float = 1.0, max_fpr: float = 0.05, notes: str = "",
               prior_weights: Mapping[str, float] = PRIOR_WEIGHTS) -> FusionModel:
    """Fit the shipped kind of model: reference, constrained LR on all rows, Platt and
    thresholds on leave-one-source-out scores.

    A feature with a ``prior_weights`` entry that is non-zero on fewer than
    :data:`MIN_ACTIVE` clips of either class (the data cannot say much about it) gets that
    weight, in calibrated log-odds per unit, instead of a fitted one; the file records
    which weights were fitted and which were set by hand."""
    if len({r.label for r in rows}) < 2:
        raise DetectionError("fitting needs real and fake examples")
    features = tuple(features)
    y = np.array([r.label for r in rows])
    oof = out_of_fold_scores(rows, features, c=c)
    a, b = _platt(oof, y)
    p = 1.0 / (1.0 + np.exp(-(a * oof + b)))
    groups = np.array([r.group for r in rows])
    reference, weights, intercept = _fit_core(rows, features, c)
    x = np.array([[feature_vector(r.figures, reference, features)[f] for f in features]
                  for r in rows])
    source = {}
    for j, f in enumerate(features):
        source[f] = "fitted"
        active = [int(np.sum((x[:, j] > 0) & (y == label))) for label in (0, 1)]
        if min(active) < MIN_ACTIVE and f in prior_weights and a > 0:
            weights[f] = float(prior_weights[f]) / a
            source[f] = (f"prior ({prior_weights[f]:g} log-odds per unit; non-zero on only "
                         f"{active[0]} real and {active[1]} fake clips)")
    # Thresholds: the more conservative of the choice on out-of-fold probabilities and the
    # choice on the final model's own probabilities (fold models differ in intercept and
    # calibration; a clip with nothing unusual must not pass as authentic because of that).
    final = np.array([a * (intercept + sum(weights[f] * v for f, v in zip(
        features, row, strict=True))) + b for row in x])
    p_final = 1.0 / (1.0 + np.exp(-final))
    t_oof = thresholds_for(p[y == 0], p[y == 1], max_fpr=max_fpr, real_groups=groups[y == 0])
    t_fin = thresholds_for(p_final[y == 0], p_final[y == 1], max_fpr=max_fpr,
                           real_groups=groups[y == 0])
    thresholds = {
        "likely_manipulated": max(t_oof["likely_manipulated"], t_fin["likely_manipulated"]),
        "likely_authentic": min(t_oof["likely_authentic"], t_fin["likely_authentic"]),
    }
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(oof)
    t_hi = thresholds["likely_manipulated"]
    metrics = {
        "loso_auc": float(roc_auc_score(y[ok], oof[ok])) if len(set(y[ok])) == 2 else None,
        "loso_fpr_at_threshold": float(np.mean(p[(y == 0) & ok] >= t_hi)),
        "loso_tpr_at_threshold": float(np.mean(p[(y == 1) & ok] >= t_hi)),
    }
    return FusionModel(
        features=features, weights=tuple(weights[f] for f in features), intercept=intercept,
        platt=(a, b), thresholds=thresholds, reference=reference,
        fitted_on={
            "sources": sorted({r.group for r in rows}),
            "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
            "generators": sorted({r.generator for r in rows if r.generator}),
            "calibration": "Platt scaling on leave-one-source-out scores, equal prior odds",
            "weights": source,
            "notes": notes,
        },
        metrics=metrics, created=dt.date.today().isoformat(),
    )
