"""``trustavatar consent``: issue, verify, revoke and list consent artifacts; challenge and
record consent on a clip."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from trustavatar import consent as consent_api
from trustavatar._atomic import atomic_output, check_writable, refuse_if_taken
from trustavatar._cli._common import (
    emit,
    error_object,
    json_option,
    passphrase_option,
    refuse_overwrite,
    require_registry,
    state,
    time_option,
)
from trustavatar._display import visible
from trustavatar._envelope import signing_chain_end
from trustavatar._files import sha256_bytes
from trustavatar._time import format_time, later, utc_now
from trustavatar.consent import (
    CHALLENGE_TTL,
    DEFAULT_PURPOSE,
    DEFAULT_VALIDITY,
    MAX_ATTEMPTS,
    ClipEvidence,
    ConsentDraft,
    ConsentGrant,
    Evidence,
    create_challenge,
    export_revocations,
    issue,
    list_consents,
    load_artifact,
    record_consent,
    revoke_once,
    verify,
)
from trustavatar.consent.store import artifact_bytes
from trustavatar.errors import ConsentError, ConsentEvidenceError, ExitCode, InputError
from trustavatar.face import MATCH_THRESHOLD
from trustavatar.keys import Keystore, TrustStore
from trustavatar.registry import Registry

#: Artifacts hold a face embedding (biometric data): private by default.
_ARTIFACT_MODE = 0o600


@click.group("consent")
def command() -> None:
    """Issue, verify, revoke and list signed consent artifacts; record consent on a clip."""


@command.command("issue")
@click.option("--face", "face", required=True, type=click.Path(dir_okay=False),
              help="Reference portrait of the subject (exactly one face).")
@click.option("--name", "display_name", required=True, help="The subject's display name.")
@click.option("--release", required=True, type=click.Path(dir_okay=False),
              help="The release document the subject signed (only its SHA-256 is stored).")
@click.option("--purpose", "purposes", multiple=True,
              help=f"Allowed purpose (repeatable; default {DEFAULT_PURPOSE}).")
@click.option("--language", "languages", multiple=True,
              help="Allowed BCP 47 language (repeatable; default * = any).")
@click.option("--channel", "channels", multiple=True,
              help="Allowed publication channel (repeatable; default * = any).")
@click.option("--not-before", default=None, metavar="ISO-TIME",
              help="Start: now (the default) or later; up to 5 minutes past counts as now.")
@click.option("--valid-days", default=None, type=click.IntRange(1, 36500),
              help="Days of validity (default 365).")
@click.option("--not-after", default=None, metavar="ISO-TIME", help="End, instead of --valid-days.")
@click.option("--operator", default=None, help="Who took the consent (stored in the artifact).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the artifact (JSON).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@passphrase_option
@json_option
def issue_(face: str, display_name: str, release: str, purposes: tuple[str, ...],
           languages: tuple[str, ...], channels: tuple[str, ...], not_before: str | None,
           valid_days: int | None, not_after: str | None, operator: str | None, out: str,
           force: bool, passphrase: bytes | None) -> int:
    """Issue a consent artifact (operator attestation of a signed release) and record it."""
    st = state()
    if valid_days is not None and not_after is not None:
        raise InputError("give --valid-days or --not-after, not both")
    refuse_overwrite(out, force, [("--face", face), ("--release", release)])
    valid_for = DEFAULT_VALIDITY if valid_days is None else dt.timedelta(days=valid_days)
    now = utc_now()
    start = time_option(not_before, "--not-before") or now
    if start < now - _NOT_BEFORE_SLACK:  # verify refuses any time before the issue
        raise InputError(f"--not-before {format_time(start)} is before now "
                         f"({format_time(now)}): a consent holds from when it is issued, so "
                         "it cannot start earlier (and --valid-days would count from then)")
    start = max(start, now)  # "now", as typed a moment ago
    end = time_option(not_after, "--not-after")
    asked_end = end or later(start, valid_for, "the end of validity (--not-before + "
                                                "--valid-days)")
    if asked_end <= now:
        raise InputError("the consent would have ended before it is issued (check "
                         "--not-before, --valid-days and --not-after)")
    check_writable(out)  # before anything is recorded
    key = Keystore.open(st.home).signing_key(passphrase)
    evidence = Evidence.operator_attestation(release)
    with Registry.for_home(st.home) as registry:
        artifact = issue(
            key, portrait=face, display_name=display_name, evidence=evidence,
            purposes=purposes or (DEFAULT_PURPOSE,), languages=languages or ("*",),
            channels=channels or ("*",), not_before=start, not_after=end, valid_for=valid_for,
            operator=operator, at=now,
        )
        if not force:  # an --out that appeared meanwhile: refused before anything is recorded
            refuse_if_taken(Path(out))
        record = record_consent(registry, artifact)
    _write_artifact(out, artifact.raw, artifact.consent_id, force=force,
                    during="the consent was issued")

    def human(con: Console) -> None:
        con.print(f"issued consent {artifact.consent_id} → {out}")
        con.print(f"  subject: {record.subject_name}")
        con.print(f"  purposes: {', '.join(record.purposes)}; languages: "
                  f"{', '.join(record.languages)}; channels: {', '.join(record.channels)}")
        con.print(f"  valid {format_time(record.not_before)} to {format_time(record.ends_at)}")
        if record.ends_at < asked_end:
            con.print(_capped(asked_end))
        con.print("  the artifact holds a face embedding (biometric data): share it only "
                  "with those who verify consent")

    emit({"ok": True, "artifact": str(out), "artifact_sha256": artifact.sha256,
          "consent": record.to_dict(), "asked_until": format_time(asked_end)}, human)
    return ExitCode.OK


@command.command("verify")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option("--face", default=None, type=click.Path(dir_okay=False),
              help="Check that this image shows the consenting subject.")
@click.option("--purpose", default=None, help="Require this purpose.")
@click.option("--language", default=None, help="Require this language (BCP 47).")
@click.option("--channel", default=None, help="Require this channel.")
@click.option("--revocations", "revocation_files", multiple=True,
              type=click.Path(dir_okay=False),
              help="A signed revocation list to check against (repeatable).")
@click.option("--at", "at", default=None, metavar="ISO-TIME",
              help="Verify as of this time (default: now).")
@json_option
def verify_(artifact: str, face: str | None, purpose: str | None, language: str | None,
            channel: str | None, revocation_files: tuple[str, ...], at: str | None) -> int:
    """Verify a consent artifact: exit 0 if valid, 3 if rejected (also an artifact that is not
    well-formed JSON of the v1 shape), 2 for bad input (a missing file, a bad option)."""
    st = state()
    when = time_option(at, "--at")
    try:
        grant = verify(artifact, face=face, purpose=purpose, language=language,
                       channel=channel, trust=TrustStore.from_home(st.home),
                       revocation_lists=revocation_files, at=when, home=st.home)
    except ConsentError as e:  # rejected: "valid" is false, as it is true on success
        e.result["valid"] = False
        raise
    evidence = load_artifact(artifact).evidence  # verified above: this only reads it
    result: dict[str, Any] = {"ok": True, "valid": True, "grant": grant.to_dict()}
    if evidence.clip is not None:
        result["evidence"] = evidence.to_json()

    def human(con: Console) -> None:
        _show_grant(con, grant, purpose=purpose, language=language, channel=channel)
        if evidence.clip is not None:
            _show_clip_evidence(con, evidence)

    emit(result, human)
    return ExitCode.OK


def _show_clip_evidence(con: Console, evidence: Evidence) -> None:
    clip = evidence.clip
    assert isinstance(clip, ClipEvidence)
    digest = next((d.sha256 for d in evidence.documents if d.kind == "consent-clip"), "?")

    def line(text: str) -> None:
        con.print(text)

    line(f"  recorded consent clip (sha256 {digest[:16]}…, {clip.duration_s:g} s), checked "
         f"against challenge {clip.challenge_id}:")
    line(f"    the subject was asked to read ({clip.language}): \"{clip.sentence}\"")
    line(f"    speech heard: \"{clip.transcript}\"")
    line(f"    the challenge code fitted the speech {clip.asr_margin:g} nats better than any "
         f"other code ({clip.asr_min_margin:g} required; {clip.asr_engine})")
    if clip.speech_decoded is not None:
        start, end = clip.speech_decoded
        how = (" (a second try: the whole span had failed, so the audio was cut where the "
               "loudest voice stops)") if clip.second_try else ""
        line(f"    decoded: {start:g}–{end:g} s of the clip's audio{how}")
    line(f"    liveness: {clip.blinks} blink(s); head motion {clip.head_motion:g} and mouth "
         f"motion {clip.mouth_motion:g} face heights; mouth-speech correlation "
         f"{clip.mouth_sync:g}")
    line(f"    face: {clip.face_frames} clip frames matched the portrait (largest distance "
         f"{clip.face_distance:g} ≤ {clip.face_threshold:g})")
    line("    (the clip itself stays with the issuer; its SHA-256 identifies it)")


def _show_grant(con: Console, g: ConsentGrant, *, purpose: str | None, language: str | None,
                channel: str | None) -> None:
    def line(text: str) -> None:
        con.print(text)

    line(f"consent {g.consent_id} is valid for {g.subject_name}")
    line("  ✓ well-formed: canonical JSON matching the consent artifact schema v1")
    line(f"  ✓ signature verifies (signer certificate sha256 {g.signer_sha256[:16]}…)")
    line(f"  ✓ issuer trusted: {g.issuer_organisation} "
         f"(root sha256 {g.anchor_sha256[:16]}…), checked at issue time "
         f"{format_time(g.issued_at)}")
    line(f"  ✓ valid at {format_time(g.checked_at)}: from {format_time(g.not_before)} "
         f"until {format_time(g.not_after)}")
    if g.revocation_sources:
        lists = sum(s.startswith("revocation-list:") for s in g.revocation_sources)
        where = (["the local registry"] if "registry" in g.revocation_sources else []) + (
            [f"{lists} revocation list(s)"] if lists else [])
        line(f"  ✓ not revoked according to {' and '.join(where)}")
    else:
        line("  - revocation not checked (no registry here, no --revocations list of this issuer)")
    for skipped in g.revocation_lists_skipped:
        digest, why = skipped.split(": ", 1)
        line(f"  - revocation list {digest[:16]}… skipped: {why}, not by this consent's "
             f"issuer {g.issuer_organisation} under its root (it says nothing of this "
             "consent)")
    asked = [f"{k} {v!r}" for k, v in (("purpose", purpose), ("language", language),
                                        ("channel", channel)) if v is not None]
    if asked:
        line(f"  ✓ in scope: {', '.join(asked)}")
    else:
        line("  - scope not checked (give --purpose / --language / --channel)")
    if g.face_distance is not None:
        line(f"  ✓ face matches the subject (distance {g.face_distance:.3f} ≤ {MATCH_THRESHOLD})")
    else:
        line("  - face not checked (give --face)")
    line(f"  scope: purposes {', '.join(g.purposes)}; languages {', '.join(g.languages)}; "
         f"channels {', '.join(g.channels)}")
    line(f"  evidence: {g.evidence_method}; artifact sha256 {g.artifact_sha256}")


@command.command("revoke")
@click.argument("consent_id", callback=lambda c, p, v: _an_id(v, "consent"))
@click.option("--reason", required=True, help="Why (kept in the local registry, not exported).")
@json_option
def revoke_(consent_id: str, reason: str) -> int:
    """Revoke a consent recorded in this home's registry."""
    st = state()
    require_registry(st, "no consent was issued in this home")
    with Registry.for_home(st.home) as registry:
        revocation, made = revoke_once(registry, consent_id, reason=reason)
    already = not made

    def human(con: Console) -> None:
        verb = "was already revoked" if already else "revoked"
        con.print(f"consent {consent_id} {verb} at {format_time(revocation.revoked_at)}")
        con.print("  export a revocation list for third parties: "
                  "trustavatar consent revocations export --out FILE")

    emit({"ok": True, "already_revoked": already, "revocation": revocation.to_dict()}, human)
    return ExitCode.OK


@command.command("list")
@json_option
def list_() -> int:
    """List the consents in this home's registry with their status now."""
    st = state()
    now = utc_now()
    if st.home.registry_path.exists():
        with Registry.open(st.home.registry_path, read_only=True) as registry:
            records = list_consents(registry)
    else:
        records = []

    registry_found = st.home.registry_path.exists()

    def human(con: Console) -> None:
        if not registry_found:  # a fresh home, or a mistyped --home
            con.print(f"no registry at {st.home.registry_path}: no consents recorded in this "
                      "home (wrong --home?)")
        elif not records:
            con.print("no consents recorded (issue one with 'trustavatar consent issue')")
        for r in records:
            con.print(f"{r.consent_id}  {r.status(now):<13}  {r.subject_name}  "
                      f"{format_time(r.not_before)} to {format_time(r.ends_at)}  "
                      f"purposes: {', '.join(r.purposes)}")

    emit({"ok": True, "checked_at": format_time(now), "registry_found": registry_found,
          "consents": [r.to_dict(at=now) for r in records]}, human)
    return ExitCode.OK


@command.command("export")
@click.argument("consent_id", callback=lambda c, p, v: _an_id(v, "consent"))
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the artifact (JSON).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@json_option
def export_(consent_id: str, out: str, force: bool) -> int:
    """Write a recorded consent's artifact, byte for byte as issued (a lost copy, or one
    that 'consent record' could not write)."""
    st = state()
    refuse_overwrite(out, force)
    registry_path = require_registry(st, "no consent was issued in this home")
    with Registry.open(registry_path, read_only=True) as registry:
        raw = artifact_bytes(registry, consent_id)
    with atomic_output(out, mode=_ARTIFACT_MODE, replace=force) as tmp:
        tmp.write_bytes(raw)
    digest = sha256_bytes(raw)
    emit({"ok": True, "consent_id": consent_id, "artifact": str(out), "artifact_sha256": digest},
         lambda con: con.print(f"wrote the artifact of consent {consent_id} to {out} "
                               f"(sha256 {digest[:16]}…)"))
    return ExitCode.OK


@command.group("revocations")
def revocations() -> None:
    """Signed revocation lists for offline checks by third parties."""


@revocations.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the signed list (JSON).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@passphrase_option
@json_option
def revocations_export(out: str, force: bool, passphrase: bytes | None) -> int:
    """Sign every revocation in the registry into a list third parties can check."""
    st = state()
    refuse_overwrite(out, force)
    keystore = Keystore.open(st.home)
    # a mistyped --home would otherwise sign a list saying "nothing revoked"
    registry_path = require_registry(st, "no consent was issued in this home")
    key = keystore.signing_key(passphrase)
    with Registry.open(registry_path, read_only=True) as registry:
        rl = export_revocations(registry, key)
    with atomic_output(out, replace=force) as tmp:
        tmp.write_bytes(rl.raw)
    emit({"ok": True, "out": str(out), "sha256": rl.sha256,
          "issuer_organisation": rl.issuer_organisation,
          "issued_at": format_time(rl.issued_at), "revocations": len(rl.revoked)},
         lambda con: con.print(f"wrote {len(rl.revoked)} revocation(s) signed by "
                               f"{rl.issuer_organisation} to {out}"))
    return ExitCode.OK


# --- recorded consent -----------------------------------------------------------------


@command.command("challenge")
@click.option("--subject", "display_name", required=True, help="The subject's display name.")
@click.option("--purpose", "--scope", "purposes", multiple=True,
              help=f"Allowed purpose (repeatable; default {DEFAULT_PURPOSE}).")
@click.option("--language", "languages", multiple=True,
              help="Allowed BCP 47 language of generated media (repeatable; default * = any).")
@click.option("--channel", "channels", multiple=True,
              help="Allowed publication channel (repeatable; default * = any).")
@click.option("--valid-days", default=None, type=click.IntRange(1, 36500),
              help="Days the consent will be valid from its recording (default 365).")
@click.option("--not-after", default=None, metavar="ISO-TIME",
              help="End of the consent, instead of --valid-days.")
@click.option("--operator", default=None, help="Who takes the consent (stored in the artifact).")
@click.option("--expires", "expires_min", default=int(CHALLENGE_TTL.total_seconds() // 60),
              show_default=True, type=click.IntRange(1, 24 * 60),
              help="Minutes the challenge can be used.")
@click.option("--template", "template_path", default=None, type=click.Path(dir_okay=False),
              help="Statement template (JSON, like consent/templates/en.json): your own "
                   "wording. Default: the built-in English one. Stored with the challenge.")
@json_option
def challenge_(display_name: str, purposes: tuple[str, ...], languages: tuple[str, ...],
               channels: tuple[str, ...], valid_days: int | None, not_after: str | None,
               operator: str | None, expires_min: int, template_path: str | None) -> int:
    """Make a one-time code for recording consent on a clip; print the sentence to read."""
    st = state()
    # the speech part (PocketSphinx) loads for the commands that read a template only
    template = (consent_api.ENGLISH_TEMPLATE if template_path is None
                else consent_api.load_template(template_path))
    # no signing identity: say so now, not after the clip is recorded
    certificate_ends = signing_chain_end(Keystore.open(st.home).identity.chain)
    draft = ConsentDraft(
        display_name=display_name, purposes=purposes or (DEFAULT_PURPOSE,),
        languages=languages or ("*",), channels=channels or ("*",), valid_days=valid_days,
        not_after=time_option(not_after, "--not-after"), operator=operator,
    )
    now = utc_now()
    with Registry.for_home(st.home) as registry:
        ch = create_challenge(registry, draft, ttl=dt.timedelta(minutes=expires_min), at=now,
                              template=template)
    sentence = ch.sentence()
    spoken = template.spoken_code(ch.code)
    # the end asked for, were the clip recorded now (later, for valid_days, by the wait)
    asked_end = draft.not_after or later(now, draft.valid_for, "the consent's end")
    span = (f"until {format_time(draft.not_after)}" if draft.not_after is not None
            else f"for {draft.valid_days} days from the recording")
    record_cmd = (f"trustavatar consent record --challenge {ch.challenge_id} --clip CLIP.mp4 "
                  "--portrait FACE.jpg --out CONSENT.json")

    def human(con: Console) -> None:
        def line(text: str = "") -> None:
            con.print(text)

        line(f"challenge {ch.challenge_id} for {draft.display_name}: expires "
             f"{format_time(ch.expires_at)} (in {expires_min} min), {MAX_ATTEMPTS} attempts")
        line(f"  consent to: purposes {', '.join(draft.purposes)}; languages "
             f"{', '.join(draft.languages)}; channels {', '.join(draft.channels)}; {span}")
        if asked_end > certificate_ends:
            line(_capped(asked_end, certificate_ends))
        line()
        line("Ask the subject to record a clip (webcam or phone video with sound) reading, "
             "in English:")
        line()
        line(f'    "{sentence}"')
        line()
        line(f"  say each digit on its own: {spoken}")
        line(f"  {template.instructions}")
        line("  The sentence is read in English: the speech recogniser is English only.")
        line()
        line(f"Then: {record_cmd}")

    emit({"ok": True, "challenge": ch.to_dict(at=now, code=True),
          "certificate_ends": format_time(certificate_ends), "sentence": sentence,
          "say": spoken, "instructions": template.instructions, "next": record_cmd}, human)
    return ExitCode.OK


@command.command("record")
@click.option("--challenge", "challenge_id", required=True, help="The challenge id.",
              callback=lambda c, p, v: _an_id(v, "challenge"))
@click.option("--clip", required=True, type=click.Path(dir_okay=False),
              help="The clip of the subject reading the sentence (video with sound).")
@click.option("--portrait", required=True, type=click.Path(dir_okay=False),
              help="Reference portrait of the subject (exactly one face).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the consent artifact (JSON).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@passphrase_option
@json_option
def record_(challenge_id: str, clip: str, portrait: str, out: str, force: bool,
            passphrase: bytes | None) -> int:
    """Check a consent clip (spoken code, liveness, face) and issue the consent: exit 0 if
    recorded, 3 if rejected, 2 for bad input."""
    st = state()
    refuse_overwrite(out, force, [("--clip", clip), ("--portrait", portrait)])
    check_writable(out)  # before the challenge is used up
    key = Keystore.open(st.home).signing_key(passphrase)
    with Registry.for_home(st.home) as registry:
        try:
            result = consent_api.record_clip(
                key, registry, challenge_id=challenge_id, clip=clip, portrait=portrait,
                trust=TrustStore.from_home(st.home),
            )
        except ConsentEvidenceError as e:
            report = e.report
            emit({"ok": False, "error": error_object(type(e).__name__, e.message, e.exit_code,
                                                     check=e.check),
                  "report": report.to_dict() if report is not None else None},
                 lambda con: _show_report(con, report, challenge_id) if report else None)
            click.echo(f"trustavatar: error: {visible(e.message)}", err=True)
            return int(e.exit_code)
        _write_artifact(out, result.artifact.raw, result.artifact.consent_id, force=force,
                        during="the clip was checked")
    artifact = result.artifact
    validity = artifact.validity

    def human(con: Console) -> None:
        con.print(f"recorded consent {artifact.consent_id} for "
                  f"{artifact.subject.display_name} → {out}")
        con.print(f"  valid {format_time(validity.not_before)} to "
                  f"{format_time(validity.not_after)}")
        if validity.not_after < result.asked_until:
            con.print(_capped(result.asked_until))
        _show_report(con, result.report, challenge_id)
        con.print("  the artifact holds a face embedding (biometric data); keep the clip "
                  "with the issuer")

    emit({"ok": True, "artifact": str(out), "artifact_sha256": artifact.sha256,
          "consent_id": artifact.consent_id, "validity": validity.to_json(),
          "asked_until": format_time(result.asked_until),
          "challenge": result.challenge.to_dict(), "report": result.report.to_dict()}, human)
    return ExitCode.OK


#: how far in the past --not-before may be and mean "now" (the time typed a moment ago)
_NOT_BEFORE_SLACK = dt.timedelta(minutes=5)


def _capped(asked: dt.datetime, ends: dt.datetime | None = None) -> str:
    """Said when a consent ends (``ends``, when not shown already) before the end asked."""
    by = "" if ends is None else f"; it will end by {format_time(ends)}"
    return (f"  (asked until {format_time(asked)}, but a consent holds only while its "
            f"signing certificate does: renew the key to sign consents that run longer{by})")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _an_id(value: str, what: str) -> str:
    """A consent or challenge id as given (a UUID; copied in capitals, or with spaces
    around it, it is the same id): anything else is a usage error naming what was given
    (cut short: a pasted file must not fill the screen)."""
    v = value.strip()
    if not _UUID.fullmatch(v):
        shown = v if len(v) <= 40 else f"{v[:40]}… ({len(v)} characters)"
        raise InputError(f"{visible(shown)!r} is not a {what} id (a UUID such as "
                         "3f6c1a8e-5b2d-4c1e-9a7f-0c2b8d4e6f10)")
    return v.lower()


def _write_artifact(out: str, raw: bytes, consent_id: str, *, force: bool, during: str) -> None:
    """Write a consent's artifact once it is recorded. The consent stands if this fails (an
    ``--out`` that appeared ``during`` the work, a full disk), so the error says how to get
    the artifact from the registry."""
    try:
        with atomic_output(out, mode=_ARTIFACT_MODE, replace=force) as tmp:
            tmp.write_bytes(raw)
    except (InputError, OSError) as e:
        why = (f"{out} appeared while {during} and was kept"
               if isinstance(e, InputError) and Path(out).exists() else
               f"its artifact could not be written ({getattr(e, 'message', None) or e})")
        home = shlex.quote(str(state().home.root))
        raise InputError(f"consent {consent_id} was recorded, but {why}; write the artifact "
                         f"with: trustavatar --home {home} consent export {consent_id} "
                         "--out FILE") from e


def _show_report(con: Console, report: Any, challenge_id: str) -> None:
    """Each check of a :class:`~trustavatar.consent.ClipReport`: passed or not, and why,
    with its figures against their thresholds."""
    def line(check: str, failure: str | None, figures: str) -> None:
        mark = "✓" if failure is None else "✗"
        text = figures if failure is None else f"{failure} [{figures}]"
        con.print(f"  {mark} {check}: {text}")

    con.print(f"  ✓ freshness: challenge {challenge_id} was open")
    speech = report.speech
    if speech is None:
        line("speech", report.speech_problem, "no speech analysed")
    else:
        line("speech", speech.failure,
             f"heard code {speech.code or 'none'} ("
             f"{'the issued code' if speech.figures()['code_matches'] else 'not the issued code'}"
             "); margin "
             f"{speech.margin:.1f} nats (≥ {speech.min_margin:g}); "
             f'transcript "{speech.transcript}"')
    live = report.liveness
    f: dict[str, Any] = {k: "n/a" if v is None else v  # n/a: not measured
                         for k, v in live.figures().items()}
    t = f["thresholds"]
    line("liveness", live.failure,
         f"{f['blinks']} blink(s), deepest {f['deepest_blink']} (≤ {t['blink_depth']}); head "
         f"motion {f['head_motion']} (≥ {t['head_motion']}); mouth motion "
         f"{f['mouth_motion']} (≥ {t['mouth_motion']}); mouth-speech correlation "
         f"{f['mouth_sync']} (≥ {t['mouth_sync']})")
    ident = report.identity
    distance = "n/a" if ident.distance is None else f"{ident.distance:.3f}"
    line("identity", ident.failure,
         f"at most {ident.max_faces} face(s) per frame; largest distance to the portrait "
         f"{distance} over {len(ident.frames)} frames (≤ {ident.threshold})")
    screen = report.provenance
    if screen is None:
        con.print("  - provenance: not checked")
    else:
        from trustavatar.watermark import Z_PRESENT  # OpenCV and PyAV: not for every command

        z = "n/a" if screen.watermark_z is None else f"{screen.watermark_z:.1f}"
        line("provenance", screen.failure,
             f"watermark z {z} (present from {Z_PRESENT:g}); C2PA manifest "
             f"{screen.c2pa_state or 'not readable'}")
