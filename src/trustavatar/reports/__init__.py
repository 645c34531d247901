"""HTML audit reports: the per-video scan report and the compliance audit.

- :func:`render_scan_report` / :func:`write_scan_report`: one self-contained HTML page per
  :class:`~trustavatar.detector.ScanResult` (verdict, timeline, lip-sync evidence, blink,
  frequency, sync and provenance panels, method, the result as embedded JSON);
  :func:`write_scan_index` links a batch's pages.
- :func:`build_audit` → :class:`AuditReport` over the ledger, the consent registry and the
  output files; :func:`write_audit` writes its HTML, its canonical JSON and a detached
  signature by the organisation key; :func:`verify_audit` checks that signature.

Errors: :class:`~trustavatar.errors.ReportError` (and
:class:`~trustavatar.errors.AuditSignatureError`).
"""

from __future__ import annotations

__all__ = [
    "AuditReport",
    "AuditSignature",
    "build_audit",
    "render_audit_html",
    "render_scan_index",
    "render_scan_report",
    "verify_audit",
    "write_audit",
    "write_scan_index",
    "write_scan_report",
]

from trustavatar.reports.audit import (
    AuditReport,
    AuditSignature,
    build_audit,
    render_audit_html,
    verify_audit,
    write_audit,
)
from trustavatar.reports.scan_report import (
    render_scan_index,
    render_scan_report,
    write_scan_index,
    write_scan_report,
)
