"""The synthesised inside of an open mouth: teeth coloured and lit like the face they are
painted into, and an opening that reads as a dark mouth with teeth, not a white band. Real
mediapipe landmarks on the packaged sample portrait, nothing mocked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from trustavatar.face import load_image, sample_portrait_path
from trustavatar.face.mesh import FaceMesh
from trustavatar.generator.deform import MouthPose
from trustavatar.generator.mouth_interior import (
    TEETH_SHADE,
    MouthInterior,
    cheek_luminance,
    inner_polygon,
    luminance,
)
from trustavatar.generator.render import PhotoRenderer


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    img = load_image(sample_portrait_path())
    img = np.asarray(cv2.resize(img, (512, 512), interpolation=cv2.INTER_CUBIC), np.uint8)
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
    assert lm is not None
    return img, lm


@pytest.fixture(scope="module")
def closed(portrait: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The portrait with its (smiling, teeth showing) mouth closed: no teeth to copy."""
    img, lm = portrait
    shut = PhotoRenderer(img, lm).render(MouthPose(gap=0.0))
    with FaceMesh(video=False) as mesh:
        lm2 = mesh.detect(shut)
    assert lm2 is not None
    return shut, lm2


def _inside(img: np.ndarray, lm: np.ndarray) -> np.ndarray:
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(inner_polygon(lm)).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    return np.asarray(luminance(img[mask.astype(bool)].astype(np.float32)))


def test_synthetic_teeth_are_ivory_lit_like_the_cheeks(closed) -> None:
    img, lm = closed
    interior = MouthInterior.from_reference(img, lm)
    cheeks = cheek_luminance(img, lm)
    assert float(luminance(interior.teeth)) == pytest.approx(TEETH_SHADE * cheeks, rel=0.02)
    r, g, b = interior.teeth
    assert r > g > b  # ivory tinted by the lips, never a cold grey or blue-white
    assert float(luminance(interior.cavity)) < 0.3 * float(luminance(interior.teeth))


def test_cheeks_off_the_image_fall_back_to_the_image_mean(closed) -> None:
    img, lm = closed
    half_off = lm.copy()
    half_off[50] = (-40.0, -40.0)  # one cheek off the image: the other one counts
    assert cheek_luminance(img, half_off) == pytest.approx(
        float(np.median(luminance(_patch(img, lm[280], lm)))), abs=0.5)
    both_off = half_off.copy()
    both_off[280] = (img.shape[1] + 40.0, -40.0)
    assert cheek_luminance(img, both_off) == pytest.approx(
        float(luminance(img.reshape(-1, 3)).mean()), rel=1e-5)


def _patch(img: np.ndarray, point: np.ndarray, lm: np.ndarray) -> np.ndarray:
    from trustavatar.face.mesh import face_height

    half = max(2, round(0.04 * face_height(lm)))
    x, y = np.round(point).astype(int)
    return img[y - half:y + half, x - half:x + half].reshape(-1, 3).astype(np.float32)


def test_the_references_own_teeth_are_used_but_not_a_coloured_glare(portrait) -> None:
    img, lm = portrait  # smiling: its teeth show
    interior = MouthInterior.from_reference(img, lm)
    own = interior.teeth
    assert float(luminance(own)) > cheek_luminance(img, lm)  # its real, bright teeth
    assert interior.own_teeth  # its smile shows them to the corners: the row is kept
    green = img.copy()
    cv2.fillPoly(green, [np.round(inner_polygon(lm)).astype(np.int32)], (90, 250, 120))
    painted = MouthInterior.from_reference(green, lm).teeth
    assert painted[0] > painted[1] > painted[2]  # not the green: the shaded ivory
    assert not MouthInterior.from_reference(green, lm).own_teeth


def test_an_opened_mouth_reads_dark_with_teeth_not_as_a_white_band(closed) -> None:
    img, lm = closed
    opened = PhotoRenderer(img, lm).render(MouthPose(gap=0.09))
    with FaceMesh(video=False) as mesh:
        lm2 = mesh.detect(opened)
    assert lm2 is not None
    inside = _inside(opened, lm2)
    cheeks = cheek_luminance(opened, lm2)
    assert inside.size > 200
    # real open mouths (shared evaluation clips, generator/EVAL.md): the inside's median
    # is about half the cheeks' luminance, and few of its pixels are as bright as they are
    assert np.median(inside) < 0.75 * cheeks
    assert np.mean(inside > 0.9 * cheeks) < 0.25


def test_teeth_are_shaded_one_by_one_not_a_flat_band() -> None:
    from trustavatar.generator.mouth_interior import _TOOTH_WIDTHS, _tooth_shading

    ph, pw, half, cx, top = 20, 121, 50.0, 60.0, 10.0
    xx = np.tile(np.arange(pw, dtype=np.float32), (ph, 1))
    upper = np.array([[10.0, 2.0], [60.0, 1.0], [110.0, 2.0]], np.float32)
    lip = np.interp(xx[0], upper[:, 0], upper[:, 1])[None, :]
    below_lip = np.clip(np.arange(ph, dtype=np.float32)[:, None] - lip, 0, None)
    shade = _tooth_shading(xx, below_lip, cx, half, top)
    assert shade.shape == (ph, pw) and shade.min() > 0.5 and shade.max() <= 1.0
    row = shade[6]  # halfway down the teeth
    edges = cx + np.cumsum(_TOOTH_WIDTHS) * half  # gaps between teeth, right side
    middles = cx + (np.cumsum(_TOOTH_WIDTHS) - _TOOTH_WIDTHS / 2) * half
    for gap, middle in zip(edges[:3], middles[:3], strict=True):
        assert row[round(gap)] < row[round(middle)] - 0.1  # a darker gap, a rounder middle
    # the central incisors meet at cx: both rounded there, but no dark gap line
    assert row[round(cx)] > row[round(edges[0])] + 0.1
    assert shade[19, 60] < shade[6, 60]  # translucent tips, darker than the middle


def test_teeth_show_at_the_front_and_the_corners_stay_dark(closed) -> None:
    """Only the front of each row of teeth shows: towards the corners of a wide-open mouth
    the inside is dark, not a pale ring where the upper and lower rows meet."""
    img, lm = closed
    renderer = PhotoRenderer(img, lm)
    pose = MouthPose(gap=0.11)
    opened = renderer.render(pose)
    lm2 = renderer.landmarks_for(pose)
    poly = inner_polygon(lm2)
    mask = np.zeros(opened.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
    lum = luminance(opened.astype(np.float32))
    cx = (poly[:, 0].min() + poly[:, 0].max()) / 2
    half = (poly[:, 0].max() - poly[:, 0].min()) / 2
    across = np.abs(np.arange(opened.shape[1]) - cx)[None, :] / half
    across = np.broadcast_to(across, mask.shape)
    front = lum[mask & (across < 0.4)]
    corners = lum[mask & (across > 0.7)]
    assert front.size > 200 and corners.size > 20
    cheeks = cheek_luminance(opened, lm2)
    # the front shows bright teeth; the corners are mostly dark cavity
    assert np.percentile(front, 90) > 0.75 * cheeks
    assert np.percentile(corners, 75) < 0.45 * cheeks
