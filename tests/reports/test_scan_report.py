"""The HTML scan report: content, self-containment, older results, bad input, the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import invoke
from trustavatar.errors import ReportError
from trustavatar.reports import render_scan_index, render_scan_report, write_scan_report


class Page(HTMLParser):
    """Collects what a self-containment check needs: ids, tags, URLs, the embedded JSON."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: dict[str, int] = {}
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._in_json: str | None = None
        self.json_blocks: dict[str, str] = {}
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for k in ("src", "href", "srcset", "data", "poster", "action"):
            if a.get(k):
                self.urls.append(str(a[k]))
        if tag == "script":
            self.scripts.append(a)
            if a.get("type") == "application/json":
                self._in_json = str(a.get("id"))
                self.json_blocks[self._in_json] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = None

    def handle_data(self, data: str) -> None:
        if self._in_json is not None:
            self.json_blocks[self._in_json] += data
        else:
            self.text.append(data)


def _self_contained(page: Page, raw: str) -> None:
    assert all(u.startswith("data:") or u.startswith("#") or u.endswith(".html")
               for u in page.urls), page.urls
    assert not any(s.get("src") for s in page.scripts)
    assert "<link" not in raw and "@import" not in raw and "url(" not in raw
    assert "http://" not in raw.split('id="scan-result"')[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_scan_report_shows_every_panel_and_embeds_the_result(studio: Any, tmp_path: Path
                                                             ) -> None:
    result = studio.scan
    out = write_scan_report(result, tmp_path / "r.html")
    raw = out.read_text()
    page = Page(raw)
    for panel in ("verdict", "reasons", "timeline-panel", "blink-panel", "frequency-panel",
                  "sync-panel", "provenance-panel", "method", "scan-result"):
        assert panel in page.ids, panel
    _self_contained(page, raw)
    # the verdict of this real scan of our own signed output: decided by provenance
    assert result.verdict.value == "likely-manipulated"
    assert "Likely manipulated or AI-generated" in raw
    text = " ".join(page.text)
    assert "trusted" in text and "Report Studio" in text  # C2PA state and signer
    assert result.analyzers["provenance"].figures["consent_id"] in text
    # plots: the timeline, the EAR series, the spectra; mouth crops with heat maps
    assert page.tags.get("svg", 0) >= 4
    assert 'aria-label="eye aspect ratio over time' in raw
    assert 'aria-label="radial spectrum: mouth vs cheeks"' in raw
    assert "evidence" in page.ids and 'src="data:image/png;base64,' in raw
    embedded = json.loads(page.json_blocks["scan-result"])
    assert embedded == json.loads(result.to_json())


def test_older_result_renders_with_a_notice(studio: Any) -> None:
    d = studio.scan.to_dict()
    d["detector_version"] = "0.9"
    del d["analyzers"]["lipsync"]
    d["analyzers"]["blink"]["figures"].pop("ear_series")
    d["analyzers"]["frequency"]["figures"].pop("spectrum_mouth")
    d.pop("timeline")
    raw = render_scan_report(d)
    page = Page(raw)
    assert "version-notice" in page.ids and "version 0.9" in raw
    assert "The lip-sync model did not run for this result." in raw
    assert "eye aspect ratio over time" not in raw


@pytest.mark.parametrize("doc", [{}, {"verdict": "x"}, [1, 2], {"verdict": "x", "path": "a",
                                                                 "analyzers": []}])
def test_not_a_scan_result_is_a_clear_error(doc: Any) -> None:
    with pytest.raises(ReportError, match="scan result"):
        render_scan_report(doc)


def test_index_sorts_most_suspicious_first() -> None:
    raw = render_scan_index([
        {"path": "/a/ok.mp4", "report": "ok.html", "verdict": "likely-authentic",
         "probability": 0.01},
        {"path": "/a/bad.mp4", "report": "bad.html", "verdict": "likely-manipulated",
         "probability": 0.99},
        {"path": "/a/broken.mp4", "error": "not a video"},
        {"path": "/a/meh.mp4", "report": "meh.html", "verdict": "inconclusive",
         "probability": 0.5}])
    order = [raw.index(n) for n in ("bad.mp4", "meh.mp4", "ok.mp4", "broken.mp4")]
    assert order == sorted(order)
    assert "not a video" in raw


def test_index_policy_allows_exactly_its_own_script() -> None:
    raw = render_scan_index([{"path": "/a/ok.mp4", "report": "ok.html",
                              "verdict": "likely-authentic", "probability": 0.01}])
    policy = re.search(r'Content-Security-Policy" content="([^"]*)"', raw)
    assert policy is not None
    allowed = re.search(r"script-src '(sha256-[A-Za-z0-9+/=]+)'(;|$)", policy.group(1))
    scripts = re.findall(r"<script>(.*?)</script>", raw, flags=re.S)
    assert allowed is not None and len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert allowed.group(1) == f"sha256-{digest}"
    assert "th[data-key]" in scripts[0]


def test_every_page_forbids_a_base_url_and_form_targets(studio: Any) -> None:
    from trustavatar.reports import build_audit, render_audit_html

    pages = [render_scan_report(studio.scan), render_audit_html(build_audit(
        studio.home, check_watermark=False)), render_scan_index(
        [{"path": "/a/ok.mp4", "report": "ok.html", "verdict": "inconclusive"}])]
    for raw in pages:
        policy = re.search(r'Content-Security-Policy" content="([^"]*)"', raw)
        assert policy is not None
        assert {"base-uri 'none'", "form-action 'none'"} <= {
            p.strip() for p in policy.group(1).split(";")}, policy.group(1)


@pytest.mark.parametrize("doc", [{"verdict": "x"}, {"results": [1]},
                                 {"results": [], "errors": [1]},
                                 {"results": [{"path": "a.mp4"}]},
                                 {"path": "a.mp4", "verdict": "banana"},
                                 {"path": "a.mp4", "verdict": "inconclusive",
                                  "probability": "high"},
                                 {"path": "a.mp4", "verdict": "inconclusive",
                                  "probability": 1.5}])
def test_cli_report_wrong_shapes_are_bad_input_and_write_nothing(
        doc: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "odd.json"
    saved.write_text(json.dumps(doc))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out", "--json")
    assert r.code == 2, r.err
    assert r.json()["error"]["type"] == "InputError"
    assert not (tmp_path / "out").exists()


def test_cli_report_is_all_or_nothing(studio: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = studio.scan.to_dict()
    broken = {**good, "path": "/x/broken.mp4", "analyzers": {"blink": {"figures": 3}}}
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps({"results": [good, broken], "errors": []}))
    out = tmp_path / "out"
    r = invoke(capsys, "report", saved, "--out", out)
    assert r.code == 2 and "malformed scan result for /x/broken.mp4" in r.err
    assert not out.exists()  # not the good page alone, not a folder without an index
    out.mkdir()
    assert invoke(capsys, "report", saved, "--out", out).code == 2
    assert list(out.iterdir()) == []


def test_cli_report_from_saved_json_and_bad_input(studio: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps({"results": [studio.scan.to_dict()], "errors": [
        {"path": "/x/junk.mp4", "error": {"message": "not a video"}}]}))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    index = Path(r.json()["index"])
    assert index.is_file() and "junk.mp4" in index.read_text()
    assert len(r.json()["reports"]) == 1
    said = f"Rendered from a saved result ({saved}): not signed, not re-verified"
    for page in (index, Path(r.json()["reports"][0])):
        assert said in " ".join(Page(page.read_text()).text), page
    again = invoke(capsys, "report", saved, "--out", tmp_path / "out")
    assert again.code == 2 and "exists already" in again.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    r = invoke(capsys, "report", bad, "--out", tmp_path / "bad.html")
    assert r.code == 2 and "not a trustavatar scan result" in r.err
    assert not (tmp_path / "bad.html").exists()
    bad.write_text("{not json")
    assert invoke(capsys, "report", bad, "--out", tmp_path / "bad.html").code == 2
    # a video given by mistake: json.loads guessed UTF-32 from its first bytes and said
    # "'utf-32-be' codec can't decode bytes"
    r = invoke(capsys, "report", studio.videos[0], "--out", tmp_path / "bad.html")
    assert r.code == 2 and "not UTF-8 text" in r.err and "is it a video?" in r.err, r.err
    assert "utf-32" not in r.err
    saved.write_bytes(b"\xef\xbb\xbf" + saved.read_bytes())  # a byte order mark: accepted
    r = invoke(capsys, "report", saved, "--out", tmp_path / "bom", "--json")
    assert r.code == 0, r.err


def test_cli_scan_writes_reports_for_a_batch(studio: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    out = tmp_path / "reports"
    r = invoke(capsys, "--home", studio.home.root, "scan", studio.videos[1], junk,
               "--analyzer", "provenance", "--report", out)
    assert r.code == 10, r.err  # our own output: trusted AI declaration → flagged
    pages = sorted(p.name for p in out.iterdir())
    assert pages == ["avatar1.html", "index.html"]
    assert not any("Rendered from a saved result" in (out / p).read_text() for p in pages)
    assert "junk.mp4" in (out / "index.html").read_text()
    one = invoke(capsys, "scan", studio.videos[1], junk, "--report", tmp_path / "one.html")
    assert one.code == 2 and "one video" in one.err
    # a page that exists is refused before anything is scanned, not after
    (out / "index.html").unlink()
    saved = tmp_path / "scan.json"
    r = invoke(capsys, "--home", studio.home.root, "scan", studio.videos[1], "--analyzer",
               "provenance", "--report", out, "--json", saved)
    assert r.code == 2 and "avatar1.html exists already" in r.err and r.out == ""
    assert not saved.exists() and sorted(p.name for p in out.iterdir()) == ["avatar1.html"]


def test_cli_scan_one_video_to_one_page(studio: Any, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "one.html"
    r = invoke(capsys, "--home", studio.home.root, "scan", studio.videos[0], "--analyzer",
               "provenance", "--report", page, "--json", "-")
    assert r.code == 10 and r.json()["results"][0]["verdict"] == "likely-manipulated"
    assert 'id="provenance-panel"' in page.read_text()
    again = invoke(capsys, "scan", studio.videos[0], "--report", page)
    assert again.code == 2 and "exists already" in again.err  # refused before scanning
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = invoke(capsys, "scan", junk, "--report", tmp_path / "junk.html")
    assert bad.code == 2 and bad.err.count("error:") == 1 and "not a video" in bad.err
    assert not (tmp_path / "junk.html").exists()


def test_page_names_keep_clear_of_the_index_and_of_long_names() -> None:
    from trustavatar._cli.report import page_names

    assert page_names(["/a/index.mp4", "/b/clip.mp4", "/c/index.mov"]) == [
        "index-2.html", "clip.html", "index-3.html"]
    long_a, long_b = "/u/" + "L" * 240 + "a.mp4", "/u/" + "L" * 240 + "b.mp4"
    a, b = page_names([long_a, long_b])
    assert a != b and len(a) == len(b) == 105 and a.startswith("L" * 91)


def test_cli_report_of_odd_batches_writes_every_page(studio: Any, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A video named index.mp4 (its page overwrote the index), a file name long enough that
    the temporary page name passed 255 bytes, and an analyzer that failed (its figures are
    only an error: the blink panel could not be drawn) each stopped the whole report."""
    good = studio.scan.to_dict()
    failed_blink = {**good["analyzers"]["blink"], "status": "failed", "score": None,
                    "figures": {"error": "RuntimeError: boom"}}
    results = [{**good, "path": "/up/index.mp4"},
               {**good, "path": "/up/" + "L" * 240 + ".mp4"},
               {**good, "path": "/up/clip.mp4",
                "analyzers": {**good["analyzers"], "blink": failed_blink}}]
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps({"results": results, "errors": []}))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    pages = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(pages) == 4 and "index.html" in pages and "index-2.html" in pages, pages
    index = (tmp_path / "out" / "index.html").read_text()
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")
    assert "n/a" not in (tmp_path / "out" / "clip.html").read_text().split("Blink")[1][:300]


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, None])
def test_cli_report_of_hostile_json_is_bad_input(studio: Any, text: str | None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    if text is None:  # a timeline score no scan gives: exp() overflowed
        good = studio.scan.to_dict()
        good["timeline"] = [{**w, "probability": None, "lipsync": -1000.0}
                            for w in good.get("timeline") or [{"start": 0, "end": 2}]]
        good["analyzers"]["lipsync"] = {**good["analyzers"].get("lipsync", {}),
                                        "timeline": [{"start": 0.0, "end": 2.0,
                                                      "score": -1000.0}]}
        text = json.dumps(good)
    saved = tmp_path / "odd.json"
    saved.write_text(text)
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out")
    assert r.code in (0, 2) and "internal error" not in r.err, r.err


def test_a_right_to_left_override_in_a_name_is_shown_not_obeyed(studio: Any) -> None:
    """``evil\\u202egpj.mp4`` displays as ``evil4pm.jpg`` and turns the SHA-256 after it
    around; pages show such characters as escapes (the embedded JSON keeps the name)."""
    from trustavatar.reports import render_scan_index

    name = "/up/evil\u202egpj.mp4"
    page = render_scan_report({**studio.scan.to_dict(), "path": name})
    index = render_scan_index([{"path": name, "report": "evil.html",
                                "verdict": "inconclusive", "probability": 0.5}])
    for html in (page, index):
        shown = "".join(Page(html).text)
        assert "\u202e" not in shown and "evil\\u202egpj.mp4" in shown
    embedded = json.loads(Page(page).json_blocks["scan-result"])
    assert embedded["path"] == name


def test_an_untrusted_manifests_values_are_marked_as_claims(studio: Any) -> None:
    d = studio.scan.to_dict()
    prov = d["analyzers"]["provenance"]
    for state, marked in (("valid-untrusted", True), ("invalid", True), ("trusted", False)):
        figures = {**prov["figures"], "c2pa_state": state, "signer": "Adobe Inc.",
                   "claim_generator": "Photoshop — VERIFIED AUTHENTIC", "ai_generated": False}
        page = render_scan_report({**d, "analyzers": {**d["analyzers"], "provenance": {
            **prov, "figures": figures}}})
        text = " ".join(Page(page).text)
        assert ("Adobe Inc. (claimed, not verified)" in text) is marked, state
        assert ("AUTHENTIC (claimed, not verified)" in text) is marked, state
        assert ("none of them is verified" in text) is marked, state
        # "declares AI generation: no" is a claim too (it was the one row left unmarked)
        assert ("no (claimed, not verified)" in text) is marked, state


def test_a_look_alike_signer_has_its_own_row(studio: Any) -> None:
    """The impersonation warning showed only in a reason, and only when the manifest
    declared AI generation; the provenance panel now names it whenever it is set."""
    d = studio.scan.to_dict()
    prov = d["analyzers"]["provenance"]
    for impersonates in ("Report Studio", None):
        figures = {**prov["figures"], "c2pa_state": "valid-untrusted", "ai_generated": False,
                   "impersonates": impersonates}
        page = render_scan_report({**d, "analyzers": {**d["analyzers"], "provenance": {
            **prov, "figures": figures}}})
        text = " ".join(Page(page).text)
        assert ("possible impersonation the signer carries the name of the trusted identity "
                "'Report Studio'" in text) is (impersonates is not None), text


def test_two_report_runs_into_one_folder_do_not_mix(studio: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages were staged under one fixed name each (.index.html.staged): a second run
    into the same folder, between the first's staging and its renames, took the first's
    staged index away (an internal error) and left pages of both runs under one index.
    Each page is now staged under its own temporary name; the later run keeps the pages
    of the earlier one, without --force."""
    from trustavatar import _atomic

    first, second = studio.scan.to_dict(), {**studio.scan.to_dict(), "path": "/b/other.mp4"}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"results": [first], "errors": []}))
    b.write_text(json.dumps({"results": [second], "errors": []}))
    out = tmp_path / "pages"
    move_in = _atomic.move_in
    interleaved: list[int] = []

    def move_after_the_other_run(*args: Any, **kwargs: Any) -> None:
        if not interleaved:
            interleaved.append(-1)  # the other run, inside, moves its pages in plainly
            interleaved[0] = invoke(capsys, "report", b, "--out", out).code
        move_in(*args, **kwargs)

    monkeypatch.setattr(_atomic, "move_in", move_after_the_other_run)
    r = invoke(capsys, "report", a, "--out", out)
    assert interleaved == [0]
    assert r.code == 2 and "appeared while the output was being made" in r.err
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "other.html"]
    assert "other.html" in (out / "index.html").read_text()
    # a folder that cannot be made is bad input, not an internal error
    r = invoke(capsys, "report", a, "--out", a / "pages")
    assert r.code == 2 and "cannot make the folder" in r.err


def test_the_watermark_row_says_whether_anything_confirms_it(studio: Any) -> None:
    d = studio.scan.to_dict()
    prov = d["analyzers"]["provenance"]
    for confirmed_by, says in (("ledger", "listed in the scanning home's ledger"),
                               ("manifest", "bound by the trusted manifest"),
                               (None, "claimed, not verified")):
        figures = {**prov["figures"], "watermark_present": True,
                   "watermark_payload": "00000000000000aa",
                   "watermark_confirmed_by": confirmed_by}
        page = render_scan_report({**d, "analyzers": {**d["analyzers"], "provenance": {
            **prov, "figures": figures}}})
        text = " ".join(Page(page).text)
        assert says in text, confirmed_by


def _json_panel(raw: str) -> str:
    m = re.search(r"<pre>(.*?)</pre>", raw, re.S)
    assert m is not None
    return html_unescape(m.group(1))


def test_the_json_panel_is_json_a_person_can_copy(studio: Any) -> None:
    """Every line break of the panel showed as a literal \\x0a (the escaping meant for the
    names on a page), so what it showed was not JSON."""
    from trustavatar.reports import build_audit, render_audit_html

    d = {**studio.scan.to_dict(), "path": "/up/evil\u202egpj\x1b.mp4"}
    shown = _json_panel(render_scan_report(d))
    assert "\\x0a" not in shown and shown.count("\n") > 10
    assert json.loads(shown) == d
    assert "\u202e" not in shown and "\x1b" not in shown and "evil\\u202egpj" in shown
    audit = build_audit(studio.home, check_watermark=False)
    assert json.loads(_json_panel(render_audit_html(audit))) == audit.data


@pytest.mark.parametrize("edit", [
    {"ear_series": [[1]]}, {"ear_series": [[]]}])
def test_cli_report_of_a_malformed_figure_is_bad_input(
        studio: Any, edit: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An EAR point of one number was an IndexError: an internal error, exit 70."""
    d = studio.scan.to_dict()
    blink = d["analyzers"]["blink"]
    d["analyzers"]["blink"] = {**blink, "figures": {**blink["figures"], **edit}}
    saved = tmp_path / "edited.json"
    saved.write_text(json.dumps(d))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out")
    assert r.code == 2 and "malformed scan result" in r.err, r.err
    assert "internal error" not in r.err and not (tmp_path / "out").exists()


def test_cli_report_refuses_a_verdict_its_own_figures_contradict(
        studio: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A saved result was rendered whatever it said: a forged likely-authentic verdict at
    probability 0.99 looked like a real scan's page. A verdict no scan gives with the
    result's own probability and thresholds (fusion.decide) is refused; a consistent
    result is rendered, with a line that says it was not re-verified."""
    genuine = studio.scan.to_dict()  # a real scan: decided by provenance
    hi = genuine["thresholds"]["likely_manipulated"]
    lo = genuine["thresholds"]["likely_authentic"]
    fused = {**genuine, "decided_by": "fusion"}
    forged = [
        {**genuine, "verdict": "likely-authentic", "probability": 0.99},
        {**genuine, "probability": 0.5},  # provenance decides at 1
        {**fused, "verdict": "likely-authentic", "probability": 0.99},
        {**fused, "verdict": "likely-authentic", "probability": round(lo + 0.01, 6)},
        {**fused, "verdict": "likely-manipulated", "probability": round(hi - 0.01, 6)},
        {**fused, "verdict": "inconclusive", "probability": round(hi + 0.01, 6)},
        {**fused, "verdict": "likely-authentic", "probability": None},
        {**fused, "verdict": "likely-authentic", "probability": 0.0, "thresholds": {}},
    ]
    for k, doc in enumerate(forged):
        saved = tmp_path / f"forged{k}.json"
        saved.write_text(json.dumps(doc))
        r = invoke(capsys, "report", saved, "--out", tmp_path / f"forged{k}.html", "--json")
        assert r.code == 2, (k, r.err)
        assert "contradicts itself" in r.json()["error"]["message"], k
        assert r.json()["error"]["message"].startswith(f"{saved}: result 1 "), k
        assert not (tmp_path / f"forged{k}.html").exists()
    # thresholds no fusion model has ("flag threshold inf %" on the page)
    saved = tmp_path / "thresholds.json"
    saved.write_text(json.dumps({**fused, "verdict": "inconclusive", "probability": 0.5,
                                 "thresholds": {"likely_manipulated": 1e308,
                                                "likely_authentic": 0.1}}))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "thresholds.html")
    assert r.code == 2 and "has thresholds" in r.err and "not numbers in 0-1" in r.err
    consistent = [  # at the thresholds themselves; low p with too little face: inconclusive
        genuine, {**fused, "verdict": "likely-manipulated", "probability": hi},
        {**fused, "verdict": "likely-authentic", "probability": lo},
        {**fused, "verdict": "inconclusive", "probability": hi},
        {**fused, "verdict": "inconclusive", "probability": 0.0},
        {**fused, "verdict": "inconclusive", "probability": None, "decided_by": "none"}]
    saved = tmp_path / "consistent.json"
    saved.write_text(json.dumps({"results": consistent, "errors": []}))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out")
    assert r.code == 0, r.err


def test_text_that_is_not_utf8_is_shown_as_escapes(studio: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A lone surrogate (a file name byte that was not UTF-8, "\\udc80" in a saved result)
    made writing the page fail: an internal error, exit 70, and no page."""
    d = studio.scan.to_dict()
    d = {**d, "path": "/up/bad\udcff.mp4", "reasons": [*d["reasons"], "odd \udc80 \ud800"]}
    lip = d["analyzers"]["lipsync"]
    evidence = [{**e, "time": "1\udc80"} for e in lip["figures"]["evidence"]]
    d["analyzers"]["lipsync"] = {**lip, "figures": {**lip["figures"], "evidence": evidence}}
    saved = tmp_path / "odd.json"
    saved.write_text(json.dumps({"results": [d], "errors": []}))  # ASCII: "\udcff" escapes
    r = invoke(capsys, "report", saved, "--out", tmp_path / "out")
    assert r.code == 0, r.err
    page = (tmp_path / "out" / "bad.html").read_text(encoding="utf-8")
    assert "bad\\udcff.mp4" in page and "odd \\udc80 \\ud800" in page
    assert "where the model looked at 1\\udc80 s" in page  # a chart's label
    assert json.loads(Page(page).json_blocks["scan-result"]) == d
    assert "bad\\udcff.mp4" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
