"""Evaluate the detector on shared/media, leave-one-source-repository-out (LOSO).

    python detector/eval.py [--limit N] [--variants original,crf40,trim] [--workers 1]
                            [--features a,b,...] [--out detector/results]

For every source repository g: the fusion (reference statistics, constrained logistic
regression, Platt scaling and thresholds, themselves from an inner LOSO) is fitted on the
*original* clips of every other repository, then scores g's clips — original, re-encoded
at CRF 40, and with the first 0.5 s trimmed. Reals and fakes from g are never seen in
training, so neither its generator (when g holds fakes) nor its recording source is.

Reported (pooled out-of-fold): AUC, TPR at 1 % and 5 % FPR, the FPR and TPR at each fold's
own shipped-style threshold, per generator; the same for the variants; the mean change of
probability from trimming; single-feature AUCs; and, as a check on the source-confound
trap, a metadata-only model (width, height, fps, duration) and the fused detector under
5-fold-by-video CV vs LOSO. Scans are cached under /tmp (``--work``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_MEDIA,
    DEFAULT_WORK,
    LIPSYNC_CV,
    ROOT,
    VARIANTS,
    Clip,
    figures_of,
    generator_name,
    load_clips,
    scan_all,
)

from trustavatar.detector.fusion import (
    DEFAULT_FEATURES,
    FEATURES,
    TrainingRow,
    feature_vector,
    fit_fusion,
)

#: Which lip-sync ViT scored the clips: the figures of the `lipsync` analyzer are honest
#: only with the cross-fitted fold models (a shipped model saw every real clip here).
LIPSYNC_NOTE = (f"cross-fitted fold models from {LIPSYNC_CV} (each clip scored by a model "
                "that never saw its source)" if LIPSYNC_CV else
                "the shipped model, trained on every real clip here: lipsync.* figures are "
                "in-sample for the real clips and optimistic (set TRUSTAVATAR_LIPSYNC_CV for "
                "cross-fitted ones)")

OPENNESS_NOTE = ("the packaged table for every clip, except the fakes of the repositories "
                 "it was fitted on, each scanned with a table refitted without its repository "
                 "(same ridge and blend)")

#: Feature sets compared (leave-one-source-out) in the report.
FEATURE_SETS = {
    "shipped": list(DEFAULT_FEATURES),
    "shipped + sync.follow": list(dict.fromkeys([*DEFAULT_FEATURES, "sync.follow"])),
    "shipped + sync.follow_windows": list(dict.fromkeys([*DEFAULT_FEATURES,
                                                         "sync.follow_windows"])),
    "mouth vs cheeks (blur + sharp)": ["frequency.mouth_blur", "frequency.mouth_sharp"],
    "all frequency": [f for f in FEATURES if f.startswith("frequency.")],
    "all motion": [f for f in FEATURES if f.startswith("motion.")],
    "everything": list(FEATURES),
}


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float) -> float | None:
    real, fake = np.sort(s[y == 0])[::-1], s[y == 1]
    if not real.size or not fake.size:
        return None
    k = math.floor(fpr * real.size)
    thr = real[k] if k < real.size else -np.inf
    return float(np.mean(fake > thr))


def auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(s)
    if len(set(y[ok].tolist())) < 2:
        return None
    return float(roc_auc_score(y[ok], s[ok]))


def metrics(y: np.ndarray, p: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    ok = ~np.isnan(p)
    y, p, flagged = y[ok], p[ok], flagged[ok]
    return {
        "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
        "auc": auc(y, p), "tpr_at_1fpr": tpr_at_fpr(y, p, 0.01),
        "tpr_at_5fpr": tpr_at_fpr(y, p, 0.05),
        "fpr_at_threshold": float(flagged[y == 0].mean()) if (y == 0).any() else None,
        "tpr_at_threshold": float(flagged[y == 1].mean()) if (y == 1).any() else None,
    }


def rows_for(clips: Sequence[Clip], results: dict[tuple[str, str], dict[str, Any]],
             variant: str) -> list[TrainingRow | None]:
    out: list[TrainingRow | None] = []
    for c in clips:
        r = results.get((variant, c.file), {})
        if "error" in r or not r:
            out.append(None)
            continue
        out.append(TrainingRow(figures_of(r), c.label, c.group, c.generator, c.file))
    return out


def loso(clips: Sequence[Clip], results: dict[tuple[str, str], dict[str, Any]],
         variants: Sequence[str], features: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """{variant: {"p": probs, "flag": flagged}} out of fold, by source repository."""
    base = rows_for(clips, results, "original")
    per_variant = {v: rows_for(clips, results, v) for v in variants}
    out = {v: {"p": np.full(len(clips), np.nan), "flag": np.zeros(len(clips), bool)}
           for v in variants}
    for g in sorted({c.group for c in clips}):
        train = [r for r, c in zip(base, clips, strict=True) if r is not None and c.group != g]
        if len({r.label for r in train}) < 2:
            continue
        model = fit_fusion(train, features=features)
        for v in variants:
            for i, c in enumerate(clips):
                row = per_variant[v][i]
                if c.group != g or row is None:
                    continue
                p = model.probability(feature_vector(row.figures, model.reference, model.features))
                out[v]["p"][i] = p
                out[v]["flag"][i] = p >= model.thresholds["likely_manipulated"]
    return out


def paired_folds(clips: Sequence[Clip]) -> list[list[str]]:
    """Folds of whole source repositories, each with both classes: one repository holding
    fakes plus real-only repositories dealt out greedily (largest first) to the fold with
    the fewest reals, so every fold has its own AUC from one model."""
    groups = sorted({c.group for c in clips})
    with_fakes = [g for g in groups if any(c.group == g and c.label for c in clips)]
    real_only = sorted((g for g in groups if g not in with_fakes),
                       key=lambda g: -sum(c.group == g for c in clips))
    folds = [[g] for g in with_fakes]
    reals = [sum(c.group == g and not c.label for c in clips) for g in with_fakes]
    for g in real_only:
        i = int(np.argmin(reals))
        folds[i].append(g)
        reals[i] += sum(c.group == g for c in clips)
    return folds


def paired_fold_aucs(clips: Sequence[Clip], results: dict[tuple[str, str], dict[str, Any]],
                     features: Sequence[str]) -> list[dict[str, Any]]:
    """Per-fold AUC over :func:`paired_folds` (scores within a fold come from one model, so
    they are comparable; pooled LOSO scores come from one model per repository)."""
    rows = rows_for(clips, results, "original")
    out = []
    for fold in paired_folds(clips):
        train = [r for r, c in zip(rows, clips, strict=True)
                 if r is not None and c.group not in fold]
        test = [(r, c) for r, c in zip(rows, clips, strict=True)
                if r is not None and c.group in fold]
        model = fit_fusion(train, features=features)
        p = np.array([model.probability(feature_vector(r.figures, model.reference,
                                                       model.features)) for r, _ in test])
        y = np.array([c.label for _, c in test])
        flag = p >= model.thresholds["likely_manipulated"]
        out.append({"fold": fold, "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
                    "auc": auc(y, p), "fpr_at_threshold": float(flag[y == 0].mean()),
                    "tpr_at_threshold": float(flag[y == 1].mean())})
    return out


def kfold_by_video(clips: Sequence[Clip], rows: Sequence[TrainingRow | None],
                   features: Sequence[str], seed: int = 0) -> float | None:
    from sklearn.model_selection import StratifiedKFold

    idx = [i for i, r in enumerate(rows) if r is not None]
    y = np.array([clips[i].label for i in idx])
    p = np.full(len(idx), np.nan)
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(idx, y):
        train = [rows[idx[i]] for i in tr]
        # groups = videos: the inner calibration is by video too
        train = [TrainingRow(r.figures, r.label, r.name, r.generator, r.name)
                 for r in train if r is not None]
        model = fit_fusion(train, features=features)
        for i in te:
            r = rows[idx[i]]
            assert r is not None
            p[i] = model.probability(feature_vector(r.figures, model.reference, model.features))
    return auc(y, p)


def metadata_baseline(clips: Sequence[Clip]) -> dict[str, float | None]:
    """Width, height, fps, duration only: how far 'recognising the source' gets."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.array([[c.width, c.height, c.fps, c.duration] for c in clips], float)
    y = np.array([c.label for c in clips])
    groups = np.array([c.group for c in clips])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    kf = cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                           method="predict_proba")[:, 1]
    lo = np.full(len(clips), np.nan)
    for tr, te in LeaveOneGroupOut().split(x, y, groups):
        if len(set(y[tr])) < 2:
            continue
        lo[te] = model.fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    return {"auc_5fold_by_video": auc(y, kf), "auc_loso": auc(y, lo)}


def single_feature_aucs(clips: Sequence[Clip], rows: Sequence[TrainingRow | None]
                        ) -> dict[str, dict[str, float | None]]:
    """Pooled AUC of each raw figure (no fitting; > 0.5 = higher in fakes), and its
    LOSO-fitted fusion AUC when used alone."""
    out: dict[str, dict[str, float | None]] = {}
    y = np.array([c.label for c in clips])
    raw_keys = ["frequency." + k for k in ("hf_mouth_cheek", "hf_mouth_forehead",
                                            "slope_mouth_cheek", "seam", "colour_step",
                                            "hf_mouth")]
    raw_keys += ["sync.mean_confidence", "sync.median_offset", "blink.rate_per_min"]
    for key in raw_keys:
        a, f = key.split(".", 1)
        s = np.array([np.nan if r is None or r.figures.get(a, {}).get(f) is None
                      else float(r.figures[a][f]) for r in rows])
        ok = ~np.isnan(s)
        out[key] = {"raw_auc": auc(y[ok], s[ok]) if ok.sum() > 4 else None,
                    "n": int(ok.sum())}
    return out


def per_group_table(clips: Sequence[Clip], p: np.ndarray, flag: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for g in sorted({c.group for c in clips}):
        for lab in (0, 1):
            sel = np.array([c.group == g and c.label == lab for c in clips]) & ~np.isnan(p)
            if sel.any():
                rows.append({"source": g, "label": "fake" if lab else "real", "n": int(sel.sum()),
                             "mean_p": float(p[sel].mean()), "flagged": float(flag[sel].mean())})
    return rows


def fmt(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * x:.0f}%" if pct else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--limit", type=int, default=None,
                    help="at most N clips per source repository and label")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--features", default=",".join(DEFAULT_FEATURES))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "detector" / "results")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if "original" not in variants:
        variants.insert(0, "original")
    features = [f for f in args.features.split(",") if f]
    clips = load_clips(args.media, limit=args.limit)
    print(f"{len(clips)} clips ({sum(c.label for c in clips)} fake) from "
          f"{len({c.group for c in clips})} source repositories", file=sys.stderr)
    results = scan_all(clips, variants, args.media, args.work, workers=args.workers)
    failed = {k: v["error"] for k, v in results.items() if "error" in v}
    y = np.array([c.label for c in clips])
    gens = np.array([generator_name(c) for c in clips])
    report: dict[str, Any] = {"clips": len(clips), "features": features, "failed": failed,
                              "lipsync_model": LIPSYNC_NOTE,
                              "openness_table": OPENNESS_NOTE,
                              "variants": {}, "per_generator": {}}
    oof = loso(clips, results, variants, features)
    for v in variants:
        report["variants"][v] = metrics(y, oof[v]["p"], oof[v]["flag"])
        per_gen = {}
        for g in sorted(set(gens) - {"real"}):
            sel = (gens == g) | (y == 0)
            per_gen[g] = metrics(y[sel], oof[v]["p"][sel], oof[v]["flag"][sel])
        report["per_generator"][v] = per_gen
    if "trim" in variants:
        d = oof["trim"]["p"] - oof["original"]["p"]
        report["trim_mean_abs_change"] = float(np.nanmean(np.abs(d)))
        report["trim_max_abs_change"] = float(np.nanmax(np.abs(d)))
    rows = rows_for(clips, results, "original")
    report["per_source"] = per_group_table(clips, oof["original"]["p"], oof["original"]["flag"])
    report["single_features"] = single_feature_aucs(clips, rows)
    report["feature_sets_loso_auc"] = {}
    for name in [*features, *[f for f in FEATURES if f not in features]]:
        o = loso(clips, results, ["original"], [name])
        folds = paired_fold_aucs(clips, results, [name])
        report["feature_sets_loso_auc"][name] = {
            "loso_auc": auc(y, o["original"]["p"]),
            "paired_fold_mean_auc": float(np.mean([f["auc"] for f in folds]))}
    report["paired_folds"] = paired_fold_aucs(clips, results, features)
    report["feature_set_comparison"] = {}
    for label, fs in FEATURE_SETS.items():
        o = loso(clips, results, ["original"], fs)["original"]
        m = metrics(y, o["p"], o["flag"])
        folds = paired_fold_aucs(clips, results, fs)
        m["paired_fold_mean_auc"] = float(np.mean([f["auc"] for f in folds]))
        m["per_generator_auc"] = {g: auc(y[(gens == g) | (y == 0)], o["p"][(gens == g) | (y == 0)])
                                  for g in sorted(set(gens) - {"real"})}
        report["feature_set_comparison"][label] = m
    report["fused_auc_5fold_by_video"] = kfold_by_video(clips, rows, features)
    report["metadata_baseline"] = metadata_baseline(clips)
    report["analyzer_status"] = _status_counts(results, clips)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(report, indent=1) + "\n")
    md = render(report, variants, args.limit)
    (args.out / "eval.md").write_text(md)
    print(md)
    return 0


def _status_counts(results: dict[tuple[str, str], dict[str, Any]], clips: Sequence[Clip]
                   ) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in clips:
        r = results.get(("original", c.file), {})
        for name, a in r.get("analyzers", {}).items():
            out.setdefault(name, {})
            out[name][a["status"]] = out[name].get(a["status"], 0) + 1
    return out


def render(r: dict[str, Any], variants: Sequence[str], limit: int | None) -> str:
    lines = ["# Detector evaluation (leave-one-source-repository-out)", "",
             f"Clips: {r['clips']}" + (f" (at most {limit} per source and label)" if limit
                                      else " (all real and fake videos of shared/media)"),
             f"Fusion features: {', '.join(r['features'])}",
             f"Lip-sync ViT: {r.get('lipsync_model', LIPSYNC_NOTE)}",
             f"Sync analyzer's openness table: {r.get('openness_table', OPENNESS_NOTE)}", "",
             "| variant | real | fake | AUC | TPR@1%FPR | TPR@5%FPR | FPR at threshold | "
             "TPR at threshold |", "|---|---|---|---|---|---|---|---|"]
    for v in variants:
        m = r["variants"][v]
        lines.append(f"| {v} | {m['n_real']} | {m['n_fake']} | {fmt(m['auc'])} | "
                     f"{fmt(m['tpr_at_1fpr'], True)} | {fmt(m['tpr_at_5fpr'], True)} | "
                     f"{fmt(m['fpr_at_threshold'], True)} | {fmt(m['tpr_at_threshold'], True)} |")
    lines += ["", "Per generator (its fakes against every real clip, out of fold):", "",
              "| variant | generator | fake | AUC | TPR@5%FPR | TPR at threshold |",
              "|---|---|---|---|---|---|"]
    for v in variants:
        for g, m in r["per_generator"][v].items():
            lines.append(f"| {v} | {g} | {m['n_fake']} | {fmt(m['auc'])} | "
                         f"{fmt(m['tpr_at_5fpr'], True)} | {fmt(m['tpr_at_threshold'], True)} |")
    if "trim_mean_abs_change" in r:
        lines += ["", f"Trimming the first 0.5 s changes the probability by "
                      f"{r['trim_mean_abs_change']:.3f} on average "
                      f"(max {r['trim_max_abs_change']:.3f})."]
    lines += ["", "Per source (original, out of fold):", "",
              "| source | label | n | mean p | flagged |", "|---|---|---|---|---|"]
    for row in r["per_source"]:
        lines.append(f"| {row['source']} | {row['label']} | {row['n']} | {row['mean_p']:.2f} | "
                     f"{fmt(row['flagged'], True)} |")
    lines += ["", "Single figures, pooled AUC without fitting (> 0.5: higher in fakes):", "",
              "| figure | n | AUC |", "|---|---|---|"]
    for k, m in r["single_features"].items():
        lines.append(f"| {k} | {m['n']} | {fmt(m['raw_auc'])} |")
    lines += ["", "Source-paired folds (one repository with fakes + real-only repositories; "
              "AUC within each fold, from one model):", "",
              "| held out | real | fake | AUC | FPR at threshold | TPR at threshold |",
              "|---|---|---|---|---|---|"]
    for f in r["paired_folds"]:
        names = ", ".join(g.split("/")[1] for g in f["fold"])
        lines.append(f"| {names} | {f['n_real']} | {f['n_fake']} | {fmt(f['auc'])} | "
                     f"{fmt(f['fpr_at_threshold'], True)} | {fmt(f['tpr_at_threshold'], True)} |")
    mean = np.mean([f["auc"] for f in r["paired_folds"]])
    lines += [f"| mean | | | {mean:.2f} | | |"]
    lines += ["", "Each fusion feature alone:", "",
              "| feature | pooled LOSO AUC | source-paired folds, mean AUC |", "|---|---|---|"]
    for k, v in r["feature_sets_loso_auc"].items():
        lines.append(f"| {k} | {fmt(v['loso_auc'])} | {fmt(v['paired_fold_mean_auc'])} |")
    lines += ["", "Feature sets compared (original, LOSO):", "",
              "| set | pooled AUC | paired-fold AUC | TPR@5%FPR | FPR at threshold | "
              "TPR at threshold | AUC per generator |",
              "|---|---|---|---|---|---|---|"]
    for label, m in r["feature_set_comparison"].items():
        per = ", ".join(f"{g} {fmt(v)}" for g, v in m["per_generator_auc"].items())
        lines.append(f"| {label} | {fmt(m['auc'])} | {fmt(m['paired_fold_mean_auc'])} | "
                     f"{fmt(m['tpr_at_5fpr'], True)} | "
                     f"{fmt(m['fpr_at_threshold'], True)} | {fmt(m['tpr_at_threshold'], True)} | "
                     f"{per} |")
    mb = r["metadata_baseline"]
    lines += ["", "Source-confound check:", "",
              "| model | 5-fold by video AUC | LOSO AUC |", "|---|---|---|",
              f"| width, height, fps, duration only | {fmt(mb['auc_5fold_by_video'])} | "
              f"{fmt(mb['auc_loso'])} |",
              f"| fused detector | {fmt(r['fused_auc_5fold_by_video'])} | "
              f"{fmt(r['variants']['original']['auc'])} |", "",
              "Analyzer status on the original clips: " + "; ".join(
                  f"{n}: " + ", ".join(f"{k} {v}" for k, v in sorted(s.items()))
                  for n, s in sorted(r["analyzer_status"].items()))]
    if r["failed"]:
        lines += ["", "Failed scans: " + "; ".join(f"{k[0]}/{Path(k[1]).name}: {v}"
                                                 for k, v in r["failed"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
