"""The report studio (fixtures/report_studio.py), made once, and a real scan of its first
video with the home's trust anchors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fixtures.report_studio import ReportStudio, make_report_studio

from trustavatar.detector import ScanResult, scan


@dataclass
class Studio(ReportStudio):
    scan: ScanResult


@pytest.fixture(scope="package")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    s = make_report_studio(tmp_path_factory.mktemp("report-studio"))
    result = scan(s.videos[0], trust=s.keystore.trust_store())
    return Studio(**s.__dict__, scan=result)
