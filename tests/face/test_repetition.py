"""Footage that repeats itself (``trustavatar.face.repetition``), on landmark tracks made
from the sample portrait's real mesh: a moving face whose motion never repeats, the same
motion looped, played backwards, and looped with each copy zoomed, shifted and turned."""

from __future__ import annotations

import numpy as np
import pytest

from trustavatar.errors import InputError
from trustavatar.face.repetition import WINDOW_S, find_repetition

FPS = 25.0


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from trustavatar.face import load_image, sample_portrait_path
    from trustavatar.face.mesh import FaceMesh

    with FaceMesh(video=False) as mesh:
        found = mesh.detect(load_image(sample_portrait_path()))
    assert found is not None
    return found.astype(np.float64)


def _moving(face: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """A face whose head drifts, turns and whose jaw opens at random (smoothed random walks,
    never repeating), with 0.3 px of landmark jitter."""
    rng = np.random.default_rng(seed)
    smooth = np.ones(7) / 7

    def walk(scale: float) -> np.ndarray:
        w = np.convolve(np.cumsum(rng.normal(0, 1, n + 20)), smooth, "same")[10:10 + n]
        return scale * (w - w.mean()) / max(float(np.abs(w - w.mean()).max()), 1e-9)

    dx, dy, turn, jaw = walk(12.0), walk(8.0), walk(0.05), np.abs(walk(10.0))
    centre = face.mean(axis=0)
    lower = face[:, 1] > face[13, 1]  # below the upper lip: the jaw opens
    out = []
    for i in range(n):
        c, s = np.cos(turn[i]), np.sin(turn[i])
        f = (face - centre) @ np.array([[c, -s], [s, c]]).T + centre + (dx[i], dy[i])
        f[lower, 1] += jaw[i]
        out.append(f + rng.normal(0, 0.3, f.shape))
    return out


def _times(n: int) -> np.ndarray:
    return np.arange(n) / FPS


def test_live_motion_is_not_a_repetition(face: np.ndarray) -> None:
    track = _moving(face, 250)
    assert find_repetition(track, _times(250)) is None


def test_a_still_face_matches_itself_but_is_not_a_repetition(face: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    track = [face + rng.normal(0, 0.3, face.shape) for _ in range(200)]
    assert find_repetition(track, _times(200)) is None


def test_a_loop_is_found_with_its_times(face: np.ndarray) -> None:
    segment = _moving(face, 60)
    rng = np.random.default_rng(2)  # each copy decoded with its own jitter
    track = [f + rng.normal(0, 0.3, f.shape) for f in segment * 4]
    found = find_repetition(track, _times(len(track)))
    assert found is not None and not found.reversed and not found.aligned
    assert found.second_s - found.first_s == pytest.approx(60 / FPS)
    assert found.seconds == pytest.approx(round(WINDOW_S * FPS) / FPS)
    assert "seen again" in found.describe() and found.to_dict()["reversed"] is False


def test_a_ping_pong_is_found(face: np.ndarray) -> None:
    segment = _moving(face, 60, seed=3)
    track = segment + segment[::-1]
    found = find_repetition(track, _times(len(track)))
    assert found is not None and found.reversed
    assert "played backwards" in found.describe()


def test_a_loop_whose_copies_are_zoomed_shifted_and_turned_is_found(face: np.ndarray) -> None:
    segment = _moving(face, 60, seed=4)
    centre = face.mean(axis=0)

    def moved(f: np.ndarray, k: int) -> np.ndarray:
        c, s = np.cos(0.02 * k), np.sin(0.02 * k)
        return ((f - centre) @ np.array([[c, -s], [s, c]]).T * (1 + 0.03 * k) + centre
                + (6 * k, -4 * k))

    track = segment + [moved(f, 1) for f in segment] + [moved(f, -1) for f in segment]
    found = find_repetition(track, _times(len(track)))
    assert found is not None and found.aligned


def test_frames_without_a_face_break_a_run(face: np.ndarray) -> None:
    segment = _moving(face, 60, seed=5)
    track: list[np.ndarray | None] = list(segment * 3)
    for i in range(0, len(track), 20):  # no stretch of 1.5 s is seen whole
        track[i] = None
    assert find_repetition(track, _times(len(track))) is None


def test_bad_tracks_are_input_errors(face: np.ndarray) -> None:
    with pytest.raises(InputError, match="one time per frame"):
        find_repetition([face] * 5, _times(4))
    with pytest.raises(InputError, match=r"landmarks must be \(478, 2\)"):
        find_repetition([face[:10]] * 100, _times(100))
    assert find_repetition([], _times(0)) is None
