"""The HTML scan report: one self-contained page per scanned video, and a batch index.

:func:`render_scan_report` takes a :class:`~trustavatar.detector.ScanResult` or its JSON
form (``result.to_dict()``, e.g. read back from ``trustavatar scan --json``) and returns the
page as a string; :func:`write_scan_report` writes it atomically. Everything is inline:
SVG plots, PNG mouth crops as ``data:`` URIs, the CSS, and the full result as JSON in a
``<script type="application/json">`` block. No external fonts, scripts, images or links
are used, so the page opens offline and makes no network request.

Results from an older detector version render with a notice and with the panels whose
data they hold; a document that is not a scan result raises :class:`ReportError`.
"""

from __future__ import annotations

__all__ = ["render_scan_index", "render_scan_report", "write_scan_index", "write_scan_report"]

import datetime as dt
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustavatar._arguments import path as as_path
from trustavatar._atomic import atomic_write_bytes
from trustavatar._numbers import finite_number as _num
from trustavatar.errors import ReportError
from trustavatar.reports._templates import environment, script_json, static_script
from trustavatar.reports.svg import Series, bar_chart, heatmap, line_chart

_REQUIRED = ("verdict", "analyzers", "path")
VERDICT_WORDS = {
    "likely-manipulated": "Likely manipulated or AI-generated",
    "inconclusive": "Inconclusive",
    "likely-authentic": "No sign of manipulation found",
}
#: Physiological blink norms the panel shows (detector/README.md, shared notes).
BLINK_RANGE = (10.5, 32.5)
C2PA_WORDS = {
    "trusted": "a valid C2PA manifest signed by a trusted signer",
    "valid-untrusted": "a valid C2PA manifest, but its signer is not in your trust list — "
                       "anyone can make such a manifest",
    "invalid": "a C2PA manifest that fails validation: the file was changed after signing, "
               "or the manifest is damaged",
    "absent": "no C2PA manifest: provenance unknown. Most cameras and editors write none, "
              "and re-encoding removes manifests, so absence says nothing either way",
    "unsupported-format": "a container C2PA cannot read here, or a damaged file: provenance "
                          "unknown",
    "unreadable": "the file could not be read for its C2PA manifest: provenance unknown",
}


def _stamp(generated_at: dt.datetime | None) -> str:
    """When a page was made, as shown on it (now when not given)."""
    return (generated_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")


def _as_dict(result: Any) -> dict[str, Any]:
    data = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(data, Mapping) or any(k not in data for k in _REQUIRED):
        raise ReportError("not a trustavatar scan result (expected the JSON of "
                          "'trustavatar scan --json': verdict, analyzers, path)")
    if not isinstance(data.get("analyzers"), Mapping):
        raise ReportError("malformed scan result: 'analyzers' must be an object")
    return dict(data)


def _pct(v: Any) -> str:
    x = _num(v)
    return "n/a" if x is None else f"{100 * x:.0f} %"


def _analyzer(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    a = data["analyzers"].get(name)
    return dict(a) if isinstance(a, Mapping) else None


def _timeline_panel(data: Mapping[str, Any]) -> dict[str, Any]:
    lip = _analyzer(data, "lipsync")
    fused = [w for w in data.get("timeline", []) if isinstance(w, Mapping)]
    series = []
    if fused:
        series.append(Series([(_num(w.get("start")) or 0.0) for w in fused],
                             [_num(w.get("probability")) for w in fused],
                             "#7a3db8", "fused probability", dots=True))
    lip_series = []
    if lip and lip.get("timeline"):
        tl = lip["timeline"]
        lip_series.append(Series([(_num(w.get("start")) or 0.0) for w in tl],
                                 [(1 / (1 + math.exp(-min(max(s, -60.0), 60.0))))
                                  if (s := _num(w.get("score"))) is not None else None
                                  for w in tl],
                                 "#e0301e", "lip-sync model (raw)", dots=True))
    thr = _num((data.get("thresholds") or {}).get("likely_manipulated"))
    chart = line_chart(series + lip_series, label="timeline: score per window",
                       y_label="probability", y_min=0.0, y_max=1.0,
                       hlines=[(thr, "#c0392b", "flag threshold")] if thr is not None else [])
    evidence = []
    if lip:
        for e in (lip.get("figures") or {}).get("evidence", []) or []:
            if not isinstance(e, Mapping) or not e.get("crop_png"):
                continue
            occ = e.get("occlusion") or []
            evidence.append({
                "time": _num(e.get("time")), "logit": _num(e.get("logit")),
                "src": "data:image/png;base64," + str(e["crop_png"]),
                "heat": heatmap(occ, label=f"where the model looked at {e.get('time')} s",
                                size=128) if occ else "",
            })
    return {"chart": chart, "lipsync": lip, "evidence": evidence}


def _blink_panel(data: Mapping[str, Any]) -> dict[str, Any] | None:
    b = _analyzer(data, "blink")
    if b is None:
        return None
    f = b.get("figures") or {}
    series = f.get("ear_series") or []
    chart = ""
    if series:
        chart = line_chart([Series([p[0] for p in series], [p[1] for p in series], "#1f5fa8",
                                   "eye aspect ratio")],
                           label="eye aspect ratio over time, blinks marked",
                           y_label="EAR", y_min=0.0,
                           vmarks=[t for t in (f.get("onsets_s") or []) if _num(t) is not None])
    rate = _num(f.get("rate_per_min"))
    rate_chart = bar_chart(["this video", "people: low", "people: high"],
                           [rate, BLINK_RANGE[0], BLINK_RANGE[1]],
                           label="blink rate per minute against the human range",
                           y_label="blinks/min") if rate is not None else ""
    return {"a": b, "f": f, "chart": chart, "rate_chart": rate_chart, "range": BLINK_RANGE}


def _frequency_panel(data: Mapping[str, Any]) -> dict[str, Any] | None:
    a = _analyzer(data, "frequency")
    if a is None:
        return None
    f = a.get("figures") or {}
    chart = ""
    bands, mouth, cheek = (f.get("spectrum_cycles_per_px"), f.get("spectrum_mouth"),
                           f.get("spectrum_cheek"))
    if bands and mouth and cheek:
        chart = line_chart([Series(bands, mouth, "#e0301e", "mouth", dots=True),
                            Series(bands, cheek, "#1f5fa8", "cheeks", dots=True)],
                           label="radial spectrum: mouth vs cheeks",
                           x_label="cycles per pixel", y_label="log10 power (rel.)")
    tl = a.get("timeline") or []
    score_chart = line_chart([Series([_num(w.get("start")) or 0.0 for w in tl],
                                     [_num(w.get("score")) for w in tl], "#e0301e",
                                     "mouth blur vs forehead (SD)", dots=True)],
                             label="frequency score per window", y_label="SD beyond real",
                             hlines=[(2.0, "#c0392b", "unusual")]) if tl else ""
    return {"a": a, "f": f, "chart": chart, "score_chart": score_chart}


def _sync_panel(data: Mapping[str, Any]) -> dict[str, Any] | None:
    a = _analyzer(data, "sync")
    if a is None:
        return None
    tl = [w for w in a.get("timeline") or [] if isinstance(w, Mapping)]
    xs = [_num(w.get("start")) or 0.0 for w in tl]
    figs = [w.get("figures") or {} for w in tl]
    chart = line_chart([Series(xs, [_num(g.get("offset")) for g in figs], "#e0301e",
                               "offset (frames)", dots=True),
                        Series(xs, [_num(g.get("confidence")) for g in figs], "#1f5fa8",
                               "confidence", dots=True)],
                       label="audio-visual offset and confidence per window",
                       y_label="frames / confidence",
                       hlines=[(2.0, "#c0392b", "+2 frames"), (-2.0, "#c0392b", "-2 frames")]
                       ) if tl else ""
    return {"a": a, "f": a.get("figures") or {}, "chart": chart}


def _provenance_panel(data: Mapping[str, Any]) -> dict[str, Any] | None:
    a = _analyzer(data, "provenance")
    if a is None:
        return None
    f = a.get("figures") or {}
    state = str(f.get("c2pa_state") or "absent")
    words = C2PA_WORDS.get(state, f"C2PA state '{state}'")
    if isinstance(f.get("c2pa_error"), str):
        words += f" ({f['c2pa_error']})"
    return {"a": a, "f": f, "state": state, "state_words": words}


def _methods(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    from trustavatar.detector import analyzer_spec
    from trustavatar.errors import DetectionError

    out = []
    for name in sorted(data["analyzers"]):
        try:
            spec = analyzer_spec(name)
        except DetectionError:
            out.append({"name": name, "summary": "(not known to this version)", "detects": "",
                        "blind_to": ""})
            continue
        out.append({"name": name, "summary": spec.summary, "detects": spec.detects,
                    "blind_to": spec.blind_to})
    return out


def _fp_meaning(data: Mapping[str, Any]) -> str:
    thr = data.get("thresholds") or {}
    hi, lo = _num(thr.get("likely_manipulated")), _num(thr.get("likely_authentic"))
    metrics = (data.get("fusion") or {}).get("metrics") or {}
    fpr = _num(metrics.get("loso_fpr_at_threshold"))
    parts = []
    if hi is not None:
        parts.append(f"A video is called likely manipulated at p ≥ {hi:.2f}. That threshold "
                     "was chosen so that at most 5 % of the real development clips of every "
                     "source are flagged" + (f" (measured out of fold: {fpr:.0%})"
                                             if fpr is not None else "") + ".")
    if lo is not None:
        parts.append(f"At p ≤ {lo:.2f}, with enough face to look at, nothing unusual was found; "
                     "that is not proof of authenticity.")
    parts.append("The probability is calibrated on research clips; footage unlike them "
                 "(other cameras, generators, compression) can score differently.")
    return " ".join(parts)


def render_scan_report(result: Any, *, generated_at: dt.datetime | None = None,
                       source: str | None = None) -> str:
    """The self-contained HTML page for one scan result (object or JSON dict).
    ``source``: the saved result file it is rendered from, which the page names as not
    signed and not re-verified."""
    from trustavatar.detector.result import DETECTOR_VERSION

    data = _as_dict(result)
    version = str(data.get("detector_version") or "unknown")
    notice = None
    if version != DETECTOR_VERSION:
        notice = (f"This result was made by detector version {version}; this report is "
                  f"version {DETECTOR_VERSION}. Panels without data in the result are "
                  "omitted.")
    verdict = str(data["verdict"])
    try:
        embedded = script_json(data)
    except ValueError as e:
        raise ReportError(f"the scan result cannot be embedded as JSON: {e}") from e
    ctx = {
        "d": data, "name": Path(str(data["path"])).name, "verdict": verdict,
        "verdict_words": VERDICT_WORDS.get(verdict, verdict),
        "probability": _num(data.get("probability")), "pct": _pct,
        "thresholds": data.get("thresholds") or {}, "fp_meaning": _fp_meaning(data),
        "notice": notice, "timeline": _timeline_panel(data), "blink": _blink_panel(data),
        "frequency": _frequency_panel(data), "sync": _sync_panel(data),
        "provenance": _provenance_panel(data), "methods": _methods(data),
        "json": embedded, "num": _num,
        "generated_at": _stamp(generated_at), "source": source,
        "report_version": DETECTOR_VERSION,
    }
    return environment().get_template("scan.html.j2").render(**ctx)


def write_scan_report(result: Any, out: str | os.PathLike[str]) -> Path:
    """Render and write atomically (a temp file renamed when complete)."""
    p = as_path(out, "out")
    atomic_write_bytes(p, render_scan_report(result).encode("utf-8"))
    return p


_ORDER = {"likely-manipulated": 0, "inconclusive": 1, "likely-authentic": 2}


def render_scan_index(entries: Sequence[Mapping[str, Any]], *,
                      generated_at: dt.datetime | None = None,
                      source: str | None = None) -> str:
    """The batch index: ``entries`` of ``{"path", "report" (relative href) or None,
    "verdict", "probability"}`` or ``{"path", "error"}`` for files that failed.
    ``source``: as for :func:`render_scan_report`."""
    rows: list[dict[str, Any]] = []
    if entries is None or isinstance(entries, str | bytes | Mapping):
        raise ReportError("entries is a sequence of index entries (or scan results), not one")
    for e in entries:
        if hasattr(e, "to_dict"):  # a ScanResult, as render_scan_report takes one
            e = e.to_dict()
        if not isinstance(e, Mapping):
            raise ReportError(f"an index entry is a mapping or a scan result, got "
                              f"{type(e).__name__}")
        verdict = str(e.get("verdict") or "error")
        rows.append({"path": str(e.get("path")), "name": Path(str(e.get("path"))).name,
                     "report": e.get("report"), "verdict": verdict,
                     "order": _ORDER.get(verdict, 3), "probability": _num(e.get("probability")),
                     "error": e.get("error")})
    rows.sort(key=lambda r: (r["order"], -(r["probability"] or 0.0), r["name"]))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    sort_script, sort_hash = static_script("index_sort.js")
    return environment().get_template("index.html.j2").render(
        rows=rows, counts=counts, words=VERDICT_WORDS, esc=html.escape,
        generated_at=_stamp(generated_at), sort_script=sort_script, sort_script_hash=sort_hash,
        source=source)


def write_scan_index(entries: Sequence[Mapping[str, Any]], out: str | os.PathLike[str]) -> Path:
    """Write :func:`render_scan_index`'s page to ``out`` (atomically)."""
    p = as_path(out, "out")
    atomic_write_bytes(p, render_scan_index(entries).encode("utf-8"))
    return p
