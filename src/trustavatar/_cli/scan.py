"""``trustavatar scan``: is a video manipulated? A verdict per video, batch over folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from trustavatar._atomic import atomic_write_bytes, check_writable, write_beside_if_taken
from trustavatar._cli._common import FiniteFloatRange, refuse_overwrite, state
from trustavatar._display import visible
from trustavatar.errors import ExitCode

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg",
                            ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv"})

EPILOG = """\b
Exit codes:
   0  every video was scanned; none is likely manipulated
  10  at least one video is likely manipulated or AI-generated
  11  some inputs could not be scanned (reported); none of the rest is flagged
   2  no input could be scanned (missing, not a video, no video stream), or bad usage
  70  internal error (a bug; rerun with --debug and report it); a bug while scanning
      one file of a batch is reported for that file and counts under 11 / 2

\b
Verdicts: likely-authentic, inconclusive, likely-manipulated. likely-authentic only means
no analyzer found anything unusual with enough face to look at; no manifest, no watermark,
good lip sync or normal blinking are never evidence of authenticity.
"""


def expand(inputs: tuple[str, ...], recursive: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Files to scan (folders expanded to their videos) and (input, problem) pairs."""
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            named = sorted(f for f in (p.rglob("*") if recursive else p.iterdir())
                           if f.suffix.lower() in VIDEO_SUFFIXES and not f.is_dir())
            found = [str(f) for f in named if f.is_file()]
            # named like a video but not a file: a broken link, a pipe (reported, not
            # skipped in silence)
            problems.extend((str(f), f"cannot read video {f}: not a regular file (a broken "
                                     "link or a pipe?)") for f in named if not f.is_file())
            if not named:
                problems.append((raw, f"no video files in folder {raw}"))
            files.extend(found)
        elif p.exists():
            files.append(raw)  # an explicit file is tried whatever its suffix
        else:
            problems.append((raw, f"cannot read video {raw}: no such file"))
    return files, problems


_STYLE = {"likely-authentic": "green", "inconclusive": "yellow", "likely-manipulated": "red"}


def print_result(d: dict[str, Any], con: Console) -> None:
    p = d.get("probability")
    prob = f"p = {p:.2f}" if p is not None else "no probability"
    verdict = d["verdict"]
    con.print(Text.assemble(f"{visible(d['path'])}: ", (verdict, f"bold {_STYLE[verdict]}"),
                            f" ({prob}, decided by {d['decided_by']})"))
    for reason in d["reasons"][:4]:
        con.print(f"  - {visible(reason)}")
    track = d["track"]
    parts = [f"face in {track['face_fraction']:.0%} of {track['frames']} frames"]
    for name, a in d["analyzers"].items():
        score = a["score"]
        parts.append(f"{name} {a['status']}" + (f" {score:.2f}" if score is not None else ""))
    con.print("  " + "; ".join(parts), style="dim")
    for w in d.get("warnings", []):
        con.print(f"  warning: {visible(w)}", style="yellow")


def exit_code(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> int:
    if any(r["verdict"] == "likely-manipulated" for r in results):
        return int(ExitCode.MANIPULATED)
    if not results:
        return int(ExitCode.USAGE)
    if errors:
        return int(ExitCode.PARTIAL)
    return int(ExitCode.OK)


@click.command("scan", epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="VIDEO_OR_DIR...")
@click.option("--json", "json_out", default=None, metavar="OUT",
              help="Also write every result as one JSON document to OUT ('-': stdout only).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Videos scanned in parallel (processes).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where learned analyzers run; the built-in analyzers use the CPU.")
@click.option("--analyzer", "analyzers", multiple=True, metavar="NAME",
              help="Run only these analyzers (repeatable; default: all default analyzers).")
@click.option("--max-seconds", type=FiniteFloatRange(min=0.5), default=None,
              help="Scan only the first SECONDS of each video.")
@click.option("--fusion", "fusion_path", type=click.Path(dir_okay=False), default=None,
              help="A fusion file from detector/fit_fusion.py (default: the packaged one).")
@click.option("--recursive/--no-recursive", default=True, show_default=True,
              help="Look for videos in sub-folders of folder inputs.")
@click.option("--report", "report", default=None, metavar="OUT",
              help="HTML report: OUT.html for one video, or a folder (one page per video "
                   "plus index.html).")
@click.option("--force", is_flag=True, help="Replace existing output files (--json OUT, --report).")
def command(inputs: tuple[str, ...], json_out: str | None, workers: int, device: str,
            analyzers: tuple[str, ...], max_seconds: float | None, fusion_path: str | None,
            recursive: bool, report: str | None, force: bool) -> int:
    """Scan videos for lip-sync manipulation and AI generation.

    Prints a verdict per video (likely-authentic / inconclusive / likely-manipulated) with a
    calibrated probability and the reasons; folders are searched for videos. A file that
    cannot be scanned is reported and the batch goes on.
    """
    from trustavatar.detector import FusionModel, analyzer_spec, scan_many

    st = state()
    to_stdout = json_out == "-"
    if to_stdout:
        st.json = True
    from trustavatar.errors import DetectionError

    for name in analyzers:  # unknown names fail before any work
        try:
            analyzer_spec(name)
        except DetectionError as e:
            raise click.BadParameter(e.message, param_hint="--analyzer") from e
    try:
        fusion = FusionModel.load(fusion_path) if fusion_path else None
    except DetectionError as e:  # the user's file: bad usage (2), not a failed operation
        raise click.BadParameter(e.message, param_hint="--fusion") from e
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("torch sees no CUDA device on this machine; use --device "
                                     "cpu", param_hint="--device")
    files, problems = expand(inputs, recursive)
    # outputs that cannot be written fail now, not after the whole batch has been scanned
    if json_out is not None and not to_stdout:
        refuse_overwrite(json_out, force, [(f"the scanned video {f}", f) for f in files])
        check_writable(json_out)
    if report is not None and report.lower().endswith((".html", ".htm")):
        if len(files) + len(problems) != 1:
            raise click.BadParameter(f"{report}: a single .html report takes one video; "
                                     "name a folder for several", param_hint="--report")
        refuse_overwrite(report, force)
        check_writable(report)
    elif report is not None:
        from trustavatar._cli.report import page_names

        if Path(report).exists() and not Path(report).is_dir():
            raise click.BadParameter(f"{report}: not a folder (name a folder, or an .html "
                                     "file for one video)", param_hint="--report")
        check_writable(Path(report) / "index.html" if Path(report).is_dir() else report)
        for name in (*page_names([str(f) for f in files]), "index.html"):
            refuse_overwrite(str(Path(report) / name), force)
    errors: list[dict[str, Any]] = [
        {"path": path, "error": {"type": "VideoInputError", "message": msg,
                                 "exit_code": int(ExitCode.USAGE)}} for path, msg in problems]
    for problem in errors:
        click.echo(f"trustavatar: error: {problem['error']['message']}", err=True)
    results: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"device": device, "max_seconds": max_seconds, "fusion": fusion,
                              "analyzers": list(analyzers) or None}
    order = {f: i for i, f in enumerate(files)}
    if files:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.completed}/{task.total}"), TimeElapsedColumn(), console=st.err,
                transient=True, disable=not st.err.is_terminal) as bar:
            task = bar.add_task("scanning", total=len(files))
            for item in scan_many(files, workers=workers, home=st.home.root, **kwargs):
                bar.advance(task)
                if item.result is not None:
                    d = item.result.to_dict()
                    results.append(d)
                    if not to_stdout:
                        print_result(d, st.console)
                else:
                    errors.append(item.to_dict())
                    where = "" if str(item.path) in str(item.error) else f"{item.path}: "
                    click.echo(f"trustavatar: error: {where}{item.error}", err=True)
    results.sort(key=lambda d: order.get(d["path"], 0))
    code = exit_code(results, errors)
    if json_out is not None:
        from trustavatar.detector import DETECTOR_VERSION

        doc = {
            "ok": code in (ExitCode.OK, ExitCode.MANIPULATED), "exit_code": code,
            "detector_version": DETECTOR_VERSION,
            "summary": {v: sum(r["verdict"] == v for r in results)
                        for v in ("likely-authentic", "inconclusive", "likely-manipulated")}
            | {"errors": len(errors)},
            "results": results, "errors": errors,
        }
        text = json.dumps(doc, indent=2)
        if to_stdout:
            click.echo(text)
        else:
            data = (text + "\n").encode("utf-8")
            try:
                if force:
                    atomic_write_bytes(json_out, data)
                else:  # a file that appeared during the scan is kept; the scan is not lost
                    written = write_beside_if_taken(json_out, data)
                    if written != Path(json_out):
                        click.echo(f"trustavatar: warning: {json_out} appeared while scanning "
                                   f"and was kept; the results are in {written}", err=True)
            except OSError as e:
                from trustavatar.errors import InputError

                raise InputError(f"cannot write {json_out}: {e.strerror or e}") from e
    # the report last: a page that cannot be written must not cost the scan's JSON
    single_page = report is not None and report.lower().endswith((".html", ".htm"))
    if report is not None and (results if single_page else (results or errors)):
        from trustavatar._cli.report import write_reports
        from trustavatar.errors import Error

        try:
            done = write_reports(results, errors, report, force=force)
        except Error as e:
            click.echo(f"trustavatar: error: report not written: {e.message}", err=True)
            code = code if code == ExitCode.MANIPULATED else int(e.exit_code)
        else:
            if not to_stdout:
                click.echo(f"report: {done['index'] or done['reports'][0]}", err=True)
    if not results and not errors:
        click.echo("trustavatar: error: nothing to scan", err=True)
    sys.stderr.flush()
    return code
