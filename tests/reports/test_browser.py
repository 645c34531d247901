"""Both reports as a person sees them: opened in headless Chromium (Debian's package,
installed by .ci/run), screenshotted, laid out and checked for network requests.

Each report is opened twice: as written (screenshot and network log: the page must request
nothing but itself), and as a probe copy whose Content-Security-Policy additionally allows
one inline script that measures, with the browser's own layout, whether the verdict, the
plots and the panels are on the page with a non-zero size and not hidden and whether the page
is wider than the window, and records every resource the page fetched and every request the
policy blocked. Screenshots stay in the
test's temporary folder (``scan-report.png``, ``audit-report.png``) as artefacts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from trustavatar.reports import build_audit, render_scan_index, write_audit, write_scan_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs Debian's "
                             "'chromium' package; apt-get install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
#: Hosts Chromium itself calls at start (sign-in, time, suggestions), whatever the page.
BROWSER_OWN = re.compile(r"(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)$")

_EARLY = """<script>window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.blockedURI || e.violatedDirective); });</script>"""
_PROBE = """<pre id="probe"></pre><script>(function () {
  var out = {elements: {}, resources: [], violations: window.__violations || []};
  SELECTORS.forEach(function (sel) {
    var els = document.querySelectorAll(sel), seen = [];
    els.forEach(function (el) {
      var r = el.getBoundingClientRect(), s = getComputedStyle(el);
      seen.push({w: r.width, h: r.height, top: r.top + window.scrollY,
                 visible: r.width > 0 && r.height > 0 && s.visibility !== "hidden" &&
                          s.display !== "none" && parseFloat(s.opacity) > 0});
    });
    out.elements[sel] = seen;
  });
  performance.getEntriesByType("resource").forEach(function (e) { out.resources.push(e.name); });
  out.overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  document.getElementById("probe").textContent = JSON.stringify(out);
})();</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=120, check=False)


def probe(page: Path, selectors: list[str], tmp: Path) -> dict[str, Any]:
    html = page.read_text()
    html, n = re.subn(r'(<meta http-equiv="Content-Security-Policy" content="[^"]*)"',
                      lambda m: m.group(1) + "; script-src 'unsafe-inline'\"", html, count=1)
    assert n == 1, "the report has no Content-Security-Policy"
    html = html.replace("<head>", "<head>" + _EARLY, 1)
    html = html.replace("</body>", _PROBE.replace("SELECTORS", json.dumps(selectors))
                        + "</body>", 1)
    copy = tmp / ("probe-" + page.name)
    copy.write_text(html)
    run = _chromium("--dump-dom", "--virtual-time-budget=3000", copy.as_uri(),
                    profile=tmp / "profile-probe")
    m = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert m, f"the probe did not run: {run.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def open_as_written(page: Path, shot: Path, tmp: Path) -> set[str]:
    """Screenshot ``page``; return the URLs it requested beyond itself and the browser's own
    background calls (from Chromium's network log)."""
    netlog = tmp / (page.stem + ".netlog.json")
    run = _chromium(f"--screenshot={shot}", "--window-size=1100,2400",
                    f"--log-net-log={netlog}", page.as_uri(), profile=tmp / "profile-shot")
    assert shot.is_file(), run.stderr[-2000:]
    urls = set()
    for e in json.loads(netlog.read_text())["events"]:
        url = (e.get("params") or {}).get("url")
        if not isinstance(url, str) or url == page.as_uri():
            continue
        host = urlparse(url).hostname or ""
        if url.startswith(("http://", "https://", "ws://", "wss://", "file://")) and \
                not BROWSER_OWN.search(host):
            urls.add(url)
    return urls


def _visible(report: dict[str, Any], sel: str, *, at_least: int = 1) -> None:
    found = report["elements"][sel]
    shown = [e for e in found if e["visible"]]
    assert len(shown) >= at_least, f"{sel}: {found}"


def _has_colour(png: Path, rgb: tuple[int, int, int], min_pixels: int = 500) -> bool:
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int((np.abs(img - np.array(rgb)).sum(axis=2) < 12).sum()) >= min_pixels


def test_scan_report_in_chromium(studio: Any, tmp_path: Path) -> None:
    page = write_scan_report(studio.scan, tmp_path / "scan-report.html")
    shot = tmp_path / "scan-report.png"
    assert open_as_written(page, shot, tmp_path) == set()
    assert _has_colour(shot, (0xB3, 0x26, 0x1E))  # the red "likely manipulated" banner
    r = probe(page, ["#verdict", "svg.chart", "#provenance-panel", "#blink-panel",
                     "#frequency-panel", "#sync-panel", "#evidence img", "svg.heat"], tmp_path)
    assert r["resources"] == [] and r["violations"] == []
    for sel in ("#verdict", "#provenance-panel", "#blink-panel", "#frequency-panel",
                "#sync-panel", "#evidence img", "svg.heat"):
        _visible(r, sel)
    _visible(r, "svg.chart", at_least=4)
    assert r["elements"]["#verdict"][0]["top"] < 400  # above the fold


def test_audit_report_in_chromium(studio: Any, tmp_path: Path) -> None:
    rep = build_audit(studio.home, check_watermark=False)
    paths = write_audit(rep, tmp_path / "audit-report.html", studio.keystore.signing_key())
    shot = tmp_path / "audit-report.png"
    assert open_as_written(paths["html"], shot, tmp_path) == set()
    assert _has_colour(shot, (0xB3, 0x26, 0x1E))  # "finding(s) need action"
    r = probe(paths["html"], ["#verdict", "#actions tr", "#checklist tr", "#videos tr",
                              "#consents tr"], tmp_path)
    assert r["resources"] == [] and r["violations"] == []
    _visible(r, "#verdict")
    _visible(r, "#actions tr", at_least=2)
    _visible(r, "#checklist tr", at_least=7)
    _visible(r, "#videos tr", at_least=3)


def _csp_blocks(page: Path, tmp: Path) -> list[str]:
    """Chromium's console messages about scripts the page's policy blocked."""
    run = _chromium("--enable-logging=stderr", "--v=0", "--dump-dom",
                    "--virtual-time-budget=2000", page.as_uri(),
                    profile=tmp / f"profile-csp-{page.stem}")
    return [line for line in run.stderr.splitlines()
            if "violates the following Content Security Policy" in line]


def test_index_sort_script_is_the_only_script_its_policy_runs(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(render_scan_index([
        {"path": "/a/ok.mp4", "report": "ok.html", "verdict": "likely-authentic",
         "probability": 0.01},
        {"path": "/a/bad.mp4", "report": "bad.html", "verdict": "likely-manipulated",
         "probability": 0.99}]))
    assert _csp_blocks(page, tmp_path) == []
    # the control: any other inline script (here the same one, one space longer) is blocked
    altered = tmp_path / "altered.html"
    altered.write_text(page.read_text().replace("<script>", "<script> ", 1))
    assert len(_csp_blocks(altered, tmp_path)) == 1


def test_long_unbroken_names_wrap_instead_of_widening_the_page(studio: Any, tmp_path: Path
                                                               ) -> None:
    """A 3,000-character file name or claim generator made the pages scroll sideways."""
    long = "A" * 3000
    d = studio.scan.to_dict()
    prov = d["analyzers"]["provenance"]
    figures = {**prov["figures"], "claim_generator": "Canon" + long}
    d = {**d, "path": f"/up/{long}.mp4", "reasons": [*d["reasons"], f"signer '{long}'"],
         "analyzers": {**d["analyzers"], "provenance": {**prov, "figures": figures}}}
    page = write_scan_report(d, tmp_path / "long.html")
    index = tmp_path / "index.html"  # without its script hash, so the probe may run
    index.write_text(re.sub(r"; script-src '[^']*'", "", render_scan_index([
        {"path": f"/up/{long}.mp4", "report": "long.html", "verdict": "inconclusive",
         "probability": 0.5}])))
    for p in (page, index):
        r = probe(p, ["main"], tmp_path)
        assert r["overflow"] <= 0, (p.name, r["overflow"])
