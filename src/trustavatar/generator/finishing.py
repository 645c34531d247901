"""Finish rendered frames on a second thread: watermark, encode, hand the packets to QA.

The renderer (the caller's thread) makes frame *i + 1* while this thread finishes frame
*i*: OpenCV, NumPy and PyAV/libx264 release the GIL while they work, so the two threads
use two cores. Frames pass through a short queue (memory stays flat); they are finished
in order, and the first failure on the thread is raised to the caller by the next
:meth:`FrameFinisher.put` or by :meth:`FrameFinisher.close`.
"""

from __future__ import annotations

__all__ = ["FrameFinisher"]

import queue
import threading
import time
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from trustavatar.generator._closing import CloseOrAbort
from trustavatar.generator.encode import VideoWriter
from trustavatar.watermark import Watermark

#: rendered frames waiting to be finished, at most
_DEPTH = 8


class _Meter(Protocol):
    def add_packets(self, packets: Iterable[bytes], extradata: bytes) -> None: ...


class FrameFinisher(CloseOrAbort):
    """``put`` rendered frames; each is watermarked with ``mark`` and written to
    ``writer``, whose packets go to ``meter``, in order, on a background thread;
    :meth:`close` also finishes the writer (its last packets go to ``meter`` too).

    ``seconds`` / ``cpu``: wall and CPU seconds the thread spent per stage
    (``watermark_s``, ``encode_s``, ``qa_s``); ``first``: the first finished frame.
    """

    def __init__(self, mark: Watermark, writer: VideoWriter, meter: _Meter) -> None:
        self._mark, self._writer, self._meter = mark, writer, meter
        self.seconds = {"watermark_s": 0.0, "encode_s": 0.0, "qa_s": 0.0}
        self.cpu = dict.fromkeys(self.seconds, 0.0)
        self.first: np.ndarray | None = None
        self._failure: BaseException | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=_DEPTH)
        self._thread = threading.Thread(target=self._run, name="finish-frames", daemon=True)
        self._thread.start()

    def put(self, frame: np.ndarray) -> None:
        """Queue ``frame`` (not to be changed afterwards); waits while the queue is full."""
        self._raise_failure()
        self._queue.put(frame)

    def close(self) -> None:
        """Finish every queued frame and the writer; raise the thread's failure, if any."""
        self._stop()
        self._raise_failure()
        self._meter.add_packets(self._writer.finish(), self._writer.extradata)

    def abort(self) -> None:
        """Stop the thread (after the caller's error, which wins over the thread's)."""
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        t, c = time.perf_counter(), time.thread_time()

        def lap(stage: str) -> None:
            nonlocal t, c
            now, cpu = time.perf_counter(), time.thread_time()
            self.seconds[stage] += now - t
            self.cpu[stage] += cpu - c
            t, c = now, cpu

        while (frame := self._queue.get()) is not None:
            if self._failure is not None:
                continue  # after a failure, frames are only drained
            try:
                t, c = time.perf_counter(), time.thread_time()
                frame = self._mark.apply(frame)
                lap("watermark_s")
                packets = self._writer.write(frame)
                lap("encode_s")
                self._meter.add_packets(packets, self._writer.extradata)
                lap("qa_s")
                if self.first is None:
                    self.first = frame
            except BaseException as e:  # raised to the caller by put() or close()
                self._failure = e
