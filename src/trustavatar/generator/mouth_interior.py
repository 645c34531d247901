"""Synthesise the inside of the mouth (dark cavity, upper and lower teeth, tongue) when the
mouth opens wider than the reference shows, and feather it into the lips."""

from __future__ import annotations

__all__ = ["MouthInterior", "cheek_luminance", "luminance"]

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from trustavatar.face.mesh import Region, face_height

_INNER = np.concatenate([Region.INNER_UPPER, Region.INNER_LOWER[::-1][1:-1]])
#: The lips' wet inner surface shown on each lip of an open mouth (:meth:`paint`): this
#: much of the face height, and at most this share of the opening (0.004 and 0.3 until the
#: teeth stopped at the corners, whose dark made a landmarker read openings wider).
RIM: Final = 0.006
RIM_SHARE: Final = 0.4
#: Synthetic teeth: luminance relative to the cheeks' and the share of the lips' hue mixed
#: into their ivory. In 35 photos that show teeth (``shared/media/faces``) the brightest
#: fifth of the mouth is 1.19x the cheeks (lit smiles) with a hue this mix matches; a
#: talking mouth's teeth sit in the upper lip's shade (``generator/EVAL.md``, session 10).
TEETH_SHADE: Final = 1.0
TEETH_LIP_TINT: Final = 0.15
_IVORY: Final = np.array([1.0, 0.95, 0.86], np.float32)
#: Bright pixels inside the reference's mouth count as its teeth only below this
#: saturation ((max - min) / max of the mean colour).
_TEETH_MAX_SATURATION: Final = 0.3
#: How far from the middle of the opening the teeth show, in units of half its width:
#: fully up to the first number, fading into the dark of the cheeks' corridor by the
#: second. The upper arch shows incisors and canines (to about 0.76, the tooth widths
#: below) and the premolars in shadow; the lower arch is narrower and sits deeper.
UPPER_TEETH_SPAN: Final = (0.55, 0.9)
LOWER_TEETH_SPAN: Final = (0.25, 0.55)
#: The rim's opacity and brightness relative to the tongue colour.
_RIM_ALPHA: Final = 0.6
_RIM_SHADE: Final = 0.8


def inner_polygon(lm: np.ndarray) -> np.ndarray:
    """The mouth opening of ``lm``: the inner-lip contour as a polygon (float32)."""
    return lm[_INNER].astype(np.float32)


def polygon_mask(poly: np.ndarray, off: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An anti-aliased 0..1 float32 mask of ``poly`` in a ``size`` (h, w) window whose
    top-left corner is ``off`` (x, y)."""
    mask = np.zeros(size, np.float32)
    cv2.fillPoly(mask, [np.round((poly - off) * 16).astype(np.int32)], 1.0, cv2.LINE_AA,
                 shift=4)
    return mask


@dataclass(frozen=True)
class MouthInterior:
    """Colours sampled from the reference face, reused for every frame."""

    cavity: np.ndarray  #: RGB float32 (3,)
    teeth: np.ndarray
    tongue: np.ndarray
    #: the teeth are the reference's own (its open mouth shows them): they keep the row
    #: it shows, to the corners, instead of fading out (:data:`UPPER_TEETH_SPAN`)
    own_teeth: bool = False

    @classmethod
    def from_reference(cls, image: np.ndarray, lm: np.ndarray) -> MouthInterior:
        """Colours for ``image``'s face: the cavity and tongue from its lips; the teeth
        from its own teeth where the reference shows them, else an ivory lit like its
        skin in the shade of the upper lip (:data:`TEETH_SHADE` of the cheeks' luminance,
        with :data:`TEETH_LIP_TINT` of the lips' hue, as the mouth's red interior lights
        real teeth)."""
        h, w = image.shape[:2]
        lips = np.zeros((h, w), np.uint8)
        cv2.fillPoly(lips, [np.round(lm[Region.LIPS_OUTER]).astype(np.int32)], 1)
        inner = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inner, [np.round(inner_polygon(lm)).astype(np.int32)], 1)
        lips &= 1 - inner
        px = image[lips.astype(bool)].astype(np.float32)
        lip = px.mean(0) if len(px) else np.array([170, 90, 90], np.float32)
        teeth = _shaded_ivory(cheek_luminance(image, lm), lip)
        inside = image[inner.astype(bool)].astype(np.float32)
        own = False
        if len(inside) > 20:
            lum = inside.mean(1)
            bright = inside[lum > np.percentile(lum, 80)]
            # the reference shows teeth: bright, and near-neutral (not a lit lip or glare
            # on a coloured codec block)
            if len(bright) and bright.mean() > lip.mean() + 35 and \
                    _saturation(bright.mean(0)) < _TEETH_MAX_SATURATION:
                teeth = bright.mean(0)
                own = True
        return cls(cavity=lip * np.array([0.22, 0.13, 0.13], np.float32),
                   teeth=teeth.astype(np.float32),
                   tongue=(lip * np.array([0.8, 0.5, 0.5])).astype(np.float32),
                   own_teeth=own)

    def seam(self, frame: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """A soft dark line where closed lips meet."""
        fh = face_height(lm)
        gap = float(np.linalg.norm(lm[Region.UPPER_LIP_INNER_MID] -
                                   lm[Region.LOWER_LIP_INNER_MID]))
        strength = float(np.clip(1 - gap / (0.012 * fh), 0, 1)) * 0.45
        if strength <= 0:
            return frame
        line = (lm[Region.INNER_UPPER] + lm[Region.INNER_LOWER]) / 2
        # everything happens within 0.05 face heights of the line (the blurs reach 0.025)
        x0, y0 = np.floor(line.min(0) - fh * 0.05).astype(int).clip(0)
        x1, y1 = np.ceil(line.max(0) + fh * 0.05).astype(int)
        x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
        if x1 <= x0 or y1 <= y0:
            return frame
        pts = [np.round((line - [x0, y0]) * 16).astype(np.int32)]
        # soften a narrow band along the seam (warped lip edges meet there), then draw it
        band: NDArray[np.float32] = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.polylines(band, pts, False, 1.0, max(2, round(fh / 45)), cv2.LINE_AA, shift=4)
        band = np.asarray(cv2.GaussianBlur(band, (0, 0), max(1.0, fh / 120)), np.float32)
        band = np.clip(band * 2.5, 0, 1) * min(1.0, strength * 2.5)
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        soft = cv2.GaussianBlur(roi, (0, 0), max(0.8, fh / 160))
        roi = (roi * (1 - band[..., None]) + soft * band[..., None]).astype(np.uint8)
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.polylines(mask, pts, False, 1.0, max(1, round(fh / 180)), cv2.LINE_AA, shift=4)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, fh / 350)) * strength
        dark = (self.cavity * 1.6).astype(np.float32)
        out = roi.astype(np.float32) * (1 - mask[..., None]) + dark[None, None, :] * mask[..., None]
        frame = frame.copy()
        frame[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)
        return frame

    def _rim(self, frame: np.ndarray, lm: np.ndarray, amount: float) -> np.ndarray:
        """The opening of ``lm`` tinted with the lips' inner colour (the inside of
        :meth:`paint`'s rim; the cavity is painted over the middle)."""
        poly = inner_polygon(lm)
        hh, ww = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 3, [ww, hh])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        mask = polygon_mask(poly, np.array([x0, y0], np.float32), (y1 - y0, x1 - x0))
        mask *= _RIM_ALPHA * float(np.clip(amount, 0, 1))
        out = frame.copy()
        roi = out[y0:y1, x0:x1].astype(np.float32)
        colour = self.tongue * _RIM_SHADE
        out[y0:y1, x0:x1] = np.clip(roi * (1 - mask[..., None]) + colour * mask[..., None]
                                    + 0.5, 0, 255).astype(np.uint8)
        return out

    def paint(self, frame: np.ndarray, lm: np.ndarray, *, amount: float) -> np.ndarray:
        """Paint the interior into the inner-lip polygon of ``lm``; ``amount`` 0..1 blends it.

        An open mouth shows the lips' wet inner surface before the teeth and the dark: a
        rim on each lip (:data:`RIM` of the face height, at most :data:`RIM_SHARE` of the
        opening) is painted in a dark lip colour and the teeth, tongue and cavity fill the
        rest. Without it a landmarker read a small synthetic opening about a third wider
        than its landmarks, so a dub opened wider where the filmed mouth was shut than
        where it was open. Calibrated on the packaged sample portrait (a closed mouth
        opened at 200–512 px and read back by mediapipe), mean error in face heights:
        targets 0.015–0.075 +0.006 without the rim, +0.001 with it; 0.09–0.13 −0.008 and
        −0.006. Those were the earlier, brighter teeth. With teeth shaded like the face
        (:meth:`from_reference`, :func:`_tooth_shading`) the sample reads −0.001 and −0.009,
        and the bias on 33 real clips stayed near 0.001 (``generator/EVAL.md``, session
        10). Since the teeth stop short of the corners (:data:`UPPER_TEETH_SPAN`) the rim
        is 0.006 and 0.4, set on the sample and four ``faces/`` photos: at 0.004 and 0.3,
        the dark corners made openings of 0.01–0.075 read 0.0014 wider on average; now
        0.0018 narrower than before (session 11)."""
        frame = self.seam(frame, lm)
        if amount <= 0.0:
            return frame
        frame = self._rim(frame, lm, amount)
        lm = _inset(lm, RIM * face_height(lm), RIM_SHARE)
        poly = inner_polygon(lm)
        x0, y0 = np.floor(poly.min(0)).astype(int) - 3
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 4
        hh, ww = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, ww), min(y1, hh)
        if x1 - x0 < 3 or y1 - y0 < 2:
            return frame
        fh = face_height(lm)
        local = poly - np.array([x0, y0], np.float32)
        pw, ph = x1 - x0, y1 - y0
        gap = float(np.linalg.norm(lm[Region.UPPER_LIP_INNER_MID] -
                                   lm[Region.LOWER_LIP_INNER_MID]))
        yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        cx = (local[:, 0].min() + local[:, 0].max()) / 2
        half = max((local[:, 0].max() - local[:, 0].min()) / 2, 1.0)
        # each column's distance from the middle, 0 there .. 1 at the corners
        across = np.clip(np.abs(xx[0] - cx) / half, 0, 1)
        # cavity, darker towards the back (centre)
        shade = 0.75 + 0.25 * across
        patch: np.ndarray = np.tile(self.cavity[None, None, :] * shade[None, :, None],
                                    (ph, 1, 1)).astype(np.float32)
        upper = local[: len(Region.INNER_UPPER)]
        upper = upper[np.argsort(upper[:, 0])]
        lower = local[len(Region.INNER_UPPER) - 1:][::-1]
        s = 16
        # tongue: an ellipse resting on the lower lip
        if gap > 0.02 * fh:
            centre = (int((cx) * s), int((lower[:, 1].max() - 0.1 * gap) * s))
            axes = (int(half * 0.62 * s), int(max(gap * 0.38, 1) * s))
            cv2.ellipse(patch, centre, axes, 0, 180, 360, self.tongue.tolist(), -1,
                        cv2.LINE_AA, shift=4)
        # upper teeth hang from the upper lip; lower teeth show when wide open
        top = min(0.45 * gap, 0.04 * fh)
        lip_line = np.interp(xx[0], upper[:, 0], upper[:, 1])[None, :]
        below_lip = np.clip(yy - lip_line, 0, None)
        teeth_poly = np.concatenate([upper, (upper + np.array([0, top]))[::-1]])
        tmask = np.zeros((ph, pw), np.float32)
        cv2.fillPoly(tmask, [np.round(teeth_poly * s).astype(np.int32)], 1.0, cv2.LINE_AA,
                     shift=4)
        # the teeth as teeth, not a band: each one rounded (brighter in its middle), the
        # gaps between them darker, the incisal edge a little translucent
        teeth = self.teeth[None, None, :] * _tooth_shading(xx, below_lip, cx, half, top)[..., None]
        # only the front of each arch shows; towards the corners the teeth turn away into
        # the dark (without this, the two rows met at the corners as one pale ring)
        if not self.own_teeth:
            tmask *= _fade(across, UPPER_TEETH_SPAN)[None, :]
        patch += tmask[..., None] * (teeth - patch)
        if gap > 0.045 * fh:
            low = min(0.18 * gap, 0.02 * fh)
            lower_poly = np.concatenate([lower, (lower - np.array([0, low]))[::-1]])
            lmask = np.zeros((ph, pw), np.float32)
            cv2.fillPoly(lmask, [np.round(lower_poly * s).astype(np.int32)], 1.0,
                         cv2.LINE_AA, shift=4)
            lmask *= _fade(across, LOWER_TEETH_SPAN)[None, :]
            patch += lmask[..., None] * (self.teeth * 0.7 - patch)
        # teeth and tongue fall into shadow towards the corners and under the upper lip
        patch *= (1.0 - 0.25 * across ** 2)[None, :, None]
        patch *= (1.0 - 0.3 * np.exp(-below_lip / max(0.25 * top, 0.5)))[..., None]
        patch = cv2.GaussianBlur(patch, (0, 0), max(0.6, fh / 260))
        mask = np.zeros((ph, pw), np.float32)
        cv2.fillPoly(mask, [np.round(local * s).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, fh / 300)) * float(np.clip(amount, 0, 1))
        out = frame.copy()
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(region * (1 - mask[..., None]) + patch * mask[..., None],
                                    0, 255).astype(np.uint8)
        return out


#: Widths of the visible upper teeth from the middle outwards (central incisor, lateral
#: incisor, canine, premolars), in units of half the opening's width.
_TOOTH_WIDTHS: Final = np.array([0.3, 0.24, 0.22, 0.2, 0.2])


def _tooth_shading(xx: np.ndarray, below_lip: np.ndarray, cx: float, half: float,
                   top: float) -> np.ndarray:
    """A brightness factor (about 0.7-1) over the patch grid for upper teeth ``top`` pixels
    tall, centred at ``cx`` in an opening ``2 * half`` wide: ``xx`` the x of each pixel,
    ``below_lip`` its distance below the upper lip's inner edge (0 above it)."""
    edges = np.concatenate([[0.0], np.cumsum(_TOOTH_WIDTHS)]) * half
    d = np.abs(xx - cx)
    k = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(_TOOTH_WIDTHS) - 1)
    lo, w = edges[k], edges[k + 1] - edges[k]
    u = np.clip((d - lo) / np.maximum(w, 1e-6), 0.0, 1.0)  # 0..1 across the tooth
    rounded = 1.0 - 0.18 * (2.0 * u - 1.0) ** 2
    gap_px = max(0.5, 0.04 * half * _TOOTH_WIDTHS[0])
    gaps = 1.0 - 0.22 * np.exp(-(np.minimum(d - lo, lo + w - d) / gap_px) ** 2)
    gaps[d < 0.5 * gap_px] = 1.0  # the two central incisors meet without a seam at cx
    depth = np.clip(below_lip / max(top, 1.0), 0.0, 1.0)
    edge = 1.0 - 0.15 * np.clip((depth - 0.75) / 0.25, 0.0, 1.0)  # translucent tips
    return np.asarray(rounded * gaps * edge, np.float32)


def _fade(x: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """1 up to ``span[0]``, 0 from ``span[1]``, a smoothstep between (float32)."""
    t = np.clip((x - span[0]) / (span[1] - span[0]), 0.0, 1.0)
    return np.asarray(1.0 - t * t * (3.0 - 2.0 * t), np.float32)


def _inset(lm: np.ndarray, depth: float, share: float) -> np.ndarray:
    """``lm`` with both inner-lip contours moved towards each other by ``depth`` pixels,
    at most ``share`` of the opening between them (the corners stay)."""
    up, low = Region.INNER_UPPER[1:-1], Region.INNER_LOWER[1:-1]
    out = lm.copy()
    between = lm[low] - lm[up]
    length = np.linalg.norm(between, axis=1, keepdims=True)
    step = between * np.minimum(share, depth / np.maximum(length, 1e-6))
    out[up] = lm[up] + step
    out[low] = lm[low] - step
    return out


def interior_amount(gap: float, reference_gap: float) -> float:
    """How much synthetic interior to show: none up to the reference's own opening.

    Narrower openings reuse the reference's own interior, squashed, with the seam softened
    (:meth:`MouthInterior.seam`): the subject's real teeth keep the identity closer than
    synthetic ones (measured: dlib distance 0.12 vs 0.22–0.30 on the sample portrait).
    """
    if reference_gap < 0.01:
        return float(np.clip(gap / 0.01, 0, 1))
    return float(np.clip((gap - reference_gap) / (0.5 * reference_gap + 0.01), 0, 1))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601 weights) of RGB values (``(..., 3)``, any numeric type)."""
    return np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _saturation(rgb: np.ndarray) -> float:
    hi = float(np.max(rgb))
    return 0.0 if hi <= 0 else (hi - float(np.min(rgb))) / hi


def cheek_luminance(image: np.ndarray, lm: np.ndarray) -> float:
    """Median luminance of ``image``'s cheeks: two patches at mediapipe points 50 and 280,
    squares of 0.08 face heights (``lm``: the face's landmarks)."""
    half = max(2, round(0.04 * face_height(lm)))
    h, w = image.shape[:2]
    patches = []
    for k in (50, 280):
        x, y = np.round(lm[k]).astype(int)
        y0, y1 = np.clip([y - half, y + half], 0, h)  # a point off the image: empty
        x0, x1 = np.clip([x - half, x + half], 0, w)
        patch = image[y0:y1, x0:x1]
        patches.append(patch.reshape(-1, 3))
    px = np.concatenate(patches).astype(np.float32)
    if not len(px):  # both points off the image
        return float(luminance(image.reshape(-1, 3)).mean())
    return float(np.median(luminance(px)))


def _shaded_ivory(skin_luma: float, lip: np.ndarray) -> np.ndarray:
    """Ivory with :data:`TEETH_LIP_TINT` of the lips' hue, at :data:`TEETH_SHADE` of
    ``skin_luma``."""
    tint = lip / max(float(luminance(lip)), 1.0)
    colour = (1 - TEETH_LIP_TINT) * _IVORY / float(luminance(_IVORY)) + TEETH_LIP_TINT * tint
    colour = colour * TEETH_SHADE * skin_luma / max(float(luminance(colour)), 1e-6)
    return np.clip(colour, 0, 255).astype(np.float32)
