"""Closed eyelids for blinks (photo mode).

The warp alone brings the upper lid landmarks down to the lower lid, but it only squeezes
the open eye: the iris and lashes stay as a dark band, and a face landmarker reads that as
an eye about two-thirds open (eye-aspect ratio 0.62–0.69 of the open level, where real
blinks reach 0.06–0.55). So, while the lid closes, the eye opening is covered with the
skin just above the eye (its texture, brought down by about one eye height), feathered at
the edge, with a soft lash line along the lower lid. Measured with mediapipe on the sample
portrait: fully closed eyes read 0.22 (256 px) and 0.37 (512 px) of the open level.
"""

from __future__ import annotations

__all__ = ["Eyelids"]

from typing import Final

import cv2
import numpy as np

from trustavatar.face.mesh import Region

_EYES: Final = ((Region.LID_UPPER_R, Region.LID_LOWER_R, Region.EYE_R),
                (Region.LID_UPPER_L, Region.LID_LOWER_L, Region.EYE_L))
#: Closure below which the eye is left as warped, and the closure at which the lid skin
#: fully covers it (smoothstep in between).
_START: Final = 0.2
_FULL: Final = 0.8
#: How far above the eye the lid skin is taken from, in eye heights.
_SKIN_SHIFT: Final = 1.1
#: Lash line: thickness in eye heights, opacity, brightness relative to the skin.
_LASH_WIDTH: Final = 0.18
_LASH_ALPHA: Final = 0.8
_LASH_SHADE: Final = 0.45


def _eye_height(landmarks: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    return max(float(np.mean(np.linalg.norm(landmarks[upper] - landmarks[lower], axis=1))),
               2.0)


class Eyelids:
    """Paints closed lids over a rendered frame. ``image``/``landmarks``: the reference."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self._skin: list[np.ndarray] = []
        for upper, lower, _ in _EYES:
            eh = _eye_height(landmarks, upper, lower)
            top = landmarks[upper]
            band = np.concatenate([top - [0, 0.5 * eh], (top - [0, 1.2 * eh])[::-1]])
            mask = np.zeros(image.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(band).astype(np.int32)], 1)
            pixels = image[mask > 0].reshape(-1, 3).astype(np.float32)
            self._skin.append(np.median(pixels, axis=0) if len(pixels)
                              else image.reshape(-1, 3).mean(axis=0).astype(np.float32))

    def paint(self, frame: np.ndarray, open_landmarks: np.ndarray, closure: float) -> np.ndarray:
        """``frame`` with lids closed by ``closure`` (0 open .. 1 closed); ``open_landmarks``:
        the frame's landmarks with the eyes open (where the eye opening is)."""
        a = float(np.clip((closure - _START) / (_FULL - _START), 0.0, 1.0))
        a = a * a * (3 - 2 * a)
        if a <= 0.0:
            return frame
        out = frame.copy()
        h, w = out.shape[:2]
        for (upper, lower, ring), skin in zip(_EYES, self._skin, strict=True):
            eh = _eye_height(open_landmarks, upper, lower)
            poly = open_landmarks[ring]
            pad = 2 * eh + 4
            x0, y0 = np.maximum(np.floor(poly.min(axis=0) - pad), 0).astype(int)
            x1, y1 = np.minimum(np.ceil(poly.max(axis=0) + pad), [w, h]).astype(int)
            if x1 <= x0 or y1 <= y0:
                continue
            shift = round(_SKIN_SHIFT * eh)
            if y1 - shift <= 0:  # no skin above the eye in the frame
                continue
            off = np.array([x0, y0], np.float32)
            mask = np.zeros((y1 - y0, x1 - x0), np.float32)
            cv2.fillPoly(mask, [np.round(poly - off).astype(np.int32)], 1.0)
            k = max(3, int(eh * 0.5) | 1)
            mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (k, k), 0) * a
            roi = out[y0:y1, x0:x1].astype(np.float32)
            lid = out[max(y0 - shift, 0):y1 - shift, x0:x1].astype(np.float32)
            if lid.shape[0] < roi.shape[0]:  # near the top of the frame: repeat the top row
                lid = np.concatenate([np.repeat(lid[:1], roi.shape[0] - lid.shape[0], axis=0),
                                      lid])
            roi = roi * (1 - mask[..., None]) + lid * mask[..., None]
            lash = np.zeros_like(mask)
            cv2.polylines(lash, [np.round(open_landmarks[lower] - off).astype(np.int32)], False,
                          1.0, max(1, round(eh * _LASH_WIDTH)), cv2.LINE_AA)
            lash = cv2.GaussianBlur(lash, (3, 3), 0) * (a * _LASH_ALPHA)
            roi = roi * (1 - lash[..., None]) + (skin * _LASH_SHADE) * lash[..., None]
            out[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
        return out
