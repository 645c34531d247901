"""The lip-sync ViT: a small timm VisionTransformer over stacks of aligned mouth crops.

Input: ``T`` consecutive aligned RGB mouth crops (``S`` px, from
:class:`~trustavatar.detector.crops.MouthStacker`), stacked along the channel axis
(``3·T`` channels), each stack standardised per channel (:func:`normalise_stacks`) so
brightness, contrast and skin tone carry no signal. Patches of 8 px therefore see one
image region through time: the model can read seams, resolution mismatches and the
frame-to-frame flicker a pasted mouth leaves. Output: one logit per stack (> 0: the mouth
looks pasted or synthesised).

Weights ship in the package as fp16 safetensors next to a JSON config holding the
architecture, the SHA-256 of the weights (checked on every load) and the training
summary; see the model card ``detector/MODEL_CARD.md`` and the recipe
``detector/lipsync_train.py``. On the CPU the weights run through
:class:`~trustavatar.detector.vit_numpy.NumpyViT` (the same network in numpy: importing
torch and timm would cost 6 s of CPU and ~700 MB); torch and timm are imported for
``device="cuda"`` and by the training recipe (:func:`build_vit`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL", "LipSyncModel", "LipSyncModelInfo", "build_vit", "normalise_stacks",
           "packaged_model_info"]

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from trustavatar._files import sha256_file
from trustavatar.errors import DetectionError

#: The packaged model's config (the weights file is named inside it).
DEFAULT_MODEL: Final = "lipsync-vit-v1.json"


@dataclass(frozen=True)
class LipSyncModelInfo:
    """A model config: architecture, input layout, weights file and its SHA-256."""

    name: str
    frames: int
    size: int
    arch: dict[str, Any]
    weights: str
    sha256: str
    training: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LipSyncModelInfo:
        try:
            return cls(name=str(data["name"]), frames=int(data["frames"]),
                       size=int(data["size"]), arch=dict(data["arch"]),
                       weights=str(data["weights"]), sha256=str(data["sha256"]),
                       training=dict(data.get("training", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise DetectionError(f"lip-sync model config is malformed: {e}") from None


def packaged_model_info() -> LipSyncModelInfo:
    """The packaged model's config (no weights loaded, no torch import)."""
    ref = resources.files("trustavatar") / "data" / "detector" / DEFAULT_MODEL
    try:
        return LipSyncModelInfo.from_json(json.loads(ref.read_text()))
    except (OSError, ValueError) as e:
        raise DetectionError(f"the packaged lip-sync model config is unreadable: {e}") from None


def build_vit(frames: int, size: int, arch: dict[str, Any]) -> Any:
    """The timm VisionTransformer for ``frames`` RGB crops of ``size`` px (untrained)."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=size, in_chans=3 * frames, num_classes=1, **arch)


def normalise_stacks(stacks: NDArray[np.uint8]) -> NDArray[np.float32]:
    """``(B, T, S, S, 3) uint8`` → ``(B, 3T, S, S) float32``, each stack and colour
    channel standardised over its frames and pixels (zero mean, unit variance)."""
    if stacks.ndim != 5 or stacks.shape[-1] != 3:
        raise DetectionError(f"stacks must be (B, T, S, S, 3), got {stacks.shape}")
    x = stacks.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True) + 4.0  # floor: flat crops stay flat
    x = (x - mean) / std
    b, t, s, _, c = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(b, t * c, s, s))


class LipSyncModel:
    """A loaded lip-sync ViT on a device; :meth:`logits` scores batches of stacks.

    ``LipSyncModel.load()`` loads the packaged model; ``load(path)`` a config JSON written
    by the training recipe. The weights' SHA-256 must match the config, else
    :class:`DetectionError` (a corrupted or swapped file is never used).
    """

    def __init__(self, info: LipSyncModelInfo, module: Any, device: str) -> None:
        self.info, self._module, self.device = info, module, device

    @classmethod
    def load(cls, config: str | Path | None = None, *, device: str = "cpu") -> LipSyncModel:
        if config is None:
            ref = resources.files("trustavatar") / "data" / "detector" / DEFAULT_MODEL
            with resources.as_file(ref) as p:
                return cls._load(Path(p), device)
        return cls._load(Path(config), device)

    @classmethod
    def _load(cls, config: Path, device: str) -> LipSyncModel:
        try:
            info = LipSyncModelInfo.from_json(json.loads(config.read_text()))
        except (OSError, ValueError) as e:
            raise DetectionError(f"cannot read lip-sync model config {config}: {e}") from None
        weights = config.parent / info.weights
        if not weights.is_file():
            raise DetectionError(f"lip-sync model weights {weights} are missing")
        digest = sha256_file(weights)
        if digest != info.sha256:
            raise DetectionError(f"lip-sync model weights {weights.name} fail the SHA-256 "
                                 f"check (expected {info.sha256[:12]}…, got {digest[:12]}…)")
        if device == "cpu":
            from safetensors.numpy import load_file as load_numpy

            from trustavatar.detector.vit_numpy import NumpyViT

            try:
                tensors = load_numpy(str(weights))
            except (OSError, ValueError) as e:
                raise DetectionError(f"cannot read lip-sync weights {weights.name}: {e}") from None
            return cls(info, NumpyViT(tensors, size=info.size, in_chans=3 * info.frames,
                                      arch=info.arch), device)
        try:
            import torch
            from safetensors.torch import load_file
        except ImportError as e:  # pragma: no cover - declared dependencies
            raise DetectionError(f"the lip-sync model needs torch, timm and safetensors: "
                                 f"{e}") from None
        if device == "cuda" and not torch.cuda.is_available():
            raise DetectionError("--device cuda was asked for but torch sees no CUDA device")
        module = build_vit(info.frames, info.size, info.arch)
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise DetectionError(f"lip-sync weights do not fit the architecture (missing "
                                 f"{len(missing)}, unexpected {len(unexpected)} tensors)")
        module.eval().to(device)
        if device == "cuda":
            module.half()
        return cls(info, module, device)

    def logits(self, stacks: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(B, T, S, S, 3) uint8`` stacks → ``(B,)`` logits (> 0: looks manipulated)."""
        if stacks.shape[1:] != (self.info.frames, self.info.size, self.info.size, 3):
            raise DetectionError(f"stacks must be (B, {self.info.frames}, {self.info.size}, "
                                 f"{self.info.size}, 3), got {stacks.shape}")
        x = normalise_stacks(stacks)
        if self.device == "cpu":
            return np.asarray(self._module(x), np.float32).reshape(-1)
        import torch

        t = torch.from_numpy(x).to(self.device)
        if self.device == "cuda":
            t = t.half()
        with torch.inference_mode():
            out = self._module(t).float().reshape(-1)
        return np.asarray(out.cpu().numpy(), np.float32)
