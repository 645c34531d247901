"""Streaming H.264 + AAC MP4 writer (PyAV). Frames go out as they come; audio is
interleaved with the video, so memory stays flat in the length of the video."""

from __future__ import annotations

__all__ = ["VideoWriter", "check_written"]

import contextlib
import os
from fractions import Fraction

import av
import cv2
import numpy as np

from trustavatar._atomic import shown_path
from trustavatar._files import ffmpeg_path
from trustavatar.errors import GenerationError, InputError
from trustavatar.generator._closing import CloseOrAbort
from trustavatar.generator.audio import Audio
from trustavatar.generator.audio.soundtrack import MemorySoundTrack, SoundTrack

_AAC_FRAME = 1024


class VideoWriter(CloseOrAbort):
    """Write ``(H, W, 3) uint8`` RGB frames at ``fps`` with ``audio`` muxed alongside
    (mono :class:`~.audio.Audio`, or a :class:`~.audio.soundtrack.SoundTrack`, which the
    writer closes with the file).

    ``threads``: libx264's threads (None: its own choice, about 1.5 per core); 1 where the
    caller keeps the other cores busy (it saves libx264's threading overhead)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: float,
        audio: Audio | SoundTrack | None,
        crf: int = 18,
        preset: str = "veryfast",
        threads: int | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise InputError(f"frame size must be even for H.264, got {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self._path = path
        try:
            self._out = av.open(ffmpeg_path(path), "w", format="mp4")
        except (OSError, av.FFmpegError) as e:
            raise GenerationError(f"cannot write {path}: {e}") from e
        rate = Fraction(fps).limit_denominator(1001)
        self._video = self._out.add_stream("libx264", rate=rate)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        if threads is not None:
            self._video.options["threads"] = str(threads)
        self._closed = False
        # the writer owns the track from here: it closes it with the file
        self._track: SoundTrack | None = (MemorySoundTrack(audio) if isinstance(audio, Audio)
                                          else audio)
        self._astream = None
        self._apos = 0
        if self._track is not None:
            self._astream = self._out.add_stream("aac", rate=self._track.sample_rate)
            self._astream.layout = self._track.layout

    @property
    def extradata(self) -> bytes:
        """The H.264 decoder configuration (SPS/PPS, the MP4's ``avcC``): the packets
        :meth:`write` returns need it to be decoded. Empty before the first frame."""
        return bytes(self._video.codec_context.extradata or b"")

    def write(self, frame: np.ndarray) -> list[bytes]:
        """Encode ``frame``; return the video packets this produced (often none yet, the
        encoder looks ahead), in decoding order, as written to the file."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise InputError(f"frame must be ({self.height}, {self.width}, 3) uint8, "
                             f"got {frame.shape} {frame.dtype}")
        # RGB -> YUV 4:2:0 (BT.601, limited range, as swscale does by default) with
        # OpenCV: 0.06 ms a 512x512 frame instead of swscale's 1.1 ms; luma within one
        # level of swscale's, chroma averaged over 2x2 pixels
        yuv: np.ndarray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), np.uint8)
        vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        try:
            packets = self._mux_video(self._video.encode(vf))
            self.frames += 1
            self._push_audio(self.frames / self.fps)
        except OSError as e:  # a full disk: the file system's words, not an internal error
            raise self._write_error(e) from e
        return packets

    def _write_error(self, e: OSError) -> GenerationError:
        return GenerationError(f"cannot write the video {shown_path(self._path)}: "
                               f"{e.strerror or e}")

    def _mux_video(self, packets: list[av.Packet]) -> list[bytes]:
        data = [bytes(p) for p in packets]  # muxing empties the packets
        self._out.mux(packets)
        return data

    def _push_audio(self, until_s: float | None) -> None:
        """Encode the sound up to ``until_s`` seconds in whole AAC frames (None: all that
        is left, the last frame short)."""
        if self._track is None or self._astream is None:
            return
        sr = self._track.sample_rate
        end = None if until_s is None else int(until_s * sr)
        while end is None or self._apos + _AAC_FRAME <= end:
            chunk = self._track.read(_AAC_FRAME)
            if chunk.shape[1] == 0:
                return
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk, np.float32),
                                            format="fltp", layout=self._track.layout)
            af.sample_rate = sr
            af.pts = self._apos
            self._out.mux(self._astream.encode(af))
            self._apos += chunk.shape[1]
            if chunk.shape[1] < _AAC_FRAME:  # the track ended
                return

    def finish(self) -> list[bytes]:
        """Flush the encoders and close the file; return the last video packets."""
        if self._closed:
            return []
        try:
            packets = self._mux_video(self._video.encode())
            if self._astream is not None:
                self._push_audio(None)
                self._out.mux(self._astream.encode())
            self._closed = True
            self._out.close()
        except OSError as e:
            raise self._write_error(e) from e
        finally:
            self._close_track()
            if not self._closed:
                self._closed = True
                with contextlib.suppress(OSError):
                    self._out.close()
        return packets

    def _close_track(self) -> None:
        if self._track is not None:
            self._track.close()

    def close(self) -> None:
        self.finish()

    def abort(self) -> None:
        """Close the file as it is (after an error: the caller discards it)."""
        self._close_track()
        if not self._closed:
            self._closed = True
            self._out.close()


def check_written(path: str | os.PathLike[str], *, frames: int, first: np.ndarray,
                  min_psnr: float = 30.0) -> float:
    """Read a written video back, cheaply: it opens, its video stream holds ``frames``
    frames, and its first frame decodes to ``first`` (the frame that was encoded) within
    ``min_psnr`` dB, compared at a quarter of the size: what this catches (a wrong frame,
    swapped colours, a shifted picture) shows there, while grain or dithering, which lossy
    coding rightly drops, does not (a grainy photo's frame is ~24 dB at full size). The QA
    measures the encoder's packets as they are made; this checks the file they were muxed
    into. Returns that PSNR; raises :class:`~trustavatar.errors.GenerationError`."""
    decoded: np.ndarray | None = None
    count = 0
    try:
        with av.open(ffmpeg_path(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                count += 1
                if decoded is None:
                    for frame in packet.decode():
                        decoded = frame.to_ndarray(format="rgb24")
                        break
            if decoded is None:
                for frame in stream.codec_context.decode(None):
                    decoded = frame.to_ndarray(format="rgb24")
                    break
    except (av.FFmpegError, OSError, IndexError) as e:
        raise GenerationError(f"the encoded video {path} cannot be read back: {e}") from e
    if count != frames:
        raise GenerationError(f"the encoded video holds {count} frames, {frames} were written")
    if decoded is None or decoded.shape != first.shape:
        raise GenerationError("the encoded video's first frame cannot be decoded")
    h, w = first.shape[:2]

    def coarse(image: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.resize(image, (max(1, w // 4), max(1, h // 4)),
                                     interpolation=cv2.INTER_AREA))

    psnr = float(cv2.PSNR(coarse(decoded), coarse(first)))
    if psnr < min_psnr:
        raise GenerationError(f"the encoded video's first frame differs from the frame "
                              f"encoded (PSNR {psnr:.1f} dB < {min_psnr} dB)")
    return psnr
