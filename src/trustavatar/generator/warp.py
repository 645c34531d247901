"""Dense piecewise-affine warping from a landmark mesh: one ``cv2.remap`` per frame.

For every destination pixel the triangle it falls in (destination mesh) gives an affine
map back into the source image. Triangles are a Delaunay triangulation of the source
points (:func:`delaunay`), fixed for a clip; only vertex positions change per frame.
"""

from __future__ import annotations

__all__ = ["MeshWarp", "delaunay", "remap"]

from typing import Final

import cv2
import numpy as np

#: Triangles whose destination-to-source map stretches more than this (Frobenius norm of
#: its Jacobian; the identity's is 1.41) are left to their neighbours (:meth:`MeshWarp.maps`).
MAX_STRETCH: Final = 6.0


class MeshWarp:
    """Warp an image so that ``src`` points land on ``dst`` points.

    points: (V, 2) float32 source vertices (include fixed points on the image border);
    size: (height, width) of the output.
    """

    def __init__(self, points: np.ndarray, size: tuple[int, int]) -> None:
        self.size = size
        self.triangles = delaunay(points)
        h, w = size
        self._ys, self._xs = np.mgrid[0:h, 0:w].astype(np.float32)

    def maps(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``(H, W, 2) float32`` map for ``cv2.remap``: the source (x, y) each output pixel
        samples."""
        h, w = self.size
        tri_dst = dst[self.triangles]  # (M, 3, 2)
        tri_src = src[self.triangles]
        n = len(tri_dst)
        ids = np.full((h, w), n, np.int32)  # n: outside every triangle
        pts = np.round(tri_dst * 16).astype(np.int32)
        e1, e2 = tri_dst[:, 1] - tri_dst[:, 0], tri_dst[:, 2] - tri_dst[:, 0]
        cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        # affine dst -> src per triangle, solved in closed form (Cramer's rule):
        # [sx sy] = [dx dy 1] @ A, A: (3, 2)
        ok = np.abs(cross) > 1e-6
        inv = np.zeros(n, np.float32)
        inv[ok] = 1.0 / cross[ok]
        s0 = tri_src[:, 0]
        f1, f2 = tri_src[:, 1] - s0, tri_src[:, 2] - s0  # (n, 2)
        # d(src)/d(dx) and d(src)/d(dy)
        ax = (f1 * e2[:, 1:2] - f2 * e1[:, 1:2]) * inv[:, None]
        ay = (f2 * e1[:, 0:1] - f1 * e2[:, 0:1]) * inv[:, None]
        fill = cv2.fillConvexPoly
        # Collapsed triangles (lips pressed together) are skipped: their neighbours cover
        # the seam, instead of a line of pixels sampled from the squashed interior. So are
        # slivers whose map stretches a hair-thin triangle across the source (a closed
        # mouth's middle, points 12-13-14, as it opens: Jacobian norm 16-34 where the rest
        # of a face stays near 1.4): the pixels on their rasterised edge sampled the skin
        # above the lip, a bright speck at its middle.
        stretch = np.sqrt((ax ** 2).sum(1) + (ay ** 2).sum(1))
        for m in np.flatnonzero((np.abs(cross) >= 1.5) & (stretch <= MAX_STRETCH)).tolist():
            fill(ids, pts[m], m, cv2.LINE_8, 4)
        a = np.zeros((n + 1, 3, 2), np.float32)
        a[:n, 0] = ax
        a[:n, 1] = ay
        a[:n, 2] = s0 - ax * tri_dst[:, 0, 0:1] - ay * tri_dst[:, 0, 1:2]
        # a collapsed triangle maps to its source centroid
        a[:n][~ok] = 0
        a[:n][~ok, 2] = tri_src[~ok].mean(axis=1)
        a[n] = [[1, 0], [0, 1], [0, 0]]  # outside every triangle: the pixel stays put
        # per pixel, its triangle's coefficients (one lookup each), combined in place; x
        # and y travel together as the real and imaginary parts of one complex number
        # (products with the real pixel coordinates stay exact), which is also the
        # interleaved (x, y) layout of a two-channel map for cv2.remap
        coef = (a[:, :, 0] + 1j * a[:, :, 1]).astype(np.complex64)  # (n + 1, 3)
        out = np.take(coef[:, 0], ids)
        out *= self._xs
        tmp = np.take(coef[:, 1], ids)
        tmp *= self._ys
        out += tmp
        out += np.take(coef[:, 2], ids)
        return out.view(np.float32).reshape(h, w, 2)

    def flipped(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Triangles turned over from ``src`` to ``dst`` (a fold in the warp: the image
        would show a mirrored sliver there). Triangles of less than half a pixel at either
        end (lips pressed together, the slivers along a closed mouth's seam) do not
        count."""
        cs, cd = _cross(src[self.triangles]), _cross(dst[self.triangles])
        return np.asarray((np.sign(cs) != np.sign(cd)) & (np.abs(cd) >= 1.5) &
                          (np.abs(cs) >= 1.0))


def delaunay(points: np.ndarray) -> np.ndarray:
    """``(M, 3) int32`` vertex indices of a Delaunay triangulation of ``(V, 2)`` points.

    OpenCV's ``Subdiv2D`` (``scipy.spatial`` took ~0.6 s to import in every generation).
    Each triangle lists its vertices in increasing order and the triangles are sorted, so
    the result does not depend on the library's own order: where the warp folds,
    :meth:`MeshWarp.maps` lets the later triangle take a pixel. A point that repeats an
    earlier one is not a vertex (its first copy is).
    """
    pts = np.ascontiguousarray(points, np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError("delaunay needs at least three finite (x, y) points")
    # Subdiv2D's tolerances are absolute: the points are scaled to a span of 1024 first
    # (Delaunay triangles do not change with scale). It starts from a triangle around its
    # rectangle and leaves out the triangles that touch it, so a thin triangle on the hull
    # (a point a pixel inside the image's edge) whose circumcircle reaches that far would
    # be missing: a rectangle 1024 times wider than the points keeps the outer corners
    # out of such circles.
    lo = pts.min(0)
    pts = np.ascontiguousarray((pts - lo) * (1024.0 / max(float((pts.max(0) - lo).max()), 1e-6)),
                               np.float32)
    subdiv = cv2.Subdiv2D((-1024 * 1024, -1024 * 1024, 2048 * 1024 + 1024, 2048 * 1024 + 1024))
    subdiv.insert(pts.tolist())  # float32 values: exact through Python floats
    corners = np.asarray(subdiv.getTriangleList(), np.float32).reshape(-1, 2)
    # vertex index of each corner: the first point with its exact coordinates
    keys = pts.view(np.int64).ravel()  # the two float32 of a point as one int64
    unique, first = np.unique(keys, return_index=True)
    at = np.searchsorted(unique, corners.view(np.int64).ravel()).clip(0, len(unique) - 1)
    found = unique[at] == corners.view(np.int64).ravel()
    tris = np.where(found, first[at], -1).reshape(-1, 3)
    out = np.sort(tris, axis=1).astype(np.int32)
    out = out[(out >= 0).all(axis=1)]  # a corner of the subdivision's outer triangle
    return np.ascontiguousarray(out[np.lexsort(out.T[::-1])])


def _cross(tri: np.ndarray) -> np.ndarray:
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return np.asarray(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def remap(image: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``maps`` (from :meth:`MeshWarp.maps`, or a window of them)."""
    return np.asarray(cv2.remap(image, maps, None, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE), np.uint8)
