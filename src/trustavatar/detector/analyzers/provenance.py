"""Provenance analyzer: the C2PA manifest and the trustavatar watermark.

1. The file's C2PA manifest is verified against the trust store
   (:func:`trustavatar.provenance.verify`).
2. The trustavatar watermark is read from the same decoded frames the other analyzers see
   (:func:`trustavatar.watermark.read_watermark` in a helper thread fed frame by frame).

Decisive evidence of generation (``decisive=True``, score 1):

- a *trusted* manifest that declares AI generation;
- a watermark found (false-alarm probability ≈ 2.3e-6 on natural video, as written,
  mirrored or turned) whose payload is
  *confirmed*: listed in the scanning home's ledger (one of its own generations), or
  carried by the file's trusted manifest.

Claims, reported but not decisive: an AI declaration from an untrusted or invalid manifest,
and a watermark nothing here confirms. The watermark's key is public (the generator is
open source), so anyone can add the mark to any video, real footage included, as anyone
can attach an untrusted manifest: either could be used to discredit a real video. A claim
keeps the verdict from being ``likely-authentic`` (``unverified_claims``). Absence — no
manifest, no watermark — is never evidence of authenticity: the score is then 0 and the
fusion ignores it.

Figures: ``c2pa_state`` (trusted, valid-untrusted, invalid, absent, unsupported-format:
a format C2PA cannot read or a damaged file, unreadable; ``c2pa_error`` says why),
``ai_generated``, ``signer``, ``claim_generator``, ``digital_source_types``,
``generation_id``, ``consent_id``, ``watermark_present``, ``watermark_z``,
``watermark_payload`` (hex), ``watermark_frames``, ``watermark_confirmed_by`` (``ledger``,
``manifest`` or None), ``watermark_ledger_rows`` (the ledger rows with that payload),
``watermark_ledger_note`` (why the ledger was not consulted), ``unverified_claims``.
"""

from __future__ import annotations

__all__ = ["ProvenanceAnalyzer"]

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustavatar.detector.analyzers.base import Analyzer, ScanContext
from trustavatar.detector.result import AnalyzerResult, AnalyzerStatus
from trustavatar.detector.tracking import FaceObservation, TrackSummary
from trustavatar.errors import Error, UnsupportedFormatError

_END = object()


class _WatermarkThread:
    """Runs ``read_watermark`` on frames pushed one at a time (bounded queue)."""

    def __init__(self) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=4)
        self._ended = False  # the reader has taken the end marker
        self.reading: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="watermark", daemon=True)
        self._thread.start()

    def _frames(self) -> Iterator[NDArray[np.uint8]]:
        while True:
            item = self._q.get()
            if item is _END:
                self._ended = True
                return
            yield item

    def _run(self) -> None:
        from trustavatar.watermark import read_watermark

        try:
            self.reading = read_watermark(self._frames())
        except BaseException as e:  # reported in finish(); the scan goes on
            self.error = e
            # Drain so the producer never blocks, unless the reader failed on the end marker
            # itself (no frames at all): then nothing more is coming.
            while not self._ended and self._q.get() is not _END:
                pass
            self._ended = True

    def push(self, frame: NDArray[np.uint8]) -> None:
        if self._thread.is_alive():
            self._q.put(frame)

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(_END)
            self._thread.join()


class ProvenanceAnalyzer(Analyzer):
    """See the module docstring. ``watermark=False`` skips the watermark."""

    name = "provenance"
    version = "1"
    _wm: _WatermarkThread | None = None  # until begin() starts one (close() may come first)

    def __init__(self, *, watermark: bool = True, max_watermark_frames: int | None = None
                 ) -> None:
        self.watermark = watermark
        self.max_watermark_frames = max_watermark_frames

    def begin(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._busy = 0.0
        self._fed = 0
        t0 = time.perf_counter()
        self._figures: dict[str, Any] = {}
        self._reasons: list[str] = []
        self._decisive = False
        self._claims: list[str] = []
        self._manifest_watermark: str | None = None  # the payload a trusted manifest binds
        self._manifest(ctx)
        self._wm = None
        from trustavatar.watermark import MIN_SIDE

        small = min(ctx.video.width, ctx.video.height) < MIN_SIDE
        if self.watermark and not small:
            self._wm = _WatermarkThread()
        elif self.watermark:
            self._figures["watermark_note"] = (
                f"frames smaller than {MIN_SIDE} px cannot carry the watermark")
        self._busy += time.perf_counter() - t0

    def _manifest(self, ctx: ScanContext) -> None:
        from trustavatar import provenance as pv
        from trustavatar.keys import TrustStore

        fig = self._figures
        try:
            report = pv.verify(ctx.path, trust=ctx.trust or TrustStore.of())
        except UnsupportedFormatError as e:  # a format C2PA cannot read, or a damaged file
            fig["c2pa_state"] = "unsupported-format"
            fig["c2pa_error"] = e.message
            return
        except Error as e:
            fig["c2pa_state"] = "unreadable"
            fig["c2pa_error"] = e.message
            return
        state = report.state
        fig["c2pa_state"] = state.value
        if state is pv.ValidationState.ABSENT:
            return
        fig.update(
            ai_generated=report.ai_generated, signer=report.signer_label,
            claim_generator=report.claim_generator,
            digital_source_types=[t.rsplit("/", 1)[-1] for t in report.digital_source_types],
            generation_id=report.generation.generation_id if report.generation else None,
            consent_id=report.consent.consent_id if report.consent else None,
            c2pa_failures=[f.code for f in report.failures],
            impersonates=report.impersonates,
        )
        types = ", ".join(fig["digital_source_types"]) or "no source type"
        impersonation = None if report.impersonates is None else (
            f"its signer carries the name of the trusted identity '{report.impersonates}' "
            "without its certificate (possible impersonation)")
        if state is pv.ValidationState.TRUSTED and report.generation is not None:
            self._manifest_watermark = report.generation.watermark
        if state is pv.ValidationState.TRUSTED and report.ai_generated:
            self._decisive = True
            self._reasons.append(f"a trusted C2PA manifest signed by '{report.signer_label}' "
                                 f"declares the video AI-generated ({types})")
        elif report.ai_generated:
            why = ("its signer is not trusted" if state is pv.ValidationState.VALID_UNTRUSTED
                   else "the manifest does not verify (the file or the manifest changed "
                   "after signing, or it is malformed)")
            if impersonation is not None:
                why += f"; {impersonation}"
            self._claim(f"a C2PA manifest that is {state.value} (signer "
                        f"'{report.signer_label}', claimed, not verified) declares the video "
                        f"AI-generated ({types}); not decisive, as {why}")
        elif state is pv.ValidationState.TRUSTED:
            self._reasons.append(f"a trusted C2PA manifest signed by '{report.signer_label}' "
                                 "declares no AI generation")
        elif impersonation is not None:  # no AI declared, by a look-alike of a trusted name
            self._reasons.append(f"the C2PA manifest is {state.value} (signer "
                                 f"'{report.signer_label}'): {impersonation}")
        else:
            self._reasons.append(f"the C2PA manifest is {state.value}")

    def _claim(self, reason: str) -> None:
        self._claims.append(reason)
        self._reasons.append(reason)

    def _watermark_found(self, reading: Any) -> None:
        """Decisive when the payload is confirmed by the home's ledger or the trusted
        manifest; otherwise a claim (see the module docstring)."""
        fig = self._figures
        payload = reading.payload.hex() if reading.payload else None
        seen = (f"the trustavatar watermark is present (z = {reading.z_score:.1f} over "
                f"{reading.frames_used} frames, payload {payload or 'unreadable'}"
                f"{reading.orientation_note})")
        rows: list[Any] = []
        note: str | None = None
        if payload is not None:
            from trustavatar.registry.ledger import find_by_watermark_in

            rows, note = find_by_watermark_in(self._ctx.home, payload)
            fig["watermark_ledger_rows"] = [r.seq for r in rows]
            if note:
                fig["watermark_ledger_note"] = note
        if rows and note is None:
            first = rows[0]
            fig["watermark_confirmed_by"] = "ledger"
            self._decisive = True
            self._reasons.append(
                f"{seen}, and this home's ledger lists it: row {first.seq}, generated "
                f"{first.created_at:%Y-%m-%d %H:%M} UTC under consent {first.entry.consent_id}")
        elif payload is not None and payload == self._manifest_watermark:
            fig["watermark_confirmed_by"] = "manifest"
            self._decisive = True
            self._reasons.append(f"{seen}, the payload the trusted manifest binds")
        else:
            fig["watermark_confirmed_by"] = None
            where = ("the payload could not be read" if payload is None else
                     note if rows and note else
                     "neither this home's ledger nor a trusted manifest lists that payload")
            self._claim(f"{seen}, claimed, not verified: {where}. The mark's key is public, "
                        "so anyone can add it to any video, real footage included; not "
                        "decisive")

    def update(self, obs: FaceObservation) -> None:
        if self._wm is None:
            return
        if self.max_watermark_frames is not None and self._fed >= self.max_watermark_frames:
            return
        t0 = time.perf_counter()
        self._wm.push(obs.image)
        self._fed += 1
        self._busy += time.perf_counter() - t0

    def close(self) -> None:
        if self._wm is not None:
            self._wm.close()

    def finish(self, track: TrackSummary) -> AnalyzerResult:
        t0 = time.perf_counter()
        fig = self._figures
        if self._wm is not None:
            self._wm.close()
            reading = self._wm.reading
            if reading is not None:
                fig.update(watermark_present=bool(reading.present),
                           watermark_z=float(reading.z_score),
                           watermark_payload=reading.payload.hex() if reading.payload else None,
                           watermark_frames=int(reading.frames_used),
                           watermark_orientation=str(reading.orientation))
                if reading.present:
                    self._watermark_found(reading)
            elif self._wm.error is not None:
                fig["watermark_error"] = str(self._wm.error)
        fig["unverified_claims"] = list(self._claims)
        if not self._decisive and not self._claims:
            self._reasons.append("no provenance evidence of generation (absence of a manifest "
                                 "or watermark is not evidence of authenticity)")
        self._busy += time.perf_counter() - t0
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.OK,
                              1.0 if self._decisive else 0.0, dict(fig), tuple(self._reasons),
                              (), self._busy, decisive=self._decisive)
