"""Face tracking for the detector: mediapipe's 478-landmark mesh on every frame.

:class:`FaceTracker` turns :class:`~trustavatar.detector.video.DecodedFrame` s into
:class:`FaceObservation` s. Frames are downscaled before the mesh (its networks work at
192 px anyway), landmarks are mapped back to the frame's pixels. The mesh runs in tracking
mode with one face: the *main face track* is the face mediapipe follows. The track is cut
into *segments* wherever it is lost for more than ``max_gap`` seconds or jumps (a shot cut,
another person): analyzers never join measurements across a segment boundary.

Shapes: ``landmarks`` ``(478, 2) float32`` (x, y) in pixels of ``frame.image``.
"""

from __future__ import annotations

__all__ = ["FaceObservation", "FaceTracker", "TrackSummary"]

from dataclasses import dataclass
from types import TracebackType

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.detector.video import DecodedFrame
from trustavatar.face.mesh import FaceMesh, Region, face_height


@dataclass(frozen=True, eq=False)
class FaceObservation:
    """A frame and the main face in it (``landmarks`` None when there is none).

    ``segment`` numbers the continuous pieces of the face track (-1 without a face);
    ``new_segment`` is true on a segment's first frame.
    """

    frame: DecodedFrame
    landmarks: NDArray[np.float32] | None
    segment: int
    new_segment: bool

    @property
    def time(self) -> float:
        return self.frame.time

    @property
    def image(self) -> NDArray[np.uint8]:
        return self.frame.image


@dataclass(frozen=True)
class TrackSummary:
    """How much face the video had: the figures every report shows first."""

    frames: int
    frames_with_face: int
    seconds: float
    face_seconds: float
    segments: int
    longest_segment_s: float
    median_face_height_px: float | None  #: in source pixels

    @property
    def face_fraction(self) -> float:
        return self.frames_with_face / self.frames if self.frames else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames, "frames_with_face": self.frames_with_face,
            "face_fraction": round(self.face_fraction, 4), "seconds": round(self.seconds, 3),
            "face_seconds": round(self.face_seconds, 3), "segments": self.segments,
            "longest_segment_s": round(self.longest_segment_s, 3),
            "median_face_height_px": (None if self.median_face_height_px is None
                                      else round(self.median_face_height_px, 1)),
        }


class FaceTracker:
    """Stateful: feed frames in time order with :meth:`observe`; read :meth:`summary`.

    ``mesh_side`` is the longer side frames are scaled to for the mesh (small frames are
    scaled up to it too, which helps the face detector on 96 px clips). ``max_gap``
    (seconds without a face) and ``max_jump`` (centre movement in face heights between
    consecutive detections) end a segment.
    """

    def __init__(self, *, mesh_side: int = 512, max_gap: float = 0.5,
                 max_jump: float = 0.5) -> None:
        self._mesh = FaceMesh(video=True, max_faces=1)
        self.mesh_side = mesh_side
        self.max_gap = max_gap
        self.max_jump = max_jump
        self._segment = -1
        self._last_seen: tuple[float, NDArray[np.float32]] | None = None
        self._frames = 0
        self._with_face = 0
        self._first_t: float | None = None
        self._last_t = 0.0
        self._prev_t: float | None = None
        self._prev_face = False
        self._face_seconds = 0.0
        self._segment_start = 0.0
        self._segment_end = 0.0
        self._longest = 0.0
        self._heights: list[float] = []  # one float per face frame, subsampled when long
        self._height_stride = 1

    # -- per frame ---------------------------------------------------------------------
    def observe(self, frame: DecodedFrame) -> FaceObservation:
        image = frame.image
        h, w = image.shape[:2]
        k = self.mesh_side / max(h, w)
        if abs(k - 1.0) > 0.05:
            interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
            small = cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))),
                               interpolation=interp)
            sx, sy = w / small.shape[1], h / small.shape[0]
        else:
            small, sx, sy = image, 1.0, 1.0
        found = self._mesh.detect(small)
        landmarks = None
        if found is not None:
            landmarks = (found * np.array([sx, sy], np.float32)).astype(np.float32)
        return self._account(frame, landmarks)

    def _account(self, frame: DecodedFrame, landmarks: NDArray[np.float32] | None
                 ) -> FaceObservation:
        t = frame.time
        if self._first_t is None:
            self._first_t = t
        # time accounting: the interval since the previous frame belongs to that frame, up
        # to max_gap (a longer one is a pause or a jump in the timestamps: not face time)
        if self._prev_t is not None and self._prev_face:
            self._face_seconds += min(max(0.0, t - self._prev_t), self.max_gap)
        self._frames += 1
        self._last_t = t
        new = False
        if landmarks is None:
            self._prev_t, self._prev_face = t, False
            return FaceObservation(frame, None, -1, False)
        self._with_face += 1
        height = face_height(landmarks)
        if self._with_face % self._height_stride == 0:
            self._heights.append(height / max(frame.scale, 1e-6))
            if len(self._heights) >= 4096:  # keep memory flat: thin out, double the stride
                self._heights = self._heights[::2]
                self._height_stride *= 2
        if self._last_seen is None:
            new = True
        else:
            last_t, last = self._last_seen
            centre = landmarks[Region.FACE_OVAL].mean(0)
            last_centre = last[Region.FACE_OVAL].mean(0)
            jump = float(np.linalg.norm(centre - last_centre)) / max(height, 1.0)
            ratio = height / max(face_height(last), 1.0)
            if t - last_t > self.max_gap or jump > self.max_jump or not 0.7 < ratio < 1.4:
                new = True
        if new:
            self._longest = max(self._longest, self._segment_end - self._segment_start)
            self._segment += 1
            self._segment_start = t
        self._segment_end = t
        self._last_seen = (t, landmarks)
        self._prev_t, self._prev_face = t, True
        return FaceObservation(frame, landmarks, self._segment, new)

    # -- results -------------------------------------------------------------------------
    def summary(self, *, frame_duration: float = 0.04) -> TrackSummary:
        """Totals so far; the last frame counts for ``frame_duration`` seconds (at most
        ``max_gap``, as every other frame: a frame rate the file states wrongly, as one
        whose timestamps jump does, cannot make it last longer)."""
        frame_duration = min(frame_duration, self.max_gap)
        face_seconds = self._face_seconds + (frame_duration if self._prev_face else 0.0)
        longest = max(self._longest, self._segment_end - self._segment_start
                      + (frame_duration if self._segment >= 0 else 0.0))
        seconds = (self._last_t - (self._first_t or 0.0) + frame_duration) if self._frames else 0.0
        return TrackSummary(
            frames=self._frames, frames_with_face=self._with_face, seconds=seconds,
            face_seconds=face_seconds, segments=self._segment + 1,
            longest_segment_s=longest if self._segment >= 0 else 0.0,
            median_face_height_px=float(np.median(self._heights)) if self._heights else None,
        )

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
