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

from tests.fresh_python import fresh_python_json
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


def _timm_model() -> object:
    import torch
    from safetensors.torch import load_file

    from trustavatar.detector.lipsync_model import build_vit

    info = packaged_model_info()
    module = build_vit(info.frames, info.size, info.arch)
    module.load_state_dict({k: v.float() for k, v in load_file(str(DATA / info.weights)).items()})
    return module.eval(), torch


def test_the_cpu_model_computes_what_timm_computes(model: LipSyncModel) -> None:
    module, torch = _timm_model()
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, size=(5, 8, 64, 64, 3), dtype=np.uint8)
    for x in (_stacks(7, seed=1), noise):
        with torch.inference_mode():
            expected = module(torch.from_numpy(normalise_stacks(x))).numpy().reshape(-1)
        got = model.logits(x)
        assert model.device == "cpu" and got.dtype == np.float32
        tolerance = 2e-5 * max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


def test_a_cpu_model_does_not_import_torch_or_timm() -> None:
    code = ("import numpy as np\n"
            "from trustavatar.detector.lipsync_model import LipSyncModel\n"
            "m = LipSyncModel.load()\n"
            "x = np.random.default_rng(0).integers(0, 256, (2, 8, 64, 64, 3), dtype=np.uint8)\n"
            "print(json.dumps([m.logits(x).shape[0], 'torch' in sys.modules, "
            "'timm' in sys.modules]))")
    assert fresh_python_json(code) == [2, False, False]


def test_the_cpu_model_refuses_what_it_does_not_implement() -> None:
    from safetensors.numpy import load_file

    from trustavatar.detector.vit_numpy import NumpyViT

    info = packaged_model_info()
    weights = load_file(str(DATA / info.weights))
    with pytest.raises(DetectionError, match=r"does not implement \['global_pool'\]"):
        NumpyViT(weights, size=64, in_chans=24, arch={**info.arch, "global_pool": "avg"})
    with pytest.raises(DetectionError, match="missing 12, unexpected 0"):
        NumpyViT(weights, size=64, in_chans=24, arch={**info.arch, "depth": 5})
    with pytest.raises(DetectionError, match=r"patch_embed\.proj\.weight should be"):
        NumpyViT(weights, size=64, in_chans=21, arch=info.arch)
    with pytest.raises(DetectionError, match=r"input must be \(B, 24, 64, 64\)"):
        NumpyViT(weights, size=64, in_chans=24, arch=info.arch)(np.zeros((1, 24, 32, 32),
                                                                          np.float32))


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
