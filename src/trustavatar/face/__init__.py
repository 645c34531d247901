"""Face embeddings that bind a consent artifact to a face.

>>> from trustavatar.face import embed_face, sample_portrait_path, MATCH_THRESHOLD
>>> a = embed_face(sample_portrait_path())  # doctest: +SKIP
>>> a.distance(embed_face("other.jpg")) <= MATCH_THRESHOLD  # doctest: +SKIP

Biometric data: an embedding identifies the person whose face it was taken from. It is
special-category personal data (GDPR Art. 9); see :mod:`trustavatar.face.embedding`.
"""

from trustavatar.face.embedding import (
    EMBEDDING_DIMS,
    MATCH_THRESHOLD,
    FaceBox,
    FaceEmbedding,
    QuantisedEmbedding,
    embed_face,
)
from trustavatar.face.image import ImageSource, load_image
from trustavatar.face.models import EMBEDDING_MODEL
from trustavatar.face.sample import sample_portrait_path

__all__ = [
    "EMBEDDING_DIMS",
    "EMBEDDING_MODEL",
    "MATCH_THRESHOLD",
    "FaceBox",
    "FaceEmbedding",
    "ImageSource",
    "QuantisedEmbedding",
    "embed_face",
    "load_image",
    "sample_portrait_path",
]
