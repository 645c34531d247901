"""trustavatar.video_io: durations a header does not give, and frame times."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from trustavatar.video_io import iter_timed_frames, probe


def _clip(path, times, *, fmt=None, codec="libx264", options=None, gop=None):
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        v = out.add_stream(codec, rate=25)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        if gop is not None:
            v.options = {"g": str(gop)}
        v.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 3 * i, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(v.encode(frame))
        out.mux(v.encode())
    return path


def test_a_live_webm_without_a_duration_is_measured_from_its_packets(tmp_path) -> None:
    """A browser's MediaRecorder writes WebM with no duration: generate said the face video
    was 0.0 s long and refused any audio."""
    clip = _clip(tmp_path / "live.webm", [i / 25 for i in range(50)], fmt="webm",
                 codec="libvpx-vp9", options={"live": "1"})
    with av.open(str(clip)) as c:
        assert not c.duration and not c.streams.video[0].duration  # none declared
    info = probe(clip)
    assert abs(info.duration - 2.0) < 0.1 and info.frames == 50
    # the detector's probe follows the same rule (it said 0 s and 0 frames)
    from trustavatar.detector.video import probe_video

    scanned = probe_video(clip)
    assert (scanned.duration, scanned.frames_estimate) == (info.duration, info.frames)


def test_frame_times_follow_the_timestamps(tmp_path) -> None:
    times = [i * 0.04 for i in range(10)] + [0.4 + k * 0.08 for k in range(1, 6)]
    got = [round(t, 3) for t, _ in iter_timed_frames(_clip(tmp_path / "vfr.mp4", times))]
    assert got == [round(t, 3) for t in times]


def test_anamorphic_video_is_shown_at_its_display_aspect(tmp_path) -> None:
    """384x512 stored at a sample aspect ratio of 4:3 shows as 512x512; it was taken as
    stored, so a dubbed face came out a quarter too narrow."""
    from trustavatar.detector.video import FrameReader, probe_video
    from trustavatar.video_io import iter_frames

    path = tmp_path / "sar.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 384, 512, "yuv420p"
        v.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for _ in range(5):
            out.mux(v.encode(av.VideoFrame.from_ndarray(np.zeros((512, 384, 3), np.uint8),
                                                         format="rgb24")))
        out.mux(v.encode())
    info = probe(path)
    assert (info.width, info.height) == (512, 512)
    assert next(iter_frames(path)).shape == (512, 512, 3)
    assert (probe_video(path).width, probe_video(path).height) == (512, 512)
    first = next(iter(FrameReader(path, max_side=256)))
    assert first.image.shape == (256, 256, 3) and first.scale == 0.5


def test_packets_that_do_not_decode_at_the_start_are_skipped(tmp_path) -> None:
    """The first three packets of an H.264 file overwritten with noise: FFmpeg's decoder
    stops at the first one, so generate found 'no decodable frames' in a file the detector
    read most frames of. Both read packet by packet now, and skip what does not decode."""
    from trustavatar.detector.video import FrameReader
    from trustavatar.video_io import Decoding

    clip = _clip(tmp_path / "clean.mp4", [i / 25 for i in range(75)], gop=10)
    with av.open(str(clip)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(clip.read_bytes())
    noise = np.random.default_rng(0)
    for pos, size in packets[:3]:
        data[pos:pos + size] = noise.integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    times = [t for t, _ in iter_timed_frames(damaged)]
    reader = FrameReader(damaged)
    assert len(times) == len(list(reader)) >= 60
    # the frames that decoded keep their times: the gap stays at the start, and the
    # picture stays with the sound (they were all pulled earlier by the gap)
    assert times[0] > 0.1 and abs(times[-1] - 74 / 25) < 1e-6
    assert abs(reader.last_time - 74 / 25) < 1e-6
    assert reader.damaged and reader.bad_packets >= 3
    with av.open(str(damaged)) as c:
        decoding = Decoding(c, c.streams.video[0])
        assert len(list(decoding)) == len(times)
        assert decoding.damaged and decoding.bad_packets == reader.bad_packets


def test_a_damaged_start_hides_neither_the_rotation_nor_the_watermark(tmp_path) -> None:
    """Probes read the rotation from the first frame, and the watermark reader decoded with
    FFmpeg's own loop: both stopped at the first damaged packet. A phone video turned 90°
    was then probed as landscape while its frames came upright (a squashed dub), and a
    watermarked video was 'not decodable' to the audit."""
    from tests.detector.conftest import set_display_rotation

    from trustavatar.detector.video import probe_video
    from trustavatar.watermark import Watermark, read_watermark

    mark = Watermark(bytes(range(8)))
    rng = np.random.default_rng(1)
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt, v.options = 256, 128, "yuv420p", {"g": "10", "crf": "18"}
        texture = rng.integers(60, 200, (128, 256, 3), dtype=np.uint8)
        for _ in range(75):
            out.mux(v.encode(av.VideoFrame.from_ndarray(mark.apply(texture), format="rgb24")))
        out.mux(v.encode())
    set_display_rotation(path, 90)
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in packets[:3]:
        data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    info, scanned = probe(path), probe_video(path)
    frame = next(iter_timed_frames(path))[1]
    assert (info.width, info.height) == (scanned.width, scanned.height) == (128, 256)
    assert frame.shape[:2] == (256, 128) and scanned.rotation == 90
    reading = read_watermark(path)
    assert reading.present and reading.payload == bytes(range(8))


def test_a_codec_ffmpeg_does_not_know_is_named_not_an_internal_error(tmp_path) -> None:
    """A video (or audio) track whose sample entry names an unknown codec has no codec
    context in PyAV: probing it raised AttributeError ('NoneType' … 'width'), exit 70."""
    import pytest
    from fixtures.synthetic_media import make_video

    from trustavatar.errors import AudioInputError, InputError
    from trustavatar.generator.audio import load_audio

    data = bytearray(make_video(tmp_path / "ok.mp4", seconds=0.5).read_bytes())
    stsd = data.find(b"stsd")  # (after 'ftyp', whose brands name avc1 too)
    video, audio = data.find(b"avc1", stsd), data.find(b"mp4a", stsd)
    esds = data.find(b"esds", audio)  # (from which FFmpeg would still tell AAC)
    assert stsd > 0 and video > 0 and audio > 0 and esds > 0
    unknown_video = bytearray(data)
    unknown_video[video:video + 4] = b"qqqq"
    (tmp_path / "v.mp4").write_bytes(bytes(unknown_video))
    with pytest.raises(InputError, match="its video in a codec FFmpeg cannot decode"):
        probe(tmp_path / "v.mp4")
    unknown_audio = bytearray(data)
    unknown_audio[audio:audio + 4] = unknown_audio[esds:esds + 4] = b"qqqq"
    (tmp_path / "a.mp4").write_bytes(bytes(unknown_audio))
    with pytest.raises(AudioInputError, match="in a codec FFmpeg cannot decode"):
        load_audio(tmp_path / "a.mp4")


def _with_matrix(src, dst, a: int, b: int, c: int, d: int, w: int, h: int):
    """``src`` with its video track's display matrix set to (a b; c d) (unit entries)."""
    import struct

    data = bytearray(src.read_bytes())
    at = data.find(b"tkhd") + 4 + 40  # version 0: past the fields before the matrix
    tx = (w if -1 in (a, c) else 0) << 16
    ty = (h if -1 in (b, d) else 0) << 16
    data[at:at + 36] = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, tx, ty,
                                   1 << 30)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize(("matrix", "shown"), [
    ((1, 0, 0, 1), lambda f: f),
    ((-1, 0, 0, 1), lambda f: f[:, ::-1]),  # mirrored: it was turned upside down
    ((1, 0, 0, -1), lambda f: f[::-1]),
    ((-1, 0, 0, -1), lambda f: f[::-1, ::-1]),
    ((0, 1, -1, 0), lambda f: np.rot90(f, -1)),  # a phone's portrait video
    ((0, -1, 1, 0), lambda f: np.rot90(f, 1)),
    ((0, 1, 1, 0), lambda f: f.transpose(1, 0, 2)),  # turned and mirrored
    ((0, -1, -1, 0), lambda f: f[::-1, ::-1].transpose(1, 0, 2)),
])
def test_frames_are_shown_as_the_display_matrix_says(tmp_path, matrix, shown) -> None:
    from trustavatar.video_io import iter_frames

    first = np.zeros((64, 96, 3), np.uint8)
    first[:32, :48] = 255  # a bright corner tells every turn and mirror apart
    with av.open(str(tmp_path / "plain.mp4"), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        for _ in range(3):
            out.mux(v.encode(av.VideoFrame.from_ndarray(first, format="rgb24")))
        out.mux(v.encode())
    clip = _with_matrix(tmp_path / "plain.mp4", tmp_path / "m.mp4", *matrix, w=96, h=64)
    got = next(iter_frames(clip))
    want = shown(first)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 8
