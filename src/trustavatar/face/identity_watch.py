"""Which frames of a face video to compare with a person's face, beyond a few chosen ones.

A dub (the generator's video mode) and a recorded consent clip must show one person
throughout, and the frames they compare anyway are predictable (a dub's QA frames: one a
second and the widest-mouth ones; a consent clip's five frames spread over its length).
Both also compare:

- one frame at a random place in every second (drawn per run, so footage cannot be cut to
  show the subject exactly where it will be checked);
- every frame where the face's appearance jumps from the frame before (a cut, or a switch
  to another person), and the first face after frames without one.

The jump measure is the mean absolute difference of two 24 x 24 grey thumbnails of the
face's landmark box, each standardised: on 27 real talking-face clips of the development
media its 99th percentile was 0.08-0.35 (largest 0.57, a head turn), and a switch between
two faces placed at the same spot measured 1.0. A jump triggers a check, never a refusal by
itself, so a generous threshold (:data:`JUMP`) only costs a few checks.
"""

from __future__ import annotations

__all__ = ["JUMP", "UNRECOGNISED_MAX_SHARE", "IdentityWatch", "face_signature"]

import secrets
from collections.abc import Collection

import cv2
import numpy as np

#: Appearance change between consecutive frames above which a frame is checked.
JUMP = 0.4
#: Checked frames in which dlib cannot embed the face, at most (share): beyond it a dub is
#: refused, as footage whose face cannot be shown to be the subject's.
UNRECOGNISED_MAX_SHARE = 0.25


def face_signature(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A 24 x 24 grey thumbnail of the face's landmark box, standardised (float32)."""
    h, w = frame.shape[:2]
    x0, y0 = np.floor(landmarks.min(axis=0)).astype(int)
    x1, y1 = np.ceil(landmarks.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((24, 24), np.float32)
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    t = cv2.resize(grey, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (t - t.mean()) / (t.std() + 1e-6)


class IdentityWatch:
    """Decides frame by frame which source frames to compare (see the module docstring).

    ``fixed``: frames checked in any case (the QA's). Call :meth:`due` for every frame with
    a face, in order, and :meth:`lost` for a frame without one.
    """

    def __init__(self, n_frames: int, fps: float, fixed: Collection[int] = ()) -> None:
        step = max(1, round(fps))
        rng = np.random.default_rng(secrets.randbits(64))
        self._due = set(fixed) | {k + int(rng.integers(0, min(step, n_frames - k)))
                                  for k in range(0, n_frames, step)}
        self._previous: np.ndarray | None = None

    def due(self, i: int, frame: np.ndarray, landmarks: np.ndarray) -> bool:
        """Whether frame ``i`` (with the face at ``landmarks``) must be compared."""
        signature = face_signature(frame, landmarks)
        previous, self._previous = self._previous, signature
        jumped = previous is None or float(np.mean(np.abs(signature - previous))) > JUMP
        return jumped or i in self._due

    def lost(self) -> None:
        """A frame without a face: the next face found is compared."""
        self._previous = None
