"""An invisible, keyed video watermark that carries 64 bits and survives re-encoding.

The generator marks every output frame with a random 8-byte generation payload, which the
C2PA manifest (``org.trustavatar.generation``) and the ledger record: the manifest label
does not exist until signing, and signing comes last. The detector reads the payload back
from a suspicious video, possibly re-encoded, downscaled or trimmed, and the ledger
(``find_by_watermark``) maps it to the generation, its consent and its manifest.
:func:`payload_for` derives a payload from a manifest label for other uses.

The generator uses :data:`DEFAULT_KEY`, which is public so that any verifier can read the
mark (a disclosure mark, as transparency rules ask). Anyone can therefore also remove or
forge it: the watermark is a pointer, the signed manifest and the ledger are the evidence.

>>> wm = Watermark(payload_for(manifest_label), key=secret)  # doctest: +SKIP
>>> marked = [wm.apply(frame) for frame in frames]  # (H, W, 3) uint8 RGB  # doctest: +SKIP
>>> reading = read_watermark("suspect.mp4", key=secret)  # doctest: +SKIP
>>> reading.present, reading.payload, reading.z_score  # doctest: +SKIP

Design, measured robustness and limits: ``generator/WATERMARK.md``.
"""

from __future__ import annotations

import hashlib

from trustavatar.errors import WatermarkError
from trustavatar.watermark._embed import DEFAULT_KEY, PAYLOAD_BYTES, Watermark
from trustavatar.watermark._layout import MIN_SIDE
from trustavatar.watermark._read import (
    Z_PAYLOAD,
    Z_PRESENT,
    VideoSource,
    WatermarkReader,
    WatermarkReading,
    read_watermark,
)

__all__ = [
    "DEFAULT_KEY",
    "MIN_SIDE",
    "PAYLOAD_BYTES",
    "Z_PAYLOAD",
    "Z_PRESENT",
    "VideoSource",
    "Watermark",
    "WatermarkReader",
    "WatermarkReading",
    "payload_for",
    "read_watermark",
]


def payload_for(manifest_label: str) -> bytes:
    """The watermark payload for a C2PA manifest label: the first 8 bytes of its SHA-256
    (UTF-8). The ledger maps it back to the full label."""
    if not isinstance(manifest_label, str) or not manifest_label:
        raise WatermarkError("manifest label must be a non-empty string")
    return hashlib.sha256(manifest_label.encode("utf-8")).digest()[:PAYLOAD_BYTES]
