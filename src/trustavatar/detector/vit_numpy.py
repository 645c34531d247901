"""The lip-sync ViT's forward pass in numpy, for scans on the CPU.

The model is a timm ``VisionTransformer`` (trained by ``detector/lipsync_train.py``).
Importing torch and timm takes 6 s of CPU on the 2-core development machine (timm imports
torchvision), and their libraries add ~700 MB to a scan process. The network itself is
small: 4 blocks of width 128 over 65 tokens. So a CPU scan runs the same weights through
this module, which computes what timm's modules compute in eval mode, and
``--device cuda`` builds the timm model. The two agree to float32 rounding (the tests
compare them).

The layers are those of timm 1.0's ``VisionTransformer`` with the shipped config:

* a convolutional patch embedding (kernel = stride = patch);
* a class token, then learned position embeddings added to every token;
* pre-norm blocks (LayerNorm, eps 1e-6): multi-head self-attention with a biased qkv
  projection and softmax(q kᵀ / √d), then an MLP with exact (erf) GELU;
* a final LayerNorm, the class token's features and a linear head.

Options this does not implement (other pooling, register tokens, layer scale, qk-norm) are
refused when the weights are loaded.
"""

from __future__ import annotations

__all__ = ["NumpyViT"]

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustavatar.errors import DetectionError

_EPS = 1e-6
#: Config keys whose values this implementation covers (anything else is refused).
_SUPPORTED = {"patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "drop_rate",
              "drop_path_rate", "attn_drop_rate", "proj_drop_rate", "pos_drop_rate"}

Array = NDArray[np.float32]


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(var + _EPS) * weight + bias, np.float32)


def _gelu(x: Array) -> Array:
    from scipy.special import erf

    return np.asarray(0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0)))), np.float32)


class NumpyViT:
    """The ViT of ``arch`` (a timm config) for ``in_chans`` channels of ``size`` px, with
    ``weights`` (timm's state-dict names). Call it on ``(B, C, S, S) float32``: ``(B,
    classes)`` logits."""

    def __init__(self, weights: Mapping[str, NDArray[Any]], *, size: int, in_chans: int,
                 arch: Mapping[str, Any]) -> None:
        unknown = set(arch) - _SUPPORTED
        if unknown:
            raise DetectionError(f"the CPU lip-sync model does not implement {sorted(unknown)}")
        self.patch = int(arch["patch_size"])
        self.dim = int(arch["embed_dim"])
        self.depth = int(arch["depth"])
        self.heads = int(arch["num_heads"])
        self.size, self.in_chans = size, in_chans
        w = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        tokens = (size // self.patch) ** 2 + 1
        expected = {"cls_token": (1, 1, self.dim), "pos_embed": (1, tokens, self.dim),
                    "patch_embed.proj.weight": (self.dim, in_chans, self.patch, self.patch)}
        for name, shape in expected.items():
            if name not in w or w[name].shape != shape:
                got = w[name].shape if name in w else "missing"
                raise DetectionError(f"lip-sync weights: {name} should be {shape}, got {got}")
        blocks = [f"blocks.{i}." for i in range(self.depth)]
        names = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                 "norm.weight", "norm.bias", "head.weight", "head.bias"}
        for b in blocks:
            names |= {b + n for n in ("norm1.weight", "norm1.bias", "attn.qkv.weight",
                                      "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                                      "norm2.weight", "norm2.bias", "mlp.fc1.weight",
                                      "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")}
        if names != set(w):
            raise DetectionError(
                f"lip-sync weights do not fit the architecture (missing "
                f"{len(names - set(w))}, unexpected {len(set(w) - names)} tensors)")
        # patch embedding as one matrix product over flattened (C, p, p) patches
        self._patch_w = w["patch_embed.proj.weight"].reshape(self.dim, -1).T.copy()
        self._patch_b = w["patch_embed.proj.bias"]
        self._cls = w["cls_token"][0] + w["pos_embed"][0, :1]
        self._pos = w["pos_embed"][0, 1:]
        self._blocks = [{n[len(b):]: (w[n].T.copy() if n.endswith("weight") and w[n].ndim == 2
                                      else w[n])
                         for n in names if n.startswith(b)} for b in blocks]
        self._norm = (w["norm.weight"], w["norm.bias"])
        self._head = (w["head.weight"].T.copy(), w["head.bias"])

    def __call__(self, x: Array) -> Array:
        b, c, s, _ = x.shape
        if (c, s) != (self.in_chans, self.size):
            raise DetectionError(f"input must be (B, {self.in_chans}, {self.size}, "
                                 f"{self.size}), got {x.shape}")
        p, g = self.patch, s // self.patch
        patches = (np.asarray(x, np.float32).reshape(b, c, g, p, g, p)
                   .transpose(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p))
        tokens = patches @ self._patch_w + self._patch_b + self._pos
        h = np.concatenate([np.broadcast_to(self._cls, (b, 1, self.dim)), tokens], axis=1)
        heads, d = self.heads, self.dim // self.heads
        scale = np.float32(d ** -0.5)
        n = h.shape[1]
        for blk in self._blocks:
            y = _layer_norm(h, blk["norm1.weight"], blk["norm1.bias"])
            qkv = (y @ blk["attn.qkv.weight"] + blk["attn.qkv.bias"]).reshape(b, n, 3, heads, d)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)  # each (B, heads, N, d)
            att = (q * scale) @ k.transpose(0, 1, 3, 2)
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.dim)
            h = h + (y @ blk["attn.proj.weight"] + blk["attn.proj.bias"])
            y = _layer_norm(h, blk["norm2.weight"], blk["norm2.bias"])
            y = _gelu(y @ blk["mlp.fc1.weight"] + blk["mlp.fc1.bias"])
            h = h + (y @ blk["mlp.fc2.weight"] + blk["mlp.fc2.bias"])
        cls = _layer_norm(h[:, 0], *self._norm)
        return np.asarray(cls @ self._head[0] + self._head[1], np.float32)
