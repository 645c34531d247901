"""``scan``: one pass over a video, every analyzer, one verdict.

>>> result = scan("suspect.mp4")  # doctest: +SKIP
>>> result.verdict, result.probability, result.reasons[0]  # doctest: +SKIP

Steps (each numbered in :func:`scan`): probe → fusion model and analyzers → soundtrack →
one streaming pass over the frames (decode → face mesh → every analyzer) → each analyzer's
result → fusion. Memory is flat in the video's length: frames are dropped as soon as every
analyzer has seen them.
"""

from __future__ import annotations

__all__ = ["BatchItem", "Progress", "scan", "scan_many"]

import concurrent.futures as cf
import contextlib
import dataclasses
import inspect
import math
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustavatar._files import sha256_file
from trustavatar._terminate import children_deaf
from trustavatar.detector.analyzers.base import Analyzer, ScanContext
from trustavatar.detector.fusion import FusionModel, decide
from trustavatar.detector.registry import analyzer_spec, create_analyzer, list_analyzers
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus, ScanResult
from trustavatar.detector.tracking import FaceTracker
from trustavatar.detector.video import FrameReader, probe_video
from trustavatar.errors import AudioInputError, DetectionError, Error, ExitCode, VideoInputError
from trustavatar.home import Home
from trustavatar.keys import TrustStore

#: ``progress(fraction_done)`` — called now and then during a scan.
Progress = Callable[[float], None]
#: The soundtrack is analysed up to this length (longer: sync is not applicable).
AUDIO_MAX_SECONDS = 1800.0
DEVICES = ("cpu", "cuda")
#: Frames further apart than this (s) are a pause or a jump in the timestamps: warned about.
GAP_WARNING_S = 2.0


def _default_trust(home: Home) -> tuple[TrustStore, str | None]:
    try:
        return TrustStore.from_home(home), None
    except Error as e:
        return TrustStore.of(), f"trust store not loaded ({e.message}); no signer is trusted"


def scan(
    path: str | os.PathLike[str],
    *,
    trust: TrustStore | None = None,
    home: Home | str | os.PathLike[str] | None = None,
    analyzers: Sequence[str] | None = None,
    analyzer_options: Mapping[str, Mapping[str, Any]] | None = None,
    fusion: FusionModel | None = None,
    device: str = "cpu",
    max_seconds: float | None = None,
    max_side: int = 1280,
    window: float = 2.0,
    progress: Progress | None = None,
    stream: int | None = None,
) -> ScanResult:
    """Scan one video for manipulation; see :class:`~trustavatar.detector.ScanResult`.

    ``trust``: the C2PA trust anchors (default: the home's). ``home``: the trustavatar
    home whose trust anchors (when ``trust`` is not given) and ledger are used; its ledger
    confirms a watermark as one of its own generations (default: ``$TRUSTAVATAR_HOME`` or
    the user data folder; nothing is created there). ``analyzers``:
    registered names (default: every default analyzer). ``fusion``: the fusion model
    (default: the packaged one). ``max_seconds`` scans only the start of long videos.
    ``max_side`` bounds the frame size analysed (4K is downscaled first). ``stream``: scan
    only the video stream of this number; by default a file with several video streams
    has each scanned and the most suspicious result returned (a warning says so): a small
    decoy stream placed first must not hide the video a player shows.

    Raises :class:`~trustavatar.errors.VideoInputError` when ``path`` is missing, not a
    video, has no video stream or no decodable frame. A video without a face, without
    audio or shorter than an analyzer needs is a *result* (``inconclusive``, with the
    reasons), not an error.
    """
    started = time.perf_counter()
    warnings: list[str] = []
    if analyzers is not None and not isinstance(analyzers, str) and isinstance(analyzers,
                                                                              Iterable):
        analyzers = tuple(analyzers)  # checked, then used: a generator would be used up
    _check_options(path, analyzers, max_seconds, max_side, window, progress,
                   analyzer_options=analyzer_options, fusion=fusion, stream=stream,
                   trust=trust, device=device)
    the_home = Home.resolve(home)
    p = Path(path)
    # 1. a readable video with a video stream
    info = probe_video(p, stream)
    if stream is None and len(info.video_streams) > 1:
        return _each_stream(p, info.video_streams, progress, dict(
            trust=trust, home=the_home, analyzers=analyzers, analyzer_options=analyzer_options,
            fusion=fusion, device=device, max_seconds=max_seconds, max_side=max_side,
            window=window))
    # 2. the fusion model and the analyzers
    model = fusion or FusionModel.load()
    names = list(analyzers) if analyzers is not None else list_analyzers(default_only=True)
    if not names:
        raise DetectionError("no analyzers selected")
    options = dict(analyzer_options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:  # a typo would otherwise be ignored
        raise DetectionError(f"analyzer_options for {', '.join(unknown)}, which "
                             f"{'is' if len(unknown) == 1 else 'are'} not selected "
                             f"({', '.join(names)})")
    for name, value in options.items():
        if not isinstance(value, Mapping):
            raise DetectionError(f"analyzer_options[{name!r}] must be a mapping of keyword "
                                 f"arguments, got {type(value).__name__}")
    if device != "cpu" and not any(device in analyzer_spec(n).devices for n in names):
        warnings.append(f"no selected analyzer runs on {device}; everything ran on the CPU")
    if trust is None:
        trust, note = _default_trust(the_home)
        if note:
            warnings.append(note)
    # 3. the soundtrack (only if some analyzer wants it)
    audio, audio_note = None, None
    if any(analyzer_spec(n).needs_audio for n in names):
        audio, audio_note = _soundtrack(p, info.has_audio_stream)
    ctx = ScanContext(path=p, video=info, audio=audio, audio_note=audio_note, trust=trust,
                      device=device, window=window, reference=model.reference, home=the_home)
    active: dict[str, Analyzer] = {n: create_analyzer(n, **options.get(n, {})) for n in names}
    failed: dict[str, str] = {}
    coverage: dict[int, list[int]] = {}
    try:
        for n, a in active.items():
            _guard(n, failed, a.begin, ctx)
        # 4. one pass: decode → face mesh → every analyzer
        reader = FrameReader(p, max_side=max_side, max_seconds=max_seconds,
                             stream=info.stream)
        total = info.duration if max_seconds is None else min(info.duration, max_seconds)
        with FaceTracker() as tracker:
            last_report = 0.0
            for frame in reader:
                obs = tracker.observe(frame)
                cell = coverage.setdefault(int(frame.time // window), [0, 0])
                cell[0] += 1
                cell[1] += obs.landmarks is not None
                for n, a in active.items():
                    if n not in failed:
                        _guard(n, failed, a.update, obs)
                if progress is not None and total > 0 and frame.time - last_report >= 1.0:
                    last_report = frame.time
                    progress(min(1.0, frame.time / total))
            dt_frame = 1.0 / info.fps if info.fps > 0 else 0.04
            summary = tracker.summary(frame_duration=dt_frame)
        if reader.damaged:
            warnings.append(f"the file is damaged or truncated: decoding stopped or skipped "
                            f"packets after {reader.frames} frames ({reader.last_time:.1f} s)")
        if reader.longest_gap > GAP_WARNING_S:
            warnings.append(f"the video's timestamps jump by {reader.longest_gap:.1f} s after "
                            f"frame {reader.gap_after}: it pauses there, or its timestamps are "
                            f"damaged; face time and blink rate leave the jump out")
        # 5. each analyzer's result; one failing analyzer does not stop the others
        results: dict[str, AnalyzerResult] = {}
        for n, a in active.items():
            if n not in failed:
                r = _guard(n, failed, a.finish, summary)
                if r is not None:
                    results[n] = r
            if n in failed:
                results[n] = AnalyzerResult(n, getattr(a, "version", "?"), AnalyzerStatus.FAILED,
                                            None, {"error": failed[n]},
                                            (f"failed: {failed[n]}",))
                warnings.append(f"analyzer {n} failed: {failed[n]}")
    except BaseException:
        for a in active.values():  # a failing close() must not hide why the scan ended
            with contextlib.suppress(Exception):
                a.close()
        raise
    for a in active.values():
        a.close()
    if progress is not None:
        progress(1.0)
    # 6. fusion → verdict
    decision = decide(results, summary, model, window=window, coverage=coverage)
    video = {**info.to_dict(), "sha256": sha256_file(p), "frames_decoded": reader.frames,
             "damaged": reader.damaged, "audio": "present" if audio is not None else audio_note}
    return ScanResult(
        path=str(p), verdict=decision.verdict, probability=decision.probability,
        decided_by=decision.decided_by, reasons=decision.reasons, analyzers=results,
        timeline=decision.timeline, video=video, track=summary.to_dict(),
        features=decision.features, contributions=decision.contributions,
        thresholds=dict(model.thresholds), fusion=model.summary(),
        seconds=time.perf_counter() - started, device=device, warnings=tuple(warnings),
    )


def _each_stream(path: Path, streams: Sequence[int], progress: Progress | None,
                 options: dict[str, Any]) -> ScanResult:
    """Scan every video stream of ``path``; the most suspicious result, with a warning
    that names the streams."""
    started = time.perf_counter()
    results = []
    for k, index in enumerate(streams):
        part = None if progress is None else (
            lambda f, k=k: progress((k + f) / len(streams)))
        results.append(scan(path, stream=index, progress=part, **options))
    order = {"likely-manipulated": 2, "inconclusive": 1, "likely-authentic": 0}
    worst = max(results, key=lambda r: (order[r.verdict.value], r.probability or 0.0))
    shown = ", ".join(f"#{r.video['stream']} ({r.video['width']}x{r.video['height']}: "
                      f"{r.verdict.value})" for r in results)
    note = (f"the file holds {len(streams)} video streams, each scanned: {shown}; this is "
            f"the result of stream #{worst.video['stream']}, the most suspicious")
    return dataclasses.replace(worst, warnings=(note, *worst.warnings),
                               seconds=time.perf_counter() - started)


def _guard(name: str, failed: dict[str, str], fn: Callable[..., Any], *args: Any) -> Any:
    """Run one analyzer step; record (not raise) its failure."""
    try:
        return fn(*args)
    except (Error, ArithmeticError, ValueError, IndexError, KeyError, TypeError,
            RuntimeError, OSError) as e:
        failed[name] = f"{type(e).__name__}: {e}"
        return None


def _soundtrack(path: Path, has_stream: bool) -> tuple[Any, str | None]:
    from trustavatar.generator.audio import load_audio

    if not has_stream:
        return None, "the video has no audio track"
    try:
        return load_audio(path, max_seconds=AUDIO_MAX_SECONDS), None
    except AudioInputError as e:
        msg = e.message
        if "silent" in msg or "no sound" in msg:
            return None, "the audio track is silent"
        if "has no audio track" in msg:
            return None, "the video has no audio track"
        return None, f"the audio track could not be used ({msg})"


# -- batches -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchItem:
    """One input of :func:`scan_many`: its result, or the error that stopped it."""

    path: str
    result: ScanResult | None = None
    error_type: str | None = None
    error: str | None = None
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result.to_dict()
        return {"path": self.path, "error": {"type": self.error_type, "message": self.error,
                                             "exit_code": self.exit_code}}


def _scan_one(path: str, home: str | None, kwargs: dict[str, Any]) -> BatchItem:
    try:
        if home is not None and "trust" not in kwargs:
            kwargs = {**kwargs, "trust": TrustStore.from_home(Home.resolve(home))}
        return BatchItem(path, scan(path, home=home, **kwargs))
    except Error as e:
        return BatchItem(path, None, type(e).__name__, e.message, int(e.exit_code))
    except Exception as e:  # a bug: report it, keep the batch going
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        return BatchItem(path, None, "InternalError",
                         f"internal error ({detail}); rerun alone with --debug and report it",
                         70)


def _check_options(path: object, analyzers: object, max_seconds: object, max_side: object,
                   window: object, progress: object, *, analyzer_options: object = None,
                   fusion: object = None, stream: object = None, trust: object = None,
                   device: object = "cpu") -> None:
    """The caller's arguments, before any work (a wrong one is a DetectionError with its
    name, not an exception from deep in the pass)."""
    if not isinstance(path, str | os.PathLike):
        raise VideoInputError(f"the video must be a path, got {type(path).__name__}")
    if trust is not None and not isinstance(trust, TrustStore):
        # (it was caught by the provenance analyzer and read as "manifest unreadable")
        raise DetectionError(f"trust must be a TrustStore (TrustStore.from_home(home)), got "
                             f"{type(trust).__name__}")
    if not isinstance(device, str) or device not in DEVICES:
        raise DetectionError(f"device must be one of {', '.join(DEVICES)}, got {device!r:.40}")
    if isinstance(analyzers, str):
        raise DetectionError(f"analyzers is a sequence of names, not one string: "
                             f"[{analyzers!r}]")
    if analyzers is not None and (not isinstance(analyzers, Iterable)
                                  or not all(isinstance(n, str) for n in analyzers)):
        raise DetectionError(f"analyzers must be a sequence of analyzer names, got "
                             f"{analyzers!r:.60}")
    if analyzer_options is not None and not isinstance(analyzer_options, Mapping):
        raise DetectionError(f"analyzer_options must be a mapping of analyzer name to keyword "
                             f"arguments, got {type(analyzer_options).__name__}")
    if fusion is not None and not isinstance(fusion, FusionModel):
        raise DetectionError(f"fusion must be a FusionModel (FusionModel.load(path)), got "
                             f"{type(fusion).__name__}")
    if stream is not None and (isinstance(stream, bool) or not isinstance(stream, int)
                               or stream < 0):
        raise DetectionError(f"stream must be a video stream's number (0, 1, …), got "
                             f"{stream!r:.40}")

    def number(value: object) -> float | None:
        """``value`` as a finite float, or None when it is not a plain finite number."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) if math.isfinite(value) else None
        return None

    seconds = number(max_seconds)
    if max_seconds is not None and (seconds is None or seconds <= 0):
        raise DetectionError(f"max_seconds must be a positive number of seconds, got "
                             f"{max_seconds!r}")
    span = number(window)
    if span is None or not 0.5 <= span <= 60:
        raise DetectionError(f"window must be 0.5-60 seconds, got {window!r}")
    if not (isinstance(max_side, int) and not isinstance(max_side, bool)):
        raise DetectionError(f"max_side must be a whole number of pixels, got {max_side!r}")
    if progress is not None and not callable(progress):
        raise DetectionError(f"progress must be a callable, got {type(progress).__name__}")


def scan_many(paths: Iterable[str | os.PathLike[str]], *, workers: int = 1,
              home: str | os.PathLike[str] | None = None, **kwargs: Any) -> Iterator[BatchItem]:
    """Scan many videos, ``workers`` at a time (processes); yields as each finishes.

    A file that cannot be scanned yields a :class:`BatchItem` with the error and the
    batch goes on. ``home`` is the trustavatar home whose trust anchors and ledger each
    worker uses (default: the usual one); other keyword arguments go to :func:`scan`.
    """
    if isinstance(paths, str | bytes | os.PathLike):
        raise VideoInputError("scan_many takes a sequence of paths, not one path: "
                              "[path], or scan(path)")
    if not isinstance(paths, Iterable):
        raise VideoInputError(f"scan_many takes a sequence of paths, got "
                              f"{type(paths).__name__}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise DetectionError(f"workers must be a whole number from 1, got {workers!r}")
    # the arguments, once, before any file: a wrong one failed every file as "internal error"
    params = inspect.signature(scan).parameters
    unknown = sorted(set(kwargs) - (set(params) - {"path", "home"}))
    if unknown:
        raise DetectionError(f"scan_many got argument(s) scan does not take: "
                             f"{', '.join(unknown)}")
    if home is not None and not isinstance(home, str | os.PathLike):
        raise DetectionError(f"home must be a path, got {type(home).__name__}")
    if isinstance(kwargs.get("analyzers"), Iterable) and not isinstance(kwargs["analyzers"],
                                                                         str):
        kwargs["analyzers"] = tuple(kwargs["analyzers"])  # (a generator: used up once)
    given = {n: kwargs.get(n, params[n].default) for n in
             ("analyzers", "max_seconds", "max_side", "window", "progress",
              "analyzer_options", "fusion", "stream", "trust", "device")}
    _check_options(".", given.pop("analyzers"), given.pop("max_seconds"),
                   given.pop("max_side"), given.pop("window"), given.pop("progress"), **given)
    items: list[str] = []
    for p in paths:  # one that is no path fails alone, named as it is ("None", not a file)
        if isinstance(p, str | os.PathLike) and not isinstance(p, bytes):
            items.append(str(p))
        else:
            yield BatchItem(repr(p)[:200], None, "VideoInputError",
                            f"not a path: {type(p).__name__}", int(ExitCode.USAGE))
    home_s = str(home) if home is not None else None
    if workers <= 1 or len(items) <= 1:
        for path in items:
            yield _scan_one(path, home_s, dict(kwargs))
        return
    kwargs.pop("progress", None)
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        with children_deaf():  # a Ctrl-C is this process's to handle: it stops them
            futures = {pool.submit(_scan_one, path, home_s, dict(kwargs)): path
                       for path in items}
        for fut in cf.as_completed(futures):
            try:
                item = fut.result()
            except Exception as e:  # the worker process died
                item = BatchItem(futures[fut], None, "InternalError",
                                 f"worker failed ({type(e).__name__}: {e})", 70)
            yield item
    except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped reading: stop now
        _stop_workers(pool)
        raise
    pool.shutdown()


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """End ``pool`` without running what is queued or finishing what runs (leaving its
    ``with`` block waited for the running scans, then ran the whole queue)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):
            worker.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
