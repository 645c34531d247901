"""``trustavatar report`` (HTML from saved scan results) and ``trustavatar audit``
(the signed compliance audit), plus the helper ``scan --report`` uses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from trustavatar._atomic import atomic_write_bytes, check_writable, move_in_together
from trustavatar._cli._common import (
    Kept,
    emit,
    json_option,
    passphrase_option,
    refuse_overwrite,
    require_registry,
    state,
    time_option,
)
from trustavatar._display import visible
from trustavatar._files import read_input
from trustavatar._numbers import finite_number
from trustavatar.errors import ExitCode, InputError, ReportError

_MAX_RESULT_BYTES = 256 << 20


#: a page name's stem, at most (a file system allows 255 bytes for a name; the page is
#: first written under a temporary one, see trustavatar._atomic)
_MAX_SLUG = 100


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "video"
    if len(slug) > _MAX_SLUG:  # shortened, and told apart from others cut the same way
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        slug = f"{slug[:_MAX_SLUG - 9]}-{digest[:8]}"
    return slug


def page_names(paths: Sequence[str]) -> list[str]:
    """The report page name of each scanned path, in order (``clip.html``, ``clip-2.html``
    for a second ``clip`` from another folder; ``index-2.html`` for a video named
    ``index``, since ``index.html`` lists them all)."""
    used: set[str] = {"index.html"}
    names = []
    for path in paths:
        base = _slug(Path(path).stem)
        name, k = f"{base}.html", 2
        while name in used:
            name, k = f"{base}-{k}.html", k + 1
        used.add(name)
        names.append(name)
    return names


def _checked(results: Sequence[Any], errors: Sequence[Any]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    verdicts = ("likely-authentic", "inconclusive", "likely-manipulated")
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not isinstance(r.get("path"), str) or "verdict" not in r:
            raise ReportError(f"result {i + 1} is not a scan result (an object with 'path' "
                              "and 'verdict')")
        if r["verdict"] not in verdicts:
            raise ReportError(f"result {i + 1} has the verdict {r['verdict']!r}, not one of "
                              f"{', '.join(verdicts)}")
        p = r.get("probability")
        if p is not None and (not _is_number(p) or not 0 <= p <= 1):
            raise ReportError(f"result {i + 1} has the probability {p!r}, not a number in "
                              "0-1")
        t = r.get("thresholds")
        if isinstance(t, dict) and not all(v is None or (_is_number(v) and 0 <= v <= 1)
                                           for v in t.values()):
            raise ReportError(f"result {i + 1} has thresholds {t!r:.120}, not numbers in 0-1")
        why = _contradiction(r)
        if why is not None:
            raise ReportError(f"result {i + 1} contradicts itself: {why}; no scan gives that "
                              "(was the file edited?)")
    for i, e in enumerate(errors):
        if not isinstance(e, dict):
            raise ReportError(f"error entry {i + 1} is not an object")
    return list(results), list(errors)


def _is_number(v: Any) -> bool:
    return finite_number(v) is not None


def _contradiction(r: dict[str, Any]) -> str | None:
    """Why the verdict of ``r`` is one no scan gives with its probability and thresholds
    (the rule of :func:`trustavatar.detector.fusion.decide`), or None. Decisive provenance
    gives likely-manipulated at 1; nothing measured, inconclusive without a probability;
    otherwise p >= likely_manipulated gives likely-manipulated, likely-authentic needs
    p <= likely_authentic (and more), the rest is inconclusive. The figures are stored
    rounded, which keeps both comparisons; a threshold stored as null (not finite) is
    not compared."""
    verdict, p = r["verdict"], r.get("probability")
    if r.get("decided_by") == "provenance":
        return None if verdict == "likely-manipulated" and p == 1 else (
            f"decided by provenance, but {verdict} at probability {p} (provenance decides "
            "likely-manipulated at 1)")
    if p is None:
        return None if verdict == "inconclusive" else f"{verdict} without a probability"
    t = r.get("thresholds")
    if not isinstance(t, dict) or not {"likely_manipulated", "likely_authentic"} <= set(t):
        return "a probability without its thresholds"
    hi, lo = t["likely_manipulated"], t["likely_authentic"]
    if verdict == "likely-manipulated" and _is_number(hi) and p < hi:
        return f"likely-manipulated at probability {p}, below its threshold {hi}"
    if verdict == "likely-authentic" and _is_number(lo) and p > lo:
        return f"likely-authentic at probability {p}, above its threshold {lo}"
    if verdict == "inconclusive" and _is_number(hi) and p > hi:
        return (f"inconclusive at probability {p}, above its likely-manipulated threshold "
                f"{hi}")
    return None


def single_page(out: str) -> bool:
    """Whether the report ``out`` names one page (a name ending in .html or .htm; a name
    that is only ".html" is a folder's) rather than a folder of pages."""
    return Path(out).suffix.lower() in (".html", ".htm")


def write_reports(results: Sequence[Any], errors: Sequence[Any], out: str, *, force: bool,
                  option: str = "--report", source: str | None = None,
                  inputs: Kept | Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """``out`` ending in .html with one result: that page. Otherwise ``out`` is a folder:
    one page per result plus ``index.html`` (failed files listed with their error).
    ``source``: the saved result file the pages are rendered from; each page says so.
    ``inputs``: files no page may replace, ``--force`` or not (:func:`refuse_overwrite`;
    ``source`` is one).

    All or nothing: every entry is checked and every page rendered to a temporary file
    before any page replaces a file; on failure nothing is left (not even a new folder)."""
    from trustavatar.reports import render_scan_index

    results, errors = _checked(results, errors)
    target = Path(out)
    pairs = inputs.pairs if isinstance(inputs, Kept) else list(inputs)
    kept = Kept([*pairs, *([("the scan result", source)] if source is not None else [])])
    if single_page(out):
        if len(results) != 1 or errors:
            raise InputError(f"{option} {out}: a single .html file takes exactly one scanned "
                             f"video; give a folder for {len(results) + len(errors)} inputs")
        refuse_overwrite(out, force, kept)
        try:
            atomic_write_bytes(target, _render(results[0], source).encode("utf-8"),
                               replace=force)
        except OSError as e:  # a full disk: as the folder's pages say it
            raise InputError(f"{option} {out}: cannot write the page: {e.strerror or e}"
                             ) from e
        return {"reports": [str(target)], "index": None}
    if target.exists() and not target.is_dir():
        raise InputError(f"{option} {out}: not a folder (name a folder, or an .html file)")
    names = page_names([r["path"] for r in results])
    for name in (*names, "index.html"):
        refuse_overwrite(str(target / name), force, kept)
    entries: list[dict[str, Any]] = [
        {"path": r["path"], "report": name, "verdict": r["verdict"],
         "probability": r.get("probability")} for r, name in zip(results, names, strict=True)]
    for failed in errors:
        err = failed.get("error")
        msg = err.get("message") if isinstance(err, dict) else str(err)
        entries.append({"path": failed.get("path"), "error": msg})
    index = target / "index.html"  # every page rendered before anything is made
    pages = [(target / name, _render(r, source))
             for r, name in zip(results, names, strict=True)]
    pages.append((index, render_scan_index(entries, source=source)))
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{option} {out}: cannot make the folder: {e.strerror or e}") from e
    try:  # a page that appeared since the start is kept without --force: none is replaced
        move_in_together([(final, text.encode("utf-8")) for final, text in pages],
                         replace=force)
    except OSError as e:  # a page turned into a folder, a full disk
        raise InputError(f"{option} {out}: cannot write the pages: {e.strerror or e}") from e
    finally:
        if created and not any(final.exists() for final, _ in pages):
            with contextlib.suppress(OSError):
                target.rmdir()
    return {"reports": [str(page) for page, _ in pages[:-1]], "index": str(index)}


def _render(result: dict[str, Any], source: str | None) -> str:
    from trustavatar.reports import render_scan_report

    try:
        return render_scan_report(result, source=source)
    except (LookupError, TypeError, ValueError, AttributeError, OverflowError
            ) as e:  # a hand-edited result
        raise ReportError(f"malformed scan result for {result['path']}: "
                          f"{type(e).__name__}: {e}") from e


# --- trustavatar report --------------------------------------------------------------


@click.command("report")
@click.argument("result_json", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, metavar="OUT",
              help="An .html file (one result) or a folder (one page each plus index.html).")
@click.option("--force", is_flag=True, help="Replace existing report files.")
@json_option
def report_command(result_json: str, out: str, force: bool) -> int:
    """Render HTML scan reports from saved results ('trustavatar scan --json OUT').

    RESULT_JSON is the batch document 'scan --json' writes, or one result object. The
    result is not signed and is not re-verified: each page says it was rendered from it.
    Exit codes: 0 written; 2 unreadable, not a scan result, or a verdict that contradicts
    its own probability and thresholds.
    """
    if not out.strip():  # Path("") is the current folder
        raise click.BadParameter("the report's path is empty", param_hint="--out")
    if out == "-":  # it would have made a folder named '-'
        raise click.BadParameter("an HTML report is written to files, not to standard "
                                 "output: name a folder, or an .html file for one result",
                                 param_hint="--out")
    raw = read_input(result_json, max_bytes=_MAX_RESULT_BYTES, what="scan result")
    try:
        text = raw.decode("utf-8-sig")  # json.loads would guess UTF-16/32 for a video's bytes
    except UnicodeDecodeError as e:
        raise InputError(f"{result_json} is not a scan result: not UTF-8 text (byte {e.start} "
                         "is invalid; is it a video? 'scan --json OUT' writes the result "
                         "file)") from e
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InputError(f"{result_json} is not JSON: {e}") from e
    except RecursionError as e:
        raise InputError(f"{result_json} is not a scan result: nested too deeply") from e
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        results, errors = doc["results"], doc.get("errors") or []
    elif isinstance(doc, dict) and "verdict" in doc:
        results, errors = [doc], []
    else:
        raise InputError(f"{result_json} is not a trustavatar scan result (no 'results' "
                         "list and no 'verdict')")
    try:
        done = write_reports(results, errors, out, force=force, option="--out",
                             source=result_json)
    except ReportError as e:
        raise InputError(f"{result_json}: {e.message}") from e

    def human(con: Console) -> None:
        for p in done["reports"]:
            con.print(f"wrote {p}")
        if done["index"]:
            con.print(f"wrote {done['index']}")

    emit({"ok": True, **done}, human)
    return int(ExitCode.OK)


# --- trustavatar audit ---------------------------------------------------------------

AUDIT_EPILOG = """\b
Exit codes:
   0  report written; the ledger is intact and nothing needs action
   3  report written; something needs action, or the ledger chain is broken; or no
      report: the ledger is gone or damaged (emptied, overwritten, its table dropped)
   1  the keystore could not sign, or a file could not be written once the audit was made
   2  bad usage (no registry in this home, bad --since, output not .html, an output that
      exists without --force or in a folder that cannot be written)
"""


@click.group("audit", invoke_without_command=True, epilog=AUDIT_EPILOG)
@click.option("--since", "since", default=None, metavar="DATE",
              help="Only generations made at or after DATE (ISO 8601; a date means its "
                   "start in UTC).")
@click.option("--out", "out", default=None, metavar="AUDIT.html",
              help="Write AUDIT.html, AUDIT.json and the detached signature AUDIT.json.sig.")
@click.option("--no-watermark", is_flag=True,
              help="Skip reading each video's watermark (faster; the checklist says so).")
@click.option("--force", is_flag=True, help="Replace existing report files.")
@passphrase_option
@json_option
@click.pass_context
def audit_command(ctx: click.Context, since: str | None, out: str | None, no_watermark: bool,
                  force: bool, passphrase: bytes | None) -> int | None:
    """Compliance audit over the ledger, the consents and the generated files.

    For every generated video: its consent and that consent's status today, its C2PA
    manifest re-verified now, its watermark, the ledger's integrity; what needs action; an
    EU AI Act Art. 50 checklist. The JSON form is signed with the organisation key.
    """
    if ctx.invoked_subcommand is not None:
        return None
    from rich.progress import Progress

    from trustavatar.keys import Keystore
    from trustavatar.reports import build_audit, write_audit

    st = state()
    if out is None:
        raise InputError("give --out AUDIT.html (or 'trustavatar audit verify AUDIT.json')")
    if not single_page(out):  # (".html" alone is a folder's name)
        raise InputError(f"--out must name an .html file, got {out}")
    for p in (Path(out), Path(out).with_suffix(".json"),
              Path(out).with_suffix(".json").with_name(Path(out).stem + ".json.sig")):
        refuse_overwrite(str(p), force)
    check_writable(out)  # a missing folder fails now, not after the whole audit
    when = time_option(since, "--since", date_ok=True)
    require_registry(st, "nothing generated in this home")
    key = Keystore.open(st.home).signing_key(passphrase)  # unlock before the long part
    with Progress(console=st.err, transient=True, disable=not st.err.is_terminal) as bar:
        task = bar.add_task("auditing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = build_audit(st.home, since=when, check_watermark=not no_watermark,
                             progress=progress)
    paths = write_audit(report, out, key, overwrite=force)
    d = report.data
    summary = {"ok": report.clean, "exit_code": 0 if report.clean else int(ExitCode.REJECTED),
               "files": {k: str(v) for k, v in paths.items()},
               "ledger_ok": report.ledger_ok, "totals": d["totals"],
               "needs_action": d["needs_action"], "checklist": d["checklist"]}

    def human(con: Console) -> None:
        if not report.ledger_ok:
            con.print(Text.assemble(("THE LEDGER CHAIN IS BROKEN", "bold red"), ": " + visible(
                "; ".join(p["detail"] for p in d["ledger"]["problems"]))))
        t = d["totals"]
        marked = ("watermarks not checked" if t["watermarked"] is None
                  else f"{t['watermarked']} watermarked")
        con.print(f"{t['videos']} video(s): {t['on_disk']} on disk, {t['trusted_manifest']} "
                  f"with a trusted manifest, {marked}; "
                  f"{len(d['needs_action'])} finding(s) need action")
        for a in d["needs_action"][:20]:
            con.print(f"  - row {a['seq'] if a['seq'] is not None else 'ledger'}: "
                      + "; ".join(a["why"]))
        for k, v in paths.items():
            con.print(f"wrote {k}: {v}")

    emit(summary, human)
    return 0 if report.clean else int(ExitCode.REJECTED)


@audit_command.command("verify")
@click.argument("audit_json", type=click.Path(dir_okay=False))
@click.option("--signature", default=None, type=click.Path(dir_okay=False),
              help="The detached signature (default: AUDIT_JSON.sig).")
@json_option
def audit_verify(audit_json: str, signature: str | None) -> int:
    """Check an audit's JSON against its detached signature and your trust anchors.

    The HTML page the signature names is checked too when it is next to the JSON.
    Exit codes: 0 signed by a trusted organisation key and unchanged; 3 changed (the JSON
    or the page), forged or untrusted; 2 unreadable.
    """
    from trustavatar.keys import TrustStore
    from trustavatar.reports import verify_audit

    st = state()
    try:
        sig = verify_audit(audit_json, trust=TrustStore.from_home(st.home), signature=signature)
    except ReportError as e:
        if e.exit_code == ExitCode.FAILURE:  # unreadable files are usage errors here
            raise InputError(e.message) from e
        raise
    if sig.page is None:
        page = "; the signature does not cover the HTML page (made before pages were signed)"
    elif sig.page_checked:
        page = f"; the page {visible(sig.page)} is unchanged too"
    else:
        page = f"; the page it names, {visible(sig.page)}, is not next to it (not checked)"
    emit({"ok": True, **sig.to_dict()},
         lambda con: con.print(Text.assemble(
             ("valid", "green"), f": {visible(audit_json)} signed by {visible(sig.organisation)} "
             f"at {sig.signed_at}, unchanged (SHA-256 {sig.document_sha256[:16]}…){page}")))
    return int(ExitCode.OK)


command = report_command  # registered as 'report'; audit_command as 'audit'
