"""Run code in a fresh Python process (what a new command would import) and read the JSON
it prints last."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def fresh_python_json(code: str) -> Any:
    """``code`` must end by printing one JSON document (``json`` and ``sys`` are imported)."""
    out = subprocess.run([sys.executable, "-c", "import json, sys\n" + code],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])
