"""The detector evaluation's variants (``detector/_common.py``, a workbench script outside the
wheel) keep the sound: before session 13 the re-encoded and trimmed copies had no audio
track, so the sync analyzer never ran on them and their rows measured the rest alone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.workbench import load_script


def _common():
    return load_script("detector/_common.py", "detector_common")


def _clip(path: Path, seconds: float = 2.0) -> None:
    """Moving grey frames at 25 fps and a 440 Hz tone at 16 kHz, both ``seconds`` long."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for i in range(round(seconds * 25)):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 4 * i % 256, np.uint8),
                                               format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode())
        t = np.arange(round(seconds * 16000)) / 16000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(tone), 1024):
            block = av.AudioFrame.from_ndarray(tone[None, k:k + 1024], format="fltp",
                                               layout="mono")
            block.sample_rate, block.pts, block.time_base = 16000, k, Fraction(1, 16000)
            out.mux(audio.encode(block))
        out.mux(audio.encode())


def _seconds(path: Path) -> dict[str, float]:
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams}


def test_reencoded_and_trimmed_variants_keep_the_audio(tmp_path):
    common = _common()
    src = tmp_path / "clip.mp4"
    _clip(src)
    crf40 = common.reencode(src, tmp_path / "crf40.mp4", crf=40)
    trimmed = common.reencode(src, tmp_path / "trim.mp4", crf=12, start=0.5)
    full, low, short = _seconds(src), _seconds(crf40), _seconds(trimmed)
    assert set(low) == set(short) == {"video", "audio"}
    assert abs(low["audio"] - full["audio"]) < 0.1
    assert abs(short["audio"] - (full["audio"] - 0.5)) < 0.1
    assert abs(short["video"] - (full["video"] - 0.5)) < 0.1
