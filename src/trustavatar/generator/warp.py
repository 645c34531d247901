"""Dense piecewise-affine warping from a landmark mesh: one ``cv2.remap`` per frame.

For every destination pixel the triangle it falls in (destination mesh) gives an affine
map back into the source image. Triangles are a Delaunay triangulation of the source
points, fixed for a clip; only vertex positions change per frame.
"""

from __future__ import annotations

__all__ = ["MeshWarp"]

import cv2
import numpy as np
from scipy.spatial import Delaunay


class MeshWarp:
    """Warp an image so that ``src`` points land on ``dst`` points.

    points: (V, 2) float32 source vertices (include fixed points on the image border);
    size: (height, width) of the output.
    """

    def __init__(self, points: np.ndarray, size: tuple[int, int]) -> None:
        self.size = size
        self.triangles = Delaunay(points.astype(np.float64)).simplices.astype(np.int32)
        h, w = size
        self._ys, self._xs = np.mgrid[0:h, 0:w].astype(np.float32)

    def maps(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map_x, map_y) for ``cv2.remap``: where each output pixel samples the source."""
        h, w = self.size
        tri_dst = dst[self.triangles]  # (M, 3, 2)
        tri_src = src[self.triangles]
        n = len(tri_dst)
        ids = np.full((h, w), n, np.int32)  # n: outside every triangle
        pts = np.round(tri_dst * 16).astype(np.int32)
        e1, e2 = tri_dst[:, 1] - tri_dst[:, 0], tri_dst[:, 2] - tri_dst[:, 0]
        area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) / 2
        # Collapsed triangles (lips pressed together) are skipped: their neighbours cover
        # the seam, instead of a line of pixels sampled from the squashed interior.
        for m in np.flatnonzero(area >= 0.75):
            cv2.fillConvexPoly(ids, pts[m], int(m), lineType=cv2.LINE_8, shift=4)
        # affine dst → src per triangle: [sx sy] = [dx dy 1] @ A, A: (3, 2)
        d = np.concatenate([tri_dst, np.ones((n, 3, 1), np.float32)], axis=2)
        det = np.linalg.det(d)
        ok = np.abs(det) > 1e-6
        a = np.zeros((n + 1, 3, 2), np.float32)
        a[:n][ok] = np.linalg.solve(d[ok], tri_src[ok])
        # a collapsed triangle maps to its source centroid
        a[:n][~ok, 2] = tri_src[~ok].mean(axis=1)
        a[n] = [[1, 0], [0, 1], [0, 0]]  # outside every triangle: the pixel stays put
        # per pixel, its triangle's coefficients (one lookup each), combined in place
        map_x = np.take(a[:, 0, 0], ids)
        map_x *= self._xs
        tmp = np.take(a[:, 1, 0], ids)
        tmp *= self._ys
        map_x += tmp
        map_x += np.take(a[:, 2, 0], ids)
        map_y = np.take(a[:, 0, 1], ids)
        map_y *= self._xs
        np.take(a[:, 1, 1], ids, out=tmp)
        tmp *= self._ys
        map_y += tmp
        map_y += np.take(a[:, 2, 1], ids)
        return map_x, map_y

    def apply(self, image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        mx, my = self.maps(src, dst)
        return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
