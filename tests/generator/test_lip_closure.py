"""Closing a mouth that the source shows open (an open-mouthed portrait, a filmed mouth in
dubbing): no fold in the warp, no cavity along the closed lips, and the opening a landmarker
reads follows the target. Real mediapipe on a real (rendered) face, nothing mocked."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from tests.generator.conftest import rendered_openings

from trustavatar.face import load_image, sample_portrait_path
from trustavatar.face.mesh import FaceMesh, Region, mouth_opening
from trustavatar.generator.deform import MouthPose, current_gap, deform, lip_surfaces
from trustavatar.generator.lip_closure import LipClosure
from trustavatar.generator.mouth_interior import inner_polygon
from trustavatar.generator.render import PhotoRenderer, VideoRenderer

#: the inner-lip contour: triangles made of these points only lie inside the opening
_INNER = set(Region.LIPS_INNER.tolist())


@pytest.fixture(scope="module")
def open_mouth() -> tuple[np.ndarray, np.ndarray]:
    """The sample portrait at 512 px with its mouth opened wide (0.12 of face height),
    detected again: a source whose mouth is open, as a real wide-open frame would be."""
    img = load_image(sample_portrait_path())
    img = np.asarray(cv2.resize(img, (512, 512), interpolation=cv2.INTER_CUBIC), np.uint8)
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
        assert lm is not None
        opened = PhotoRenderer(img, lm).render(MouthPose(gap=0.12))
        lm2 = mesh.detect(opened)
    assert lm2 is not None and current_gap(lm2) > 0.08
    return opened, lm2


def _folds(renderer: PhotoRenderer, gap: float) -> int:
    """Triangles turned over by the warp, leaving out those inside the mouth opening."""
    src, dst, _ = renderer._vertices(MouthPose(gap=gap))
    flipped = renderer.warp.flipped(src, dst)
    inside = np.array([set(t.tolist()) <= _INNER for t in renderer.warp.triangles])
    return int(np.count_nonzero(flipped & ~inside))


@pytest.mark.parametrize("gap", [0.0, 0.02, 0.04])
def test_closing_an_open_mouth_does_not_fold_the_face(open_mouth, gap) -> None:
    img, lm = open_mouth
    assert _folds(PhotoRenderer(img, lm), gap) == 0


def test_the_lips_move_as_whole_surfaces(open_mouth) -> None:
    """mediapipe's lips have a middle ring between the inner and outer contours; it must
    move with its lip (left behind, the lower lip folded over itself)."""
    _, lm = open_mouth
    upper, lower = lip_surfaces(lm)
    assert set(Region.INNER_LOWER[1:-1]) <= set(lower)
    assert set(Region.OUTER_UPPER[1:-1]) <= set(upper)
    assert len(lower) > len(Region.INNER_LOWER) + len(Region.OUTER_LOWER) - 4  # + middle
    assert not set(upper) & set(lower)
    moved = deform(lm, MouthPose(gap=0.0))
    dy = (moved - lm)[lower, 1]
    assert np.all(dy < 0)  # the whole lower lip rises when the mouth closes


def test_closed_lips_show_nothing_of_the_opening(open_mouth) -> None:
    """Paint the source's mouth opening pure green: lips pressed together must show none
    of it (the squeezed opening used to leave a serrated line of it along the seam: 6
    green pixels in photo mode, 135 in video mode, on this face)."""
    img, lm = open_mouth
    marked = img.copy()
    cv2.fillPoly(marked, [np.round(inner_polygon(lm)).astype(np.int32)], (0, 255, 0))

    def green(frame: np.ndarray) -> int:
        g = frame.astype(int)
        return int(np.count_nonzero((g[..., 1] - g[..., 0] > 100) & (g[..., 1] - g[..., 2] > 100)))

    assert green(PhotoRenderer(marked, lm).render(MouthPose(gap=0.0))) == 0
    assert green(VideoRenderer(marked, lm).render(marked, lm, MouthPose(gap=0.0))) == 0
    # a mouth left half open still shows its own (squeezed) inside
    assert green(PhotoRenderer(marked, lm).render(MouthPose(gap=0.05))) > 0


def test_landmarker_reads_the_closing(open_mouth) -> None:
    seen = rendered_openings(*open_mouth, (0.0, 0.03, 0.06))
    assert seen[0] < 0.01
    assert seen[0] < seen[1] < seen[2]
    assert seen[1] == pytest.approx(0.03, abs=0.012)
    assert seen[2] == pytest.approx(0.06, abs=0.012)


def test_video_mode_closes_a_filmed_open_mouth(open_mouth) -> None:
    img, lm = open_mouth
    out = VideoRenderer(img, lm).render(img, lm, MouthPose(gap=0.0))
    with FaceMesh(video=False) as mesh:
        got = mesh.detect(out)
    assert got is not None and mouth_opening(got) < min(0.03, 0.3 * current_gap(lm))


def test_fill_leaves_a_closed_source_alone() -> None:
    img = load_image(sample_portrait_path())
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
        closed = PhotoRenderer(img, lm).render(MouthPose(gap=0.0))
        lm0 = mesh.detect(closed)
    assert lm0 is not None
    closure = LipClosure(closed, lm0)
    assert closure.filled is None
    assert closure.source(closed) is closed


def test_a_dubbed_mouth_opens_as_planned_however_open_it_was_filmed() -> None:
    """Dubbing: the opening a landmarker reads must follow the plan, not the filmed mouth.
    A filmed open mouth closed to the plan kept its own interior squeezed into the target
    opening and nothing was painted there; on real footage that read more closed than
    planned (dubs with another clip's audio: output opening ~ plan - 0.07 x filmed
    opening), and on this portrait up to 0.018 more open. The same plans are rendered on
    the portrait filmed closed, half open and wide open; each reading stays within 0.009
    (mean over the plans) of the closed one's."""
    img = load_image(sample_portrait_path())
    img = np.asarray(cv2.resize(img, (512, 512), interpolation=cv2.INTER_CUBIC), np.uint8)
    plans = (0.02, 0.03, 0.04, 0.05)
    seen = {}
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
        assert lm is not None
        for filmed in (0.0, 0.06, 0.12):
            frame = PhotoRenderer(img, lm).render(MouthPose(gap=filmed))
            flm = mesh.detect(frame)
            assert flm is not None
            renderer = VideoRenderer(frame, flm)
            got = [mesh.detect(renderer.render(frame, flm, MouthPose(gap=p))) for p in plans]
            assert all(g is not None for g in got)
            seen[filmed] = np.array([mouth_opening(g) for g in got])
    assert np.all(np.diff(seen[0.0]) > 0)  # the closed one follows the plans
    for filmed in (0.06, 0.12):
        assert float(np.mean(np.abs(seen[filmed] - seen[0.0]))) < 0.009, (filmed, seen)


def test_no_jump_as_the_plan_crosses_the_filmed_opening() -> None:
    """Just below the filmed opening the synthetic interior must not switch on at full
    strength while just above it the filmed interior shows: with the clip's own audio the
    plan crosses the filmed opening all the time, and the teeth flickered (a 0.002 step of
    the plan changed 426-811 pixels by more than 20 levels on this portrait; the
    renderer before the interior change, 69-72)."""
    img = load_image(sample_portrait_path())
    img = np.asarray(cv2.resize(img, (512, 512), interpolation=cv2.INTER_CUBIC), np.uint8)
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
        assert lm is not None
        for filmed in (0.04, 0.08):
            frame = PhotoRenderer(img, lm).render(MouthPose(gap=filmed))
            flm = mesh.detect(frame)
            assert flm is not None
            renderer, gap = VideoRenderer(frame, flm), current_gap(flm)
            outs = [renderer.render(frame, flm, MouthPose(gap=float(p))).astype(np.int16)
                    for p in np.arange(max(0.0, gap - 0.03), gap + 0.02, 0.002)]
            changed = [int((np.abs(b - a).max(-1) > 20).sum())
                       for a, b in itertools.pairwise(outs)]
            assert max(changed) < 200, (filmed, changed)
