"""Move face-mesh landmarks: open/close the jaw, widen/round the lips, close the lids,
tilt and shift the head. Works in a face-aligned frame (x along the eyes, y down, origin
at the mouth centre), so it behaves the same for any head roll or image scale.

``landmarks: (478, 2) float32`` pixel (x, y); the iris points (468–477) are not used.
"""

from __future__ import annotations

__all__ = ["FaceFrame", "MouthPose", "deform", "lip_surfaces"]

from dataclasses import dataclass

import numpy as np

from trustavatar.face.mesh import Region, face_height

N_MESH = 468  #: landmarks used for warping (the iris points are left out)
#: How much of the jaw's move the mouth corners follow (a wide-open jaw pulls them down).
_CORNER_FOLLOW = 0.25

_LIPS = np.unique(np.concatenate([Region.LIPS_OUTER, Region.LIPS_INNER]))


@dataclass(frozen=True)
class FaceFrame:
    """A face-aligned coordinate frame derived from one set of landmarks."""

    origin: np.ndarray  #: mouth centre (2,)
    ux: np.ndarray  #: unit vector along the eye line (2,)
    uy: np.ndarray  #: unit vector down the face (2,)
    height: float  #: forehead–chin distance (px)
    mouth_half_width: float  #: px
    face_half_width: float  #: px

    @classmethod
    def of(cls, lm: np.ndarray) -> FaceFrame:
        eye_r = lm[list(Region.EYE_CORNERS_R)].mean(0)
        eye_l = lm[list(Region.EYE_CORNERS_L)].mean(0)
        ux = eye_l - eye_r
        ux = ux / max(float(np.linalg.norm(ux)), 1e-6)
        uy = np.array([-ux[1], ux[0]], np.float32)
        origin = (lm[Region.MOUTH_LEFT] + lm[Region.MOUTH_RIGHT]) / 2
        hw = float(np.linalg.norm(lm[Region.MOUTH_LEFT] - lm[Region.MOUTH_RIGHT])) / 2
        oval = (lm[Region.FACE_OVAL] - origin) @ ux
        return cls(origin.astype(np.float32), ux.astype(np.float32), uy,
                   face_height(lm), max(hw, 1.0), max(float(np.ptp(oval)) / 2, 1.0))

    def to_local(self, pts: np.ndarray) -> np.ndarray:
        d = pts - self.origin
        return np.stack([d @ self.ux, d @ self.uy], axis=-1)

    def to_image(self, local: np.ndarray) -> np.ndarray:
        return self.origin + local[..., :1] * self.ux + local[..., 1:] * self.uy


@dataclass(frozen=True)
class MouthPose:
    gap: float  #: target inner-lip gap / face height
    width: float = 0.0  #: relative mouth-width change
    rounding: float = 0.0  #: 0..1
    blink: float = 0.0  #: 0 open .. 1 closed
    roll: float = 0.0  #: radians
    dx: float = 0.0  #: fraction of face height
    dy: float = 0.0
    scale: float = 0.0  #: relative size change


def current_gap(lm: np.ndarray) -> float:
    h = face_height(lm)
    return float(np.linalg.norm(lm[Region.UPPER_LIP_INNER_MID] -
                                lm[Region.LOWER_LIP_INNER_MID]) / max(h, 1e-6))


def deform(lm: np.ndarray, pose: MouthPose, *, frame: FaceFrame | None = None,
           lips: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Return moved copies of ``lm`` (478, 2) for ``pose``.

    The jaw and lower lip move so that the inner-lip gap becomes ``pose.gap``, whatever
    the gap of ``lm`` (a reference with an open mouth is closed, a closed one opened).
    ``frame`` and ``lips`` (:func:`lip_surfaces` of ``lm``) may be given when ``lm`` is
    deformed again and again.
    """
    f = frame or FaceFrame.of(lm)
    local = f.to_local(lm.astype(np.float32))
    out = local.copy()
    x, y = local[:, 0], local[:, 1]
    h, hw, fw = f.height, f.mouth_half_width, f.face_half_width
    # 1. jaw: the chin follows the gap change, fading towards the jaw angles and above
    #    the mouth line; the upper lip lifts a little. Closing a wide-open mouth moves the
    #    jaw further than the ramp above it is tall, which folded the cheeks over into a
    #    crease at lip level: the ramp grows with the move.
    ref_gap = current_gap(lm)
    delta = (pose.gap - ref_gap) * h
    ramp = max(0.08 * h, 1.3 * 0.92 * -delta)
    lateral_jaw = np.clip(1 - (np.abs(x) / (0.95 * fw)) ** 2, 0, 1)
    below = np.clip((y + _CORNER_FOLLOW * ramp) / ramp, 0, 1)  # the corners' line: 1/4
    w = 0.92 * lateral_jaw * below
    lateral_lip = np.clip(1 - (np.abs(x) / (1.05 * hw)) ** 2, 0, 1)
    upper_lip, lower_lip = lips if lips is not None else lip_surfaces(lm)
    # the upper lip lifts a little at its middle and follows the corners at its ends
    w[upper_lip] = (-0.08 * lateral_lip[upper_lip] +
                    w[upper_lip] * (1 - lateral_lip[upper_lip]))
    out[:, 1] += w * delta
    # 1b. the inner lips: every gap along the mouth scales together, so the lips close
    #     (or open) along their whole length; the whole lower lip (inner, middle and
    #     outer contours) moves with its inner edge, so it keeps its thickness.
    low = Region.INNER_LOWER[1:-1]

    def upper_at(pts: np.ndarray, xs: np.ndarray) -> np.ndarray:
        contour = pts[Region.INNER_UPPER]
        order = np.argsort(contour[:, 0])
        return np.interp(xs, contour[order, 0], contour[order, 1])

    local_gap = np.maximum(local[low, 1] - upper_at(local, local[low, 0]), 0.0)
    if ref_gap > 0.004:
        new_gap = local_gap * (pose.gap / ref_gap)
    else:
        new_gap = local_gap + pose.gap * h * lateral_lip[low]
    shift = upper_at(out, local[low, 0]) + new_gap - local[low, 1]
    corners = Region.INNER_UPPER[[0, -1]]
    xs = np.concatenate([local[low, 0], local[corners, 0]])
    ys = np.concatenate([shift, out[corners, 1] - local[corners, 1]])
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    out[lower_lip, 1] = local[lower_lip, 1] + np.interp(local[lower_lip, 0], xs, ys)
    # 1c. the skin under the lower lip is pushed by it, never overtaken: where the lip
    #     moves less than the jaw (towards the corners, whose gap is smaller), the jaw
    #     would slide the skin over the lip. Full effect under the lip, none beyond
    #     a third of a mouth width past the corners.
    skin = np.ones(len(local), bool)
    skin[upper_lip] = skin[lower_lip] = False
    skin[_LIPS] = False
    rim = Region.OUTER_LOWER
    rim_order = np.argsort(local[rim, 0])
    depth = y - np.interp(x, local[rim, 0][rim_order], local[rim, 1][rim_order])
    under = skin & (depth > 0)
    if under.any():
        lip_move = np.interp(x[under], xs, ys)
        jaw_move = out[under, 1] - local[under, 1]
        near = np.clip((1.3 * hw - np.abs(x[under])) / (0.4 * hw), 0, 1) * \
            np.clip(1 - depth[under] / (0.1 * h), 0, 1)
        push = np.maximum(jaw_move, lip_move)
        out[under, 1] = local[under, 1] + near * push + (1 - near) * jaw_move
    # 2. lip width and rounding: the corners move sideways, the centre stays
    along = np.clip(x / hw, -1.3, 1.3)
    lip_w = np.zeros_like(x)
    lip_w[_LIPS] = 1.0
    near_mouth = np.exp(-((x / (1.6 * hw)) ** 2 + (y / (0.12 * h)) ** 2)) * (1 - lip_w) + lip_w
    out[:, 0] += near_mouth * along * hw * (pose.width - 0.22 * pose.rounding)
    # 3. blinks: upper lids come down to the lower lids
    if pose.blink > 0:
        for up, low in ((Region.LID_UPPER_R, Region.LID_LOWER_R),
                        (Region.LID_UPPER_L, Region.LID_LOWER_L)):
            target = out[low] * 0.97 + out[up] * 0.03
            out[up] += pose.blink * (target - out[up])
    # 4. head: roll, shift and scale about the face centre
    if pose.roll or pose.dx or pose.dy or pose.scale:
        out = _head(out, pose, f)
    return f.to_image(out).astype(np.float32)


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of ``points`` (N, 2) lie inside ``polygon`` (K, 2) (even-odd rule)."""
    x, y = points[:, 0:1], points[:, 1:2]
    a, b = polygon, np.roll(polygon, -1, axis=0)
    crosses = (a[:, 1] > y) != (b[:, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return np.asarray(np.count_nonzero(crosses & (x < at), axis=1) % 2 == 1)


def lip_surfaces(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the upper and lower lip's surface points: their contours and the mesh
    points between them (mediapipe has a middle ring in each lip, which must move with it
    or the lip folds over itself). The mouth corners belong to neither."""
    pts = lm[:N_MESH]
    found = []
    for outer, inner in ((Region.OUTER_UPPER, Region.INNER_UPPER),
                         (Region.OUTER_LOWER, Region.INNER_LOWER)):
        inside = _inside(pts, np.concatenate([lm[outer], lm[inner][::-1]]))
        inside[outer] = True
        inside[inner] = True
        found.append(inside)
    upper, lower = found
    upper[Region.INNER_LOWER] = False
    upper[Region.OUTER_LOWER] = False
    lower[Region.INNER_UPPER] = False
    lower[Region.OUTER_UPPER] = False
    both = np.flatnonzero(upper & lower)  # possible where a closed mouth's lips touch
    if len(both):
        seam = lm[Region.INNER_UPPER]
        order = np.argsort(seam[:, 0])
        above = pts[both, 1] <= np.interp(pts[both, 0], seam[order, 0], seam[order, 1])
        lower[both[above]] = False
        upper[both[~above]] = False
    for c in (*Region.INNER_UPPER[[0, -1]], *Region.OUTER_UPPER[[0, -1]]):
        upper[c] = lower[c] = False
    return np.flatnonzero(upper), np.flatnonzero(lower)


def _head(local: np.ndarray, pose: MouthPose, f: FaceFrame) -> np.ndarray:
    centre = np.array([0.0, -0.3 * f.height], np.float32)  # about the nose
    c, s = np.cos(pose.roll), np.sin(pose.roll)
    rot = np.array([[c, -s], [s, c]], np.float32) * (1 + pose.scale)
    moved = (local - centre) @ rot.T + centre
    moved += np.array([pose.dx, pose.dy], np.float32) * f.height
    return moved


def head_ring(lm: np.ndarray, pose: MouthPose, frame: FaceFrame, *, factor: float,
              follow: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on the face oval scaled by ``factor`` about the face centre: (src, dst).

    The dst ring follows the head motion by ``follow`` (0..1), so the deformation fades
    smoothly into the fixed background.
    """
    oval = frame.to_local(lm[Region.FACE_OVAL].astype(np.float32))
    centre = np.array([0.0, -0.3 * frame.height], np.float32)
    ring = (oval - centre) * factor + centre
    head_only = MouthPose(gap=0, roll=pose.roll * follow, dx=pose.dx * follow,
                          dy=pose.dy * follow, scale=pose.scale * follow)
    moved = _head(ring, head_only, frame) if follow else ring
    return frame.to_image(ring).astype(np.float32), frame.to_image(moved).astype(np.float32)
