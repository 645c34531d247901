"""The package type-checks: it ships ``py.typed``, so its annotations are part of its API.

Runs mypy with the settings in ``pyproject.toml`` (``[tool.mypy]``: every function
annotated, third-party packages without type information listed by name) against the
environment the tests run in.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (it comes with the 'test' extra)")
def test_package_type_checks(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, (run.stdout[-4000:] + run.stderr[-2000:])
    assert "Success: no issues found" in run.stdout
    assert (REPO / "src" / "trustavatar" / "py.typed").is_file()
