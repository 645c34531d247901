"""Fixtures of the watermark tests: a small synthetic talking-head-like clip, encoded for real."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.synthetic_media import make_video
from tests.watermark.media import SIZE, decode, textured


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """2 s of a 256x256 moving synthetic clip (H.264 decoded), as RGB frames."""
    d = tmp_path_factory.mktemp("wm")
    path = make_video(d / "source.mp4", seconds=2.0, size=SIZE, audio=False, crf=18)
    return textured(decode(path))
