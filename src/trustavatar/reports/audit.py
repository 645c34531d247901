"""The compliance audit: what was generated, under which consent, and is it still marked?

:func:`build_audit` walks the generation ledger, the consent registry and the output files
on disk and returns an :class:`AuditReport`:

- the ledger's chain integrity (:func:`~trustavatar.registry.verify_ledger`): a broken
  chain is the first thing the report says, loudly;
- per generated video: its consent (id, subject display name, evidence method, status
  *today*: valid / expired / revoked / not in the registry; scope against what was
  generated: purpose and language), the C2PA manifest re-verified now (state, AI
  declaration, consent binding matching the ledger), the watermark (present, payload equal
  to the ledger's), the file still the one generated (SHA-256);
- what needs action (consent revoked after the video was made, expired consent for a video
  still on disk, a video generated under an artifact other than the one recorded for its
  consent id, quality checks that failed and were kept with ``--qa report``, a missing,
  modified or unmarked output, a broken ledger);
- an EU AI Act Article 50 transparency checklist filled from that evidence.

:func:`write_audit` writes ``AUDIT.html``, ``AUDIT.json`` (RFC 8785 canonical JSON) and
``AUDIT.json.sig``: a detached signature — a signed envelope naming the JSON file's SHA-256
— by the organisation key, so an auditor holding the organisation's root can check the
JSON with :func:`verify_audit` (``trustavatar audit verify AUDIT.json``).
"""

from __future__ import annotations

__all__ = [
    "AUDIT_FORMAT",
    "AUDIT_SIGNATURE_TYPE",
    "AuditReport",
    "AuditSignature",
    "build_audit",
    "render_audit_html",
    "verify_audit",
    "write_audit",
]

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from trustavatar import _envelope
from trustavatar._arguments import KEY_HINT, flag, instance
from trustavatar._arguments import path as as_path
from trustavatar._atomic import move_in_together
from trustavatar._files import read_input, sha256_bytes, sha256_file
from trustavatar._time import format_time, to_second, utc_now
from trustavatar.consent.scope import language_in_scope
from trustavatar.errors import (
    AuditSignatureError,
    Error,
    InputError,
    LedgerBrokenError,
    RegistryDamagedError,
    RegistryError,
    ReportError,
    UntrustedChainError,
)
from trustavatar.home import Home
from trustavatar.keys import SigningKey, TrustStore
from trustavatar.reports._templates import environment, script_json

AUDIT_FORMAT: Final = "trustavatar.audit/1"
AUDIT_SIGNATURE_TYPE: Final = "trustavatar.audit-signature"
_MAX_SIGNATURE_BYTES: Final = 64 * 1024
_MAX_AUDIT_BYTES: Final = 1 << 30  # an audit of ~1 million videos
PURPOSE: Final = "avatar-generation"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AuditReport:
    """The audit's findings as one JSON-ready document (``data``), with shortcuts."""

    data: Mapping[str, Any]

    @property
    def needs_action(self) -> list[dict[str, Any]]:
        return list(self.data["needs_action"])

    @property
    def ledger_ok(self) -> bool:
        return bool(self.data["ledger"]["ok"])

    @property
    def clean(self) -> bool:
        """Ledger intact and nothing needs action."""
        return self.ledger_ok and not self.data["needs_action"]

    def to_json_bytes(self) -> bytes:
        """RFC 8785 canonical JSON: the bytes the detached signature covers."""
        return _envelope.canonical_json(dict(self.data))


# --- building ---------------------------------------------------------------------------


def _consent_view(record: Any, at: dt.datetime, made: dt.datetime, language: str | None,
                  artifact_sha256: str | None = None) -> dict[str, Any]:
    """The consent of one ledger row as the registry holds it. ``artifact_sha256``: the
    artifact the row was generated under (the ledger's); ``artifact_matches`` says whether
    it is the one recorded for the consent id (None when not given)."""
    if record is None:
        return {"found": False, "status_now": "not-in-registry"}
    status_now = record.status(at)
    # The ledger keeps whole seconds: a revocation within the generation's second counts
    # as after it (the consent gate checked the registry before anything was rendered).
    status_then = record.status(made - dt.timedelta(microseconds=1))
    in_scope_purpose = PURPOSE in record.purposes
    # the consent gate's own rule ("*" is any language; en covers en-gb)
    in_scope_language = (None if language is None or not record.languages
                         else language_in_scope(language, record.languages))
    return {
        "found": True, "consent_id": record.consent_id, "subject": record.subject_name,
        "issuer": record.issuer_organisation, "evidence_method": record.evidence_method,
        "not_after": format_time(record.ends_at), "purposes": list(record.purposes),
        "languages": list(record.languages), "status_now": status_now,
        "status_at_generation": status_then,
        "revoked_at": format_time(record.revocation.revoked_at) if record.revocation else None,
        "scope": {"purpose": in_scope_purpose, "language": in_scope_language,
                  "language_generated": language},
        "artifact_sha256": record.artifact_sha256,
        "artifact_used_sha256": artifact_sha256,
        "artifact_matches": (None if artifact_sha256 is None
                             else artifact_sha256 == record.artifact_sha256),
    }


def _file_view(path: Path, row: Any, trust: TrustStore, check_watermark: bool
               ) -> dict[str, Any]:
    from trustavatar.provenance import ValidationState, verify
    from trustavatar.watermark import read_watermark

    out: dict[str, Any] = {"path": str(path), "exists": path.is_file()}
    if not out["exists"]:
        return out
    try:
        digest = sha256_file(path)
    except InputError as e:
        out["error"] = str(e)
        return out
    out["sha256_matches"] = digest == row.entry.output_sha256
    try:
        rep = verify(path, trust=trust)
        out["c2pa"] = {"state": rep.state.value, "summary": rep.summary,
                       "ai_generated": rep.ai_generated,
                       "consent_id": rep.consent.consent_id if rep.consent else None,
                       # a binding only a trusted manifest makes (a broken one claims it)
                       "consent_matches": (rep.state is ValidationState.TRUSTED
                                           and rep.consent is not None
                                           and rep.consent.consent_id == row.entry.consent_id
                                           and rep.consent.artifact_sha256
                                           == row.entry.consent_artifact_sha256),
                       "manifest_label": rep.manifest_label}
    except Error as e:
        out["c2pa"] = {"state": "unreadable", "summary": str(e), "ai_generated": None,
                       "consent_id": None, "consent_matches": False}
    if check_watermark:
        try:
            wm = read_watermark(path, max_frames=250)
            payload = wm.payload.hex() if wm.payload is not None else None
            out["watermark"] = {"present": wm.present, "payload": payload,
                                "matches_ledger": (payload is not None
                                                   and payload == row.entry.watermark_payload),
                                "z": round(float(wm.z_score), 2)}
        except Error as e:
            out["watermark"] = {"present": False, "payload": None, "matches_ledger": False,
                                "error": str(e)}
    return out


def _qa_failure(qa: Mapping[str, Any]) -> str | None:
    """What a ledger row's quality figures say failed, or None when they passed (or hold no
    verdict: rows of other writers). ``generate --qa report`` keeps an output whose checks
    failed; its row records ``passed: 0`` and the figures (``QAReport.figures()``)."""
    passed = qa.get("passed")
    if passed is None or (not isinstance(passed, bool) and passed not in (0, 1)):
        return None
    if passed:
        return None
    recorded = qa.get("failures")
    if isinstance(recorded, list) and recorded and all(isinstance(r, str) for r in recorded):
        return ("the quality checks failed when the video was made (kept with --qa report): "
                + "; ".join(recorded) + ": review it before it is used")
    # rows written before the failures were recorded: judged from their figures
    from trustavatar._numbers import finite_number
    from trustavatar.generator.qa import (
        IDENTITY_FRAME_MAX,
        IDENTITY_MEDIAN_MAX,
        SYNC_MAX_OFFSET,
        SYNC_MIN_CORRELATION,
    )

    found = []
    median, worst = (finite_number(qa.get(k)) for k in ("identity_median", "identity_max"))
    offset, corr = (finite_number(qa.get(k)) for k in ("sync_offset_frames", "sync_correlation"))
    if median is not None and median > IDENTITY_MEDIAN_MAX:
        found.append(f"identity drifted (median distance {median:.3f} > {IDENTITY_MEDIAN_MAX})")
    if worst is not None and worst > IDENTITY_FRAME_MAX:
        found.append(f"identity drifted in a frame (distance {worst:.3f} > {IDENTITY_FRAME_MAX})")
    if offset is not None and abs(offset) > SYNC_MAX_OFFSET:
        found.append(f"lip sync off by {offset:g} frames (at most {SYNC_MAX_OFFSET})")
    if corr is not None and corr < SYNC_MIN_CORRELATION:
        found.append(f"lip sync correlation {corr:.2f} < {SYNC_MIN_CORRELATION}")
    return ("the quality checks failed when the video was made (kept with --qa report): "
            + ("; ".join(found) if found else "see the ledger row's qa figures")
            + ": review it before it is used")


def _actions(consent: Mapping[str, Any], f: Mapping[str, Any],
             qa: Mapping[str, Any] | None = None) -> list[str]:
    why = []
    if not consent.get("found"):
        why.append("its consent record is not in the registry")
    else:
        if consent.get("artifact_matches") is False:
            why.append(
                "the video was generated under an artifact that is not the one recorded for "
                f"this consent id (ledger SHA-256 {str(consent['artifact_used_sha256'])[:16]}…, "
                f"registry {str(consent['artifact_sha256'])[:16]}…): the consent shown is not "
                "the one it was made under; find that artifact and who issued it")
        if consent["status_now"] == "revoked":
            after = consent["status_at_generation"] != "revoked"
            why.append("consent was revoked " + ("after the video was generated: take it "
                                                 "down or re-obtain consent" if after else
                                                 "before the video was generated"))
        elif consent["status_now"] == "expired" and f.get("exists"):
            why.append("consent has expired but the video is still on disk")
        if consent["status_at_generation"] not in ("valid", None):
            why.append(f"consent was {consent['status_at_generation']} when the video was made")
        if not consent["scope"]["purpose"]:
            why.append(f"consent does not grant '{PURPOSE}'")
        if consent["scope"]["language"] is False:
            why.append(f"generated in '{consent['scope']['language_generated']}', outside the "
                       f"consent's languages {consent['languages']}")
    if not f.get("exists"):
        why.append("the output file is missing (moved or deleted): its marking cannot be "
                   "checked")
    else:
        if f.get("error"):
            why.append(f"the output file cannot be read ({f['error']})")
        if f.get("sha256_matches") is False:
            why.append("the output file differs from the one generated (edited or re-encoded)")
        c2pa = f.get("c2pa") or {}
        if c2pa.get("state") not in (None, "trusted"):
            why.append(f"C2PA manifest is {c2pa.get('state')}: {c2pa.get('summary')}")
        elif c2pa and not c2pa.get("ai_generated"):
            why.append("the manifest does not declare AI generation")
        wm = f.get("watermark")
        if wm is not None and not wm.get("present"):
            why.append("no watermark found in the output")
        elif wm is not None and not wm.get("matches_ledger"):  # as the checklist counts it
            why.append("the output's watermark does not carry this row's payload (it reads "
                       f"{wm.get('payload') or 'as damaged'})")
    failed_qa = None if qa is None else _qa_failure(qa)
    if failed_qa is not None:
        why.append(failed_qa)
    return why


def _checklist(videos: list[dict[str, Any]], ledger_ok: bool, watermarks_checked: bool
               ) -> list[dict[str, Any]]:
    on_disk = [v for v in videos if v["file"].get("exists")]

    def share(pred: Callable[[dict[str, Any]], bool]) -> tuple[str, str]:
        if not on_disk:
            return "n/a", "no generated video on disk to check"
        k = sum(1 for v in on_disk if pred(v))
        status = "yes" if k == len(on_disk) else ("no" if k == 0 else "partial")
        return status, f"{k} of {len(on_disk)} videos on disk"

    marked = share(lambda v: (v["file"].get("c2pa") or {}).get("state") == "trusted"
                   and bool((v["file"].get("c2pa") or {}).get("ai_generated")))
    wm = share(lambda v: bool((v["file"].get("watermark") or {}).get("matches_ledger"))) \
        if watermarks_checked else ("not checked", "watermarks were not read (--no-watermark)")
    bound = share(lambda v: bool((v["file"].get("c2pa") or {}).get("consent_matches")))
    def had_consent(v: dict[str, Any]) -> bool:  # the recorded artifact, valid then
        c = v["consent"]
        return c.get("status_at_generation") == "valid" and c.get("artifact_matches") is not False

    consented = ("n/a", "no generation recorded") if not videos else (
        "yes" if all(had_consent(v) for v in videos) else "no",
        f"{sum(had_consent(v) for v in videos)} of "
        f"{len(videos)} generations had valid consent when made")
    return [
        {"item": "Art. 50(2): synthetic video marked in a machine-readable format and "
                 "detectable as artificially generated (C2PA manifest declaring "
                 "trainedAlgorithmicMedia, signed by a trusted key)",
         "status": marked[0], "evidence": marked[1]},
        {"item": "Art. 50(2): marking robust to re-encoding (invisible watermark carrying "
                 "the generation id)", "status": wm[0], "evidence": wm[1]},
        {"item": "Art. 50(4): deep-fake disclosure — each video states it is AI-generated "
                 "(the manifest's AI declaration; a visible label where it is published is "
                 "the deployer's to add and is not checked here)",
         "status": marked[0], "evidence": marked[1]},
        {"item": "Consent of the person depicted, bound to each video (manifest consent "
                 "binding equals the ledger's consent id)", "status": bound[0],
         "evidence": bound[1]},
        {"item": "Consent valid (signed, in scope, not revoked or expired) when each video "
                 "was generated", "status": consented[0], "evidence": consented[1]},
        {"item": "Record-keeping: the generation ledger's hash chain is intact",
         "status": "yes" if ledger_ok else "no",
         "evidence": "verified now" if ledger_ok else "the chain is BROKEN (see above)"},
    ]


def build_audit(home: Home | str | os.PathLike[str] | None = None, *,
                since: dt.datetime | None = None,
                at: dt.datetime | None = None, trust: TrustStore | None = None,
                check_watermark: bool = True, progress: Progress | None = None
                ) -> AuditReport:
    """Audit ``home``'s ledger, consents and outputs (see the module docstring).

    ``since`` keeps generations created at or after it; ``at`` is "now" for consent status
    (default: the current time). ``trust`` defaults to the home's trust store. A broken
    ledger, a missing file or a revoked consent are findings, not errors; a registry that
    cannot be read raises :class:`~trustavatar.errors.ReportError`, and one whose ledger is
    gone or damaged as a whole (emptied, overwritten, its table dropped: no row to audit)
    :class:`~trustavatar.errors.LedgerBrokenError`, a broken chain, as ``ledger verify``
    says it.
    """
    from trustavatar.consent.store import list_consents
    from trustavatar.registry import Registry, list_generations, verify_ledger

    home = Home.resolve(home)  # a path or a Home (None: the usual one)
    if progress is not None and not callable(progress):
        raise ReportError(f"progress must be a callable, got {type(progress).__name__}")
    now = utc_now() if at is None else to_second(at, "at")
    if trust is None:
        trust = TrustStore.from_home(home)
    if not home.registry_path.exists():
        raise ReportError(f"no registry at {home.registry_path}: nothing was ever generated "
                          "or consented with this home (set TRUSTAVATAR_HOME?)")
    try:
        with Registry.open(home.registry_path, read_only=True) as registry:
            ledger = verify_ledger(registry)
            rows = list_generations(registry, since=since, skip_damaged=True)
            consents = {c.consent_id: c for c in list_consents(registry)}
            videos: list[dict[str, Any]] = []
            bad_rows = {p.seq for p in ledger.problems if p.seq is not None}
            for i, row in enumerate(rows):
                if progress is not None:
                    progress(i, len(rows))
                record = consents.get(row.entry.consent_id)
                language = row.entry.qa.get("language")
                consent = _consent_view(record, now, row.created_at,
                                        language if isinstance(language, str) else None,
                                        row.entry.consent_artifact_sha256)
                f = _file_view(Path(row.entry.output_path), row, trust, check_watermark)
                why = _actions(consent, f, row.entry.qa)
                if row.seq in bad_rows:
                    why.insert(0, "this ledger row is part of a broken chain")
                videos.append({
                    "seq": row.seq, "created_at": format_time(row.created_at),
                    "operator": row.entry.operator, "mode": row.entry.mode,
                    "output_path": row.entry.output_path,
                    "output_sha256": row.entry.output_sha256,
                    "manifest_label": row.entry.manifest_label,
                    "generation_id": row.entry.qa.get("generation_id"),
                    "consent_id": row.entry.consent_id, "consent": consent, "file": f,
                    "needs_action": why,
                })
    except RegistryDamagedError as e:  # every row gone at once: as 'ledger verify' says it
        raise LedgerBrokenError(f"ledger BROKEN: {e.message}; there is nothing to audit "
                                "(run 'trustavatar ledger verify')") from e
    except RegistryError as e:
        raise ReportError(f"cannot read the registry: {e}") from e
    if progress is not None:
        progress(len(rows), len(rows))
    needs = [{"seq": v["seq"], "output_path": v["output_path"], "why": v["needs_action"]}
             for v in videos if v["needs_action"]]
    if not ledger.ok:
        needs.insert(0, {"seq": None, "output_path": None,
                         "why": [p.detail for p in ledger.problems]})
    status_counts: dict[str, int] = {}
    for c in consents.values():
        s = c.status(now)
        status_counts[s] = status_counts.get(s, 0) + 1
    data = {
        "format": AUDIT_FORMAT,
        "generated_at": format_time(now),
        "since": format_time(since) if since else None,
        "home": str(home.root),
        "ledger": {"ok": ledger.ok, "rows": ledger.head_seq, "head_hash": ledger.head_hash
                   if isinstance(ledger.head_hash, str) else None,
                   "problems": [p.to_dict() for p in ledger.problems]},
        "totals": {
            "videos": len(videos),
            "on_disk": sum(1 for v in videos if v["file"].get("exists")),
            "trusted_manifest": sum(1 for v in videos
                                    if (v["file"].get("c2pa") or {}).get("state") == "trusted"),
            "watermarked": sum(1 for v in videos
                               if (v["file"].get("watermark") or {}).get("present"))
                           if check_watermark else None,
            "needing_action": sum(1 for v in videos if v["needs_action"]),
            "consents": len(consents), "consents_by_status": status_counts,
        },
        "needs_action": needs,
        "videos": videos,
        "consents": [c.to_dict(at=now) for c in consents.values()],
        "checklist": _checklist(videos, ledger.ok, check_watermark),
    }
    # round-trip through JSON so the report holds plain, canonicalisable values
    return AuditReport(json.loads(json.dumps(data, default=str)))


# --- HTML -------------------------------------------------------------------------------


def render_audit_html(report: AuditReport, *, signature: Mapping[str, Any] | None = None
                      ) -> str:
    """The audit as one self-contained HTML page (``signature``: what :func:`write_audit`
    signed, shown so a reader knows which JSON and key to check)."""
    instance(report, AuditReport, "report", " (build_audit(home))")
    d = report.data
    text = script_json(d)
    return environment().get_template("audit.html.j2").render(
        d=d, clean=report.clean, json=text, signature=signature or {})


# --- signing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSignature:
    """A verified detached signature: who signed which JSON bytes, when."""

    document_sha256: str
    organisation: str
    signed_at: str
    anchor_sha256: str
    #: The HTML page the signature also covers (its file name), and whether that page was
    #: found next to the JSON and checked (False: not there). None: a signature made before
    #: pages were signed (session 22) covers the JSON only.
    page: str | None = None
    page_checked: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"document_sha256": self.document_sha256, "organisation": self.organisation,
                "signed_at": self.signed_at, "anchor_sha256": self.anchor_sha256,
                "page": self.page, "page_checked": self.page_checked}


def write_audit(report: AuditReport, out_html: str | os.PathLike[str], key: SigningKey, *,
                overwrite: bool = True) -> dict[str, Path]:
    """Write ``OUT.html``, ``OUT.json`` and ``OUT.json.sig`` (each atomically; the HTML
    last, so a page never exists without the JSON and signature it names).
    ``overwrite=False``: replace none of them, not even one that appeared while the audit
    was being made (:class:`InputError`, and none of this run's is left)."""
    instance(report, AuditReport, "report", " (build_audit(home))")
    instance(key, SigningKey, "key", KEY_HINT)
    html_path = as_path(out_html, "out_html")
    replace = flag(overwrite, "overwrite")
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the audit report must be an .html file, got {html_path.name}")
    json_path = html_path.with_suffix(".json")
    sig_path = json_path.with_name(json_path.name + ".sig")
    body = report.to_json_bytes()
    digest = sha256_bytes(body)
    organisation = _envelope.signer_organisation(key.certificate)
    payload = {"type": AUDIT_SIGNATURE_TYPE, "version": 1,
               "issuer": {"organisation": organisation},
               "signed_at": report.data["generated_at"],
               "document": {"name": json_path.name, "sha256": digest, "bytes": len(body),
                            "format": AUDIT_FORMAT}}
    page = render_audit_html(report, signature={"json": json_path.name, "sig": sig_path.name,
                                                "sha256": digest,
                                                "organisation": organisation}).encode("utf-8")
    # the page is signed too: what a reader sees is what was signed
    payload["page"] = {"name": html_path.name, "sha256": sha256_bytes(page)}
    sig = _envelope.seal(payload, key)
    # all three complete before any is moved in, the page last
    move_in_together([(json_path, body), (sig_path, sig), (html_path, page)],
                     replace=replace)
    return {"html": html_path, "json": json_path, "signature": sig_path}


def verify_audit(json_path: str | os.PathLike[str], *, trust: TrustStore,
                 signature: str | os.PathLike[str] | None = None) -> AuditSignature:
    """Check ``AUDIT.json`` against its detached signature (default ``AUDIT.json.sig``):
    (1) the signature file is a canonical envelope of the right type, (2) its signature
    verifies, (3) the signer chains to ``trust``, (4) the named organisation signed it,
    (5) it names exactly these bytes, and (6) the HTML page it also names, when that page
    is next to the JSON, is unchanged too. Raises :class:`AuditSignatureError`."""
    json_path = as_path(json_path, "json_path")
    if signature is not None:
        as_path(signature, "signature")
    jp = Path(json_path)
    sp = Path(signature) if signature is not None else jp.with_name(jp.name + ".sig")
    try:
        body = read_input(jp, max_bytes=_MAX_AUDIT_BYTES, what="audit")
        sig = read_input(sp, max_bytes=_MAX_SIGNATURE_BYTES, what="audit signature")
    except InputError as e:
        raise ReportError(e.message) from e
    try:
        document = _envelope.load_canonical_json(sig, max_bytes=_MAX_SIGNATURE_BYTES)
        env = _envelope.open_envelope(document, raw=sig)
    except _envelope.EnvelopeFormatError as e:
        raise AuditSignatureError(f"{sp.name} is not an audit signature: {e}") from e
    p = env.payload
    try:
        if p.get("type") != AUDIT_SIGNATURE_TYPE or p.get("version") != 1:
            raise AuditSignatureError(f"{sp.name} is not an audit signature (type "
                                      f"{p.get('type')!r})")
        organisation = str(p["issuer"]["organisation"])
        expected = str(p["document"]["sha256"])
        signed_at = dt.datetime.fromisoformat(str(p["signed_at"]).replace("Z", "+00:00"))
        page = p.get("page")
        page_name = None if page is None else str(page["name"])
        page_sha256 = None if page is None else str(page["sha256"])
        if page_name is not None and (Path(page_name).name != page_name
                                      or page_name in ("", ".", "..")):
            raise ValueError(f"page name {page_name!r} is not a file name")
    except (KeyError, TypeError, ValueError) as e:
        raise AuditSignatureError(f"{sp.name} is malformed: {e}") from e
    try:
        # high-S allowed: an audit signature is not identified by its bytes, and those
        # made before the low-S rule (about half) must keep verifying
        anchor = env.check_signer(trust=trust, at=signed_at, organisation=organisation,
                                  allow_high_s=True)
    except _envelope.EnvelopeSignatureError as e:
        raise AuditSignatureError(f"{sp.name}: {e}") from e
    except UntrustedChainError as e:
        raise AuditSignatureError(f"the audit is not signed by a trusted key: {e.message}") from e
    except _envelope.EnvelopeIssuerError as e:
        raise AuditSignatureError(f"the signature {e}") from e
    actual = sha256_bytes(body)
    if actual != expected:
        raise AuditSignatureError(f"{jp.name} was changed after signing (SHA-256 {actual[:16]}… "
                                  f"≠ signed {expected[:16]}…)")
    page_checked: bool | None = None
    if page_name is not None:
        page_path = jp.with_name(page_name)
        page_checked = page_path.is_file()
        if page_checked:
            try:
                page_bytes = read_input(page_path, max_bytes=_MAX_AUDIT_BYTES, what="audit page")
            except InputError as e:
                raise ReportError(e.message) from e
            shown = sha256_bytes(page_bytes)
            if shown != page_sha256:
                raise AuditSignatureError(
                    f"{page_name} was changed after signing (SHA-256 {shown[:16]}… ≠ signed "
                    f"{str(page_sha256)[:16]}…); {jp.name} itself is unchanged")
    return AuditSignature(actual, organisation, format_time(signed_at), anchor.fingerprint,
                          page_name, page_checked)
