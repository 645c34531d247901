"""Face embeddings with the real dlib models: detection, distances, quantisation."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from trustavatar.errors import FaceError, InputError
from trustavatar.face import (
    EMBEDDING_DIMS,
    MATCH_THRESHOLD,
    FaceEmbedding,
    QuantisedEmbedding,
    embed_face,
    load_image,
    sample_portrait_path,
)


def test_sample_portrait_ships_with_the_package() -> None:
    path = sample_portrait_path()
    assert path.is_file() and path.name == "sample_portrait.jpg"
    assert 5_000 < path.stat().st_size < 64_000
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.size == (256, 256)


def test_embedding_of_the_sample(portrait_embedding: FaceEmbedding) -> None:
    e = portrait_embedding
    assert e.vector.shape == (EMBEDDING_DIMS,) and e.vector.dtype == np.float64
    assert not e.vector.flags.writeable
    assert e.box is not None and 0 <= e.box.left < e.box.right <= 256
    assert 0 <= e.box.top < e.box.bottom <= 256


def test_path_bytes_and_array_give_the_same_embedding(faces, portrait_embedding) -> None:
    path = faces["portrait"]
    for source in (str(path), path.read_bytes(), load_image(path)):
        assert embed_face(source).distance(portrait_embedding) == pytest.approx(0, abs=1e-6)


def test_another_person_is_beyond_the_threshold(portrait_embedding, other_embedding) -> None:
    distance = portrait_embedding.distance(other_embedding)
    assert distance > MATCH_THRESHOLD
    assert distance == pytest.approx(other_embedding.distance(portrait_embedding))


def test_same_person_rescaled_and_recompressed_matches(faces, portrait_embedding) -> None:
    with Image.open(faces["portrait"]) as im:
        small = im.convert("RGB").resize((180, 180), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=60)
    distance = embed_face(buffer.getvalue()).distance(portrait_embedding)
    assert distance < MATCH_THRESHOLD / 2


def test_the_box_is_in_the_given_images_pixels_when_detection_scales_it_down(
        faces, portrait_embedding) -> None:
    # Faces are detected on a copy at most DETECTION_MAX_SIDE px; the box must come back in
    # the pixels of the image given (the generator QA cuts faces at --size 2048 with it).
    big = np.asarray(Image.open(faces["portrait"]).convert("RGB").resize(
        (2048, 2048), Image.Resampling.BICUBIC))
    e = embed_face(big)
    assert e.box is not None and portrait_embedding.box is not None
    sx = sy = 2048 / 256
    small = portrait_embedding.box
    assert e.box.left == pytest.approx(small.left * sx, abs=0.06 * 2048)
    assert e.box.right == pytest.approx(small.right * sx, abs=0.06 * 2048)
    assert e.box.top == pytest.approx(small.top * sy, abs=0.06 * 2048)
    assert e.box.bottom == pytest.approx(small.bottom * sy, abs=0.06 * 2048)


def test_exif_orientation_is_applied(faces, tmp_path) -> None:
    with Image.open(faces["portrait"]) as im:
        upright = im.convert("RGB").crop((0, 0, 256, 200))  # landscape, 256 wide
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # portrait on disk, 200 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif)
    pixels = load_image(path)
    assert pixels.shape == (200, 256, 3) and pixels.dtype == np.uint8
    assert embed_face(path).distance(embed_face(np.asarray(upright))) < 0.1


def test_grayscale_and_rgba_images_are_converted(faces, portrait_embedding) -> None:
    with Image.open(faces["portrait"]) as im:
        for mode in ("L", "RGBA"):
            buffer = io.BytesIO()
            im.convert(mode).save(buffer, "PNG")
            assert load_image(buffer.getvalue()).shape == (256, 256, 3)
    buffer = io.BytesIO()
    Image.open(faces["portrait"]).convert("RGBA").save(buffer, "PNG")
    assert embed_face(buffer.getvalue()).distance(portrait_embedding) < 0.05


# --- quantisation ---------------------------------------------------------------------


def test_quantisation_error_is_small_against_the_threshold(portrait_embedding, other_embedding):
    """Measured: about 0.011 for both faces, under 2 % of the 0.6 threshold."""
    errors = []
    for e in (portrait_embedding, other_embedding):
        q = e.quantise()
        assert len(q.values) == EMBEDDING_DIMS and all(-128 <= v <= 127 for v in q.values)
        assert max(abs(v) for v in q.values) == 127  # the whole int8 range is used
        assert 250 <= q.divisor <= 400
        errors.append(e.distance(q.dequantise()))
    assert max(errors) < 0.02
    assert max(errors) / MATCH_THRESHOLD < 0.035
    # and the decision between the two people does not change
    pq, oq = (e.quantise().dequantise() for e in (portrait_embedding, other_embedding))
    assert pq.distance(other_embedding) > MATCH_THRESHOLD
    assert abs(pq.distance(oq) - portrait_embedding.distance(other_embedding)) < 0.03


def test_quantisation_bound_on_random_vectors() -> None:
    """Uniform rounding error: at most sqrt(128) / (2 * divisor) per embedding."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        e = FaceEmbedding(rng.normal(0, 0.12, EMBEDDING_DIMS))
        q = e.quantise()
        assert e.distance(q.dequantise()) <= np.sqrt(EMBEDDING_DIMS) / (2 * q.divisor) + 1e-12


def test_quantised_embedding_is_validated() -> None:
    with pytest.raises(FaceError, match="needs 128 values, got 3"):
        QuantisedEmbedding(256, (1, 2, 3))
    with pytest.raises(FaceError, match="int8"):
        QuantisedEmbedding(256, (200,) * EMBEDDING_DIMS)
    with pytest.raises(FaceError, match=r"divisor must be 64\.\.4096, got 1"):
        QuantisedEmbedding(1, (0,) * EMBEDDING_DIMS)


def test_embedding_shape_is_checked() -> None:
    with pytest.raises(FaceError, match=r"shape \(128,\), got \(3,\)"):
        FaceEmbedding(np.zeros(3))
    with pytest.raises(FaceError, match="finite"):
        FaceEmbedding(np.full(EMBEDDING_DIMS, np.nan))
    a = FaceEmbedding(np.zeros(EMBEDDING_DIMS))
    b = FaceEmbedding(np.zeros(EMBEDDING_DIMS), model="another-model")
    with pytest.raises(FaceError, match="different models"):
        a.distance(b)


# --- errors ---------------------------------------------------------------------------


def test_two_faces(faces) -> None:
    with pytest.raises(FaceError, match=r"^found 2 faces in the image; exactly one is required$"):
        embed_face(faces["two_faces"])


def test_no_face(faces) -> None:
    with pytest.raises(FaceError, match=r"^no face found in the image$"):
        embed_face(faces["no_face"])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 10), np.uint8), r"\(H, W, 3\) uint8 RGB, got shape \(10, 10\) dtype uint8"),
        (np.zeros((10, 10, 4), np.uint8), r"got shape \(10, 10, 4\) dtype uint8"),
        (np.zeros((10, 10, 3), np.float32), r"got shape \(10, 10, 3\) dtype float32"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
    ],
)
def test_array_shape_and_dtype_are_checked(array, message) -> None:
    with pytest.raises(FaceError, match=message):
        embed_face(array)


def test_unreadable_images(tmp_path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(FaceError, match=r"cannot be decoded|not an image"):
        embed_face(bad)
    with pytest.raises(FaceError, match="not an image Pillow can read"):
        embed_face(b"plain text")
    with pytest.raises(FaceError, match="is empty"):
        embed_face(b"")
    with pytest.raises(FaceError, match="cannot read image"):
        embed_face(tmp_path / "missing.png")
    with pytest.raises(FaceError, match="is a directory"):
        embed_face(tmp_path)
    with pytest.raises(FaceError, match="got int"):
        embed_face(42)  # type: ignore[arg-type]
    assert issubclass(FaceError, InputError)


def test_models_are_found_without_importing_their_package() -> None:
    code = (
        "import sys; from trustavatar.face import embed_face, sample_portrait_path;"
        "embed_face(sample_portrait_path());"
        "assert 'face_recognition_models' not in sys.modules;"
        "assert 'pkg_resources' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_16_bit_grey_portrait_is_scaled_not_clipped_white() -> None:
    from trustavatar.face.image import decode_image

    grey = np.asarray(Image.open(sample_portrait_path()).convert("L"))
    buf = io.BytesIO()
    Image.fromarray(grey.astype(np.uint16) * 257).save(buf, format="PNG")  # 16-bit range
    decoded = decode_image(buf.getvalue())
    assert decoded.shape == (*grey.shape, 3)
    assert np.abs(decoded[:, :, 0].astype(int) - grey).max() <= 1  # Pillow's: ~all 255
    reference = embed_face(load_image(sample_portrait_path()))
    assert embed_face(decoded).distance(reference) < MATCH_THRESHOLD
