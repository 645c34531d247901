"""Face embeddings: one 128-d dlib descriptor per image, compared by Euclidean distance.

Biometric data: a face embedding is derived from a person's face and identifies them. It
is personal data of a special category under the GDPR (Art. 9) and similar laws. Keep it
only with the person's consent, only as long as needed, and protect it like the portrait.

Pipeline: dlib's HOG frontal face detector finds faces; exactly one is required. Five
landmarks (eyes, nose) align the face to a 150x150 chip; dlib's ResNet model maps the chip
to a 128-d vector (the network is read from dlib's file and run with numpy, 4-6x faster
than dlib's own build: :mod:`trustavatar.face.resnet`). Two images show the same person
when the distance between their vectors is at most :data:`MATCH_THRESHOLD`.
"""

from __future__ import annotations

__all__ = [
    "EMBEDDING_DIMS",
    "MATCH_THRESHOLD",
    "NO_UPSAMPLE_FACE_PX",
    "FaceBox",
    "FaceEmbedding",
    "QuantisedEmbedding",
    "embed_face",
    "embed_face_at",
]

import math
from dataclasses import dataclass, replace
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import FaceError
from trustavatar.face.image import ImageSource, load_image
from trustavatar.face.models import EMBEDDING_MODEL, face_models
from trustavatar.face.resnet import CHIP_PADDING, CHIP_SIZE

#: Length of a dlib face descriptor.
EMBEDDING_DIMS: Final = 128
#: Largest distance at which two embeddings count as the same person. 0.6 is the operating
#: point dlib's model was trained and evaluated for (99.38 % accuracy on the LFW benchmark
#: at this threshold); lower is stricter. See consent/README.md, "Face binding".
MATCH_THRESHOLD: Final = 0.6

#: Quantisation: ``component = value / divisor`` with int8 values and an integer divisor
#: per embedding, ``floor(127 / max |component|)`` (the whole int8 range is used), kept
#: within these bounds. dlib components stay below 0.5 in magnitude, so divisors are ~250+.
QUANT_DIVISOR_MIN: Final = 64
QUANT_DIVISOR_MAX: Final = 4096

#: Images whose longer side exceeds this are scaled down before detection.
DETECTION_MAX_SIDE: Final = 1280
#: Images whose longer side is at most this are upsampled once (finds faces down to ~40 px).
UPSAMPLE_BELOW_SIDE: Final = 800
#: Face height (pixels) from which the detector needs no upsampled image (it finds faces of
#: ~80 px and more at scale 1): callers that know the face's size pass it to
#: :func:`embed_face` (on 512 px frames: 74 instead of 122 ms, distances within 0.01).
NO_UPSAMPLE_FACE_PX: Final = 120


class FaceBox(NamedTuple):
    """Where the face was found, in pixels of the image given (right/bottom exclusive)."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True, eq=False)
class FaceEmbedding:
    """A face descriptor.

    ``vector``: ``(128,) float64``, read-only. ``box``: where the face was found, or None
    for an embedding rebuilt from an artifact.
    """

    vector: NDArray[np.float64]
    box: FaceBox | None = None
    model: str = EMBEDDING_MODEL

    def __post_init__(self) -> None:
        vector = np.array(self.vector, dtype=np.float64)
        if vector.shape != (EMBEDDING_DIMS,):
            raise FaceError(
                f"a face embedding must have shape ({EMBEDDING_DIMS},), got {vector.shape}"
            )
        if not np.all(np.isfinite(vector)):
            raise FaceError("a face embedding must be finite")
        vector.setflags(write=False)
        object.__setattr__(self, "vector", vector)

    def distance(self, other: FaceEmbedding) -> float:
        """Euclidean distance to ``other`` (same person: at most :data:`MATCH_THRESHOLD`)."""
        if other.model != self.model:
            raise FaceError(
                f"cannot compare embeddings of different models ({self.model!r} vs {other.model!r})"
            )
        return float(np.linalg.norm(self.vector - other.vector))

    def quantise(self) -> QuantisedEmbedding:
        """The int8 form stored in consent artifacts (error measured in tests/face)."""
        peak = float(np.max(np.abs(self.vector)))
        divisor = QUANT_DIVISOR_MAX if peak * QUANT_DIVISOR_MAX <= 127 else math.floor(127 / peak)
        divisor = max(QUANT_DIVISOR_MIN, min(QUANT_DIVISOR_MAX, divisor))
        values = np.clip(np.rint(self.vector * divisor), -128, 127).astype(np.int64)
        return QuantisedEmbedding(
            divisor=divisor, values=tuple(int(v) for v in values), model=self.model
        )


@dataclass(frozen=True)
class QuantisedEmbedding:
    """An embedding as 128 int8 ``values``; component ``i`` is ``values[i] / divisor``."""

    divisor: int
    values: tuple[int, ...]
    model: str = EMBEDDING_MODEL

    def __post_init__(self) -> None:
        if len(self.values) != EMBEDDING_DIMS:
            raise FaceError(
                f"a quantised embedding needs {EMBEDDING_DIMS} values, got {len(self.values)}"
            )
        if not QUANT_DIVISOR_MIN <= self.divisor <= QUANT_DIVISOR_MAX:
            raise FaceError(
                f"quantisation divisor must be {QUANT_DIVISOR_MIN}..{QUANT_DIVISOR_MAX}, "
                f"got {self.divisor}"
            )
        if any(not -128 <= v <= 127 for v in self.values):
            raise FaceError("quantised embedding values must be int8 (-128..127)")

    def dequantise(self) -> FaceEmbedding:
        return FaceEmbedding(
            np.asarray(self.values, dtype=np.float64) / self.divisor, model=self.model
        )


def embed_face(image: ImageSource, *, upsample: bool | None = None,
               face_px: float | None = None) -> FaceEmbedding:
    """Embed the one face in ``image``.

    ``image``: a path, encoded bytes, or ``(H, W, 3) uint8 RGB``. ``upsample``: run the
    face detector on the image doubled in size (finds faces down to ~40 px, costs ~1.6x);
    None: not when the caller knows the face is at least :data:`NO_UPSAMPLE_FACE_PX` tall
    (``face_px``, its height in ``image``'s pixels), else when the image's longer side is
    at most :data:`UPSAMPLE_BELOW_SIDE`. Raises
    :class:`~trustavatar.errors.FaceError` if the image cannot be read, or if it shows no
    face or more than one (the message says how many were found).
    """
    original = load_image(image)
    rgb = _detection_size(original)
    models = face_models()
    if upsample is None:
        big = face_px is not None and face_px >= NO_UPSAMPLE_FACE_PX
        upsample = not big and max(rgb.shape[:2]) <= UPSAMPLE_BELOW_SIDE
    try:
        found = list(models.detector(rgb, int(upsample)))
        if not found:
            raise FaceError("no face found in the image")
        if len(found) > 1:
            raise FaceError(f"found {len(found)} faces in the image; exactly one is required")
        rect = found[0]
    except RuntimeError as e:  # dlib reports its failures as RuntimeError
        raise FaceError(f"face analysis failed: {e}") from e
    embedding = _embed_in(rgb, rect)
    if rgb is original or embedding.box is None:
        return embedding
    # The box in the given image's pixels, not in those of the scaled-down copy.
    fy, fx = original.shape[0] / rgb.shape[0], original.shape[1] / rgb.shape[1]
    b = embedding.box
    return replace(embedding, box=FaceBox(round(b.left * fx), round(b.top * fy),
                                      round(b.right * fx), round(b.bottom * fy)))


def embed_face_at(image: NDArray[np.uint8], box: FaceBox) -> FaceEmbedding:
    """Embed the face inside ``box`` of ``image`` (``(H, W, 3) uint8`` RGB) without
    running the detector: for a face whose place is already known (tracked by the face
    mesh, see :class:`trustavatar.generator.qa.BoxFromMesh`). ``box`` should frame the
    face as dlib's detector would: the landmark model starts from it. Raises
    :class:`~trustavatar.errors.FaceError` if dlib fails."""
    import dlib

    rgb = np.ascontiguousarray(image)
    return _embed_in(rgb, dlib.rectangle(int(box.left), int(box.top), int(box.right),
                                         int(box.bottom)))


def _embed_in(rgb: NDArray[np.uint8], rect: Any) -> FaceEmbedding:
    """The embedding of the face in ``rect`` (a ``dlib.rectangle``) of ``rgb``."""
    import dlib

    models = face_models()
    try:
        shape = models.landmarks(rgb, rect)
        chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    except RuntimeError as e:  # dlib reports its failures as RuntimeError
        raise FaceError(f"face analysis failed: {e}") from e
    vector = models.encoder.descriptor(chip)
    return FaceEmbedding(
        vector, box=FaceBox(int(rect.left()), int(rect.top()), int(rect.right()),
                            int(rect.bottom()))
    )


def _detection_size(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``rgb`` scaled down so its longer side is at most :data:`DETECTION_MAX_SIDE`."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    if side <= DETECTION_MAX_SIDE:
        return rgb
    from PIL import Image

    scale = DETECTION_MAX_SIDE / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
