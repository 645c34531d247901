"""The dlib models behind the face embedding, loaded once per process on first use.

The model files come from the ``face_recognition_models`` distribution. Its package
``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so the files are
located through the import system without importing it.
"""

from __future__ import annotations

__all__ = [
    "DETECTOR",
    "EMBEDDING_MODEL",
    "LANDMARK_MODEL",
    "FaceModels",
    "face_models",
    "model_path",
]

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from trustavatar.errors import FaceError
from trustavatar.face.resnet import FaceResNet, load_face_resnet

#: The face detector: dlib's HOG + linear SVM frontal face detector (built into dlib).
DETECTOR: Final = "dlib_hog_frontal_face_detector"
#: The landmark model used to align faces before embedding (5 points: eyes and nose).
LANDMARK_MODEL: Final = "shape_predictor_5_face_landmarks"
#: The embedding network: dlib's ResNet-29 metric-learning model, 128-d output.
EMBEDDING_MODEL: Final = "dlib_face_recognition_resnet_model_v1"

_DISTRIBUTION: Final = "face_recognition_models"
_lock = threading.Lock()


def model_path(name: str) -> Path:
    """Path of ``<name>.dat`` inside the installed ``face_recognition_models`` package."""
    spec = importlib.util.find_spec(_DISTRIBUTION)
    if spec is None or not spec.submodule_search_locations:
        raise FaceError(f"the {_DISTRIBUTION} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / f"{name}.dat"
    if not path.is_file():
        raise FaceError(f"face model file {path} is missing; reinstall {_DISTRIBUTION}")
    return path


@dataclass(frozen=True)
class FaceModels:
    """The loaded models: dlib's detector and landmarks, and its ResNet (run with numpy)."""

    detector: Any  #: dlib.fhog_object_detector
    landmarks: Any  #: dlib.shape_predictor
    encoder: FaceResNet  #: dlib's face recognition network (:mod:`trustavatar.face.resnet`)


def face_models() -> FaceModels:
    """The process-wide models, loaded on the first call (about 0.3 s), then cached."""
    with _lock:
        return _load()


@functools.cache
def _load() -> FaceModels:
    import dlib  # deferred: only code that embeds faces pays for it

    try:
        return FaceModels(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(str(model_path(LANDMARK_MODEL))),
            encoder=load_face_resnet(model_path(EMBEDDING_MODEL)),
        )
    except RuntimeError as e:
        raise FaceError(f"cannot load the dlib face models: {e}") from e
