"""Inputs that are not regular files, and home files of the wrong shape: clear errors, no
hang, no internal error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.clitools import invoke


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_named_pipe_is_refused_not_waited_on(tmp_path) -> None:
    fifo = tmp_path / "input.json"
    os.mkfifo(fifo)
    home = ["--home", str(tmp_path / "home")]
    # in a child process with a timeout: a regression would block on open() for ever
    for args in (["consent", "verify", fifo], ["report", fifo, "--out", tmp_path / "r.html"],
                 ["provenance", "verify", fifo], ["audit", "verify", fifo]):
        p = subprocess.run([sys.executable, "-m", "trustavatar", *home, *map(str, args)],
                           capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode in (2, 3), (args, p.stderr)
        assert "not a regular file" in p.stderr, (args, p.stderr)
        assert "internal error" not in p.stderr


def test_a_damaged_identity_or_a_folder_among_the_trust_anchors_is_a_clear_error(
        tmp_path, capsys) -> None:
    h = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *h, "keys", "init").code == 0
    identity = tmp_path / "home" / "keys" / "identity.json"
    good = identity.read_text()
    for text, says in (("[1, 2]", "holds a JSON list, not an object"),
                       ("{}", "identity.json has no 'organisation'")):
        identity.write_text(text)
        r = invoke(capsys, *h, "keys", "show")
        assert r.code == 1 and "is damaged" in r.err and says in r.err, r.err
    identity.write_text(good)
    (tmp_path / "home" / "trust" / "sub.pem").mkdir()
    r = invoke(capsys, *h, "keys", "trust", "list")
    assert r.code == 2 and "is not a file" in r.err, r.err


def test_messages_say_what_is_wrong(tmp_path, capsys, media) -> None:
    h = ["--home", str(tmp_path / "home")]
    assert invoke(capsys, *h, "keys", "init").code == 0
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    r = invoke(capsys, *h, "provenance", "sign", media["jpeg"], "--out", a_file / "x.jpg")
    assert r.code == 2 and "notes.txt is a file, not a directory" in r.err, r.err
    r = invoke(capsys, *h, "generate", "--face", media["jpeg"], "--consent", a_file,
               "--script", "@", "--out", tmp_path / "o.mp4")
    assert r.code == 2 and "--script @ needs a file name" in r.err, r.err
    broken = tmp_path / "c.json"
    broken.write_text('{"a": "unterminated')
    r = invoke(capsys, *h, "consent", "verify", broken)
    assert "starting at offset" in r.err and "at at" not in r.err, r.err
    not_video = tmp_path / "v.mp4"
    not_video.write_text("hello")
    r = invoke(capsys, *h, "generate", "--face", not_video, "--consent", a_file, "--script",
               "Hello there.", "--out", tmp_path / "o.mp4")
    assert r.code == 2 and "not a readable video: Invalid data found" in r.err, r.err
    assert "Errno" not in r.err


def test_a_file_name_ffmpeg_would_read_as_a_protocol_opens_that_file(tmp_path,
                                                                     monkeypatch) -> None:
    """``file:real.mp4`` is a legal name for an upload; FFmpeg would read it as the file
    ``real.mp4``, so every analyzer would look at another video than the one hashed."""
    import av
    import numpy as np

    from trustavatar.detector.video import probe_video
    from trustavatar.generator.audio import load_audio
    from trustavatar.generator.encode import VideoWriter
    from trustavatar.video_io import probe

    def clip(path, side: int, seconds: float) -> None:
        with av.open(str(path.absolute()), "w") as out:
            v = out.add_stream("libx264", rate=25)
            v.width = v.height = side
            v.pix_fmt = "yuv420p"
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
            for i in range(round(seconds * 25)):
                frame = np.full((side, side, 3), 40 * (i % 5), np.uint8)
                out.mux(v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(v.encode())
            for k in range(round(seconds * 16000 / 1024)):
                tone = 0.3 * np.sin(np.arange(k * 1024, (k + 1) * 1024) / 5.0)
                af = av.AudioFrame.from_ndarray(tone[None].astype(np.float32),
                                                format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, k * 1024
                out.mux(a.encode(af))
            out.mux(a.encode())

    monkeypatch.chdir(tmp_path)
    clip(tmp_path / "real.mp4", 64, 1.0)
    clip(tmp_path / "file:real.mp4", 96, 2.0)
    clip(tmp_path / "cache:real.mp4", 128, 2.0)
    for name, side in (("file:real.mp4", 96), ("cache:real.mp4", 128)):
        assert probe(name).width == side
        assert probe_video(name).width == side
        assert abs(load_audio(name).duration - 2.0) < 0.2
    # a written name of that kind is the file of that name too
    with VideoWriter("file:out.mp4", width=64, height=64, fps=25, audio=None) as w:
        w.write(np.zeros((64, 64, 3), np.uint8))
    assert (tmp_path / "file:out.mp4").is_file() and not (tmp_path / "out.mp4").exists()
