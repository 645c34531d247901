"""``trustavatar scan`` in-process: output, JSON, batches past bad files, exit codes."""

from __future__ import annotations

import json

import pytest
import torch

from tests.clitools import invoke
from tests.detector.conftest import listed_in_ledger, watermarked
from trustavatar._cli import cli
from trustavatar._cli import scan as scan_cli

cli.commands.setdefault("scan", scan_cli.command)


@pytest.fixture
def home_args(tmp_path):
    return ["--home", str(tmp_path / "home")]


def test_scan_prints_a_verdict_and_exits_by_it(capsys, clips, scanned, home_args):
    r = invoke(capsys, *home_args, "scan", clips["portrait_mute"])
    expected = scanned("portrait_mute").verdict.value
    assert r.code == (10 if expected == "likely-manipulated" else 0), r.err
    assert f"{clips['portrait_mute']}: {expected}" in r.out
    assert "frequency ok" in r.out


def test_json_to_stdout_and_a_watermarked_video_exits_10(capsys, tmp_path, home_args):
    wm = watermarked(tmp_path / "wm.mp4")
    unconfirmed = invoke(capsys, *home_args, "scan", "--json", "-", "--analyzer",
                         "provenance", wm)
    assert unconfirmed.code == 0, unconfirmed.err  # a mark anyone could add: not flagged
    assert unconfirmed.json()["results"][0]["verdict"] == "inconclusive"
    listed_in_ledger(home_args[1])  # the home that made it: flagged
    r = invoke(capsys, *home_args, "scan", "--json", "-", "--analyzer", "provenance",
               "--analyzer", "frequency", wm)
    assert r.code == 10
    doc = r.json()
    assert doc["exit_code"] == 10 and doc["summary"]["likely-manipulated"] == 1
    res = doc["results"][0]
    assert res["verdict"] == "likely-manipulated" and res["decided_by"] == "provenance"
    assert set(res["analyzers"]) == {"provenance", "frequency"}
    assert res["analyzers"]["provenance"]["figures"]["watermark_present"] is True


def test_a_batch_goes_on_past_bad_files(capsys, tmp_path, clips, home_args):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "broken.mp4").write_text("this is not a video")
    (folder / "noface.mp4").write_bytes(clips["noface"].read_bytes())
    (folder / "readme.txt").write_text("skipped: not a video suffix")
    (folder / "gone.mp4").symlink_to(folder / "deleted-since.mp4")  # a broken link
    out = tmp_path / "report.json"
    r = invoke(capsys, *home_args, "scan", "--json", str(out), folder,
               tmp_path / "missing.mp4")
    assert r.code == 11, r.err
    assert "broken.mp4" in r.err and "missing.mp4" in r.err
    assert "noface.mp4: inconclusive" in r.out
    doc = json.loads(out.read_text())
    assert [x["path"] for x in doc["results"]] == [str(folder / "noface.mp4")]
    errors = {e["path"].rsplit("/", 1)[-1]: e["error"] for e in doc["errors"]}
    assert set(errors) == {"missing.mp4", "broken.mp4", "gone.mp4"}
    assert "not a regular file" in errors["gone.mp4"]["message"]
    assert errors["broken.mp4"]["type"] == "VideoInputError"
    assert "not a video" in errors["broken.mp4"]["message"]
    # the text file is not dropped in silence: listed as skipped, with a count
    assert doc["skipped"] == [{"path": str(folder / "readme.txt"), "reason": "not a video: text"}]
    assert doc["summary"]["skipped"] == 1
    assert f"skipped {folder / 'readme.txt'}: not a video: text" in r.err


def test_a_folder_scan_finds_videos_whatever_their_names(capsys, tmp_path, clips, home_args):
    # an uploader who names the files cannot get a video past a batch scan
    video = clips["noface"].read_bytes()
    folder = tmp_path / "uploads"
    (folder / "sub").mkdir(parents=True)
    (folder / "upload_noext").write_bytes(video)
    (folder / "clip.f4v").write_bytes(video)
    (folder / "sub" / "clip.mp4.part").write_bytes(video)
    (folder / "notes.txt").write_bytes(video)  # a video, whatever its suffix says
    (folder / ".hidden").write_bytes(video)
    (folder / "cut.bin").write_bytes(video[:8] + b"\0" * 64)  # an MP4 cut short: reported
    (folder / "readme.txt").write_text("not a video")
    (folder / "meta.json").write_text('{"a": 1}')
    (folder / "portrait.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    (folder / "random.bin").write_bytes(bytes(range(256)) * 8)
    (folder / ".DS_Store").write_bytes(b"")
    r = invoke(capsys, *home_args, "scan", "--json", "-", "--analyzer", "provenance", folder)
    assert r.code == 11, r.err  # cut.bin could not be scanned; nothing flagged
    doc = r.json()
    names = {x["path"].removeprefix(str(folder) + "/") for x in doc["results"]}
    assert names == {"upload_noext", "clip.f4v", "sub/clip.mp4.part", "notes.txt", ".hidden"}
    assert [e["path"] for e in doc["errors"]] == [str(folder / "cut.bin")]
    skipped = {x["path"].removeprefix(str(folder) + "/"): x["reason"] for x in doc["skipped"]}
    assert set(skipped) == {"readme.txt", "meta.json", "portrait.jpg", "random.bin",
                            ".DS_Store"}
    assert skipped["portrait.jpg"] == "not a video: a JPEG image"
    assert skipped["meta.json"] == "not a video: text"
    assert doc["summary"]["skipped"] == 5 and doc["summary"]["errors"] == 1
    for name in skipped:
        assert f"trustavatar: skipped {folder / name}: " in r.err
    assert "5 file(s) in the folders skipped" in r.err
    # a folder with no video at all is an input that could not be scanned (2), its files
    # still listed
    empty = tmp_path / "no-videos"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    r = invoke(capsys, *home_args, "scan", "--json", "-", empty)
    assert r.code == 2
    doc = r.json()
    assert doc["skipped"] == [{"path": str(empty / "readme.txt"), "reason": "not a video: text"}]
    assert "no video files in folder" in doc["errors"][0]["error"]["message"]
    assert "1 other file(s) skipped" in doc["errors"][0]["error"]["message"]
    r = invoke(capsys, *home_args, "scan", "--help")
    assert "whatever its name" in r.out and "skipped" in r.out


def test_nothing_scannable_exits_2_and_help_documents_the_codes(capsys, tmp_path, clips,
                                                               home_args):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    r = invoke(capsys, *home_args, "scan", bad)
    assert r.code == 2 and "not a video" in r.err
    r = invoke(capsys, *home_args, "scan", "--analyzer", "nope", bad)
    assert r.code == 2 and "unknown analyzer 'nope'" in r.err
    # outputs that cannot be written, and a GPU that is not there, fail before any scanning
    for extra, message in ((["--json", tmp_path / "missing" / "r.json"], "does not exist"),
                           (["--report", tmp_path / "missing" / "r.html"], "does not exist")):
        r = invoke(capsys, *home_args, "scan", clips["portrait_mute"], *extra)
        assert r.code == 2 and message in r.err and "portrait_mute" not in r.out, r.err
    if not torch.cuda.is_available():
        r = invoke(capsys, *home_args, "scan", clips["portrait_mute"], "--device", "cuda")
        assert r.code == 2 and "no CUDA device" in r.err and not r.out
    r = invoke(capsys, *home_args, "scan", "--help")
    assert r.code == 0
    for line in ("0  every video was scanned", "10  at least one video", "11  some inputs",
                 "2  no input could be scanned"):
        assert line in r.out


def test_scan_outputs_never_replace_a_file_unasked_nor_the_scanned_video(capsys, tmp_path,
                                                                          clips, home_args,
                                                                          monkeypatch):
    video = tmp_path / "v.mp4"
    video.write_bytes(clips["noface"].read_bytes())
    before = video.read_bytes()
    r = invoke(capsys, *home_args, "scan", video, "--json", video, "--force")
    assert r.code == 2 and "is also the scanned video" in r.err
    other = tmp_path / "notes.json"
    other.write_text("keep me")
    r = invoke(capsys, *home_args, "scan", video, "--json", other)
    assert r.code == 2 and "exists already (use --force" in r.err
    r = invoke(capsys, *home_args, "scan", video, "--report", other, "--force")
    assert r.code == 2 and "not a folder" in r.err
    assert video.read_bytes() == before and other.read_text() == "keep me"
    # '-' is not standard output for HTML: it made a folder named '-' (a review, session 22)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    r = invoke(capsys, *home_args, "scan", video, "--json", "-", "--report", "-")
    assert r.code == 2 and "written to files, not to standard output" in r.err
    saved = tmp_path / "saved.json"
    saved.write_text("{}")
    r = invoke(capsys, *home_args, "report", saved, "--out", "-")
    assert r.code == 2 and "written to files, not to standard output" in r.err
    assert list(cwd.iterdir()) == []


def test_names_from_the_file_are_printed_as_written(capsys, tmp_path, home_args):
    """File names and manifest fields are outside text: Rich markup in them is shown, not
    obeyed (a "[/]" crashed the command, "[green]…" printed in green), and a line break
    or a right-to-left override in them is shown as an escape."""
    from trustavatar import provenance as pv
    from trustavatar.keys import Keystore

    folder = tmp_path / "names"
    folder.mkdir()
    wm = watermarked(tmp_path / "wm.mp4")
    listed_in_ledger(home_args[1])
    names = ["[green]VERIFIED AUTHENTIC[green].mp4", "x[foo]y.mp4", "two\nlines.mp4",
             "evil\u202egpj.mp4"]
    for name in names:
        (folder / name).write_bytes(wm.read_bytes())
    r = invoke(capsys, *home_args, "scan", "--analyzer", "provenance", folder)
    assert r.code == 10 and "internal error" not in r.err, r.err
    for shown in ("[green]VERIFIED AUTHENTIC[green].mp4", "x[foo]y.mp4", "two\\x0alines.mp4",
                  "evil\\u202egpj.mp4"):
        assert f"{folder}/{shown}: likely-manipulated" in r.out, r.out
    assert invoke(capsys, *home_args, "keys", "init").code == 0
    keystore = Keystore.open(home_args[1])
    signed = tmp_path / "signed.mp4"
    face = tmp_path / "face.mp4"
    face.write_bytes(wm.read_bytes())
    pv.sign(wm, signed, key=keystore.signing_key(), trust=keystore.trust_store(),
            ingredients=[pv.Ingredient.from_file(face, title="[/] [green]TRUSTED[/]\nx")])
    r = invoke(capsys, *home_args, "provenance", "verify", signed)
    assert r.code == 0 and "internal error" not in r.err, r.err
    assert "ingredient: [/] [green]TRUSTED[/]\\x0ax (" in r.out, r.out


def test_a_json_file_that_appears_during_the_scan_is_kept_and_the_scan_is_not_lost(
        capsys, tmp_path, clips, home_args, monkeypatch):
    """--json OUT is checked at the start; a file that appears there during a long batch
    (another run, the user) was replaced. It is kept now, and the results go beside it."""
    import trustavatar.detector as detector

    out = tmp_path / "scan.json"
    real = detector.scan_many

    def scan_while_someone_writes(*args, **kwargs):
        out.write_text("theirs")
        yield from real(*args, **kwargs)

    monkeypatch.setattr(detector, "scan_many", scan_while_someone_writes)
    r = invoke(capsys, *home_args, "scan", "--json", out, "--analyzer", "frequency",
               clips["noface"])
    assert r.code == 0, r.err
    assert out.read_text() == "theirs"
    assert f"{out} appeared while scanning and was kept; the results are in " \
           f"{tmp_path / 'scan-2.json'}" in r.err
    doc = json.loads((tmp_path / "scan-2.json").read_text())
    assert doc["results"][0]["path"] == str(clips["noface"])
    r = invoke(capsys, *home_args, "scan", "--json", out, "--analyzer", "frequency",
               clips["noface"], "--force")
    assert r.code == 0 and json.loads(out.read_text())["results"]


def _avif(path, size: int = 64):
    """An AVIF photo (one AV1 still in an ``ftyp avif`` file): Pillow's AVIF plugin, else
    PyAV's AVIF muxer; ``None`` where this machine can make neither."""
    import io

    import av
    import numpy as np
    from PIL import Image, features

    rgb = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    if features.check("avif"):
        Image.fromarray(rgb).save(path, "AVIF")
        return path
    for codec in ("libsvtav1", "libaom-av1", "librav1e", "av1"):
        try:
            buf = io.BytesIO()
            with av.open(buf, "w", format="avif") as c:
                s = c.add_stream(codec, rate=1)
                s.width = s.height = size
                s.pix_fmt = "yuv420p"
                for packet in [*s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")),
                               *s.encode()]:
                    c.mux(packet)
        except (av.FFmpegError, ValueError):
            continue
        path.write_bytes(buf.getvalue())
        return path
    return None


def _one_frame_mp4(path, size: int = 64):
    """An MP4 whose one video stream holds a single frame (a still in a video container)."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((size, size, 3), np.uint8), format="rgb24")
        for packet in [*s.encode(frame), *s.encode()]:
            c.mux(packet)
    return path


#: a CI log in colour (pytest --color=yes): ESC [ ... m around the words
_COLOUR_LOG = (b"\x1b[1m\x1b[34m==== test session starts ====\x1b[0m\n"
               + b"".join(b"tests/test_%d.py::test_case \x1b[32mPASSED\x1b[0m\n" % i
                          for i in range(400))
               + b"\x1b]8;;https://ci.example/job\x07job\x1b]8;;\x07 \x1b(B\x1b[K\xe2\x9c\x93\n")


def test_photos_and_colour_logs_in_a_folder_are_skipped_not_scanned(capsys, tmp_path, clips,
                                                                    home_args):
    # AVIF/HEIC photos open in FFmpeg's mov demuxer as a one-frame "video", a .txt with
    # ANSI codes in its tty demuxer as ANSI art: none is a video to scan
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "upload_noext").write_bytes(clips["noface"].read_bytes())  # a real video
    avif = _avif(folder / "IMG_0001.avif")
    if avif is not None:
        data = avif.read_bytes()
        assert data[4:12] == b"ftypavif"
        # the same bytes as a HEIC (brand heic), and as an MP4 brand (one frame: a still)
        (folder / "IMG_0002.heic").write_bytes(data[:8] + b"heic" + data[12:])
        (folder / "still_isom").write_bytes(data[:8] + b"isom" + data[12:])
    _one_frame_mp4(tmp_path / "one.mp4")
    (folder / "poster").write_bytes((tmp_path / "one.mp4").read_bytes())
    (folder / "ci.log").write_bytes(_COLOUR_LOG)
    (folder / "colored.txt").write_bytes(_COLOUR_LOG)
    # not UTF-8 (a Latin-1 'é'), so not text by its bytes: FFmpeg's tty demuxer takes it
    (folder / "latin1.txt").write_bytes(_COLOUR_LOG.replace(b"session", b"s\xe9ance"))
    (folder / "report.pdf").write_bytes(b"%PDF-1.7\n" + b"\xff\xd8\xff\xe0" + b"\0" * 64)
    r = invoke(capsys, *home_args, "scan", "--json", "-", "--analyzer", "provenance", folder)
    assert r.code == 0, r.err
    doc = r.json()
    assert [x["path"] for x in doc["results"]] == [str(folder / "upload_noext")]
    assert doc["errors"] == []
    skipped = {x["path"].removeprefix(str(folder) + "/"): x["reason"] for x in doc["skipped"]}
    assert skipped["ci.log"] == skipped["colored.txt"] == "not a video: text"
    assert skipped["latin1.txt"].startswith("not a video: text (FFmpeg's tty demuxer")
    assert skipped["poster"].startswith("not a video: a still image (one frame")
    assert skipped["report.pdf"] == "not a video: a PDF document"
    if avif is not None:
        assert skipped["IMG_0001.avif"] == "not a video: an AVIF image (ftyp brand 'avif')"
        assert skipped["IMG_0002.heic"] == "not a video: a HEIC image (ftyp brand 'heic')"
        assert skipped["still_isom"].startswith("not a video: a still image (one frame")
    assert doc["summary"]["skipped"] == len(skipped) == len(list(folder.iterdir())) - 1
    for name in skipped:
        assert f"trustavatar: skipped {folder / name}: " in r.err


def test_text_with_ansi_codes_is_text_and_ffmpeg_s_picture_formats_are_not_videos():
    # the rules on what the classifier reads (bytes; FFmpeg's format and stream facts),
    # whatever encoders this machine has
    from types import SimpleNamespace

    assert scan_cli._is_text(_COLOUR_LOG[:4096])
    assert scan_cli._is_text(b"done\n" * 818 + b"\x1b[3")  # a code cut by the block's end
    assert not scan_cli._is_text(b"\x1b[1mtext\x00")  # binary
    assert not scan_cli._is_text(b"\x1b[1m\x80\x81\x82 more bytes")
    assert scan_cli._image_brand(b"\0\0\0\x1cftypheix\0\0\0\0mif1heix") == (
        "a HEIC image (ftyp brand 'heix')")
    assert scan_cli._image_brand(b"\0\0\0\x1cftypavis\0\0\0\0avismsf1") == (
        "an animated AVIF image (ftyp brand 'avis')")
    assert scan_cli._image_brand(b"\0\0\0\x18ftypisom\0\0\0\0isommp41") == ""
    assert scan_cli._image_brand(b"\0\0\0\x18ftypqt  \0\0\0\0qt  ") == ""

    def container(name, *frames):
        streams = [SimpleNamespace(frames=n) for n in frames]
        return SimpleNamespace(format=SimpleNamespace(name=name)), streams

    assert "ANSI art" in scan_cli._not_moving(*container("tty", 0))
    for name in ("bin", "xbin", "adf", "idf"):
        assert scan_cli._not_moving(*container(name, 0)).startswith("not a video: text")
    for name in ("qoi_pipe", "dds_pipe", "j2k_pipe", "ico", "msp", "image2pipe"):
        assert scan_cli._not_moving(*container(name, 0)).startswith(
            "not a video: a still image"), name
    mov = "mov,mp4,m4a,3gp,3g2,mj2"
    assert "one frame" in scan_cli._not_moving(*container(mov, 1))
    assert "one frame" in scan_cli._not_moving(*container(mov, 1, 1))  # AVIF with alpha
    # videos: frames declared, or not declared at all (MKV, fragmented MP4)
    for name, frames in ((mov, (250,)), (mov, (0,)), ("matroska,webm", (0,)),
                         ("yuv4mpegpipe", (0,)), ("mpjpeg", (0,)), (mov, (1, 250))):
        assert scan_cli._not_moving(*container(name, *frames)) == "", (name, frames)


def test_a_file_name_that_is_not_utf8_gets_its_page(capsys, tmp_path, home_args):
    """``bad\\xff.mp4`` in a scanned folder: writing its page failed (UnicodeEncodeError),
    an internal error, exit 70, and no report at all. Its name is shown as an escape; every
    page is written and the scan keeps its verdict's exit code."""
    folder = tmp_path / "names"
    folder.mkdir()
    wm = watermarked(tmp_path / "wm.mp4")
    listed_in_ledger(home_args[1])
    for name in ("ok.mp4", "bad\udcff.mp4"):  # the byte 0xff, as Python reads the name
        (folder / name).write_bytes(wm.read_bytes())
    saved, out = tmp_path / "scan.json", tmp_path / "pages"
    r = invoke(capsys, *home_args, "scan", "--analyzer", "provenance", folder, "--json", saved,
               "--report", out)
    assert r.code == 10 and "internal error" not in r.err, r.err
    assert f"{folder}/bad\\udcff.mp4: likely-manipulated" in r.out
    assert sorted(p.name for p in out.iterdir()) == ["bad.html", "index.html", "ok.html"]
    assert "bad\\udcff.mp4" in (out / "bad.html").read_text(encoding="utf-8")
    assert "bad\\udcff.mp4" in (out / "index.html").read_text(encoding="utf-8")
    r = invoke(capsys, "report", saved, "--out", tmp_path / "again")  # the saved result too
    assert r.code == 0, r.err


def test_real_scan_results_are_rendered_and_a_flipped_verdict_is_refused(
        capsys, tmp_path, scanned):
    """'trustavatar report' refuses a verdict that contradicts the result's own probability
    and thresholds; what real scans give (fused, nothing measured, a low probability with
    too little face) is rendered."""
    results = [scanned(name).to_dict() for name in ("portrait_mute", "noface", "few_faces")]
    assert {r["decided_by"] for r in results} == {"fusion", "none"}
    saved = tmp_path / "scan.json"
    saved.write_text(json.dumps({"results": results, "errors": []}))
    r = invoke(capsys, "report", saved, "--out", tmp_path / "pages")
    assert r.code == 0, r.err
    for k, real in enumerate(results):
        flipped = ("likely-authentic" if real["verdict"] == "likely-manipulated" or
                   real["probability"] is None or
                   real["probability"] > real["thresholds"]["likely_authentic"]
                   else "likely-manipulated")
        saved.write_text(json.dumps({**real, "verdict": flipped}))
        r = invoke(capsys, "report", saved, "--out", tmp_path / f"flipped{k}.html")
        assert r.code == 2 and "contradicts itself" in r.err, (real["verdict"], r.err)


def test_no_output_replaces_an_input_or_the_other_output_even_with_force(capsys, tmp_path,
                                                                         home_args):
    """With --force, a page replaced a video named .html, the saved result it was rendered
    from, or the scan's own --json file."""
    clip = watermarked(tmp_path / "wm.mp4")
    named = tmp_path / "clip.html"
    named.write_bytes(clip.read_bytes())
    prov = ["--analyzer", "provenance"]
    for args, says in (
            ((named, "--report", named), "is also the scanned video"),
            ((clip, "--json", tmp_path / "o.html", "--report", tmp_path / "o.html"),
             "is also the --json output"),
            ((clip, "--json", tmp_path / "rep" / "index.html", "--report", tmp_path / "rep"),
             "is also the --json output")):
        (tmp_path / "rep").mkdir(exist_ok=True)
        r = invoke(capsys, *home_args, "scan", *args, "--force", *prov)
        assert r.code == 2 and says in r.err, r.err
    assert named.read_bytes() == clip.read_bytes()
    saved = tmp_path / "saved.html"
    assert invoke(capsys, *home_args, "scan", clip, "--json", saved, *prov).code == 0
    r = invoke(capsys, *home_args, "report", saved, "--out", saved, "--force")
    assert r.code == 2 and "is also the scan result" in r.err
    assert json.loads(saved.read_text())["results"][0]["path"] == str(clip)
    # nor a page in the home's keys or trust folder, made yet or not
    home = tmp_path / "home"
    home.mkdir()
    r = invoke(capsys, *home_args, "scan", clip, "--report", home / "trust", *prov)
    assert r.code == 2 and "in the trustavatar home's trust folder" in r.err
    r = invoke(capsys, *home_args, "report", saved, "--out", home / "keys")
    assert r.code == 2 and "in the trustavatar home's keys folder" in r.err
    assert sorted(p.name for p in home.iterdir()) == []


def test_an_empty_path_is_a_usage_error_not_the_current_folder(capsys, tmp_path, home_args,
                                                                monkeypatch):
    """``scan "$UNSET"`` scanned every video under the current folder; ``--report ''``
    wrote pages into it."""
    monkeypatch.chdir(tmp_path)
    clip = watermarked(tmp_path / "wm.mp4")
    for args, says in ((("scan", ""), "an empty path"),
                       (("scan", clip, "--report", ""), "the report's path is empty"),
                       (("report", clip, "--out", " "), "the report's path is empty"),
                       (("demo", "--out", ""), "the demo's folder is empty")):
        r = invoke(capsys, *([] if args[0] == "demo" else home_args), *args)
        assert r.code == 2 and says in r.err, (args, r.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wm.mp4"]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_ctrl_c_stops_a_batch_of_workers_without_their_tracebacks(clips, tmp_path):
    """A Ctrl-C at the terminal reaches the whole process group: each worker died with a
    'Traceback … KeyboardInterrupt' on stderr (one while importing cv2)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    videos = [str(clips["portrait"])] * 4
    proc = subprocess.Popen(
        [sys.executable, "-m", "trustavatar", "--home", str(tmp_path / "home"), "scan",
         *videos, "--workers", "2", "--json", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # (a resource tracker may be a third child)
        assert len(_children(proc.pid)) >= 2, "the workers never started"
        time.sleep(0.5)  # they import mediapipe, cv2 and torch now
        os.killpg(proc.pid, signal.SIGINT)  # as the terminal does: the whole group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "trustavatar: interrupted", err
    assert json.loads(out)["error"]["type"] == "Interrupted"


def test_the_json_says_whether_the_report_was_written(capsys, tmp_path, home_args):
    clip = watermarked(tmp_path / "wm.mp4")
    page = tmp_path / "one.html"
    r = invoke(capsys, *home_args, "scan", clip, "--json", "-", "--report", page,
               "--analyzer", "provenance")
    assert r.code == 0 and r.json()["report"] == {"path": str(page), "error": None}
    assert page.is_file()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    r = invoke(capsys, *home_args, "scan", empty, "--json", "-", "--report",
               tmp_path / "two.html")
    assert r.code == r.json()["exit_code"] == 2
    assert r.json()["report"]["error"].startswith("no video was scanned")
    assert "report not written: no video was scanned" in r.err
    assert not (tmp_path / "two.html").exists()


def test_a_page_is_refused_in_the_homes_keys_folder_reached_through_a_link(
        capsys, tmp_path, home_args):
    clip = watermarked(tmp_path / "wm.mp4")
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (home / "keys").symlink_to(tmp_path / "elsewhere")
    for out in (home / "keys" / "x.html", tmp_path / "elsewhere" / "x.html"):
        r = invoke(capsys, *home_args, "scan", clip, "--report", out, "--analyzer",
                   "provenance")
        assert r.code == 2 and "in the trustavatar home's keys folder" in r.err, r.err
    assert list((tmp_path / "elsewhere").iterdir()) == []
