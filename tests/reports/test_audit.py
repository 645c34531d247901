"""The compliance audit over a real ledger, consent registry and generated files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import invoke
from trustavatar.errors import AuditSignatureError, ReportError
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore
from trustavatar.registry import Registry
from trustavatar.reports import build_audit, render_audit_html, verify_audit, write_audit


def test_audit_finds_the_revoked_consent_and_fills_the_checklist(studio: Any) -> None:
    rep = build_audit(studio.home)
    d = rep.data
    assert d["ledger"]["ok"] and d["totals"]["videos"] == 2
    assert d["totals"]["trusted_manifest"] == 2 and d["totals"]["watermarked"] == 2
    by_consent = {v["consent_id"]: v for v in d["videos"]}
    kept, gone = by_consent[studio.kept_id], by_consent[studio.revoked_id]
    assert kept["needs_action"] == [] and kept["consent"]["status_now"] == "valid"
    assert kept["consent"]["scope"] == {"purpose": True, "language": True,
                                        "language_generated": "en"}
    assert kept["file"]["c2pa"]["consent_matches"] and kept["file"]["watermark"]["matches_ledger"]
    assert gone["consent"]["status_now"] == "revoked"
    assert gone["consent"]["status_at_generation"] == "valid"
    assert any("revoked after the video was generated" in w for w in gone["needs_action"])
    assert not rep.clean
    checklist = {c["item"].split(":")[0]: c["status"] for c in d["checklist"]}
    assert checklist["Art. 50(2)"] == "yes"
    assert checklist["Record-keeping"] == "yes"


def test_signed_audit_verifies_and_any_change_is_caught(studio: Any, tmp_path: Path) -> None:
    rep = build_audit(studio.home, check_watermark=False)
    paths = write_audit(rep, tmp_path / "audit.html", studio.keystore.signing_key())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit.html", "audit.json", "audit.json.sig"]
    sig = verify_audit(paths["json"], trust=studio.keystore.trust_store())
    assert sig.organisation == "Report Studio"
    with pytest.raises(AuditSignatureError, match="not signed by a trusted key"):
        verify_audit(paths["json"], trust=TrustStore.of())
    body = bytearray(paths["json"].read_bytes())
    body[body.index(b'"videos":') + 9] ^= 1
    paths["json"].write_bytes(bytes(body))
    with pytest.raises(AuditSignatureError, match="changed after signing"):
        verify_audit(paths["json"], trust=studio.keystore.trust_store())
    (tmp_path / "other.json").write_bytes(b"{}")
    with pytest.raises(AuditSignatureError, match="not an audit signature"):
        verify_audit(paths["json"], trust=studio.keystore.trust_store(),
                     signature=tmp_path / "other.json")


def test_missing_video_and_broken_ledger_are_reported_not_raised(studio: Any,
                                                                 tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "copy")
    shutil.copytree(studio.home.root, home.root)
    gone = studio.videos[1]
    moved = tmp_path / "moved.mp4"
    shutil.copy(gone, moved)
    gone.rename(gone.with_suffix(".bak"))
    try:
        d = build_audit(home, check_watermark=False).data
    finally:
        gone.with_suffix(".bak").rename(gone)
    row = next(v for v in d["videos"] if v["output_path"] == str(gone))
    assert row["file"]["exists"] is False
    assert any("output file is missing" in w for w in row["needs_action"])
    # edit a ledger row behind the ledger's back
    with sqlite3.connect(home.registry_path) as db:  # an attacker drops the guard first
        db.execute("DROP TRIGGER generation_ledger_no_update")
        db.execute("UPDATE generation_ledger SET operator = 'mallory' WHERE seq = 1")
    rep = build_audit(home, check_watermark=False)
    assert rep.data["ledger"]["ok"] is False
    assert rep.data["needs_action"][0]["seq"] is None
    page = render_audit_html(rep)
    assert "HASH CHAIN IS BROKEN" in page and 'id="ledger-broken"' in page


def test_empty_ledger_and_missing_registry(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "empty")
    with pytest.raises(ReportError, match="no registry"):
        build_audit(home)
    ks = Keystore.create(home, organisation="Empty Org")
    Registry.for_home(home).close()
    rep = build_audit(home)
    assert rep.clean and rep.data["totals"]["videos"] == 0
    page = render_audit_html(rep)
    assert 'id="empty-ledger"' in page
    write_audit(rep, tmp_path / "a.html", ks.signing_key())


def test_cli_audit_and_verify(studio: Any, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "AUDIT.html"
    r = invoke(capsys, "--home", studio.home.root, "audit", "--out", out, "--json",
               "--no-watermark")
    assert r.code == 3, r.err  # the revoked consent needs action
    doc = r.json()
    assert doc["ok"] is False and doc["totals"]["videos"] == 2
    assert len(doc["needs_action"]) == 1
    v = invoke(capsys, "--home", studio.home.root, "audit", "verify", tmp_path / "AUDIT.json")
    assert v.code == 0 and "Report Studio" in v.out
    again = invoke(capsys, "--home", studio.home.root, "audit", "--out", out)
    assert again.code == 2 and "exists already" in again.err
    bad = invoke(capsys, "--home", studio.home.root, "audit", "--out", tmp_path / "a.pdf")
    assert bad.code == 2
    since = invoke(capsys, "--home", studio.home.root, "audit", "--since", "2999-01-01",
                   "--out", tmp_path / "future.html", "--json", "--no-watermark")
    assert since.code == 0 and since.json()["totals"]["videos"] == 0
    tampered = tmp_path / "AUDIT.json"
    tampered.write_bytes(tampered.read_bytes().replace(b"Report Studio", b"Report Studia"))
    t = invoke(capsys, "--home", studio.home.root, "audit", "verify", tampered)
    assert t.code == 3 and "changed after signing" in t.err


def test_the_audit_reads_a_consents_languages_as_the_gate_does(studio: Any) -> None:
    """``"*"`` (the default of ``consent issue``) is any language: the audit flagged every
    generation under such a consent as out of scope, while the gate had let it through."""
    import dataclasses

    from trustavatar.consent.scope import language_in_scope
    from trustavatar.consent.store import get_consent
    from trustavatar.registry import Registry
    from trustavatar.reports.audit import _consent_view

    with Registry.for_home(studio.home) as reg:
        record = get_consent(reg, studio.kept_id)
    now = record.not_before
    for languages, language, covered in ((("*",), "en", True), (("*",), "pt-br", True),
                                         (("en",), "en-gb", True), (("en-gb",), "en", False),
                                         (("de",), "en", False)):
        assert language_in_scope(language, languages) is covered
        view = _consent_view(dataclasses.replace(record, languages=languages), now, now,
                             language)
        assert view["scope"]["language"] is covered, (languages, language)


def test_an_audit_file_that_appears_while_auditing_is_kept(studio: Any, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch) -> None:
    """The three outputs are checked at the start; one that appeared during the audit was
    replaced. Now none is written (the set stays whole), unless --force."""
    import trustavatar.reports as reports

    out = tmp_path / "AUDIT.html"
    real = reports.build_audit

    def audit_while_someone_writes(*args, **kwargs):
        (tmp_path / "AUDIT.json.sig").write_text("theirs")
        return real(*args, **kwargs)

    monkeypatch.setattr(reports, "build_audit", audit_while_someone_writes)
    r = invoke(capsys, "--home", studio.home.root, "audit", "--out", out, "--no-watermark")
    assert r.code == 2 and "appeared while the output was being made" in r.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("AUDIT")) == [
        "AUDIT.json.sig"]
    r = invoke(capsys, "--home", studio.home.root, "audit", "--out", out, "--no-watermark",
               "--force")
    assert r.code == 3, r.err  # written; the revoked consent needs action
    assert (tmp_path / "AUDIT.json.sig").read_text() != "theirs"


def test_an_audit_file_that_appears_between_the_moves_leaves_no_half_set(
        studio: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from trustavatar import _atomic

    move_in = _atomic.move_in

    def move_then_someone_writes(tmp: Path, path: Path, **kwargs: Any) -> None:
        move_in(tmp, path, **kwargs)
        if path.suffix == ".json":
            (tmp_path / "AUDIT.json.sig").write_text("theirs")

    monkeypatch.setattr(_atomic, "move_in", move_then_someone_writes)
    r = invoke(capsys, "--home", studio.home.root, "audit", "--out", tmp_path / "AUDIT.html",
               "--no-watermark")
    assert r.code == 2 and "appeared while the output was being made" in r.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("AUDIT", "."))
                  ) == ["AUDIT.json.sig"]


def test_the_signed_page_is_checked_too(studio: Any, tmp_path: Path, capsys: Any) -> None:
    """The page says "Signed", but only the JSON was: an edited AUDIT.html verified
    (a red-team review, session 22). The signature names the page's SHA-256 now."""
    from tests.clitools import invoke

    rep = build_audit(studio.home, check_watermark=False)
    paths = write_audit(rep, tmp_path / "audit.html", studio.keystore.signing_key())
    trust = studio.keystore.trust_store()
    sig = verify_audit(paths["json"], trust=trust)
    assert sig.page == "audit.html" and sig.page_checked is True
    home = ["--home", str(studio.home.root)]
    r = invoke(capsys, *home, "audit", "verify", paths["json"])
    assert r.code == 0 and "the page audit.html is unchanged too" in r.out

    page = paths["html"].read_bytes()
    paths["html"].write_bytes(page.replace(b"</body>", b"<p>all clear</p></body>"))
    with pytest.raises(AuditSignatureError, match=r"audit.html was changed after signing .*"
                                                  r"audit.json itself is unchanged"):
        verify_audit(paths["json"], trust=trust)
    r = invoke(capsys, *home, "audit", "verify", paths["json"], "--json")
    assert r.code == 3 and "audit.html was changed" in r.json()["error"]["message"]

    paths["html"].unlink()  # the JSON alone still verifies, and says the page was not seen
    sig = verify_audit(paths["json"], trust=trust)
    assert sig.page == "audit.html" and sig.page_checked is False
    r = invoke(capsys, *home, "audit", "verify", paths["json"])
    assert r.code == 0 and "is not next to it (not checked)" in " ".join(r.out.split())


def test_a_signature_made_before_pages_were_signed_still_verifies(
        studio: Any, tmp_path: Path, capsys: Any) -> None:
    from tests.clitools import invoke
    from trustavatar import _envelope

    rep = build_audit(studio.home, check_watermark=False)
    paths = write_audit(rep, tmp_path / "audit.html", studio.keystore.signing_key())
    signed = _envelope.open_envelope(
        _envelope.load_canonical_json(paths["signature"].read_bytes(), max_bytes=1 << 20),
        raw=paths["signature"].read_bytes()).payload
    old = {k: v for k, v in signed.items() if k != "page"}  # as written before session 22
    paths["signature"].write_bytes(_envelope.seal(old, studio.keystore.signing_key()))
    sig = verify_audit(paths["json"], trust=studio.keystore.trust_store())
    assert sig.page is None and sig.page_checked is None
    r = invoke(capsys, "--home", str(studio.home.root), "audit", "verify", paths["json"])
    assert r.code == 0 and "does not cover the HTML page" in " ".join(r.out.split())


def test_a_broken_manifest_binds_no_consent_in_the_checklist(studio: Any, tmp_path: Path) -> None:
    """The checklist counted a consent binding that only a tampered file's (invalid)
    manifest claimed."""
    from fixtures.mp4_boxes import flip_byte_in

    video = studio.videos[0]
    kept = tmp_path / "kept.mp4"
    shutil.copy(video, kept)
    try:
        flip_byte_in(video, "mdat")
        d = build_audit(studio.home, check_watermark=False).data
    finally:
        shutil.copy(kept, video)
    row = next(v for v in d["videos"] if v["output_path"] == str(video))
    assert row["file"]["c2pa"]["state"] == "invalid"
    assert row["file"]["c2pa"]["consent_matches"] is False
    checklist = {c["item"].split(" (")[0]: c for c in d["checklist"]}
    bound = checklist["Consent of the person depicted, bound to each video"]
    assert bound["status"] == "partial" and bound["evidence"] == "1 of 2 videos on disk"


def test_a_destroyed_ledger_is_a_broken_chain_and_usage_errors_come_first(
        studio: Any, tmp_path: Path, capsys: Any) -> None:
    """An emptied registry failed the audit as an operation (exit 1) where 'ledger verify'
    says broken (3); '--out nodir/x.html' and '--out .html' failed only after the audit."""
    home = tmp_path / "copy"
    shutil.copytree(studio.home.root, home)
    for args, says in ((("--out", tmp_path / "nodir" / "x.html"), "does not exist"),
                       (("--out", tmp_path / ".html"), "must name an .html file")):
        r = invoke(capsys, "--home", home, "audit", *args)
        assert r.code == 2 and says in r.err, r.err
    (home / "registry.sqlite3").write_bytes(b"")
    r = invoke(capsys, "--home", home, "audit", "--out", tmp_path / "a.html", "--json")
    assert r.code == 3 and "ledger BROKEN" in r.err and "is empty (0 bytes)" in r.err
    assert r.json()["error"]["type"] == "LedgerBrokenError"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    (home / "registry.sqlite3").unlink()
    (home / "registry.sqlite3").mkdir()  # a folder in its place: SQLite's "disk I/O error"
    r = invoke(capsys, "--home", home, "ledger", "list")
    assert r.code == 1 and "is not a file (a folder?)" in r.err
