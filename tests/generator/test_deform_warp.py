from __future__ import annotations

import numpy as np
import pytest
from tests.generator.conftest import rendered_openings

from trustavatar.face import load_image, sample_portrait_path
from trustavatar.face.mesh import FaceMesh, Region
from trustavatar.generator.deform import FaceFrame, MouthPose, current_gap, deform
from trustavatar.generator.render import PhotoRenderer
from trustavatar.generator.warp import MeshWarp, remap


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    img = load_image(sample_portrait_path())
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
    assert lm is not None and lm.shape == (478, 2)
    return img, lm


def _ear(lm: np.ndarray, idx: np.ndarray) -> float:
    p = lm[idx]
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) /
                 (2 * np.linalg.norm(p[0] - p[3])))


@pytest.mark.parametrize("gap", [0.0, 0.03, 0.1])
def test_deform_reaches_the_target_gap(portrait, gap) -> None:
    _, lm = portrait
    moved = deform(lm, MouthPose(gap=gap))
    assert current_gap(moved) == pytest.approx(gap, abs=0.004)
    # the upper face does not move
    assert np.allclose(moved[Region.FOREHEAD], lm[Region.FOREHEAD])


def test_blink_closes_both_eyes(portrait) -> None:
    _, lm = portrait
    closed = deform(lm, MouthPose(gap=current_gap(lm), blink=1.0))
    for ear in (Region.EAR_R, Region.EAR_L):
        assert _ear(closed, ear) < 0.35 * _ear(lm, ear)


def test_rendered_blink_reads_as_closed_eyes(portrait) -> None:
    """The landmarker must see the rendered blink as a blink: real blinks bring the eye
    aspect ratio to 0.06-0.55 of its open level; the warp alone only reached 0.62-0.69."""
    img, lm = portrait
    renderer = PhotoRenderer(img, lm)
    with FaceMesh(video=False) as mesh:
        ratios = {}
        for blink in (0.0, 1.0):
            seen = mesh.detect(renderer.render(MouthPose(gap=renderer.reference_gap,
                                                         blink=blink)))
            assert seen is not None
            ratios[blink] = np.mean([_ear(seen, e) for e in (Region.EAR_R, Region.EAR_L)])
    assert ratios[1.0] < 0.55 * ratios[0.0]


def test_head_roll_rotates_the_eye_line(portrait) -> None:
    _, lm = portrait
    rolled = deform(lm, MouthPose(gap=current_gap(lm), roll=np.deg2rad(3)))
    a, b = FaceFrame.of(lm).ux, FaceFrame.of(rolled).ux
    angle = np.rad2deg(np.arctan2(b[1], b[0]) - np.arctan2(a[1], a[0]))
    assert angle == pytest.approx(3.0, abs=0.3)


def test_identity_warp_keeps_the_image(portrait) -> None:
    img, lm = portrait
    h, w = img.shape[:2]
    pts = np.concatenate([lm[:468], [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]])
    warp = MeshWarp(pts.astype(np.float32), (h, w))
    out = remap(img, warp.maps(pts, pts))
    assert np.abs(out.astype(int) - img.astype(int)).mean() < 0.5


def test_rendered_mouth_opening_is_what_was_asked(portrait) -> None:
    measured = rendered_openings(*portrait, (0.0, 0.04, 0.09))
    assert measured[0] < measured[1] < measured[2]
    assert measured[2] - measured[0] > 0.05


def test_a_hair_thin_triangle_stretched_open_samples_nothing_far_away() -> None:
    # A closed mouth's middle: three nearly collinear points (mediapipe's 12-13-14) make a
    # sliver; opening the mouth pulls the third one down. Its affine map is ill-conditioned
    # and the pixels on its rasterised edge used to sample far above or below (a bright
    # speck on the upper lip). It is left to its neighbours now: no jump in the map.
    h = w = 96
    ring = [(x, y) for x in (0, 47.5, 95) for y in (0, 95)] + [(0, 47.5), (95, 47.5)]
    mid = [(30.0, 45.0), (70.0, 45.0), (50.0, 30.0), (50.0, 70.0)]
    sliver = [(50.0, 42.6), (50.0, 45.6), (49.4, 46.6)]
    src = np.array(ring + mid + sliver, np.float32)
    dst = src.copy()
    dst[-1] = (49.2, 55.4)  # the lower lip's middle, moved down
    dst[-2] = (50.0, 45.0)
    warp = MeshWarp(src, (h, w))
    maps = warp.maps(src, dst)
    jump = max(np.abs(np.diff(maps, axis=0)).max(), np.abs(np.diff(maps, axis=1)).max())
    assert jump < 4.0
    # the picture stays put away from the moved points
    assert np.allclose(maps[5, 5], (5, 5), atol=0.01)
