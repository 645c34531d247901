"""Render frames: warp the face to each frame's landmarks, paint the mouth interior (and,
in photo mode, closed eyelids during blinks).

``PhotoRenderer`` animates one portrait (mouth, blinks, head motion). ``VideoRenderer``
re-renders only the mouth and jaw of each frame of a face video (dubbing).
"""

from __future__ import annotations

__all__ = ["PhotoRenderer", "VideoRenderer"]

from dataclasses import replace

import numpy as np

from trustavatar.face.mesh import Region
from trustavatar.generator.deform import (
    N_MESH,
    FaceFrame,
    MouthPose,
    current_gap,
    deform,
    head_ring,
)
from trustavatar.generator.eyelids import Eyelids
from trustavatar.generator.mouth_interior import MouthInterior, interior_amount
from trustavatar.generator.warp import MeshWarp


def _border(h: int, w: int, n: int = 6) -> np.ndarray:
    xs = np.linspace(0, w - 1, n)
    ys = np.linspace(0, h - 1, n)
    pts = [(x, 0) for x in xs] + [(x, h - 1) for x in xs] + \
          [(0, y) for y in ys[1:-1]] + [(w - 1, y) for y in ys[1:-1]]
    return np.array(pts, np.float32)


def _clip(p: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.stack([np.clip(p[:, 0], 1, w - 2), np.clip(p[:, 1], 1, h - 2)], 1)


def _lip_sampling(lm: np.ndarray, f: FaceFrame, gap: float, reference_gap: float) -> np.ndarray:
    """Source points for warping: when the mouth closes more than the reference, sample the
    seam from inside the lips, not from their edge (which bleeds teeth and cavity)."""
    closing = float(np.clip(1 - gap / max(reference_gap, 1e-6), 0, 1)) if reference_gap > 0.004 \
        else 0.0
    if closing == 0.0:
        return lm
    d = f.uy * (0.018 * f.height * closing)
    out = lm.copy()
    out[Region.INNER_UPPER[1:-1]] -= d
    out[Region.INNER_LOWER[1:-1]] += d
    return out


class PhotoRenderer:
    """Animate a single portrait. image: (H, W, 3) uint8 RGB; landmarks: (478, 2)."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.image = image
        self.landmarks = landmarks.astype(np.float32)
        self.frame = FaceFrame.of(self.landmarks)
        self.reference_gap = current_gap(self.landmarks)
        self.interior = MouthInterior.from_reference(image, self.landmarks)
        self.eyelids = Eyelids(image, self.landmarks)
        h, w = image.shape[:2]
        self._h, self._w = h, w
        self._border = _border(h, w)
        src, _, _ = self._vertices(MouthPose(gap=self.reference_gap))
        self.warp = MeshWarp(src, (h, w))

    def _vertices(self, pose: MouthPose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Warp vertices (src, dst) for ``pose`` and the deformed landmarks themselves."""
        lm, f, h, w = self.landmarks, self.frame, self._h, self._w
        r1s, r1d = head_ring(lm, pose, f, factor=1.3, follow=0.7)
        r2s, r2d = head_ring(lm, pose, f, factor=1.8, follow=0.2)
        dst_lm = deform(lm, pose, frame=f)
        src = np.concatenate([_lip_sampling(lm, f, pose.gap, self.reference_gap)[:N_MESH],
                              _clip(r1s, h, w), _clip(r2s, h, w), self._border])
        dst = np.concatenate([dst_lm[:N_MESH], _clip(r1d, h, w), _clip(r2d, h, w),
                              self._border])
        return src, dst, dst_lm

    def render(self, pose: MouthPose) -> np.ndarray:
        src, dst, dst_lm = self._vertices(pose)
        out = self.warp.apply(self.image, src, dst)
        if pose.blink > 0:
            eyes_open = deform(self.landmarks, replace(pose, blink=0.0), frame=self.frame)
            out = self.eyelids.paint(out, eyes_open, pose.blink)
        return self.interior.paint(out, dst_lm,
                                   amount=interior_amount(pose.gap, self.reference_gap))

    def landmarks_for(self, pose: MouthPose) -> np.ndarray:
        """The landmarks of the frame :meth:`render` makes for ``pose``."""
        return deform(self.landmarks, pose, frame=self.frame)


class VideoRenderer:
    """Re-render the mouth and jaw of video frames; everything else stays as filmed."""

    def __init__(self, reference: np.ndarray, reference_landmarks: np.ndarray) -> None:
        self.interior = MouthInterior.from_reference(reference, reference_landmarks)

    def render(self, frame: np.ndarray, landmarks: np.ndarray, pose: MouthPose) -> np.ndarray:
        """frame: (H, W, 3) uint8; landmarks: (478, 2) of this frame; pose.gap: target gap."""
        h, w = frame.shape[:2]
        lm = landmarks.astype(np.float32)
        f = FaceFrame.of(lm)
        mouth_only = MouthPose(gap=pose.gap, width=pose.width, rounding=pose.rounding)
        dst_lm = deform(lm, mouth_only, frame=f)
        # a region of interest around the lower face keeps the per-frame cost small
        r1s, _ = head_ring(lm, mouth_only, f, factor=1.25, follow=0.0)
        r2s, _ = head_ring(lm, mouth_only, f, factor=1.7, follow=0.0)
        ring = np.concatenate([r1s, r2s])
        x0, y0 = np.floor(np.maximum(ring.min(0), 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(ring.max(0) + 1, [w, h])).astype(int)
        off = np.array([x0, y0], np.float32)
        rh, rw = y1 - y0, x1 - x0
        border = _border(rh, rw)
        src = np.concatenate([lm[:N_MESH] - off, _clip(ring - off, rh, rw), border])
        dst = np.concatenate([dst_lm[:N_MESH] - off, _clip(ring - off, rh, rw), border])
        warp = MeshWarp(src, (rh, rw))
        out = frame.copy()
        out[y0:y1, x0:x1] = warp.apply(np.ascontiguousarray(frame[y0:y1, x0:x1]), src, dst)
        return self.interior.paint(out, dst_lm,
                                   amount=interior_amount(pose.gap, current_gap(lm)))
