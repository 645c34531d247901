"""The warp's triangulation (OpenCV's Subdiv2D, in a fixed order), checked against scipy's
Delaunay (Qhull) and against the empty-circle property itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Delaunay

from trustavatar.face import load_image, sample_portrait_path
from trustavatar.face.mesh import FaceMesh
from trustavatar.generator.deform import MouthPose
from trustavatar.generator.render import PhotoRenderer
from trustavatar.generator.warp import delaunay


def _qhull(points: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(t) for t in np.sort(Delaunay(points.astype(np.float64)).simplices, 1).tolist()}


def _border(w: float, n: int = 6) -> np.ndarray:
    xs = np.linspace(0, w, n)
    return np.array([(x, 0) for x in xs] + [(x, w) for x in xs] + [(0, y) for y in xs[1:-1]]
                    + [(w, y) for y in xs[1:-1]], np.float32)


def _empty_circle_violations(points: np.ndarray, tri: np.ndarray) -> int:
    p = points.astype(np.float64)
    a, b, c = (p[tri[:, k]] for k in range(3))
    d = 2 * (a[:, 0] * (b[:, 1] - c[:, 1]) + b[:, 0] * (c[:, 1] - a[:, 1])
             + c[:, 0] * (a[:, 1] - b[:, 1]))
    sq = [(q ** 2).sum(1) for q in (a, b, c)]
    ux = (sq[0] * (b[:, 1] - c[:, 1]) + sq[1] * (c[:, 1] - a[:, 1])
          + sq[2] * (a[:, 1] - b[:, 1])) / d
    uy = (sq[0] * (c[:, 0] - b[:, 0]) + sq[1] * (a[:, 0] - c[:, 0])
          + sq[2] * (b[:, 0] - a[:, 0])) / d
    r2 = (a[:, 0] - ux) ** 2 + (a[:, 1] - uy) ** 2
    dist2 = (p[None, :, 0] - ux[:, None]) ** 2 + (p[None, :, 1] - uy[:, None]) ** 2
    inside = dist2 < r2[:, None] * (1 - 1e-6)
    inside[np.arange(len(tri))[:, None], tri] = False
    return int(inside.any(1).sum())


def _area(points: np.ndarray, tri: np.ndarray) -> float:
    q = points.astype(np.float64)[tri]
    e1, e2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    return float(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum() / 2)


@pytest.mark.parametrize("span", [4000.0, 500.0, 30.0, 2.0])
def test_random_points_get_qhulls_triangles(span: float) -> None:
    rng = np.random.default_rng(int(span))
    for _ in range(10):
        pts = (rng.random((int(rng.integers(3, 700)), 2)) * span + 7).astype(np.float32)
        assert {tuple(t) for t in delaunay(pts).tolist()} == _qhull(pts)


@pytest.mark.parametrize("span", [8000.0, 512.0, 30.0, 0.5])
def test_points_inside_a_border_like_the_renderers_are_a_delaunay_cover_of_the_hull(span) -> None:
    # the border's rectangles are co-circular, so a Delaunay triangulation is not unique:
    # check the property itself and that the triangles cover the hull once
    rng = np.random.default_rng(7)
    for _ in range(5):
        inner = rng.random((int(rng.integers(1, 600)), 2)) * span * 0.98 + span * 0.01
        pts = np.concatenate([inner.astype(np.float32), _border(span)])
        tri = delaunay(pts)
        assert _empty_circle_violations(pts, tri) == 0
        assert _area(pts, tri) == pytest.approx(ConvexHull(pts.astype(np.float64)).volume,
                                                rel=1e-5)


def test_a_thin_triangle_on_the_hull_is_not_lost() -> None:
    # a point one pixel inside the image's bottom edge, between two border points: its
    # triangle's circumcircle has a radius of ~1300 px (Subdiv2D's outer triangle once
    # took it)
    pts = np.concatenate([_border(511.0), [[256.05, 510.0], [250.0, 250.0]]]).astype(np.float32)
    tri = delaunay(pts)
    assert _area(pts, tri) == pytest.approx(511.0 ** 2)
    assert {tuple(t) for t in tri.tolist()} == _qhull(pts)


def test_the_order_is_canonical_and_repeated_points_keep_their_first_copy() -> None:
    rng = np.random.default_rng(3)
    pts = (rng.random((50, 2)) * 100).astype(np.float32)
    tri = delaunay(pts)
    assert (np.diff(tri, axis=1) > 0).all()  # increasing within a triangle
    assert [tuple(t) for t in tri.tolist()] == sorted(tuple(t) for t in tri.tolist())
    # the same points shuffled give the same triangles, renamed
    perm = rng.permutation(len(pts))
    again = perm[delaunay(pts[perm])]
    assert {tuple(sorted(t)) for t in again.tolist()} == {tuple(t) for t in tri.tolist()}
    doubled = np.concatenate([pts, pts[:5]])
    assert np.array_equal(delaunay(doubled), tri)


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), np.zeros((5, 3)),
                                 np.array([[0, 0], [1, np.nan], [2, 0]])])
def test_bad_points_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="three finite"):
        delaunay(bad)


def test_the_sample_faces_mesh_is_qhulls() -> None:
    import cv2

    img = cv2.resize(load_image(sample_portrait_path()), (512, 512), interpolation=cv2.INTER_AREA)
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
    assert lm is not None
    renderer = PhotoRenderer(img, lm)
    src, _, _ = renderer._vertices(MouthPose(gap=renderer.reference_gap))
    assert {tuple(t) for t in renderer.warp.triangles.tolist()} == _qhull(src)
