"""Face fixtures: the shipped sample portrait and faces made from public-domain images."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.faces import write_no_face, write_second_person, write_two_faces

from trustavatar.face import FaceEmbedding, embed_face, sample_portrait_path


@pytest.fixture(scope="session")
def faces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("faces")
    portrait = sample_portrait_path()
    return {
        "portrait": portrait,
        "other_person": write_second_person(d),
        "two_faces": write_two_faces(d, portrait),
        "no_face": write_no_face(d),
    }


@pytest.fixture(scope="session")
def portrait_embedding(faces: dict[str, Path]) -> FaceEmbedding:
    return embed_face(faces["portrait"])


@pytest.fixture(scope="session")
def other_embedding(faces: dict[str, Path]) -> FaceEmbedding:
    return embed_face(faces["other_person"])
