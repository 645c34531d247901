"""Consent fixtures: session-scoped organisations, one sample artifact, test faces.

Keystores, faces and artifacts are made once per session (issuing embeds a face, about
75 ms); tests that change state (registries, files) get their own copies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fixtures.faces import write_no_face, write_second_person, write_two_faces

from trustavatar import consent
from trustavatar._time import utc_now
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore, SigningKey, TrustStore
from trustavatar.registry import Registry


@dataclass(frozen=True)
class Org:
    home: Home
    keystore: Keystore
    key: SigningKey
    root: x509.Certificate

    @property
    def trust(self) -> TrustStore:
        """A trust store holding only this organisation's root."""
        return TrustStore.of(self.root)


def _org(base: Path, name: str) -> Org:
    ks = Keystore.create(Home.resolve(base / "home"), organisation=name)
    key = ks.signing_key()
    return Org(ks.home, ks, key, key.chain[-1])


@pytest.fixture(scope="session")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    return _org(tmp_path_factory.mktemp("org"), "Test Org")


@pytest.fixture(scope="session")
def other_org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    return _org(tmp_path_factory.mktemp("other-org"), "Other Org")


@pytest.fixture(scope="session")
def t0(org: Org, other_org: Org) -> dt.datetime:
    """Issue time of the test artifacts (after both keystores exist)."""
    return utc_now()


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
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("evidence") / "release.pdf"
    path.write_bytes(b"%PDF-1.7 signed model release (test)\n")
    return path


@pytest.fixture(scope="session")
def make_artifact(
    org: Org, t0: dt.datetime, faces: dict[str, Path], release: Path
) -> Callable[..., consent.ConsentArtifact]:
    """Issue an artifact at ``t0`` for the sample portrait; keywords override defaults."""

    def make(by: Org | None = None, **kw: Any) -> consent.ConsentArtifact:
        args: dict[str, Any] = {
            "portrait": faces["portrait"],
            "display_name": "Eileen Collins",
            "evidence": consent.Evidence.operator_attestation(release),
            "languages": ("en", "de"),
            "operator": "Test Operator",
            "at": t0,
        }
        args.update(kw)
        return consent.issue((by or org).key, **args)

    return make


@pytest.fixture(scope="session")
def artifact(make_artifact: Callable[..., consent.ConsentArtifact]) -> consent.ConsentArtifact:
    """A valid artifact: avatar-generation, languages en and de, any channel, 365 days."""
    return make_artifact()


@pytest.fixture(autouse=True)
def _isolated_default_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read or write the real default home."""
    monkeypatch.setenv("TRUSTAVATAR_HOME", str(tmp_path / "default-home"))


# --- recorded consent: challenges and clips ---------------------------------------------------

#: The nonce every test challenge gets (see ``known_nonce``), so that the clips rendered once
#: per session say the right code.
CLIP_NONCE = bytes(range(16))
#: The draft of every test challenge.
CLIP_DRAFT: dict[str, Any] = {"display_name": "Eileen Collins", "languages": ("en",)}


@pytest.fixture(scope="session")
def clip_code() -> str:
    from trustavatar.consent.challenge import ConsentDraft, derive_code
    from trustavatar.consent.spoken_code import ENGLISH_TEMPLATE

    return derive_code(ConsentDraft(**CLIP_DRAFT), CLIP_NONCE, ENGLISH_TEMPLATE.code_digits)


@pytest.fixture(scope="session")
def consent_clip(tmp_path_factory: pytest.TempPathFactory,
                 clip_code: str) -> Callable[[str], Path]:
    """``consent_clip("good")``: the path of a rendered test clip (made on first use, kept
    for the session). Variants: :data:`fixtures.consent_clips.VARIANTS`."""
    from fixtures.consent_clips import write_clip

    directory = tmp_path_factory.mktemp("consent-clips")
    cache: dict[str, Any] = {}

    def get(variant: str) -> Path:
        path = directory / f"{variant}.mp4"
        if not path.exists():
            write_clip(variant, directory, clip_code, cache=cache)
        return path

    return get


@pytest.fixture
def known_nonce(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Challenges made in this test get :data:`CLIP_NONCE` (their code is ``clip_code``)."""
    from trustavatar.consent import challenge

    monkeypatch.setattr(challenge, "_new_nonce", lambda: CLIP_NONCE)
    return CLIP_NONCE


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A new, empty registry for the test."""
    with Registry.open(tmp_path / "registry.sqlite3") as reg:
        yield reg


@pytest.fixture
def challenge(registry: Registry, known_nonce: bytes, t0: dt.datetime) -> consent.Challenge:
    """A challenge for :data:`CLIP_DRAFT` in :func:`registry`, its code ``clip_code``."""
    return consent.create_challenge(registry, consent.ConsentDraft(**CLIP_DRAFT), at=t0)
