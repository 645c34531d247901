"""Close a mouth that the source shows open, without showing the source's cavity.

Warping a source whose mouth is open to a narrower target squeezes the opening: the
triangles that span it become slivers, and every sliver samples a line straight through
the source's cavity (teeth, tongue, dark), so a closed mouth came out with a dark,
serrated "zipper" along the lip line; where a sliver collapsed to nothing the pixel kept
the source image as it was, which there is the open mouth. Measured on real footage
(``generator/eval.py``), that made dubbed mouths read *more open* where the filmed mouth
was closed and vice versa.

The fix takes two sources for the mouth region: the frame as it is, and a copy whose
opening is filled from the surrounding lips (OpenCV's Telea inpainting, so the upper half
takes the upper lip's colour and the lower half the lower lip's). Both are warped with the
same maps; inside the target's inner-lip polygon the squeezed real interior is kept,
everywhere else the filled copy is used, so no sliver can reach into the cavity. (Video
mode then paints the synthetic interior over a target opening of 0.01 and more, as for a
filmed closed mouth: the squeezed real interior read as a mouth more closed than planned,
see ``VideoRenderer.render``.)
"""

from __future__ import annotations

__all__ = ["LipClosure", "mouth_box"]

from typing import Final

import cv2
import numpy as np

from trustavatar.face.mesh import Region, face_height, mouth_opening
from trustavatar.generator.mouth_interior import inner_polygon, polygon_mask
from trustavatar.generator.warp import remap

#: Gap (over face height) below which a source mouth counts as closed: nothing to fill.
CLOSED_GAP: Final = 0.004


def mouth_box(lm: np.ndarray, shape: tuple[int, ...], pad: float = 0.08
              ) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the outer lips of ``lm``, padded by ``pad`` face heights
    and clipped to an image of ``shape``."""
    lips = lm[Region.LIPS_OUTER]
    p = pad * face_height(lm) + 2
    h, w = shape[:2]
    x0, y0 = np.floor(np.maximum(lips.min(0) - p, 0)).astype(int)
    x1, y1 = np.ceil(np.minimum(lips.max(0) + p + 1, [w, h])).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


class LipClosure:
    """The filled source of one image (``image``: RGB uint8, ``lm``: its landmarks).

    ``filled`` is None when the source mouth is already closed (nothing to hide).
    """

    def __init__(self, image: np.ndarray, lm: np.ndarray) -> None:
        self.box = mouth_box(lm, image.shape)
        x0, y0, x1, y1 = self.box
        self.filled: np.ndarray | None = None
        if mouth_opening(lm) < CLOSED_GAP or x1 - x0 < 4 or y1 - y0 < 4:
            return
        off = np.array([x0, y0], np.float32)
        inside = (polygon_mask(inner_polygon(lm), off, (y1 - y0, x1 - x0)) > 0.05
                  ).astype(np.uint8)
        opening = np.asarray(cv2.dilate(inside, np.ones((3, 3), np.uint8)), np.uint8)
        radius = max(2.0, 0.008 * face_height(lm))
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        self.filled = np.asarray(cv2.inpaint(roi, opening, radius, cv2.INPAINT_TELEA),
                                 np.uint8)

    def source(self, image: np.ndarray) -> np.ndarray:
        """``image`` with the mouth opening filled (a copy; ``image`` itself when there is
        nothing to fill)."""
        if self.filled is None:
            return image
        x0, y0, x1, y1 = self.box
        out = image.copy()
        out[y0:y1, x0:x1] = self.filled
        return out

    def composite(self, warped: np.ndarray, source_filled: np.ndarray, maps: np.ndarray,
                  dst_lm: np.ndarray) -> np.ndarray:
        """Replace the mouth region of ``warped`` (the source warped with ``maps``) by
        ``source_filled`` (:meth:`source`) warped the same way, outside the target's
        inner-lip polygon; ``warped`` is changed in place and returned.

        ``maps``: the (H, W, 2) ``cv2.remap`` maps of the whole output; ``dst_lm``: the
        landmarks of the output frame."""
        if self.filled is None:
            return warped
        x0, y0, x1, y1 = mouth_box(dst_lm, warped.shape, pad=0.1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return warped
        lips = remap(source_filled, np.ascontiguousarray(maps[y0:y1, x0:x1]))
        # lips pressed together leave an opening of no area, whose anti-aliased outline
        # alone would let the cavity show through along the seam: under a pixel of gap
        # nothing of the inside is kept
        gap_px = float(np.linalg.norm(dst_lm[Region.UPPER_LIP_INNER_MID] -
                                      dst_lm[Region.LOWER_LIP_INNER_MID]))
        keep = polygon_mask(inner_polygon(dst_lm), np.array([x0, y0], np.float32),
                            (y1 - y0, x1 - x0)) * float(np.clip(gap_px - 1.0, 0.0, 1.0))
        roi = warped[y0:y1, x0:x1].astype(np.float32)
        warped[y0:y1, x0:x1] = np.clip(roi * keep[..., None] + lips * (1 - keep[..., None])
                                       + 0.5, 0, 255).astype(np.uint8)
        return warped
