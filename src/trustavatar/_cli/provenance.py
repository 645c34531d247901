"""``trustavatar provenance``: sign and verify C2PA manifests."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from trustavatar import provenance as pv
from trustavatar._cli._common import (
    emit,
    json_option,
    passphrase_option,
    refuse_overwrite,
    state,
)
from trustavatar._display import visible
from trustavatar.errors import Error, ExitCode, InputError
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore
from trustavatar.provenance.model import SHORT_SOURCE_TYPES as _SOURCE_TYPES
from trustavatar.provenance.model import check_signer_names, trusted_names

if TYPE_CHECKING:
    from cryptography import x509

EXIT_BY_STATE = {
    pv.ValidationState.TRUSTED: ExitCode.OK,
    pv.ValidationState.VALID_UNTRUSTED: ExitCode.UNTRUSTED,
    pv.ValidationState.INVALID: ExitCode.REJECTED,
    pv.ValidationState.ABSENT: ExitCode.ABSENT,
}


@click.group("provenance")
def command() -> None:
    """Sign media with a C2PA manifest; verify a file's manifest."""


#: Seconds of a video searched for a frame with one face, to compare with a consent.
_FACE_SEARCH_SECONDS = 5.0


def consent_binding(artifact: str, media: str, mime: str) -> pv.ConsentBinding:
    """Verify a consent artifact (signature, issuer, validity, revocation), that it grants
    avatar generation, and that the face in ``media`` (a picture, or a video's first frame
    with one face) is its subject's; then bind to it. Any consent was bound to any media
    before: a research-only consent of one person to a video of another."""
    from trustavatar import consent
    from trustavatar.registry import Registry

    st = state()
    face = _media_face(media, mime)
    with Registry.for_home(st.home) as registry:
        grant = consent.verify(Path(artifact), purpose="avatar-generation", face=face,
                               trust=TrustStore.from_home(st.home), registry=registry,
                               home=st.home)
    return pv.ConsentBinding(grant.consent_id, grant.artifact_sha256)


def _media_face(media: str, mime: str) -> Any:
    """What to compare with the consent's subject: the picture itself, a video's first
    frame with exactly one face, or None for sound."""
    if mime.startswith("image/"):
        return Path(media)
    if not mime.startswith("video/"):
        return None
    from trustavatar.face.mesh import FaceCounter
    from trustavatar.video_io import iter_frames, probe

    fps = probe(media).fps
    with FaceCounter(max_faces=2) as counter:
        for i, frame in enumerate(iter_frames(media)):
            if i > _FACE_SEARCH_SECONDS * fps:
                break
            if counter.count(frame) == 1:
                return frame
    raise InputError(f"--consent: no frame in the first {_FACE_SEARCH_SECONDS:g} s of "
                     f"{Path(media).name} shows exactly one face to compare with the "
                     "consent's subject")


@command.command("sign")
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("--out", "dst", required=True, type=click.Path(dir_okay=False),
              help="Signed copy to write (may equal SRC).")
@click.option("--source-type", type=click.Choice(sorted(_SOURCE_TYPES)), default="generated",
              show_default=True,
              help="generated: fully AI-made; composite: AI edit of real footage (dubbing).")
@click.option("--consent", "consent_path", type=click.Path(dir_okay=False), default=None,
              help="Consent artifact to bind (verified first; only its id and hash are embedded).")
@click.option("--ingredient", "ingredient_paths", multiple=True, type=click.Path(dir_okay=False),
              help="An input file, recorded by SHA-256 only. Repeatable.")
@click.option("--title", default=None, help="Manifest title (default: the output file name).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (not needed when --out "
              "is SRC itself).")
@passphrase_option
@json_option
def sign_cmd(src: str, dst: str, source_type: str, consent_path: str | None,
             ingredient_paths: tuple[str, ...], title: str | None, force: bool,
             passphrase: bytes | None) -> int:
    """Embed a signed manifest declaring SRC AI-generated (MP4, JPEG, PNG, WAV)."""
    st = state()
    in_place = Path(dst).exists() and Path(src).exists() and Path(src).samefile(dst)
    if in_place and Path(dst).is_symlink():  # the link would be replaced, its file unsigned
        raise InputError(f"the output {dst} is a symbolic link to the input: to sign in "
                         f"place, name the file itself ({Path(dst).resolve()})")
    # signing in place replaces the file without --force, but never a file of the home
    inputs = [("--consent", consent_path)] + [("--ingredient", p) for p in ingredient_paths]
    refuse_overwrite(dst, force or in_place, [] if in_place else inputs)
    keystore = Keystore.open(st.home)
    key = keystore.signing_key(passphrase)
    mime = pv.detect_format(src)
    binding = consent_binding(consent_path, src, mime) if consent_path else None
    ingredients = [pv.Ingredient.from_file(p) for p in ingredient_paths]
    result = pv.sign(
        src, dst, key=key, trust=keystore.trust_store(), source_type=_SOURCE_TYPES[source_type],
        consent=binding, ingredients=ingredients, title=title,
        tsa_url=st.home.load_config().tsa_url, overwrite=force or in_place,
    )
    def human(con: Console) -> None:
        con.print(f"signed {dst} ({pv.SUPPORTED_FORMATS[result.mime]}), manifest "
                  f"{result.manifest_label}, {result.seconds * 1000:.0f} ms")
        if result.parent is not None:
            con.print(Text(f"  {_parent_words(result.parent)}"),
                      style=None if result.parent.state == "trusted" else "yellow")

    emit({"ok": True, **result.to_dict(),
          "consent": {"consent_id": binding.consent_id} if binding else None}, human)
    return ExitCode.OK


def _parent_words(parent: pv.ParentManifest) -> str:
    """The manifest a file carried before it was signed again, in a line."""
    how = {"trusted": "trusted", "valid-untrusted": "valid, signer not trusted",
           "invalid": "INVALID: " + (", ".join(parent.failures) or "did not validate")}
    return (f"earlier manifest {visible(parent.manifest_label)} kept as the parent "
            f"ingredient ({how.get(parent.state, visible(parent.state))} when signed over)")


#: what marks a value that only the manifest says (its signature not trusted or broken)
CLAIMED = " (claimed, not verified)"


def print_report(report: pv.ProvenanceReport, con: Console,
                 consent_status: dict[str, Any] | None = None) -> None:
    style = {"trusted": "green", "valid-untrusted": "yellow", "invalid": "red",
             "absent": "blue"}[report.state.value]
    con.print(Text.assemble(f"{visible(report.path)}: ", (report.state.value, f"bold {style}"),
                            f" — {visible(report.summary)}"))
    if not report.read:  # no manifest, or one that could not be read: nothing to show
        return
    claimed = CLAIMED if report.claimed else ""
    if report.claimed:
        con.print("  what follows is what the file claims: its signature "
                  + ("does not hold" if report.state is pv.ValidationState.INVALID
                     else "is not trusted") + ", so none of it is verified", style="yellow")
    types = ", ".join(t.rsplit("/", 1)[-1] for t in report.digital_source_types) or "none declared"
    con.print(f"  AI-generated: {'yes' if report.ai_generated else 'no'} "
              f"({visible(types)}){claimed}")
    con.print(f"  signer: {visible(report.signer_name)}; "
              f"generator: {visible(report.claim_generator or '-')}{claimed}")
    if report.consent:
        con.print(f"  consent: {visible(report.consent.consent_id)} "
                  f"(artifact sha256 {report.consent.artifact_sha256[:16]}…){claimed}")
        if consent_status is not None:
            con.print(f"    in this home's registry: {visible(consent_status['words'])}",
                      style=None if consent_status.get("status") == "valid" else "yellow")
    else:
        con.print("  consent: no consent binding")
    if report.parent is not None:
        con.print(f"  {_parent_words(report.parent)}{claimed}")
    for ing in report.ingredients:
        con.print(f"  ingredient: {visible(ing.title)} ({visible(ing.mime)}, "
                  f"{visible(ing.relationship)}, "
                  f"sha256 {ing.sha256[:16]}…){claimed}")
    if report.training_mining:
        uses = sorted(set(report.training_mining.values()))
        con.print(f"  AI training / data mining: {visible(', '.join(uses))}{claimed}")
    con.print(f"  timestamp: {visible(report.timestamp or report.timestamp_note)}")


def consent_status(home: Home, binding: pv.ConsentBinding) -> dict[str, Any]:
    """What this home's registry knows now of the consent a trusted manifest binds (read
    only): its status (valid, revoked, expired, not yet valid), or that it is not there or
    could not be read. ``words`` says it for a person."""
    from trustavatar._time import format_time, utc_now
    from trustavatar.consent.store import get_consent
    from trustavatar.registry import Registry

    out: dict[str, Any] = {"in_registry": None, "status": None, "revoked_at": None,
                           "not_before": None, "not_after": None, "artifact_matches": None}
    if not home.registry_path.is_file():
        return out | {"in_registry": False, "words": "not there (this home has no registry)"}
    try:
        with Registry.open(home.registry_path, read_only=True) as registry:
            record = get_consent(registry, binding.consent_id)
    except Error as e:
        return out | {"words": f"unknown: the registry could not be read ({e.message})"}
    if record is None:
        return out | {"in_registry": False, "words": "not there (issued elsewhere?)"}
    now = utc_now()
    status = record.status(now)
    matches = record.artifact_sha256 == binding.artifact_sha256
    out |= {"in_registry": True, "status": status, "artifact_matches": matches,
            "not_before": format_time(record.not_before),
            "not_after": format_time(record.ends_at),
            "revoked_at": (format_time(record.revocation.revoked_at)
                           if record.revocation is not None else None)}
    words = {"valid": f"valid (until {out['not_after']})",
             "revoked": f"REVOKED on {out['revoked_at']}",
             "expired": f"EXPIRED on {out['not_after']}",
             "not-yet-valid": f"not yet valid (from {out['not_before']})"}[status]
    if record.revocation is not None and status != "revoked":
        words += f"; revocation recorded for {out['revoked_at']}"
    if not matches:
        words += (f"; the registry holds another artifact for this id (sha256 "
                  f"{record.artifact_sha256[:16]}…)")
    return out | {"words": words}


#: Frames of a video read for the trustavatar watermark when its manifest is not trusted
#: (30 s at 25 fps; a 2 s stretch of a marked video reads on its own: generator/WATERMARK.md)
#: up to 1280x720; larger frames hold more pixels per cell, and take longer to decode (a
#: 4K frame 59 ms), so fewer are read, down to :data:`VERIFY_WATERMARK_MIN_FRAMES`.
VERIFY_WATERMARK_FRAMES = 750
VERIFY_WATERMARK_MIN_FRAMES = 100


def watermark_frames(width: int, height: int) -> int:
    """How many frames of a ``width`` x ``height`` video :func:`watermark_view` reads: the
    pixels of 750 frames at 1280x720 (1080p: 333 frames, 4K: 100)."""
    pixels = max(1, width * height)
    return max(VERIFY_WATERMARK_MIN_FRAMES,
               min(VERIFY_WATERMARK_FRAMES, round(VERIFY_WATERMARK_FRAMES * 1280 * 720 / pixels)))


def watermark_view(path: str, home: Home) -> dict[str, Any]:
    """The trustavatar watermark of the video at ``path`` and the rows of ``home``'s
    ledger that list its payload (read only), as a JSON object; ``words`` says it for a
    person (raw: the console shows outside text with escapes). A watermark that cannot be
    read (frames too small, nothing decodes) is reported, not raised: the manifest's
    verdict stands on its own."""
    from trustavatar.registry.ledger import find_by_watermark_in
    from trustavatar.watermark import read_watermark

    out: dict[str, Any] = {"read": False, "present": None, "payload": None, "z": None,
                           "frames_used": 0, "orientation": None, "confirmed_by": None,
                           "ledger_rows": [], "ledger_note": None, "error": None}
    from trustavatar.video_io import probe

    try:
        info = probe(path)
        reading = read_watermark(path, max_frames=watermark_frames(info.width, info.height))
    except Error as e:
        return out | {"error": e.message, "words": f"not read ({e.message})"}
    payload = reading.payload.hex() if reading.payload is not None else None
    out |= {"read": True, "present": reading.present, "payload": payload,
            "z": round(float(reading.z_score), 2), "frames_used": reading.frames_used,
            "orientation": reading.orientation}
    if not reading.present:
        return out | {"words": f"none found ({reading.frames_used} frames read)"}
    seen = (f"present (z = {reading.z_score:.1f} over {reading.frames_used} frames"
            f"{reading.orientation_note}), payload {payload or 'unreadable (damaged)'}")
    if payload is None:
        return out | {"words": seen}
    rows, note = find_by_watermark_in(home, payload)
    digest = _file_sha256(path)
    out["ledger_note"] = note
    out["ledger_rows"] = [r.to_dict() | {
        "this_file": digest is not None and digest == r.entry.output_sha256,
        "consent_status": _row_consent_status(home, r.entry.consent_id,
                                              r.entry.consent_artifact_sha256),
    } for r in rows]
    if rows and note is None:
        out["confirmed_by"] = "ledger"
        return out | {"words": seen + "; this home's ledger lists it"}
    why = note or "this home's ledger does not list that payload"
    return out | {"words": f"{seen}; claimed, not verified: {why} (the mark's key is public: "
                           "anyone can add it to any video)"}


def _file_sha256(path: str) -> str | None:
    from trustavatar._files import sha256_file

    try:
        return sha256_file(Path(path))
    except Error:
        return None


def _row_consent_status(home: Home, consent_id: str, artifact_sha256: str
                        ) -> dict[str, Any] | None:
    """:func:`consent_status` of a ledger row's consent (None when the row's values are not
    a consent binding: rows of other writers)."""
    try:
        binding = pv.ConsentBinding(consent_id=consent_id, artifact_sha256=artifact_sha256)
    except Error:
        return None
    return consent_status(home, binding)


def print_watermark(view: dict[str, Any], con: Console) -> None:
    con.print(f"  watermark: {view['words']}",
              style="yellow" if view["present"] and view["confirmed_by"] is None else None)
    unsure = "" if view["confirmed_by"] else " (as stored, not verified)"
    for row in view["ledger_rows"]:
        con.print(f"    ledger row {row['seq']}{unsure}: generated {row['created_at']} by "
                  f"{visible(row['operator'])} under consent {visible(row['consent_id'])}; "
                  f"manifest {visible(row['manifest_label'] or '-')}")
        if row["consent_status"] is not None:
            status = row["consent_status"]
            con.print(f"      consent in this home's registry: {visible(status['words'])}",
                      style=None if status.get("status") == "valid" else "yellow")
        con.print("      " + ("this file is that row's output" if row["this_file"] else
                             f"this file is not that row's output byte for byte "
                             f"({visible(row['output_path'])}, sha256 "
                             f"{row['output_sha256'][:16]}…): a copy changed since (re-encoded, "
                             "edited or signed again)"))


@command.command("verify")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--no-watermark", is_flag=True,
              help="Do not read the trustavatar watermark of a video whose manifest is not "
                   "trusted (faster).")
@json_option
def verify_cmd(path: str, no_watermark: bool) -> int:
    """Verify the manifest of PATH against the trust store.

    Exit code: 0 trusted, 5 valid but untrusted signer, 3 invalid, 4 no manifest.

    What an untrusted or invalid manifest says (AI generation, signer, consent,
    ingredients) is shown as claimed, not verified. For a trusted manifest bound to a
    consent, the consent's status in this home's registry is shown when it is there.

    An MP4 whose manifest is not trusted (absent, as after any re-encode; invalid; or
    untrusted) is also read for the trustavatar watermark (its first 30 s, less of large
    frames), and its payload looked up in this home's ledger: a listed payload names the
    generation, its consent and its original output. The exit code still says what the
    manifest is.
    """
    home = state().home
    trust = TrustStore.from_home(home)
    report = pv.verify(path, trust=trust)
    report = check_signer_names(report, trusted_names(trust, _own_signer(home)))
    status = (consent_status(home, report.consent)
              if report.state is pv.ValidationState.TRUSTED and report.consent else None)
    mark = None
    if (not no_watermark and report.mime == "video/mp4"
            and report.state is not pv.ValidationState.TRUSTED):
        err = state().err
        with err.status("reading the watermark") if err.is_terminal else nullcontext():
            mark = watermark_view(path, home)

    def human(con: Console) -> None:
        print_report(report, con, status)
        if mark is not None:
            print_watermark(mark, con)

    emit({"ok": report.state is pv.ValidationState.TRUSTED, **report.to_dict(),
          "consent_status": status, "watermark": mark}, human)
    return EXIT_BY_STATE[report.state]


def _own_signer(home: Home) -> tuple[x509.Certificate, ...]:
    """This home's signing certificate (none without an identity, or a damaged one)."""
    if not Keystore.exists(home):
        return ()
    try:
        return Keystore.open(home).identity.chain[:1]
    except Error:
        return ()
