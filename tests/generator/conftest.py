"""A studio: a keystore and a consent for the built-in sample face, made once per module;
and what a landmarker reads of rendered mouths."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from trustavatar import consent
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry

SCRIPT = "Hello. I am a trustworthy avatar, and my video says so."


def rendered_openings(image: np.ndarray, landmarks: np.ndarray, gaps: tuple[float, ...]
                      ) -> list[float]:
    """The mouth opening mediapipe reads on the photo renderer's frame for each gap."""
    from trustavatar.face.mesh import FaceMesh, mouth_opening
    from trustavatar.generator.deform import MouthPose
    from trustavatar.generator.render import PhotoRenderer

    renderer = PhotoRenderer(image, landmarks)
    seen = []
    with FaceMesh(video=False) as mesh:
        for gap in gaps:
            got = mesh.detect(renderer.render(MouthPose(gap=gap)))
            assert got is not None
            seen.append(mouth_opening(got))
    return seen


@dataclass
class Studio:
    root: Path
    home: Home
    keystore: Keystore
    consent: Path  #: avatar-generation, languages en and de, valid now

    def issue(self, name: str, **kw) -> Path:
        release = self.root / "release.txt"
        release.write_text("release")
        with Registry.for_home(self.home) as registry:
            art = consent.issue(
                self.keystore.signing_key(), portrait=kw.pop("portrait", sample_portrait_path()),
                display_name="Sample", evidence=consent.Evidence.operator_attestation(release),
                registry=registry, **kw)
        path = self.root / f"{name}.consent.json"
        path.write_bytes(art.raw)
        return path

    def ledger_rows(self) -> int:
        from trustavatar.registry import list_generations

        with Registry.for_home(self.home) as registry:
            return len(list_generations(registry))


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    root = tmp_path_factory.mktemp("studio")
    home = Home.resolve(root / "home")
    ks = Keystore.create(home, organisation="Studio")
    s = Studio(root, home, ks, Path())
    s.consent = s.issue("main", languages=("en", "de"),
                        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    return s
