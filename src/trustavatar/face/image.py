"""Reading images for face analysis: a path, encoded bytes or an RGB array → RGB array."""

from __future__ import annotations

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "ImageSource", "decode_image", "load_image"]

import io
import os
import warnings
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from trustavatar._files import read_input
from trustavatar.errors import FaceError, InputError

#: Largest encoded image file accepted (bytes).
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
#: Largest decoded image accepted (pixels); larger ones are refused, not downscaled.
MAX_IMAGE_PIXELS: Final = 50_000_000

#: What the face functions accept: a file path, the encoded file's bytes (JPEG, PNG, …),
#: or an already decoded image ``(H, W, 3) uint8 RGB``.
ImageSource: TypeAlias = str | os.PathLike[str] | bytes | NDArray[np.uint8]


def load_image(source: ImageSource) -> NDArray[np.uint8]:
    """Return ``source`` as a C-contiguous ``(H, W, 3) uint8 RGB`` array.

    Files and bytes are decoded with Pillow, EXIF orientation applied, converted to RGB.
    Raises :class:`~trustavatar.errors.FaceError` (an ``InputError``) if the image cannot
    be read or an array has the wrong shape or dtype.
    """
    if isinstance(source, np.ndarray):
        return _check_array(source)
    if isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), "the image"
    elif isinstance(source, str | os.PathLike):
        try:
            data = read_input(source, max_bytes=MAX_IMAGE_BYTES, what="image")
        except InputError as e:
            raise FaceError(e.message) from e
        name = f"image {Path(source)}"
    else:
        raise FaceError(
            f"image must be a path, bytes or an (H, W, 3) uint8 array, got {type(source).__name__}"
        )
    return decode_image(data, name=name)


def decode_image(data: bytes, *, name: str = "the image") -> NDArray[np.uint8]:
    """Decode an encoded image (JPEG, PNG, …) to ``(H, W, 3) uint8 RGB``, EXIF orientation
    applied. ``name`` is used in error messages. Raises :class:`FaceError`."""
    if not data:
        raise FaceError(f"{name} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_IMAGE_PIXELS:
                    raise FaceError(
                        f"{name} is too large ({im.width}x{im.height} pixels; "
                        f"at most {MAX_IMAGE_PIXELS})"
                    )
                upright = ImageOps.exif_transpose(im)
                array = _to_rgb8(upright)
    except FaceError:
        raise
    except UnidentifiedImageError as e:
        raise FaceError(f"{name} is not an image Pillow can read") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise FaceError(f"{name} cannot be decoded: {e}") from e
    return np.ascontiguousarray(array)


def _to_rgb8(im: Image.Image) -> NDArray[np.uint8]:
    """8-bit RGB. Pillow's own conversion of 16-bit and 32-bit greys clips them at 255
    (a 16-bit portrait turns white): those are scaled to their range instead."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = np.asarray(im, dtype=np.float64)
        peak = float(grey.max()) if grey.size else 0.0
        # 16-bit samples (PNG opens them as "I;16" or "I"), else 8-bit values, else 0-1
        top = (65535.0 if im.mode.startswith("I;16") or peak > 255 else
               1.0 if im.mode == "F" and peak <= 1.0 else 255.0)
        grey = np.clip(grey / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _check_array(array: NDArray[np.generic]) -> NDArray[np.uint8]:
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise FaceError(
            f"image array must be (H, W, 3) uint8 RGB, got shape {tuple(array.shape)} "
            f"dtype {array.dtype}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise FaceError(f"image array is empty (shape {tuple(array.shape)})")
    if array.shape[0] * array.shape[1] > MAX_IMAGE_PIXELS:
        raise FaceError(f"image array is too large ({array.shape[1]}x{array.shape[0]} pixels)")
    return np.ascontiguousarray(array, dtype=np.uint8)
