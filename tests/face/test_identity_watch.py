"""Which frames of a face video the dub compares with the consenting subject."""

from __future__ import annotations

import numpy as np

from trustavatar.face.identity_watch import IdentityWatch, face_signature

BOX = np.array([[40, 30], [90, 30], [40, 100], [90, 100]], np.float32)


def _face(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return np.asarray(np.kron(small, np.ones((16, 16, 1), np.uint8)), np.uint8)


def test_every_second_has_a_frame_checked_and_the_draw_changes_between_runs():
    draws = set()
    for _ in range(20):
        watch = IdentityWatch(250, 25.0)
        frame = _face(0)
        due = [i for i in range(250) if watch.due(i, frame, BOX)]
        assert due[0] == 0  # the first face is always compared
        assert all(any(s * 25 <= i < (s + 1) * 25 for i in due) for s in range(10))
        draws.add(tuple(due))
    assert len(draws) > 1


def test_a_changed_face_and_the_first_face_after_a_gap_are_checked():
    watch = IdentityWatch(100, 25.0)
    a, b = _face(1), _face(2)
    assert watch.due(0, a, BOX)
    steady = [watch.due(i, a, BOX) for i in range(1, 25)]
    assert sum(steady) <= 1  # only the random frame of the first second
    watch = IdentityWatch(100, 25.0, fixed=())
    watch.due(0, a, BOX)
    watch._due = set()  # no random frames: only jumps
    assert not watch.due(1, a, BOX)
    assert watch.due(2, b, BOX)  # another face at the same place
    assert not watch.due(3, b, BOX)
    watch.lost()
    assert watch.due(4, b, BOX)


def test_the_signature_ignores_brightness_and_survives_a_box_off_the_frame():
    a = _face(3)
    brighter = np.clip(a.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    d = np.mean(np.abs(face_signature(a, BOX) - face_signature(brighter, BOX)))
    assert d < 0.2
    outside = np.array([[500, 500], [600, 600]], np.float32)
    assert face_signature(a, outside).shape == (24, 24)
