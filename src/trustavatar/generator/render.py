"""Render frames: warp the face to each frame's landmarks, paint the mouth interior (and,
in photo mode, closed eyelids during blinks).

``PhotoRenderer`` animates one portrait (mouth, blinks, head motion). ``VideoRenderer``
re-renders only the mouth and jaw of each frame of a face video (dubbing).
"""

from __future__ import annotations

__all__ = ["PhotoRenderer", "VideoRenderer"]

from dataclasses import replace

import numpy as np

from trustavatar.generator.deform import (
    N_MESH,
    FaceFrame,
    MouthPose,
    current_gap,
    deform,
    head_ring,
    lip_surfaces,
)
from trustavatar.generator.eyelids import Eyelids
from trustavatar.generator.lip_closure import LipClosure
from trustavatar.generator.mouth_interior import MouthInterior, interior_amount
from trustavatar.generator.warp import MeshWarp, remap


def _border(h: int, w: int, n: int = 6) -> np.ndarray:
    xs = np.linspace(0, w - 1, n)
    ys = np.linspace(0, h - 1, n)
    pts = [(x, 0) for x in xs] + [(x, h - 1) for x in xs] + \
          [(0, y) for y in ys[1:-1]] + [(w - 1, y) for y in ys[1:-1]]
    return np.array(pts, np.float32)


def _clip(p: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.stack([np.clip(p[:, 0], 1, w - 2), np.clip(p[:, 1], 1, h - 2)], 1)


class PhotoRenderer:
    """Animate a single portrait. image: (H, W, 3) uint8 RGB; landmarks: (478, 2)."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.image = image
        self.landmarks = landmarks.astype(np.float32)
        self.frame = FaceFrame.of(self.landmarks)
        self.lips = lip_surfaces(self.landmarks)
        self.reference_gap = current_gap(self.landmarks)
        self.interior = MouthInterior.from_reference(image, self.landmarks)
        self.eyelids = Eyelids(image, self.landmarks)
        self.closure = LipClosure(image, self.landmarks)
        self._filled = self.closure.source(image)
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
        dst_lm = deform(lm, pose, frame=f, lips=self.lips)
        src = np.concatenate([lm[:N_MESH], _clip(r1s, h, w), _clip(r2s, h, w), self._border])
        dst = np.concatenate([dst_lm[:N_MESH], _clip(r1d, h, w), _clip(r2d, h, w),
                              self._border])
        return src, dst, dst_lm

    def render(self, pose: MouthPose) -> np.ndarray:
        src, dst, dst_lm = self._vertices(pose)
        maps = self.warp.maps(src, dst)
        out = remap(self.image, maps)
        if pose.gap < self.reference_gap:
            out = self.closure.composite(out, self._filled, maps, dst_lm)
        if pose.blink > 0:
            eyes_open = deform(self.landmarks, replace(pose, blink=0.0), frame=self.frame,
                               lips=self.lips)
            out = self.eyelids.paint(out, eyes_open, pose.blink)
        return self.interior.paint(out, dst_lm,
                                   amount=interior_amount(pose.gap, self.reference_gap))

    def landmarks_for(self, pose: MouthPose) -> np.ndarray:
        """The landmarks of the frame :meth:`render` makes for ``pose``."""
        return deform(self.landmarks, pose, frame=self.frame, lips=self.lips)


def closing_interior_amount(gap: float, filmed_gap: float) -> float:
    """How much synthetic interior a filmed mouth closed from ``filmed_gap`` to ``gap``
    shows. After :class:`LipClosure` its lips are the filled (closed) copy, and inside the
    target opening the filmed interior is squeezed by gap / filmed_gap: the cavity's dark
    shrinks to a line while the tongue, lower teeth and inner lip margins (which mediapipe
    counts inside the opening) are pressed into lip colour. A landmarker read that as a
    mouth more closed than planned, the more so the wider it was filmed (dubs with another
    clip's audio: output opening ~ plan - 0.07 x filmed opening). So a mouth closed to
    half its filmed opening or less gets the interior a filmed closed mouth opened to
    ``gap`` gets; between that and the filmed opening the amount falls to none, where the
    mouth shows its own interior as it was filmed (no jump from synthetic to real teeth
    as the plan crosses the filmed opening)."""
    if filmed_gap <= 0:
        return interior_amount(gap, 0.0)
    nearness = float(np.clip((filmed_gap - gap) / (0.5 * filmed_gap), 0.0, 1.0))
    return interior_amount(gap, 0.0) * nearness


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
        roi = np.ascontiguousarray(frame[y0:y1, x0:x1])
        maps = warp.maps(src, dst)
        dubbed = remap(roi, maps)
        gap = current_gap(lm)
        amount = interior_amount(pose.gap, gap)
        if pose.gap < gap:  # closing a filmed open mouth: no sliver may show its cavity
            closure = LipClosure(roi, lm - off)
            dubbed = closure.composite(dubbed, closure.source(roi), maps, dst_lm - off)
            amount = closing_interior_amount(pose.gap, gap)
        out = frame.copy()
        out[y0:y1, x0:x1] = dubbed
        return self.interior.paint(out, dst_lm, amount=amount)
