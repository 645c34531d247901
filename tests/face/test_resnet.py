"""dlib's face-recognition ResNet run with numpy gives dlib's own descriptors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trustavatar.errors import FaceError
from trustavatar.face import EMBEDDING_MODEL, load_image
from trustavatar.face.models import face_models, model_path
from trustavatar.face.resnet import CHIP_PADDING, CHIP_SIZE, load_face_resnet


def _variants(image: np.ndarray) -> dict[str, np.ndarray]:
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0)
    box = face_models().detector(np.ascontiguousarray(image), 1)[0]
    return {
        # the frame's edge through the face: the chip reaches outside the image
        "cut at the edge": image[:, box.left() + box.width() // 4:],
        "as is": image,
        "mirrored": image[:, ::-1],
        "darker": (image * 0.55).astype(np.uint8),
        "turned 12 degrees": cv2.warpAffine(image, turn, (w, h),
                                            borderMode=cv2.BORDER_REFLECT),
        "doubled": cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC),
    }


def test_numpy_network_gives_dlibs_descriptors(faces: dict[str, Path]) -> None:
    import dlib

    models = face_models()
    reference = dlib.face_recognition_model_v1(str(model_path(EMBEDDING_MODEL)))
    checked = 0
    for person in ("portrait", "other_person"):
        for name, image in _variants(load_image(faces[person])).items():
            rgb = np.ascontiguousarray(image)
            found = models.detector(rgb, 1)
            assert len(found) == 1, (person, name)
            shape = models.landmarks(rgb, found[0])
            expected = np.asarray(reference.compute_face_descriptor(rgb, shape))
            chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            got = models.encoder.descriptor(chip)
            assert got.shape == (128,) and got.dtype == np.float64
            assert np.abs(got - expected).max() < 1e-5, (person, name)
            checked += 1
    assert checked == 12


def test_damaged_model_files_are_refused(tmp_path: Path) -> None:
    data = model_path(EMBEDDING_MODEL).read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.dat"
    junk.write_bytes(bytes(range(256)) * 64)
    for path in (truncated, junk, tmp_path / "missing.dat"):
        with pytest.raises(FaceError):
            load_face_resnet(path)


def test_chip_of_another_size_is_refused() -> None:
    with pytest.raises(FaceError, match="150x150"):
        face_models().encoder.descriptor(np.zeros((100, 100, 3), np.uint8))


def test_descriptors_on_several_threads_leave_blas_as_it_was() -> None:
    import threading

    from threadpoolctl import threadpool_info

    network = face_models().encoder
    before = [lib["num_threads"] for lib in threadpool_info()]
    chip = np.full((CHIP_SIZE, CHIP_SIZE, 3), 128, np.uint8)
    expected = network.descriptor(chip)
    results: list[np.ndarray] = []

    def embed() -> None:
        results.extend(network.descriptor(chip) for _ in range(5))

    threads = [threading.Thread(target=embed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(np.array_equal(r, expected) for r in results)
    assert [lib["num_threads"] for lib in threadpool_info()] == before
