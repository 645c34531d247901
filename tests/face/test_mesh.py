"""The face mesh's landmark conversion and the face counter, on real mediapipe output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.fresh_python import fresh_python_json

from trustavatar.errors import InputError
from trustavatar.face import load_image
from trustavatar.face.mesh import FaceCounter, FaceMesh, _pixels


def _attribute_path(face, width: int, height: int) -> np.ndarray:
    return np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float32)


@pytest.mark.parametrize("refine", [True, False])
def test_parsed_landmarks_equal_the_attribute_path_bit_for_bit(faces: dict[str, Path],
                                                                refine: bool) -> None:
    image = load_image(faces["portrait"])
    h, w = image.shape[:2]
    with FaceMesh(video=False, refine=refine) as mesh:
        face = mesh._mesh.process(image).multi_face_landmarks[0]
        points = mesh.detect(image)
    assert points is not None and points.shape == (478 if refine else 468, 2)
    assert np.array_equal(_pixels(face, w, h), _attribute_path(face, w, h))
    assert np.array_equal(points, _attribute_path(face, w, h))


def test_other_message_layouts_take_the_attribute_path(faces: dict[str, Path]) -> None:
    from mediapipe.framework.formats import landmark_pb2

    image = load_image(faces["portrait"])
    with FaceMesh(video=False) as mesh:
        face = mesh._mesh.process(image).multi_face_landmarks[0]
    odd = landmark_pb2.NormalizedLandmarkList()
    odd.CopyFrom(face)
    odd.landmark[5].visibility = 0.5  # one record longer than the rest
    odd.landmark[9].ClearField("z")  # one shorter
    assert np.array_equal(_pixels(odd, 640, 480), _attribute_path(face, 640, 480))
    assert _pixels(landmark_pb2.NormalizedLandmarkList(), 640, 480).shape == (0,)


@pytest.mark.parametrize(("name", "expected"), [("portrait", 1), ("two_faces", 2), ("no_face", 0)])
def test_counter_counts_as_the_mesh_does(faces: dict[str, Path], name: str,
                                         expected: int) -> None:
    image = load_image(faces[name])
    with FaceCounter(max_faces=3) as counter, \
            FaceMesh(video=False, max_faces=3, refine=False) as mesh:
        assert counter.count(image) == expected == len(mesh.detect_all(image))


def test_counter_refuses_a_bad_frame() -> None:
    with FaceCounter() as counter, pytest.raises(InputError, match=r"\(H, W, 3\) uint8 RGB"):
        counter.count(np.zeros((64, 64), np.uint8))


def test_unused_mediapipe_modules_load_only_when_used() -> None:
    """Tracking faces imports neither matplotlib nor the Tasks API (those mediapipe modules
    wait for their first use), and a user's code still gets the real modules."""
    code = (
        "from trustavatar.face.mesh import preload\n"
        "preload()\n"
        "before = ['matplotlib' in sys.modules, 'sounddevice' in sys.modules]\n"
        "import mediapipe as mp\n"
        "spec = mp.solutions.drawing_utils.DrawingSpec(color=(1, 2, 3))\n"
        "style = mp.solutions.drawing_styles.get_default_face_mesh_contours_style()\n"
        "options = mp.tasks.BaseOptions(model_asset_path='x.task')\n"
        "print(json.dumps([before, 'matplotlib.pyplot' in sys.modules, spec.color[2],\n"
        "                  len(style) > 0, options.model_asset_path]))\n"
    )
    assert fresh_python_json(code) == [[False, False], True, 3, True, "x.task"]
