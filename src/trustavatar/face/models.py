"""The dlib models behind the face embedding, loaded once per process on first use.

The model files come from the ``face_recognition_models`` distribution. Its package
``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so the files are
located through the import system without importing it.

dlib's frontal face detector is built into dlib as a compressed string, and
``dlib.get_frontal_face_detector()`` decompresses it in every process that embeds a face:
0.47 s of CPU on the 2-core development machine. Saved uncompressed (155 kB) it loads in
2 ms. So the first process saves a copy to the user's cache folder
(``platformdirs.user_cache_dir("trustavatar")``, one file per dlib version, written whole
or not at all), and later processes load that copy. The copy finds the same faces with the
same scores; the tests compare them. If the cache is unwritable or its file is damaged,
dlib's own copy is used. The copy is used only when its SHA-256 is the one known for that
dlib version (:data:`DETECTOR_SHA256`): a detector planted in the cache folder decided
which face the consent gate compared. For a dlib version not listed, dlib's own copy is
used every time.
"""

from __future__ import annotations

__all__ = [
    "DETECTOR",
    "EMBEDDING_MODEL",
    "LANDMARK_MODEL",
    "FaceModels",
    "detector_cache_path",
    "face_models",
    "frontal_face_detector",
    "model_path",
]

import contextlib
import functools
import importlib.util
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import platformdirs

from trustavatar._atomic import atomic_output
from trustavatar._files import sha256_bytes
from trustavatar.errors import FaceError, InputError
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
            detector=frontal_face_detector(dlib),
            landmarks=dlib.shape_predictor(str(model_path(LANDMARK_MODEL))),
            encoder=load_face_resnet(model_path(EMBEDDING_MODEL)),
        )
    except RuntimeError as e:
        raise FaceError(f"cannot load the dlib face models: {e}") from e


#: SHA-256 of dlib's frontal face detector as ``fhog_object_detector.save`` writes it, per
#: dlib version (the file is the same on every machine: add a version after checking it)
DETECTOR_SHA256: Final[dict[str, str]] = {
    "20.0.1": "f3f7aa833fb4a14a46fc48689f45b98d85ef72d6dfaf8bdc012b7d3c522a5426",
}


def detector_cache_path(dlib_version: str) -> Path:
    """Where the uncompressed copy of dlib's frontal face detector is kept."""
    return (Path(platformdirs.user_cache_dir("trustavatar"))
            / f"dlib-{dlib_version}-frontal-face-detector.svm")


def frontal_face_detector(dlib: Any) -> Any:
    """dlib's frontal face detector (``dlib.fhog_object_detector``), from the cached copy
    when there is a good one (see the module's docstring)."""
    version = str(dlib.__version__)
    known = DETECTOR_SHA256.get(version)
    path = detector_cache_path(version)
    if known is not None and path.is_file():
        with contextlib.suppress(OSError, RuntimeError):
            data = path.read_bytes()  # read once: the file could change between check and load
            if sha256_bytes(data) == known:
                with tempfile.TemporaryDirectory(prefix="trustavatar-") as private:
                    copy = Path(private) / "detector.svm"
                    copy.write_bytes(data)
                    return dlib.fhog_object_detector(str(copy))
        # damaged or replaced: written anew below
    detector = dlib.get_frontal_face_detector()
    if known is None:
        return detector
    with contextlib.suppress(OSError, RuntimeError, InputError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            detector.save(str(tmp))
    return detector
