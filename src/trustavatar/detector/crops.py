"""Aligned face crops from landmarks: the mouth for lip-sync models, regions for analyzers.

A similarity transform (rotation, uniform scale, translation) is fitted by least squares
(Umeyama) from nine rigid-ish landmarks (eye corners, nasal bridge, nose tip, mouth corners)
to a canonical frontal template, so crops keep the same framing whatever the head roll,
position and size. :class:`MouthAligner` smooths the transform over time within a face-track
segment, so consecutive crops do not jitter with landmark noise.

Template units: inter-ocular distance (eye centre to eye centre) = 1, origin between the
eyes, x to the subject's left (image right), y down. It was measured on the packaged sample
portrait (a frontal face) and made left-right symmetric.

Shapes: ``frame`` ``(H, W, 3) uint8`` RGB; ``landmarks`` ``(478, 2)`` pixels; crops
``(size, size, 3)`` or ``(size, size)`` (grey) ``uint8``.
"""

from __future__ import annotations

__all__ = [
    "MOUTH_CENTRE",
    "TEMPLATE",
    "TEMPLATE_POINTS",
    "AlignedCrop",
    "EyeLandmarks",
    "MouthAligner",
    "MouthStacker",
    "align_mouth",
    "eye_aspect_ratio",
    "eye_landmarks",
    "similarity_to_template",
]

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import DetectionError
from trustavatar.face.mesh import N_LANDMARKS, Region

#: Landmarks the alignment is fitted on: outer/inner eye corners, nasal bridge (2), nose
#: tip, mouth corners.
TEMPLATE_POINTS: Final = np.array([33, 133, 362, 263, 168, 6, 1, 61, 291])
#: Their canonical positions (inter-ocular units).
TEMPLATE: Final = np.array([
    [-0.722, -0.024], [-0.278, 0.024], [0.278, 0.024], [0.722, -0.024],
    [0.0, -0.072], [0.0, 0.057], [0.0, 0.647], [-0.513, 0.872], [0.513, 0.872],
])
#: Centre of the mouth in template units.
MOUTH_CENTRE: Final = np.array([0.0, 0.95])
#: Side of the mouth crop in template units (mouth corners at ±0.51).
MOUTH_SPAN: Final = 1.5


@dataclass(frozen=True, eq=False)
class AlignedCrop:
    """A crop and the ``(2, 3)`` affine ``matrix`` mapping frame pixels to crop pixels."""

    image: NDArray[np.uint8]
    matrix: NDArray[np.float64]

    def to_crop(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Frame pixel coordinates ``(N, 2)`` → crop pixel coordinates ``(N, 2)``."""
        pts = np.asarray(points, np.float64)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]


@dataclass(frozen=True)
class EyeLandmarks:
    """The six eye-aspect-ratio points (p1…p6, Soukupová & Čech) of each eye, ``(6, 2)``.

    ``right`` is the subject's right eye (image left).
    """

    right: NDArray[np.float32]
    left: NDArray[np.float32]


def _check_landmarks(landmarks: NDArray[np.floating]) -> None:
    shape = getattr(landmarks, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != N_LANDMARKS or shape[1] < 2:
        raise DetectionError(f"landmarks must be ({N_LANDMARKS}, 2), got {shape}")


def eye_landmarks(landmarks: NDArray[np.floating]) -> EyeLandmarks:
    """The eye-aspect-ratio points of both eyes (``landmarks: (478, 2)``)."""
    _check_landmarks(landmarks)
    lm = np.asarray(landmarks, np.float32)[:, :2]
    return EyeLandmarks(lm[Region.EAR_R], lm[Region.EAR_L])


def _ear(p: NDArray[np.float32]) -> float:
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
    return float(vertical / horizontal) if horizontal > 1e-6 else 0.0


def eye_aspect_ratio(landmarks: NDArray[np.floating]) -> tuple[float, float]:
    """Eye aspect ratio (right, left): about 0.25–0.35 open, below ~0.1 closed."""
    eyes = eye_landmarks(landmarks)
    return _ear(eyes.right), _ear(eyes.left)


def similarity_to_template(landmarks: NDArray[np.floating]) -> NDArray[np.float64]:
    """The ``(2, 3)`` similarity mapping frame pixels to template units (least squares)."""
    _check_landmarks(landmarks)
    src = np.asarray(landmarks, np.float64)[TEMPLATE_POINTS, :2]
    dst = TEMPLATE
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = float((s_c ** 2).sum())
    if var_s < 1e-9:
        raise DetectionError("landmarks are degenerate (all at one point)")
    # Umeyama without reflection, 2-D: rotation+scale as a complex ratio.
    a = float((s_c * d_c).sum())
    b = float((s_c[:, 0] * d_c[:, 1] - s_c[:, 1] * d_c[:, 0]).sum())
    sa, sb = a / var_s, b / var_s  # s·cos θ, s·sin θ
    rot = np.array([[sa, -sb], [sb, sa]])
    t = mu_d - rot @ mu_s
    return np.hstack([rot, t[:, None]])


def _crop_matrix(to_template: NDArray[np.float64], centre: NDArray[np.float64], span: float,
                 size: int) -> NDArray[np.float64]:
    """Frame → crop: template square of side ``span`` around ``centre`` → ``size`` px."""
    k = size / span
    m = to_template.copy() * k
    m[:, 2] += size / 2.0 - k * np.asarray(centre, np.float64)
    return m


def align_mouth(frame: NDArray[np.uint8], landmarks: NDArray[np.floating], *, size: int = 64,
                grey: bool = False, to_template: NDArray[np.float64] | None = None
                ) -> AlignedCrop:
    """The mouth, aligned: ``(size, size, 3)`` RGB or ``(size, size)`` grey ``uint8``.

    The crop spans 1.5 inter-ocular distances around the mouth centre (lips, philtrum and
    the top of the chin), whatever the face's size and roll in the frame.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DetectionError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if not 8 <= size <= 1024:
        raise DetectionError(f"crop size must be 8…1024 pixels, got {size}")
    m = similarity_to_template(landmarks) if to_template is None else to_template
    matrix = _crop_matrix(m, MOUTH_CENTRE, MOUTH_SPAN, size)
    scale = float(np.hypot(*matrix[0, :2]))  # crop px per frame px
    src = frame
    if scale < 0.5:  # shrinking a lot: prefilter against aliasing
        sigma = 0.5 / scale * 0.6
        src = np.asarray(cv2.GaussianBlur(frame, (0, 0), sigma), np.uint8)
    crop = np.asarray(cv2.warpAffine(src, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE), np.uint8)
    if grey:
        crop = np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), np.uint8)
    return AlignedCrop(crop, matrix)


class MouthAligner:
    """Temporally smoothed mouth crops along a face track.

    The similarity's four parameters are smoothed with an exponential moving average
    (``smoothing`` = weight of the past, 0 = none) and reset when a new track segment
    starts, so the crop follows the head but not the landmark noise.
    """

    def __init__(self, *, size: int = 64, grey: bool = False, smoothing: float = 0.5) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise DetectionError(f"smoothing must be in [0, 1), got {smoothing}")
        self.size, self.grey, self.smoothing = size, grey, smoothing
        self._state: NDArray[np.float64] | None = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, frame: NDArray[np.uint8], landmarks: NDArray[np.floating], *,
                 new_segment: bool = False) -> AlignedCrop:
        m = similarity_to_template(landmarks)
        params = np.array([m[0, 0], m[1, 0], m[0, 2], m[1, 2]])
        if new_segment or self._state is None:
            self._state = params
        else:
            self._state = self.smoothing * self._state + (1.0 - self.smoothing) * params
        sa, sb, tx, ty = self._state
        smoothed = np.array([[sa, -sb, tx], [sb, sa, ty]])
        return align_mouth(frame, landmarks, size=self.size, grey=self.grey,
                           to_template=smoothed)


class MouthStacker:
    """Stacks of ``length`` consecutive aligned mouth crops along a face track.

    Feed every observation in time order with :meth:`push`; it returns a
    ``(length, size, size)`` (grey) or ``(length, size, size, 3)`` ``uint8`` stack every
    ``stride`` face frames once ``length`` crops of one segment are in hand, else None.
    A frame without a face or a new segment starts over (a stack never spans a cut).
    This is the input a learned lip-sync analyzer (e.g. a ViT on 8 × 64 px crops) takes.
    """

    def __init__(self, *, length: int = 8, stride: int = 4, size: int = 64, grey: bool = True,
                 smoothing: float = 0.5) -> None:
        if length < 1 or stride < 1:
            raise DetectionError(f"length and stride must be >= 1, got {length}, {stride}")
        self.length, self.stride = length, stride
        self._aligner = MouthAligner(size=size, grey=grey, smoothing=smoothing)
        self._crops: list[NDArray[np.uint8]] = []
        self._since = 0

    def push(self, frame: NDArray[np.uint8], landmarks: NDArray[np.floating] | None, *,
             new_segment: bool = False) -> NDArray[np.uint8] | None:
        if landmarks is None or new_segment:
            self._crops, self._since = [], 0
            self._aligner.reset()
            if landmarks is None:
                return None
        self._crops.append(self._aligner(frame, landmarks, new_segment=new_segment).image)
        self._crops = self._crops[-self.length:]
        self._since += 1
        if len(self._crops) == self.length and self._since >= self.stride:
            self._since = 0
            return np.stack(self._crops)
        return None
