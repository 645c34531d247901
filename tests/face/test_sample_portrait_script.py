"""The fixture scripts that make the sample portrait and the second test face."""

from __future__ import annotations

import io

import pytest
from fixtures.faces import grace_hopper_source
from PIL import Image

from trustavatar.face import embed_face


def test_make_sample_portrait_makes_a_one_face_portrait() -> None:
    pytest.importorskip("skimage")
    from fixtures.make_sample_portrait import make_sample_portrait

    jpeg = make_sample_portrait()
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG" and im.size == (256, 256)
    assert 10_000 < len(jpeg) < 64_000
    embed_face(jpeg)  # exactly one face, else FaceError


def test_second_face_comes_from_matplotlib() -> None:
    assert grace_hopper_source().name == "grace_hopper.jpg"
