"""dlib's frontal face detector saved uncompressed in the user cache: the same detector,
and any trouble with the cache falls back to dlib's own copy."""

from __future__ import annotations

from pathlib import Path

import dlib
import pytest

from trustavatar.face import load_image
from trustavatar.face.models import detector_cache_path, frontal_face_detector


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return detector_cache_path(dlib.__version__)


def _detections(detector, image) -> list[tuple[str, float, int]]:
    boxes, scores, kinds = detector.run(image, 1, -0.5)
    return [(str(b), round(s, 9), k) for b, s, k in zip(boxes, scores, kinds, strict=True)]


def test_the_cached_copy_finds_the_same_faces_with_the_same_scores(
        cache: Path, tmp_path: Path, faces: dict[str, Path]) -> None:
    assert cache.is_relative_to(tmp_path / "cache") and not cache.exists()
    first = frontal_face_detector(dlib)  # dlib's own; saves the copy
    assert cache.is_file() and cache.stat().st_size > 100_000
    cached = frontal_face_detector(dlib)  # loaded from the copy
    reference = dlib.get_frontal_face_detector()
    for name in ("portrait", "two_faces", "other_person", "no_face"):
        image = load_image(faces[name])
        expected = _detections(reference, image)
        assert _detections(first, image) == expected == _detections(cached, image), name
    assert len(_detections(cached, load_image(faces["two_faces"]))) >= 2
    assert not list(cache.parent.glob("*.part"))


@pytest.mark.parametrize("damage", [b"", b"not a detector", None])
def test_a_damaged_copy_is_replaced(cache: Path, faces: dict[str, Path],
                                    damage: bytes | None) -> None:
    frontal_face_detector(dlib)
    good = cache.read_bytes()
    cache.write_bytes(good[: len(good) // 2] if damage is None else damage)
    detector = frontal_face_detector(dlib)
    image = load_image(faces["portrait"])
    assert _detections(detector, image) == _detections(dlib.get_frontal_face_detector(), image)
    assert cache.read_bytes() == good


def test_an_unwritable_cache_still_gives_the_detector(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      faces: dict[str, Path]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    detector = frontal_face_detector(dlib)
    assert len(_detections(detector, load_image(faces["portrait"]))) >= 1
    assert blocker.is_file()


def test_a_planted_detector_is_not_used(cache: Path, faces: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A working detector that is not dlib's (one weight changed here) decided which face
    the consent gate compared; only a copy with the known SHA-256 is used."""
    from trustavatar.face import models

    frontal_face_detector(dlib)
    good = cache.read_bytes()
    for offset in range(len(good) // 2, len(good)):  # a change dlib still reads
        planted = bytearray(good)
        planted[offset] ^= 0x01
        cache.write_bytes(bytes(planted))
        try:
            dlib.fhog_object_detector(str(cache))  # it loads: a detector, just not dlib's
            break
        except RuntimeError:
            continue
    assert cache.read_bytes() != good
    frontal_face_detector(dlib)
    assert cache.read_bytes() == good
    # a dlib version whose file is not known: dlib's own copy every time, nothing cached
    monkeypatch.setattr(models, "DETECTOR_SHA256", {})
    cache.unlink()
    detector = frontal_face_detector(dlib)
    assert not cache.exists()
    assert len(_detections(detector, load_image(faces["portrait"]))) >= 1
