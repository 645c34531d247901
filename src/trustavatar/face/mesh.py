"""Face landmarks: mediapipe's 478-point face mesh (model inside the mediapipe wheel), and
counting faces with the detector the mesh starts from.

Landmarks come as ``(478, 2) float32`` pixel coordinates (x, y). Named index groups
(:class:`Region`) replace index soup in the rest of the code.
"""

from __future__ import annotations

__all__ = ["FaceCounter", "FaceMesh", "Region", "face_height", "mouth_opening", "preload"]

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from trustavatar.errors import InputError

N_LANDMARKS = 478

_IMPORT_LOCK = threading.Lock()


def _ignore_protobuf_deprecation() -> None:
    """Hide protobuf 4's deprecation warning raised from inside mediapipe 0.10.14 (on every
    call that returns landmarks), for this one message from that one module.

    Installed once, when this module is imported. A ``warnings.catch_warnings`` block
    around each call is not thread-safe (it saves and restores the process's filter list),
    and two threads tracking faces at once (a short dub renders on one while its QA
    measures on another) let the warning through to the user's terminal."""
    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated",
                            category=UserWarning, module=r"google\.protobuf\.symbol_database")


_ignore_protobuf_deprecation()


#: mediapipe modules that ``import mediapipe`` loads and this package never uses:
#: :func:`_mediapipe_solutions` runs each on its first use instead. The drawing modules
#: import ``matplotlib.pyplot`` (0.4-0.6 s, more than the rest of mediapipe together); the
#: Tasks API imports audio and vision tasks (~0.1 s).
_UNUSED_MODULES = frozenset({"mediapipe.python.solutions.drawing_utils",
                             "mediapipe.python.solutions.drawing_styles",
                             "mediapipe.tasks.python"})


class _DeferUnusedModules(importlib.abc.MetaPathFinder):
    """Finds :data:`_UNUSED_MODULES` as usual, with a loader that runs each module on its
    first attribute access (:class:`importlib.util.LazyLoader`)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _UNUSED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _mediapipe_solutions() -> Any:  # mediapipe.python.solutions (untyped)
    """``mediapipe.solutions``, imported with :data:`_UNUSED_MODULES` deferred until someone
    uses them (a user's ``mp.solutions.drawing_utils`` or ``mp.tasks`` then loads as it
    would have)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _IMPORT_LOCK, contextlib.redirect_stderr(io.StringIO()):
        finder = None
        if "mediapipe" not in sys.modules:
            finder = _DeferUnusedModules()
            sys.meta_path.insert(0, finder)
        try:
            import mediapipe as mp
        finally:
            if finder is not None:
                sys.meta_path.remove(finder)

    return mp.solutions


def preload() -> None:
    """Import mediapipe now (about 0.1 s; its face models load with the first
    :class:`FaceMesh`), e.g. while waiting for work."""
    _mediapipe_solutions()


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what mediapipe's C++ side (absl/glog, TFLite) prints while a graph starts."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:  # noqa: PTH123
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class Region:
    """Landmark indices of mediapipe's canonical face mesh."""

    LIPS_OUTER = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269,
                           267, 0, 37, 39, 40, 185])
    LIPS_INNER = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311,
                           312, 13, 82, 81, 80, 191])
    #: inner lip contour, upper half (left corner → right corner) and lower half
    INNER_UPPER = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
    INNER_LOWER = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
    OUTER_UPPER = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291])
    OUTER_LOWER = np.array([61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291])
    UPPER_LIP_INNER_MID = 13
    LOWER_LIP_INNER_MID = 14
    MOUTH_LEFT = 61
    MOUTH_RIGHT = 291
    FOREHEAD = 10
    CHIN = 152
    NOSE_TIP = 1
    FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365,
                          379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93,
                          234, 127, 162, 21, 54, 103, 67, 109])
    #: eye contours (image-left eye = subject's right eye first)
    EYE_R = np.array([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161,
                      246])
    EYE_L = np.array([263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387,
                      388, 466])
    LID_UPPER_R = np.array([246, 161, 160, 159, 158, 157, 173])
    LID_LOWER_R = np.array([7, 163, 144, 145, 153, 154, 155])
    LID_UPPER_L = np.array([466, 388, 387, 386, 385, 384, 398])
    LID_LOWER_L = np.array([249, 390, 373, 374, 380, 381, 382])
    #: eye-aspect-ratio points (p1..p6 of Soukupová & Čech) per eye
    EAR_R = np.array([33, 160, 158, 133, 153, 144])
    EAR_L = np.array([362, 385, 387, 263, 373, 380])
    EYE_CORNERS_R = (33, 133)
    EYE_CORNERS_L = (362, 263)


def face_height(landmarks: np.ndarray) -> float:
    """Forehead-to-chin distance in pixels (``landmarks: (478, 2)``)."""
    return float(np.linalg.norm(landmarks[Region.FOREHEAD] - landmarks[Region.CHIN]))


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap over face height: the standard lip-sync measure."""
    gap = np.linalg.norm(landmarks[Region.UPPER_LIP_INNER_MID] -
                         landmarks[Region.LOWER_LIP_INNER_MID])
    return float(gap / max(face_height(landmarks), 1e-6))


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or \
            frame.shape[2] != 3:
        got = (f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray)
               else type(frame).__name__)
        raise InputError(f"frame must be (H, W, 3) uint8 RGB, got {got}")


#: How protobuf writes one ``NormalizedLandmark`` holding x, y and z (and nothing else):
#: field 1 of the list, 15 bytes long, then tags 1, 2, 3 (fixed32) each before its float.
_RECORD_BYTES = 17
_RECORD_TAGS = {0: 0x0A, 1: 0x0F, 2: 0x0D, 7: 0x15, 12: 0x1D}
_XY_BYTES = np.r_[3:7, 8:12]


def _pixels(face: Any, width: int, height: int) -> np.ndarray:
    """``(N, 2) float32`` pixel (x, y) of a ``NormalizedLandmarkList``.

    Reading 478 landmarks attribute by attribute costs ~0.4 ms a face; the serialised
    message is parsed with numpy instead when it has the plain layout above (0.03 ms), with
    the same numbers (float32 coordinates scaled in double precision, then rounded to
    float32). Any other layout (a field left out, visibility or presence set) takes the
    attribute path."""
    raw = np.frombuffer(face.SerializeToString(), np.uint8)
    n = raw.size // _RECORD_BYTES
    if n and raw.size == n * _RECORD_BYTES:
        records = raw.reshape(n, _RECORD_BYTES)
        if all((records[:, column] == tag).all() for column, tag in _RECORD_TAGS.items()):
            xy = np.ascontiguousarray(records[:, _XY_BYTES]).view("<f4").astype(np.float64)
            return (xy * (width, height)).astype(np.float32)
    return np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float32)


class FaceMesh:
    """Per-frame face landmarks. ``video=True`` tracks across frames (faster, smoother).

    ``refine``: mediapipe's attention model refines the lips, eyes and irises (478 points;
    without it 468, and a static-image call on 640x480 takes 7.3 instead of 9.6 ms here:
    for counting faces). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, *, video: bool = True, max_faces: int = 1,
                 min_detection_confidence: float = 0.5, refine: bool = True) -> None:
        fm = _mediapipe_solutions().face_mesh
        with _quiet_native_stderr():
            self._mesh = fm.FaceMesh(
                static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=refine,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=0.5,
            )
            # the graph's first run logs too: do it on a blank frame while muted
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))

    def detect_all(self, frame: np.ndarray) -> list[np.ndarray]:
        """Landmarks of every face found: a list of ``(478, 2) float32`` (x, y) pixels
        (``(468, 2)`` without ``refine``)."""
        _check_frame(frame)
        h, w = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        return [_pixels(face, w, h) for face in result.multi_face_landmarks or []]

    def detect(self, frame: np.ndarray) -> np.ndarray | None:
        """Landmarks of the first face, or None when there is none."""
        faces = self.detect_all(frame)
        return faces[0] if faces else None

    def track(self, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray | None]:
        for frame in frames:
            yield self.detect(frame)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FaceCounter:
    """How many faces a frame shows, as :class:`FaceMesh` (static images, ``max_faces``)
    would find them, at less than half its cost (about 4 instead of 9 ms on 640x480 here).

    The mesh starts from mediapipe's short-range face detector and keeps at most
    ``max_faces`` of its detections, dropping one whose landmarks do not look like a face,
    so it never finds more faces than the detector. The counter runs the detector alone,
    and the mesh only when the detector sees more than one face: a count above one is
    always the mesh's. A count of 0 or 1 is the detector's: the mesh may reject its one
    detection. On 942 photos and video frames of the development media the counter and
    the mesh agreed on 939; the three others were a 1 against the mesh's 0, none the
    other way round.
    """

    def __init__(self, *, max_faces: int = 3, min_detection_confidence: float = 0.5) -> None:
        solutions = _mediapipe_solutions()
        with _quiet_native_stderr():
            self._detector = solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=min_detection_confidence)
            self._detector.process(np.zeros((64, 64, 3), np.uint8))
        self._mesh = FaceMesh(video=False, max_faces=max_faces, refine=False,
                              min_detection_confidence=min_detection_confidence)

    def count(self, frame: np.ndarray) -> int:
        """Faces in ``frame`` (``(H, W, 3) uint8`` RGB), at most ``max_faces``."""
        _check_frame(frame)
        found = len(self._detector.process(np.ascontiguousarray(frame)).detections or [])
        return found if found <= 1 else len(self._mesh.detect_all(frame))

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()

    def __enter__(self) -> FaceCounter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
