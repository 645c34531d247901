"""Step 2 of the lip-sync ViT recipe: train on real mouths and self-blended fakes, export.

Positives are never third-party fakes: every training fake is made on the fly from a real
stack (the self-blended-images idea, Shiohara & Yamasaki, CVPR 2022, moved to the mouth and
to time) — a jittered copy of the mouth region (colour, blur or low-resolution
resynthesis, sharpening, scale and shift, per-frame wobble, or the mouth of *other*
frames of the same clip) blended back through a soft mask. Our own generator's dubs of real
clips (``lipsync_data.py --with-generator``) are added as matched-pair fakes when cached.
Both classes then get the same resolution, JPEG, brightness, flip and frame-rate jitter, so
codec and size cannot be the cue.

Evaluation is by *source*: ``--holdout`` names source repositories whose real clips are
kept out of training; the model is scored on them and on every third-party fake (none of
which it saw). ``--folds 2`` trains two models on complementary halves of the real sources
and scores each real clip with the model that never saw its source (cross-fitting); the
shipped model is then trained on everything (``--export``).

Usage (CPU, about 10 minutes per model on 2 cores; ``--device cuda`` on a GPU)::

    python detector/lipsync_train.py --folds 2 --steps 1500 --out /tmp/lipsync-cv
    python detector/lipsync_train.py --steps 2500 --export src/trustavatar/data/detector
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lipsync_data import DEFAULT_LIPSYNC_WORK

FRAMES, SIZE = 8, 64
TRAINING_DATA = (
    "real: every face frame of the 81 real clips (10 source repositories) in the project's "
    "development media; fakes: self-blended mouths made from those frames and 34 dubs of "
    "them by the trustavatar generator; no third-party fake (detector/MODEL_CARD.md)")
ARCH: dict[str, Any] = {"patch_size": 8, "embed_dim": 128, "depth": 4, "num_heads": 4,
                        "mlp_ratio": 2.0, "drop_rate": 0.1, "drop_path_rate": 0.1}


# -- data --------------------------------------------------------------------------------


@dataclass
class ClipCrops:
    file: str
    label: int
    group: str
    generator: str | None
    crops: np.ndarray  #: (N, S, S, 3) uint8
    starts: np.ndarray  #: first indices of valid stacks (stride 1, within one segment)


def valid_starts(segment: np.ndarray, length: int) -> np.ndarray:
    """Indices i such that crops i … i+length-1 lie in one face-track segment."""
    n = len(segment)
    if n < length:
        return np.zeros(0, np.int64)
    same = segment[length - 1:] == segment[: n - length + 1]
    return np.flatnonzero(same).astype(np.int64)


def load_work(work: Path, *, span: int = 2 * FRAMES) -> list[ClipCrops]:
    index = json.loads((work / "index.json").read_text())
    clips = []
    for e in index:
        p = work / "crops" / e["cache"]
        if not p.exists():
            continue
        z = np.load(p)
        crops, seg = z["crops"], z["segment"]
        if len(crops) < span:
            continue
        clips.append(ClipCrops(e["file"], int(e["label"]), e["group"], e.get("generator"),
                               crops, valid_starts(seg, span)))
    return [c for c in clips if len(c.starts)]


# -- self-blended fakes and shared augmentation ------------------------------------------


def resample(frames: np.ndarray, k: float, floor: int = 8) -> np.ndarray:
    """Each frame down to ``k`` of its size and back up: a low-resolution look."""
    s = frames.shape[1]
    small = max(floor, round(s * k))
    return np.stack([cv2.resize(cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA),
                                (s, s), interpolation=cv2.INTER_LINEAR) for f in frames])


def _mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A soft mask over the mouth: an ellipse, or the lower face below a curve."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2.0
    if rng.random() < 0.7:
        cx, cy = c + rng.normal(0, 1.5), c + rng.uniform(-2, 5)
        ax, ay = rng.uniform(0.27, 0.45) * size, rng.uniform(0.18, 0.38) * size
        m = (((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0).astype(np.float32)
    else:  # lower-face paste (Wav2Lip-style): everything below a gentle curve
        top = rng.uniform(0.3, 0.5) * size
        bend = rng.uniform(-0.15, 0.15) * size
        m = (yy >= top + bend * ((xx - c) / c) ** 2).astype(np.float32)
        side = rng.uniform(0.3, 0.45) * size
        m *= (np.abs(xx - c) <= side).astype(np.float32)
    sigma = rng.uniform(1.5, 6.0)
    m = cv2.GaussianBlur(m, (0, 0), sigma)
    return np.clip(m * rng.uniform(0.85, 1.0), 0, 1)[..., None]


def self_blend(stack: np.ndarray, rng: np.random.Generator,
               other: np.ndarray | None = None) -> np.ndarray:
    """A fake made from a real ``(T, S, S, 3)`` float32 stack (0–255)."""
    t, s = stack.shape[:2]
    src = (other if other is not None else stack).copy()
    # a per-stack appearance change of the pasted mouth
    if rng.random() < 0.8:
        src = src * rng.uniform(0.9, 1.1, size=3) + rng.uniform(-12, 12, size=3)
    kind = rng.random()
    if kind < 0.4:  # synthesised at low resolution, upscaled
        src = resample(src, rng.uniform(0.25, 0.7))
    elif kind < 0.7:
        sig = rng.uniform(0.6, 1.8)
        src = np.stack([cv2.GaussianBlur(f, (0, 0), sig) for f in src])
    elif kind < 0.85:  # over-sharpened
        amt = rng.uniform(0.5, 1.5)
        src = np.stack([f + amt * (f - cv2.GaussianBlur(f, (0, 0), 1.0)) for f in src])
    # geometry: one scale/shift for the stack plus per-frame wobble (frame-wise synthesis)
    scale = rng.uniform(0.94, 1.06)
    shift = rng.uniform(-2, 2, size=2)
    wobble = rng.uniform(0.0, 1.2)
    out = np.empty_like(src)
    for i in range(t):
        d = shift + rng.normal(0, wobble, size=2)
        m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.normal(0, wobble), scale)
        m[:, 2] += d
        out[i] = cv2.warpAffine(src[i], m, (s, s), borderMode=cv2.BORDER_REFLECT)
    # per-frame flicker of the pasted region's tone
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 5), size=(t, 1, 1, 1))
    mask = _mask(rng, s)
    if rng.random() < 0.3:  # the mask itself wobbling from frame to frame
        masks = [cv2.warpAffine(mask[..., 0], np.float32([[1, 0, rng.normal(0, 1)],
                                                          [0, 1, rng.normal(0, 1)]]), (s, s),
                                borderMode=cv2.BORDER_REPLICATE)[..., None] for _ in range(t)]
        mask_t = np.stack(masks)
    else:
        mask_t = mask[None]
    return np.asarray(mask_t * out + (1 - mask_t) * stack, np.float32)


def shared_jitter(stack: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What both classes get: resolution, blur, noise, JPEG, tone, flip — as strong as the
    fakes' own degradations, so a blurry or blocky *video* is not a cue, only a region
    that differs from its surroundings is. In: float32 (T, S, S, 3); out: uint8."""
    x = np.clip(stack, 0, 255)
    r = rng.random()
    if r < 0.35:
        x = resample(x, rng.uniform(0.25, 1.0), floor=10)
    elif r < 0.6:
        sig = rng.uniform(0.4, 1.8)
        x = np.stack([cv2.GaussianBlur(f, (0, 0), sig) for f in x])
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(1, 6), size=x.shape)
    x = x * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    if rng.random() < 0.5:
        x = x[:, :, ::-1]
    x = np.clip(x, 0, 255).astype(np.uint8)
    c = rng.random()
    if c < CODEC_P:  # a video codec: moving regions (the mouth) lose detail first
        x = h264(x, int(rng.integers(26, 46)))
    elif c < CODEC_P + 0.35:
        q = int(rng.integers(20, 96))
        x = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])[1],
                                   cv2.IMREAD_UNCHANGED) for f in x])
    return np.ascontiguousarray(x)


#: Share of stacks (both classes) passed through H.264 in ``shared_jitter``.
CODEC_P = 0.0  # 0.5 was tried: cross-fitted AUC fell from 0.58 to 0.50 (MODEL_CARD.md)


def h264(stack: np.ndarray, crf: int) -> np.ndarray:
    """Encode a ``(T, S, S, 3) uint8`` stack with libx264 at ``crf`` and decode it again."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = stack.shape[2], stack.shape[1], "yuv420p"
        s.options = {"crf": str(crf), "preset": "ultrafast"}
        for f in stack:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f),
                                                           format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    buf.seek(0)
    with av.open(buf) as c:
        out = np.stack([fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)])
    return out if len(out) == len(stack) else stack


class Sampler:
    """Balanced batches: half real stacks, half fakes (self-blended, or generator dubs)."""

    def __init__(self, clips: list[ClipCrops], seed: int, p_generated: float = 0.25) -> None:
        self.real = [c for c in clips if c.label == 0]
        self.generated = [c for c in clips if c.label == 1]
        if not self.real:
            raise SystemExit("no real clips to train on")
        self.rng = np.random.default_rng(seed)
        self.p_generated = p_generated if self.generated else 0.0
        w = np.array([math.sqrt(len(c.starts)) for c in self.real])
        self.w = w / w.sum()  # sqrt: long clips count more, but do not dominate

    def _stack(self, clip: ClipCrops) -> np.ndarray:
        i = int(self.rng.choice(clip.starts))
        step = 2 if self.rng.random() < 0.2 else 1  # frame-rate jitter
        return clip.crops[i: i + FRAMES * step: step].astype(np.float32)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for k in range(n):
            fake = k % 2 == 1
            if fake and self.rng.random() < self.p_generated:
                c = self.generated[int(self.rng.integers(len(self.generated)))]
                x = self._stack(c)
            else:
                c = self.real[int(self.rng.choice(len(self.real), p=self.w))]
                x = self._stack(c)
                if fake:
                    other = self._stack(c) if self.rng.random() < 0.3 else None
                    x = self_blend(x, self.rng, other)
            xs.append(shared_jitter(x, self.rng))
            ys.append(float(fake))
        return np.stack(xs), np.asarray(ys, np.float32)


# -- scoring and metrics -----------------------------------------------------------------


def clip_stacks(clip: ClipCrops, stride: int = 4, limit: int = 64) -> np.ndarray:
    starts = clip.starts[::stride][:limit]
    return np.stack([clip.crops[i: i + FRAMES] for i in starts])


def score_clips(model: Any, clips: list[ClipCrops], device: str) -> dict[str, float]:
    """Clip score: the mean stack logit (what the analyzer reports)."""
    import torch

    from trustavatar.detector.lipsync_model import normalise_stacks

    model.eval()
    out = {}
    with torch.inference_mode():
        for c in clips:
            x = torch.from_numpy(normalise_stacks(clip_stacks(c))).to(device)
            out[c.file] = float(model(x).float().mean())
    model.train()
    return out


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    p, n = np.asarray(pos), np.asarray(neg)
    wins = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(wins / (len(p) * len(n)))


# -- training ----------------------------------------------------------------------------


def train(clips: list[ClipCrops], *, steps: int, batch: int, lr: float, seed: int,
          device: str, log_every: int = 100) -> tuple[Any, list[dict[str, float]]]:
    import torch

    from trustavatar.detector.lipsync_model import build_vit, normalise_stacks

    torch.manual_seed(seed)
    model = build_vit(FRAMES, SIZE, ARCH).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warm = max(1, steps // 20)

    def lr_at(s: int) -> float:  # linear warm-up, then cosine to zero
        return min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    sampler = Sampler(clips, seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history: list[dict[str, float]] = []
    t0, run_loss, run_acc = time.perf_counter(), 0.0, 0.0
    model.train()
    for step in range(1, steps + 1):
        xb, yb = sampler.batch(batch)
        x = torch.from_numpy(normalise_stacks(xb)).to(device)
        y = torch.from_numpy(yb).to(device)
        logit = model(x).reshape(-1)
        loss = loss_fn(logit, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run_loss += float(loss.detach())
        run_acc += float(((logit > 0).float() == y).float().mean())
        if step % log_every == 0:
            h = {"step": step, "loss": run_loss / log_every, "acc": run_acc / log_every,
                 "seconds": time.perf_counter() - t0}
            history.append(h)
            print(f"  step {step}/{steps} loss {h['loss']:.3f} acc {h['acc']:.3f} "
                  f"({h['seconds']:.0f} s)", file=sys.stderr, flush=True)
            run_loss = run_acc = 0.0
    return model, history


def split_groups(clips: list[ClipCrops], folds: int) -> list[set[str]]:
    """Real source repositories dealt into ``folds`` sets of about equal real footage."""
    sizes: dict[str, int] = {}
    for c in clips:
        if c.label == 0:
            sizes[c.group] = sizes.get(c.group, 0) + len(c.crops)
    sets: list[set[str]] = [set() for _ in range(folds)]
    load = [0] * folds
    for g, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        k = int(np.argmin(load))
        sets[k].add(g)
        load[k] += n
    return sets


def evaluate(scores: dict[str, float], clips: list[ClipCrops]) -> dict[str, Any]:
    by = {c.file: c for c in clips}
    real = [s for f, s in scores.items() if by[f].label == 0]
    third = [s for f, s in scores.items() if by[f].label == 1 and
             not (by[f].generator or "").startswith("trustavatar")]
    ours = [s for f, s in scores.items() if (by[f].generator or "").startswith("trustavatar")]
    res: dict[str, Any] = {"n_real": len(real), "n_fake_third_party": len(third),
                           "n_fake_trustavatar": len(ours),
                           "auc_third_party": auc(third, real), "auc_trustavatar": auc(ours, real)}
    gens = sorted({(by[f].generator or "?").split(" (")[0] for f in scores if by[f].label == 1})
    res["auc_by_generator"] = {g: auc([s for f, s in scores.items() if by[f].label == 1 and
                                       (by[f].generator or "?").split(" (")[0] == g], real)
                               for g in gens}
    return res


def export(model: Any, history: list[dict[str, float]], out_dir: Path, summary: dict[str, Any]
           ) -> Path:
    import hashlib

    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "lipsync-vit-v1.safetensors"
    state = {k: v.detach().to("cpu", torch.float16).contiguous()
             for k, v in model.state_dict().items()}
    tmp = weights.with_suffix(".part")
    save_file(state, str(tmp))
    tmp.replace(weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    config = {"name": "lipsync-vit-v1", "frames": FRAMES, "size": SIZE, "arch": ARCH,
              "weights": weights.name, "sha256": digest,
              "training": {**summary, "final_loss": history[-1]["loss"] if history else None}}
    cfg = out_dir / "lipsync-vit-v1.json"
    cfg.write_text(json.dumps(config, indent=1) + "\n")
    return cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_LIPSYNC_WORK)
    ap.add_argument("--folds", type=int, default=0, help="cross-fit by source (0: no)")
    ap.add_argument("--fold", type=int, default=None, help="train only this fold")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/lipsync-cv"))  # noqa: S108
    ap.add_argument("--codec-p", type=float, default=0.0,
                    help="share of stacks passed through H.264 (both classes)")
    ap.add_argument("--export", type=Path, default=None,
                    help="train on every real source and write the shipped model here")
    args = ap.parse_args(argv)
    import torch

    global CODEC_P
    CODEC_P = args.codec_p
    if args.threads:
        torch.set_num_threads(args.threads)
    clips = load_work(args.work)
    print(f"{sum(c.label == 0 for c in clips)} real clips, "
          f"{sum(c.label == 1 for c in clips)} fake clips", file=sys.stderr)
    train_fakes = [c for c in clips if (c.generator or "").startswith("trustavatar")]
    third = [c for c in clips if c.label == 1 and c not in train_fakes]
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"steps": args.steps, "batch": args.batch, "lr": args.lr,
                               "seed": args.seed, "device": args.device,
                               "codec_p": args.codec_p}
    if args.export is not None:
        reals = [c for c in clips if c.label == 0]
        t0 = time.perf_counter()
        model, hist = train(reals + train_fakes, steps=args.steps, batch=args.batch,
                            lr=args.lr, seed=args.seed, device=args.device)
        summary.update(data=TRAINING_DATA, real_clips=len(reals),
                       real_sources=len({c.group for c in reals}),
                       generator_dubs=len(train_fakes),
                       train_seconds=round(time.perf_counter() - t0, 1))
        cfg = export(model, hist, args.export, summary)
        print(f"exported {cfg}", file=sys.stderr)
        return 0
    folds = split_groups(clips, max(2, args.folds))
    all_scores: dict[str, Any] = {}
    for k, held in enumerate(folds):
        if args.fold is not None and k != args.fold:
            continue
        print(f"fold {k}: holding out {sorted(held)}", file=sys.stderr)
        train_clips = [c for c in clips if c.label == 0 and c.group not in held]
        train_clips += [c for c in train_fakes if c.group not in held]
        model, hist = train(train_clips, steps=args.steps, batch=args.batch, lr=args.lr,
                            seed=args.seed + k, device=args.device)
        test = [c for c in clips if c.group in held and c.label == 0]
        test += [c for c in train_fakes if c.group in held] + third
        export(model, hist, args.out / f"fold{k}", {**summary, "held_out": sorted(held)})
        scores = score_clips(model, test, args.device)
        res = {"held_out": sorted(held), "scores": scores, "history": hist,
               "metrics": evaluate(scores, test)}
        print(json.dumps(res["metrics"], indent=1), file=sys.stderr)
        (args.out / f"fold{k}.json").write_text(json.dumps(res, indent=1))
        all_scores[str(k)] = res
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
