"""Run the CLI in-process and capture what it prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from trustavatar._cli import run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
