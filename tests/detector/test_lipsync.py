"""The lip-sync ViT: packaged weights with a SHA-256 check, inference, the analyzer."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from trustavatar.detector import AnalyzerStatus, ScanResult, analyzer_spec
from trustavatar.detector.analyzers.lipsync import occlusion_map
from trustavatar.detector.lipsync_model import (
    DEFAULT_MODEL,
    LipSyncModel,
    normalise_stacks,
    packaged_model_info,
)
from trustavatar.errors import DetectionError

DATA = Path(__file__).resolve().parents[2] / "src" / "trustavatar" / "data" / "detector"


@pytest.fixture(scope="module")
def model() -> LipSyncModel:
    return LipSyncModel.load()


def _stacks(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 220, size=(n, 1, 64, 64, 3))
    return np.clip(base + rng.integers(-10, 10, size=(n, 8, 64, 64, 3)), 0, 255).astype(np.uint8)


def test_packaged_model_is_small_and_described() -> None:
    info = packaged_model_info()
    weights = DATA / info.weights
    assert weights.stat().st_size < 16 * 2**20  # ships in the wheel (fp16)
    assert info.frames == 8 and info.size == 64
    spec = analyzer_spec("lipsync")
    assert spec.weights_sha256 == info.sha256 and "cuda" in spec.devices


def test_logits_are_finite_and_invariant_to_brightness(model: LipSyncModel) -> None:
    x = _stacks(6)
    a = model.logits(x)
    assert a.shape == (6,) and a.dtype == np.float32 and np.isfinite(a).all()
    brighter = np.clip(x.astype(np.float32) * 0.9 + 12, 0, 255).astype(np.uint8)
    assert np.allclose(model.logits(brighter), a, atol=0.25)
    with pytest.raises(DetectionError, match="stacks must be"):
        model.logits(x[:, :4])
    with pytest.raises(DetectionError, match="stacks must be"):
        normalise_stacks(x[..., 0])


def test_occlusion_map_has_a_cell_per_patch(model: LipSyncModel) -> None:
    occ = occlusion_map(model, _stacks(1)[0])
    assert occ.shape == (8, 8) and np.isfinite(occ).all()


def _copy_model(tmp_path: Path) -> Path:
    cfg = json.loads((DATA / DEFAULT_MODEL).read_text())
    shutil.copy(DATA / cfg["weights"], tmp_path / cfg["weights"])
    (tmp_path / DEFAULT_MODEL).write_text(json.dumps(cfg))
    return tmp_path / DEFAULT_MODEL


def test_changed_missing_or_malformed_weights_are_refused(tmp_path: Path) -> None:
    cfg = _copy_model(tmp_path)
    assert LipSyncModel.load(cfg).info.name == "lipsync-vit-v1"
    weights = tmp_path / json.loads(cfg.read_text())["weights"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(DetectionError, match="SHA-256"):
        LipSyncModel.load(cfg)
    weights.unlink()
    with pytest.raises(DetectionError, match="missing"):
        LipSyncModel.load(cfg)
    cfg.write_text('{"name": "x"}')
    with pytest.raises(DetectionError, match="malformed"):
        LipSyncModel.load(cfg)


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the refusal cannot be shown here")
    with pytest.raises(DetectionError, match="no CUDA device"):
        LipSyncModel.load(device="cuda")


@pytest.mark.gpu
def test_cuda_batch_matches_cpu(model: LipSyncModel) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (run on the lent GPU: pytest -m gpu)")
    gpu = LipSyncModel.load(device="cuda")
    x = _stacks(64)
    assert np.allclose(gpu.logits(x), model.logits(x), atol=0.05)


def test_analyzer_in_a_scan(scanned: Callable[[str], ScanResult]) -> None:
    r = scanned("portrait").analyzers["lipsync"]
    assert r.status is AnalyzerStatus.OK and r.score is not None
    f = r.figures
    assert f["stacks"] >= 8 and f["mean_logit"] == pytest.approx(r.score)
    assert 1 <= len(f["evidence"]) <= 3
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(f["evidence"][0]["crop_png"]), np.uint8),
                        cv2.IMREAD_COLOR)
    assert crop.shape == (64, 64, 3)
    assert np.asarray(f["evidence"][0]["occlusion"]).shape == (8, 8)
    assert r.timeline and all(w.figures["stacks"] >= 1 for w in r.timeline)


@pytest.mark.parametrize("name", ["tiny", "noface"])
def test_too_little_face_is_insufficient_not_an_error(scanned: Callable[[str], ScanResult],
                                                      name: str) -> None:
    r = scanned(name).analyzers["lipsync"]  # 1 s of face, and none at all
    assert r.status is AnalyzerStatus.INSUFFICIENT
    assert r.score is None and "mouth stacks" in r.reasons[0]
