"""``trustavatar scan``: is a video manipulated? A verdict per video, batch over folders."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from trustavatar._atomic import atomic_write_bytes, check_writable, write_beside_if_taken
from trustavatar._cli._common import (
    FiniteFloatRange,
    Kept,
    error_object,
    refuse_overwrite,
    state,
)
from trustavatar._display import visible
from trustavatar.errors import ExitCode

if TYPE_CHECKING:
    import av

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
Folders: every file in them is considered, whatever its name. A file named as a
video (.mp4, .mov, .mkv, ...) is scanned; any other file is scanned when its
content is a video (FFmpeg's container probe, nothing decoded), and also when it
starts like a video container that FFmpeg cannot open (a cut-off upload: reported
as an input that failed). The rest (images, AVIF/HEIC photos and other one-frame
stills included; text, logs with colour codes included; audio; hidden junk) are
listed as skipped, on stderr and under "skipped" in --json, and do not change the
exit code; a folder with no video at all counts as an input that could not be scanned.
A file named on the command line is always scanned, whatever its name.

\b
Verdicts: likely-authentic, inconclusive, likely-manipulated. likely-authentic only means
no analyzer found anything unusual with enough face to look at; no manifest, no watermark,
good lip sync or normal blinking are never evidence of authenticity.
"""

#: first bytes of the containers that hold video (some also audio only: FFmpeg decides)
_CONTAINER_MAGIC: tuple[bytes, ...] = (
    b"\x1a\x45\xdf\xa3",  # Matroska, WebM
    b"FLV",
    bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"),  # ASF: WMV
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\x00\x00\x01\xb3",  # MPEG video
    b"OggS",
    b".RMF",  # RealMedia
    bytes.fromhex("060e2b34"),  # MXF
    b"YUV4MPEG2",
    b"DKIF",  # IVF (VP8/VP9/AV1)
)
#: ISO base media (MP4, MOV, 3GP, F4V): the first box's type
_ISO_BOXES = frozenset((b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot",
                        b"uuid", b"styp"))


def _looks_like_a_container(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts like a container that holds video."""
    if head[4:8] in _ISO_BOXES:
        return True
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    ts = 188
    if len(head) > 2 * ts and all(head[i] == 0x47 for i in (0, ts, 2 * ts)):  # MPEG-TS
        return True
    if len(head) > 4 + 2 * ts and all(head[4 + i] == 0x47 for i in (0, ts, 2 * ts)):  # M2TS
        return True
    return head.startswith(_CONTAINER_MAGIC)


#: ANSI/VT100 escape sequences: a CI log's colours, cursor moves, window titles, links
_ANSI_ESCAPE = re.compile(r"""\x1b(?:
      \[[0-?]*[ -/]*[@-~]              # CSI: colours (ESC [ 1 ; 31 m), cursor moves
    | \][^\x07\x1b]*(?:\x07|\x1b\\)    # OSC: window title, hyperlink
    | [ -/]*[0-~]                     # the others: ESC ( B, ESC 7, ESC =
    )""", re.VERBOSE)
#: one cut by the end of the block read
_ANSI_ESCAPE_CUT = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]*)\Z")


def _is_text(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) is text: UTF-8 of printable characters and
    white space, ANSI escape sequences allowed (a CI log in colour is text, not a video)."""
    if b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:  # a character cut at the end of the block is still text
        if e.start < len(head) - 3:
            return False
        text = head[:e.start].decode("utf-8")
    if "\x1b" in text:
        text = _ANSI_ESCAPE_CUT.sub("", _ANSI_ESCAPE.sub("", text))
    return all(c.isprintable() or c in "\t\n\r\f\v" for c in text)


#: FFmpeg demuxers that show text as a "video" (ANSI art, BBS art): never a video
_TEXT_FORMATS = frozenset(("tty", "bin", "xbin", "adf", "idf"))
#: FFmpeg demuxers of still images beyond :data:`trustavatar.video_io.IMAGE_FORMATS`
#: (any ``*_pipe`` is one too: dds_pipe, j2k_pipe, qoi_pipe, ...; yuv4mpegpipe is video)
_MORE_IMAGE_FORMATS = frozenset(("image2pipe", "ico", "msp", "alias_pix", "brender_pix",
                                 "fits", "txd"))
#: ISO base media brands (an ``ftyp`` box's major brand) of HEIF images: AVIF, HEIC, and
#: their image sequences (an animated AVIF, a HEIF burst), never a video to scan
_IMAGE_BRANDS = {b"avif": "an AVIF image", b"avis": "an animated AVIF image",
                 b"heic": "a HEIC image", b"heix": "a HEIC image", b"heim": "a HEIC image",
                 b"heis": "a HEIC image", b"hevm": "a HEIF image sequence",
                 b"hevs": "a HEIF image sequence", b"hevx": "a HEIF image sequence",
                 b"mif1": "a HEIF image", b"mif2": "a HEIF image",
                 b"msf1": "a HEIF image sequence", b"avci": "a HEIF image",
                 b"avcs": "a HEIF image sequence", b"jpeg": "a HEIF image"}


def _image_brand(head: bytes) -> str:
    """What ``head`` is when it starts with an ``ftyp`` box whose major brand is a HEIF
    image's (AVIF, HEIC): FFmpeg's mov demuxer opens one as a one-frame video. ``""``
    for anything else."""
    if head[4:8] != b"ftyp":
        return ""
    brand = head[8:12]
    what = _IMAGE_BRANDS.get(brand, "")
    return f"{what} (ftyp brand {brand.decode('ascii')!r})" if what else ""


def _not_moving(c: av.container.InputContainer, streams: list[av.video.stream.VideoStream]
                ) -> str:
    """Why ``c``, a container FFmpeg opened with video ``streams``, is no video to scan
    (text shown as ANSI art, a still image), else ``""``."""
    from trustavatar.video_io import is_still_image

    names = c.format.name.split(",")
    if not _TEXT_FORMATS.isdisjoint(names):
        return f"not a video: text (FFmpeg's {c.format.name} demuxer shows it as ANSI art)"
    if (is_still_image(c) or not _MORE_IMAGE_FORMATS.isdisjoint(names)
            or any(n.endswith("_pipe") for n in names)):
        return f"not a video: a still image ({c.format.name})"
    if streams and all(s.frames == 1 for s in streams):  # 0: not declared (MKV, fragments)
        return f"not a video: a still image (one frame, {c.format.name})"
    return ""


def classify(path: Path) -> tuple[str, str]:
    """What to do with ``path``, a file found in a folder that is not named as a video:
    ``("scan", "")`` when its content is a video (FFmpeg's container probe of its bytes,
    nothing decoded), ``("error", message)`` when it cannot be read, else ``("skip", why)``:
    images (HEIF photos: AVIF, HEIC; anything FFmpeg opens as a picture or as one frame),
    text (ANSI colour codes allowed; what FFmpeg would show as ANSI art) and the rest."""
    import av

    from trustavatar.video_io import video_streams

    if path.is_symlink() and not path.exists():
        return "skip", "a broken link"
    if not path.is_file():
        return "skip", "not a regular file (a pipe, socket or device)"
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            if not head:
                return "skip", "empty (0 bytes)"
            if head.startswith(b"\xff\xd8\xff"):
                return "skip", "not a video: a JPEG image"
            if head.startswith(b"\x89PNG\r\n\x1a\n") and b"acTL" not in head:  # not APNG
                return "skip", "not a video: a PNG image"
            if head.startswith(b"%PDF-"):  # FFmpeg finds the JPEGs in one: an MJPEG "video"
                return "skip", "not a video: a PDF document"
            if image := _image_brand(head):
                return "skip", f"not a video: {image}"
            if _is_text(head):
                return "skip", "not a video: text"
            f.seek(0)
            try:
                # a file object: FFmpeg goes by the content, not by a suffix it claims;
                # PyAV still hands it the name, and a .txt with ANSI codes then opens as
                # ANSI art (tty): those text "videos" are skipped by _not_moving
                with av.open(f, mode="r", metadata_errors="ignore") as c:
                    streams = video_streams(c)
                    if why := _not_moving(c, streams):
                        return "skip", why
                    if not streams:
                        what = "audio only" if c.streams.audio else "no video stream"
                        return "skip", f"not a video: {what} ({c.format.name})"
                    return "scan", ""
            except (av.FFmpegError, ValueError, UnicodeDecodeError):
                if _looks_like_a_container(head):  # a damaged or cut-off video: reported
                    return "scan", ""
                return "skip", "not a video (FFmpeg does not recognise its content)"
    except OSError as e:
        return "error", f"cannot read {path}: {e.strerror or e} (not checked for a video)"


def expand(inputs: tuple[str, ...], recursive: bool
           ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Files to scan (folders expanded to their videos), (input, problem) pairs and the
    (file, why) pairs of files in folders that were skipped as not videos."""
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found: list[str] = []
            passed: list[tuple[str, str]] = []
            before = len(problems)
            for f in sorted(p.rglob("*") if recursive else p.iterdir()):
                if f.is_dir():
                    continue
                if f.suffix.lower() in VIDEO_SUFFIXES:
                    if f.is_file():
                        found.append(str(f))
                    else:  # named like a video but not a file: a broken link, a pipe
                        # (reported, not skipped in silence)
                        problems.append((str(f), f"cannot read video {f}: not a regular "
                                                 "file (a broken link or a pipe?)"))
                    continue
                action, why = classify(f)
                if action == "scan":
                    found.append(str(f))
                elif action == "error":
                    problems.append((str(f), why))
                else:
                    passed.append((str(f), why))
            if not found and len(problems) == before:
                others = f" ({len(passed)} other file(s) skipped: not videos)" if passed else ""
                problems.append((raw, f"no video files in folder {raw}{others}"))
            files.extend(found)
            skipped.extend(passed)
        elif p.exists():
            files.append(raw)  # an explicit file is tried whatever its suffix
        else:
            problems.append((raw, f"cannot read video {raw}: no such file"))
    return files, problems, skipped


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
    if any(not raw.strip() for raw in inputs):  # Path("") is the current folder
        raise click.BadParameter("an empty path (an unset shell variable?)",
                                 param_hint="VIDEO_OR_DIR")
    if report is not None and not report.strip():
        raise click.BadParameter("the report's path is empty", param_hint="--report")
    files, problems, skipped = expand(inputs, recursive)
    # outputs that cannot be written fail now, not after the whole batch has been scanned;
    # no output is an input or the other output, --force or not
    scanned = [(f"the scanned video {f}", f) for f in files]
    if json_out is not None and not to_stdout:
        refuse_overwrite(json_out, force, Kept(scanned))
        check_writable(json_out)
    kept = Kept([*scanned, *([("the --json output", json_out)]
                             if json_out is not None and not to_stdout else [])])
    if report == "-":  # it would have made a folder named '-'
        raise click.BadParameter("an HTML report is written to files, not to standard "
                                 "output: name a folder, or an .html file for one video",
                                 param_hint="--report")
    from trustavatar._cli.report import page_names, single_page

    if report is not None and single_page(report):
        if len(files) + len(problems) != 1:
            raise click.BadParameter(f"{report}: a single .html report takes one video; "
                                     "name a folder for several", param_hint="--report")
        refuse_overwrite(report, force, kept)
        check_writable(report)
    elif report is not None:
        if Path(report).exists() and not Path(report).is_dir():
            raise click.BadParameter(f"{report}: not a folder (name a folder, or an .html "
                                     "file for one video)", param_hint="--report")
        check_writable(Path(report) / "index.html" if Path(report).is_dir() else report)
        for name in (*page_names([str(f) for f in files]), "index.html"):
            refuse_overwrite(str(Path(report) / name), force, kept)
    errors: list[dict[str, Any]] = [
        {"path": path, "error": error_object("VideoInputError", msg, ExitCode.USAGE)}
        for path, msg in problems]
    for problem in errors:
        click.echo(f"trustavatar: error: {visible(problem['error']['message'])}", err=True)
    for path, why in skipped:  # listed, never dropped in silence
        click.echo(f"trustavatar: skipped {visible(path)}: {why}", err=True)
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
                    click.echo(f"trustavatar: error: {visible(f'{where}{item.error}')}", err=True)
    results.sort(key=lambda d: order.get(d["path"], 0))
    code = exit_code(results, errors)
    # the pages before the JSON, so that the JSON says whether they were written; a page
    # that cannot be written costs the pages only
    report_error: str | None = None
    one_page = report is not None and single_page(report)
    if report is not None and (results if one_page else (results or errors)):
        from trustavatar._cli.report import write_reports
        from trustavatar.errors import Error

        try:
            done = write_reports(results, errors, report, force=force, inputs=kept)
        except Error as e:
            report_error = e.message
            click.echo(f"trustavatar: error: report not written: {visible(e.message)}",
                       err=True)
            code = code if code == ExitCode.MANIPULATED else int(e.exit_code)
        else:
            if not to_stdout:
                click.echo(f"report: {visible(done['index'] or done['reports'][0])}",
                           err=True)
    elif report is not None and (results or errors):
        report_error = "no video was scanned, so there is no page to write"
        click.echo(f"trustavatar: report not written: {report_error}", err=True)
    if json_out is not None:
        from trustavatar.detector import DETECTOR_VERSION

        doc = {
            "ok": code in (ExitCode.OK, ExitCode.MANIPULATED), "exit_code": code,
            "detector_version": DETECTOR_VERSION,
            "summary": {v: sum(r["verdict"] == v for r in results)
                        for v in ("likely-authentic", "inconclusive", "likely-manipulated")}
            | {"errors": len(errors), "skipped": len(skipped)},
            "results": results, "errors": errors,
            "skipped": [{"path": path, "reason": why} for path, why in skipped],
            "report": None if report is None else {"path": report, "error": report_error},
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
                        click.echo(f"trustavatar: warning: {visible(json_out)} appeared while "
                                   f"scanning and was kept; the results are in "
                                   f"{visible(str(written))}", err=True)
            except OSError as e:
                from trustavatar.errors import InputError

                raise InputError(f"cannot write {json_out}: {e.strerror or e}") from e
    if not results and not errors:
        click.echo("trustavatar: error: nothing to scan", err=True)
    if skipped:
        click.echo(f"trustavatar: {len(skipped)} file(s) in the folders skipped: not videos "
                   "(listed above)", err=True)
    sys.stderr.flush()
    return code
