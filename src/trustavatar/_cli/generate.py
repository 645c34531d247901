"""``trustavatar generate``: a consented, watermarked, C2PA-signed talking-head MP4."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from trustavatar._cli._common import (
    FiniteFloatRange,
    emit,
    json_option,
    passphrase_option,
    refuse_overwrite,
    state,
)
from trustavatar._files import read_input
from trustavatar.errors import ExitCode, InputError

if TYPE_CHECKING:
    from trustavatar.generator import QAPolicy

_MAX_SCRIPT = 100_000


def _script(value: str | None) -> str | None:
    if value is None or not value.startswith("@"):
        return value
    if not value[1:].strip():
        raise InputError("--script @ needs a file name after the @ (--script @script.txt)")
    data = read_input(value[1:], max_bytes=_MAX_SCRIPT, what="script file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"script file {value[1:]} is not UTF-8 text") from e


@click.command("generate")
@click.option("--face", required=True, type=click.Path(dir_okay=False),
              help="Portrait photo (JPEG/PNG) or face video (MP4/MOV) to animate.")
@click.option("--consent", "consent_path", required=True, type=click.Path(dir_okay=False),
              help="Consent artifact of the person in FACE (purpose avatar-generation).")
@click.option("--audio", type=click.Path(dir_okay=False), default=None,
              help="Speech to lip-sync (WAV, MP3, M4A, or a video's audio track).")
@click.option("--script", default=None,
              help="Text to speak with espeak-ng (SSML accepted), or @FILE.")
@click.option("--lang", "language", default=None,
              help="Language of the script (espeak-ng code; default en) or of the audio "
                   "(no default: needed with --audio unless the consent covers every "
                   "language, else the consent is refused, exit 3); checked against the "
                   "consent's scope.")
@click.option("--voice", default=None, help="espeak-ng voice name.")
@click.option("--rate", type=click.IntRange(80, 450), default=None,
              help="Speaking rate, words per minute.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .mp4.")
@click.option("--size", type=click.IntRange(64, 2160), default=None,  # pipeline.MIN_SIZE, MAX_SIZE
              help="Longer side of the output in pixels (photo default: min(512, photo), "
                   "larger up to 1024 for a small face; video default: the video's, at "
                   "most 1920).")
@click.option("--fps", type=FiniteFloatRange(5, 60), default=25.0, show_default=True,
              help="Frame rate (photo mode; video mode keeps the video's rate).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seed for blinks and head motion (same inputs + seed → same motion).")
@click.option("--qa", type=click.Choice(["fail", "report"]), default="fail", show_default=True,
              help="fail: a failed quality check writes nothing; report: keep the output.")
@click.option("--operator", default=None, help="Who runs this (recorded in the ledger).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--revocations", "revocation_files", multiple=True,
              type=click.Path(dir_okay=False),
              help="A signed revocation list ('consent revocations export') to check the "
                   "consent against, besides this home's registry (repeatable): for a "
                   "consent issued elsewhere.")
@passphrase_option
@json_option
def command(face: str, consent_path: str, audio: str | None, script: str | None,
            language: str | None, voice: str | None, rate: int | None, out: str,
            size: int | None, fps: float, seed: int, qa: QAPolicy, operator: str | None,
            force: bool, revocation_files: tuple[str, ...], passphrase: bytes | None) -> int:
    """Animate FACE to AUDIO or SCRIPT, only under a valid consent; sign and ledger it."""
    from trustavatar.generator import generate

    st = state()
    if (audio is None) == (script is None):
        raise click.UsageError("give exactly one of --audio or --script")
    script_file = script[1:] if script is not None and script.startswith("@") else None
    refuse_overwrite(out, force, [("--face", face), ("--consent", consent_path),
                                  ("--audio", audio), ("--script", script_file),
                                  *(("--revocations", r) for r in revocation_files)])
    with Progress(TextColumn("{task.description:<10}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                  console=st.err, disable=st.json or not st.err.is_terminal, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = generate(
            face=face, consent=consent_path, out=out, audio=audio, script=_script(script),
            language=language, voice=voice, rate=rate, size=size, fps=fps, seed=seed,
            qa=qa, home=st.home, passphrase=passphrase, operator=operator,
            progress=progress, overwrite=force, revocations=revocation_files,
        )
    given = click.get_current_context().get_parameter_source("fps")
    if (result.mode == "video" and given is click.core.ParameterSource.COMMANDLINE
            and abs(result.fps - fps) > 1e-6):
        click.echo(f"trustavatar: note: --fps applies to photo mode; the dub keeps the "
                   f"video's own {result.fps:g} fps", err=True)

    def human(con: Console) -> None:
        q = result.qa
        con.print(f"wrote {result.output}: {result.width}x{result.height}, {result.frames} "
                  f"frames at {result.fps:g} fps ({result.duration:.1f} s), "
                  f"{result.timings['total_s']:.1f} s")
        con.print(f"  consent {result.consent_id}; manifest {result.manifest_label}")
        con.print(f"  watermark {result.watermark}; ledger row {result.ledger_seq}")
        def shown(value: float | int | None, fmt: str) -> str:
            return "n/a" if value is None else format(value, fmt)

        if not q.failures and q.identity_median is None and q.sync_offset_frames is None:
            con.print("  QA: nothing could be measured (see the note), so nothing failed")
        else:
            verdict = "FAILED: " + "; ".join(q.failures) if q.failures else "passed"
            con.print(f"  QA: {verdict} (identity median {shown(q.identity_median, '.3f')}, "
                      f"sync offset {shown(q.sync_offset_frames, 'd')} frames, "
                      f"r {shown(q.sync_correlation, '.2f')})")
        for note in q.notes:
            con.print(f"  note: {note}")

    emit({"ok": result.qa.passed, **result.to_dict()}, human)
    return ExitCode.OK if result.qa.passed else ExitCode.FAILURE
