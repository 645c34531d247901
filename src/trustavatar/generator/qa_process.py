"""Measure the encoded output for QA while it is being rendered, in this process or beside it.

The QA measures what is in the file: the encoder's H.264 packets, decoded again
(:class:`PacketDecoder`), frame by frame (:class:`~trustavatar.generator.qa.FrameMeter`:
mediapipe on every frame, dlib on one a second). That costs about as much as rendering;
run after the encode, it doubled the time of a generation. So the meter takes the packets
as the encoder makes them:

* :class:`QAProcess` streams them to a second Python (a pipe carries ~20 KB a frame
  instead of the raw frame's 786 KB at 512 px) that decodes and measures while frames are
  still being rendered, and collects its :class:`~trustavatar.generator.qa.Measurements`;
* :class:`InProcessMeter` does the same in this process: short outputs, where starting a
  second Python with mediapipe and dlib (~1.5 s of CPU) costs more than it saves
  (:func:`measured_in_parallel`).

Both: ``begin(...)`` (what to measure), ``add_packets(packets, extradata)`` in the
encoder's order, then ``result()``; both are context managers that clean up on error.
"""

from __future__ import annotations

__all__ = ["PARALLEL_MIN_WORK", "InProcessMeter", "Meter", "PacketDecoder", "QAProcess",
           "measured_in_parallel", "open_meter"]

import contextlib
import json
import queue
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict
from types import TracebackType
from typing import IO, Protocol

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from trustavatar._child_process import child_command, child_environment, result_channel
from trustavatar.errors import GenerationError
from trustavatar.face.embedding import face_models
from trustavatar.face.mesh import preload as preload_mesh
from trustavatar.generator.qa import BoxFromMesh, FrameMeter, Measurements

#: An output is measured in a second process when its frames times its pixels (counted up
#: to a 512x512 frame) reach this: starting the process costs ~1.5 s of CPU, which the
#: overlap with rendering must win back. About 6 s of 25 fps video at 512x512 or larger,
#: 24 s at 256x256 (where rendering a frame costs less than measuring it).
PARALLEL_MIN_WORK = 40_000_000
_PIXELS_COUNTED = 512 * 512
#: packets waiting for the QA process, at most (the QA's dlib frames come in bursts)
_QUEUE_PACKETS = 256
_LENGTH = struct.Struct("<I")


class PacketDecoder:
    """Decode the H.264 packets of :class:`~trustavatar.generator.encode.VideoWriter` to
    ``(H, W, 3) uint8`` RGB frames, in display order (BT.601 limited range, as encoded)."""

    def __init__(self) -> None:
        self._ctx: VideoCodecContext | None = None

    def decode(self, packet: bytes, extradata: bytes) -> list[np.ndarray]:
        if self._ctx is None:
            self._ctx = av.CodecContext.create("h264", "r")
            self._ctx.extradata = extradata
        return [self._rgb(f) for f in self._ctx.decode(av.Packet(packet))]

    def flush(self) -> list[np.ndarray]:
        """The frames the decoder still holds back (B-frames reorder)."""
        return [] if self._ctx is None else [self._rgb(f) for f in self._ctx.decode(None)]

    @staticmethod
    def _rgb(frame: av.VideoFrame) -> np.ndarray:
        return np.asarray(cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420), np.uint8)


class Meter(Protocol):
    #: CPU seconds spent decoding and measuring (after :meth:`result`)
    cpu_s: float

    @property
    def local_cpu_s(self) -> float:
        """The part of :attr:`cpu_s` spent in this process."""

    def begin(self, n_frames: int, identity_frames: Collection[int],
              face_height_px: float | None, boxes: BoxFromMesh | None = None) -> None: ...
    def add_packets(self, packets: Iterable[bytes], extradata: bytes) -> None: ...
    def result(self) -> Measurements: ...
    def __enter__(self) -> Meter: ...
    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class InProcessMeter:
    """Decode and measure in this process (on the caller's thread). :meth:`begin` first."""

    def __init__(self) -> None:
        self._meter: FrameMeter | None = None
        self._decoder = PacketDecoder()
        self.cpu_s = 0.0

    def begin(self, n_frames: int, identity_frames: Collection[int],
              face_height_px: float | None, boxes: BoxFromMesh | None = None) -> None:
        """What to measure: ``n_frames`` frames, dlib on ``identity_frames`` (see
        :class:`~trustavatar.generator.qa.FrameMeter`)."""
        self._meter = FrameMeter(n_frames, identity_frames, face_height_px, boxes)

    @property
    def _started(self) -> FrameMeter:
        if self._meter is None:
            raise GenerationError("the QA meter was used before begin()")
        return self._meter

    def add_packets(self, packets: Iterable[bytes], extradata: bytes) -> None:
        t = time.thread_time()
        meter = self._started
        for packet in packets:
            for frame in self._decoder.decode(packet, extradata):
                meter.add(frame)
        self.cpu_s += time.thread_time() - t

    @property
    def local_cpu_s(self) -> float:
        return self.cpu_s

    def result(self) -> Measurements:
        t = time.thread_time()
        meter = self._started
        for frame in self._decoder.flush():
            meter.add(frame)
        self.cpu_s += time.thread_time() - t
        return meter.result()

    def __enter__(self) -> InProcessMeter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._meter is not None:
            self._meter.close()


class QAProcess:
    """Decode and measure in a child process, fed the packets through a pipe.

    The child starts at once and loads mediapipe and dlib (~1.5 s) while the caller gets
    on; :meth:`begin` then says what to measure.
    """

    def __init__(self) -> None:
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        try:
            self._proc = subprocess.Popen(
                child_command(__name__), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env=child_environment())
        except OSError as e:
            self._stderr.close()
            raise GenerationError(f"cannot start the QA process: {e}") from e
        self._error: str | None = None
        self._extradata: bytes | None = None
        self.cpu_s = 0.0
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_PACKETS)
        self._pump: threading.Thread | None = None

    def begin(self, n_frames: int, identity_frames: Collection[int],
              face_height_px: float | None, boxes: BoxFromMesh | None = None) -> None:
        """What to measure: ``n_frames`` frames, dlib on ``identity_frames`` (see
        :class:`~trustavatar.generator.qa.FrameMeter`)."""
        header = {"frames": n_frames, "identity_frames": sorted(int(i) for i in identity_frames),
                  "face_height_px": face_height_px,
                  "boxes": None if boxes is None else asdict(boxes)}
        self._write(json.dumps(header).encode() + b"\n")
        self._pump = threading.Thread(target=self._send, name="qa-feed", daemon=True)
        self._pump.start()

    def _write(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except OSError as e:  # BrokenPipeError among them
            self._error = self._error or f"the QA process stopped reading ({e})"

    def _send(self) -> None:
        while (message := self._queue.get()) is not None:
            if self._error is None:  # after an error, messages are only drained
                self._write(_LENGTH.pack(len(message)) + message)

    def add_packets(self, packets: Iterable[bytes], extradata: bytes) -> None:
        if self._pump is None:
            raise GenerationError("the QA meter was used before begin()")
        for packet in packets:
            if self._extradata is None:  # the decoder's configuration goes first
                self._extradata = extradata
                self._queue.put(extradata)
            self._queue.put(packet)

    @property
    def local_cpu_s(self) -> float:
        return 0.0  # the feed's pipe writes are counted as the encoder's

    def result(self) -> Measurements:
        """Wait for the child to measure every packet sent; its measurements."""
        if self._pump is None:
            raise GenerationError("the QA meter was used before begin()")
        self._queue.put(None)
        self._pump.join()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        out = self._proc.stdout.read()
        rc = self._proc.wait()
        if rc != 0 or self._error is not None:
            raise GenerationError(f"the QA process failed (exit code {rc}): "
                                  f"{self._error or self._stderr_tail()}")
        try:
            reply = json.loads(out)
            measured = Measurements.from_json(reply["measurements"])
            self.cpu_s = float(reply["cpu_s"])
        except (ValueError, KeyError, TypeError) as e:
            raise GenerationError(f"the QA process sent an unreadable result: {e}") from e
        return measured

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no message"

    def __enter__(self) -> QAProcess:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._pump is not None:
            self._queue.put(None)  # the feeder drains (its writes now fail) and ends
            self._pump.join()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._stderr.close()


def measured_in_parallel(n_frames: int, width: int, height: int) -> bool:
    """Whether :func:`open_meter` measures an output of ``n_frames`` of ``width`` x
    ``height`` in a second process (see :data:`PARALLEL_MIN_WORK`)."""
    return n_frames * min(width * height, _PIXELS_COUNTED) >= PARALLEL_MIN_WORK


def open_meter(n_frames: int, *, width: int, height: int) -> Meter:
    """A meter for an output of about ``n_frames`` of ``width`` x ``height``:
    :class:`QAProcess` (started now) where :func:`measured_in_parallel`,
    :class:`InProcessMeter` otherwise. Call ``begin`` before the first packet."""
    if measured_in_parallel(n_frames, width, height):
        return QAProcess()
    return InProcessMeter()


def _messages(stream: IO[bytes]) -> Iterable[bytes]:
    """Length-prefixed messages from ``stream`` until its end."""
    while head := stream.read(_LENGTH.size):
        if len(head) < _LENGTH.size:
            raise EOFError("input ended inside a message length")
        (size,) = _LENGTH.unpack(head)
        data = stream.read(size)
        if len(data) < size:
            raise EOFError(f"input ended inside a message ({len(data)} of {size} bytes)")
        yield data


def main() -> int:
    """The child: a JSON header line, then length-prefixed messages on stdin (the
    decoder's configuration, then the packets); the measurements as JSON on stdout."""
    result_out = result_channel()
    stdin = sys.stdin.buffer
    face_models()  # load the models while the parent runs its consent gate
    preload_mesh()
    line = stdin.readline()
    if not line:
        return 0  # the parent stopped before saying what to measure
    header = json.loads(line)
    boxes = header["boxes"]
    decoder = PacketDecoder()
    extradata: bytes | None = None
    with FrameMeter(int(header["frames"]), header["identity_frames"], header["face_height_px"],
                    None if boxes is None else BoxFromMesh(**boxes)) as meter:
        for message in _messages(stdin):
            if extradata is None:
                extradata = message
                continue
            for frame in decoder.decode(message, extradata):
                meter.add(frame)
        for frame in decoder.flush():
            meter.add(frame)
    reply = {"measurements": meter.result().to_json(), "cpu_s": time.process_time()}
    result_out.write(json.dumps(reply).encode())
    result_out.close()
    return 0
