"""Fixtures shared by every part's tests: a trustavatar home, a keystore, synthetic media."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.synthetic_media import make_image, make_video, make_wav

from trustavatar.home import Home
from trustavatar.keys import Keystore, SigningKey, TrustStore


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.resolve(tmp_path / "home")


@pytest.fixture
def keystore(home: Home) -> Keystore:
    return Keystore.create(home, organisation="Test Org")


@pytest.fixture
def trust(keystore: Keystore) -> TrustStore:
    return keystore.trust_store()


@pytest.fixture
def signing_key(keystore: Keystore) -> SigningKey:
    return keystore.signing_key()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unsigned synthetic media, made once per session. Copy before modifying."""
    d = tmp_path_factory.mktemp("media")
    return {
        "mp4": make_video(d / "video.mp4"),
        "mp4b": make_video(d / "other.mp4", seconds=1.0, size=(96, 96)),
        "jpeg": make_image(d / "image.jpg"),
        "png": make_image(d / "image.png"),
        "wav": make_wav(d / "audio.wav"),
    }
