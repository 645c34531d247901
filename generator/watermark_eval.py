"""Evaluate the trustavatar video watermark: fidelity, robustness, false alarms, speed.

    python generator/watermark_eval.py --quick            # ~1 min: 8 real clips + 2 synthetic
    python generator/watermark_eval.py                    # every clip in --media (~17 min)
    python generator/watermark_eval.py --json out.json    # also write the numbers as JSON
    /tmp/wm-venv/bin/python generator/watermark_eval.py --dwtdct --seconds 3
        # the same attacks on invisible-watermark's dwtDct (needs `imwatermark`, in its own
        # venv), on 7 clips of 256 px and up; `--comparison --seconds 3` runs ours on them

Each clip (its first --seconds: 4 s with --quick, else 6 s) is watermarked with a random
payload, written as H.264 CRF 18 (what the generator ships), then attacked:

  crf23 / crf30 / crf40  re-encode with libx264 at that CRF
  half                   downscale to 50 % (area) and re-encode at CRF 23
  jpeg50                 every frame through JPEG quality 50 (Pillow)
  trim                   drop the first 0.5 s, re-encode at CRF 23
  seg2s                  2 s segments of the CRF 23 re-encode, each read on its own
  mirror                 mirrored left-right, re-encoded at CRF 23
  turn90                 turned 90° clockwise (a lost rotation flag), re-encoded at CRF 23

and read back with `read_watermark`. False alarms: the unmarked originals (same CRF 18
encode) read with the marking key, the marked videos read with a wrong key, and, to reach
tens of thousands of trials, every unmarked original read with --keys random keys (the
reader's cell means do not depend on the key, so they are computed once per clip).

Media in --media are read in place; nothing derived from them is written anywhere but a
temporary directory.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import secrets
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from trustavatar.watermark import (  # noqa: E402
    Watermark,
    _code,
    _layout,
    _read,
    read_watermark,
)

ATTACKS = ("none", "crf23", "crf30", "crf40", "half", "jpeg50", "trim", "seg2s", "mirror",
           "turn90")
Frames = Iterable[np.ndarray]


# --- media -----------------------------------------------------------------------------


def decode_rgb(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if max_frames is not None and index >= max_frames:
                return
            yield frame.to_ndarray(format="rgb24")


def video_info(path: str | Path) -> tuple[int, int, Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or 25).limit_denominator(1001)
        return stream.codec_context.width, stream.codec_context.height, rate


def encode(frames: Frames, path: Path, *, fps: Fraction, crf: int,
           scale: float = 1.0) -> Path:
    """libx264 yuv420p, preset veryfast, streaming. Odd sizes are cropped to even."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf)}
        size = None
        for frame in frames:
            if size is None:
                h, w = frame.shape[:2]
                size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)
                stream.width, stream.height = size
            if scale != 1.0:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            else:
                frame = frame[: size[1], : size[0]]
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            out.mux(stream.encode(image))
        out.mux(stream.encode())
    return path


def jpeg_frames(frames: Frames, quality: int) -> Iterator[np.ndarray]:
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=quality)
        yield np.asarray(Image.open(buffer).convert("RGB"))


def synthetic_frames(kind: int, size: tuple[int, int], n: int) -> Iterator[np.ndarray]:
    """A talking-head-like synthetic clip: static textured backdrop, a swaying textured
    'head' with a 'mouth' that opens and closes, sensor noise. Made from numbers only."""
    w, h = size
    rng = np.random.default_rng(1000 + kind)
    backdrop = cv2.GaussianBlur(rng.normal(0, 1, (h // 4, w // 4)).astype(np.float32), (0, 0), 3)
    backdrop = cv2.resize(backdrop, (w, h), interpolation=cv2.INTER_CUBIC)
    backdrop = 110 + 60 * backdrop / (backdrop.std() + 1e-6) if kind % 2 else 150 + 0 * backdrop
    base = np.stack([backdrop * 0.9, backdrop, backdrop * 1.1], axis=-1)
    skin_texture = rng.normal(0, 6, (h, w)).astype(np.float32)
    skin_texture = cv2.GaussianBlur(skin_texture, (0, 0), 1.2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(n):
        img = base.copy()
        cx = w / 2 + 0.06 * w * math.sin(t / 23)
        cy = h / 2 + 0.03 * h * math.sin(t / 31)
        head = ((xx - cx) / (0.22 * w)) ** 2 + ((yy - cy) / (0.3 * h)) ** 2 < 1
        shade = 1 - 0.3 * ((xx - cx) / (0.22 * w))
        for c, level in enumerate((205, 160, 135)):
            img[..., c][head] = (level * shade + skin_texture)[head]
        mouth_open = 0.015 + 0.02 * (1 + math.sin(t / 3.1))
        mouth = ((xx - cx) / (0.07 * w)) ** 2 + ((yy - cy - 0.15 * h) / (mouth_open * h)) ** 2 < 1
        img[mouth] = (90, 30, 40)
        for ex in (-0.08, 0.08):
            eye = ((xx - cx - ex * w) / (0.03 * w)) ** 2 + ((yy - cy + 0.07 * h) / (0.015 * h)) ** 2
            img[eye < 1] = (40, 30, 30)
        img += rng.normal(0, 2.0, img.shape[:2])[..., None]
        yield np.clip(img, 0, 255).astype(np.uint8)


# --- fidelity --------------------------------------------------------------------------


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else 99.0


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the luma (Wang et al. 2004: Gaussian window σ=1.5, K1=0.01, K2=0.03)."""
    x, y = _luma(a), _luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


# --- many keys on one video (false-alarm statistics) ---------------------------------------


def whitened_cells(lumas: Iterable[np.ndarray]) -> np.ndarray:
    """(ORIENTATIONS, T, GRID*GRID) whitened cell means, in each orientation the reader
    undoes: everything the reader needs, key-independent."""
    grids = [_layout.whiten(_layout.cell_means(y)) for y in lumas]
    return np.asarray([[np.ascontiguousarray(undo(g)).reshape(-1) for g in grids]
                       for _, undo in _read.ORIENTATIONS], np.float32)


def file_lumas(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="gray").astype(np.float32)


def readings_for_keys(cells: np.ndarray, layouts: list[_layout.Layout]) -> list:
    """The reading (the strongest orientation's, as the reader decides) for each key."""
    out = []
    for layout in layouts:
        values = cells[:, :, layout.cells] * layout.signs  # (O, T, UNITS, CELLS_PER_UNIT)
        p = values.sum(axis=3, dtype=np.float64) / math.sqrt(_layout.CELLS_PER_UNIT)
        sums = np.cos(2 * np.pi * (p / _layout.STEP - layout.dither)).sum(axis=1)
        out.append(_read.decide_oriented(sums, cells.shape[1]))
    return out


# --- bookkeeping -----------------------------------------------------------------------


def size_class(size: str) -> str:
    side = min(int(v) for v in size.split("x")) if size else 0
    return "<=256px" if side <= 256 else ("360-720px" if side <= 720 else "1080px")


@dataclass
class Trial:
    group: str  # the clip's size class (its shorter side)
    detected: bool
    recovered: bool
    coded_bit_accuracy: float
    payload_bit_accuracy: float
    z: float


@dataclass
class Results:
    trials: dict[str, list[Trial]] = field(default_factory=lambda: {a: [] for a in ATTACKS})
    unmarked: list[float] = field(default_factory=list)  # z of unmarked originals
    unmarked_present: int = 0
    wrong_key: list[float] = field(default_factory=list)
    wrong_key_present: int = 0
    many_keys_z: list[float] = field(default_factory=list)
    many_keys_present: int = 0
    many_keys_crc: int = 0
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    embed_ms: dict[str, list[float]] = field(default_factory=dict)
    read_ms: dict[str, list[float]] = field(default_factory=dict)
    clips: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def score(reading: _read.WatermarkReading, payload: bytes, sums_soft: np.ndarray | None) -> Trial:
    truth = _code.encode(payload)
    coded_acc = float("nan")
    payload_acc = float("nan")
    if sums_soft is not None:
        coded_acc = float(np.mean((sums_soft > 0) == truth.astype(bool)))
        bits = _code._viterbi(sums_soft)[: _code.PAYLOAD_BITS]
        true_bits = np.unpackbits(np.frombuffer(payload, np.uint8))
        payload_acc = float(np.mean(bits == true_bits))
    return Trial("", reading.present, reading.payload == payload, coded_acc, payload_acc,
                 reading.z_score)


def read_scored(source: str | Path | Frames, key: bytes, payload: bytes) -> Trial:
    """What `read_watermark` does (same steps, same code), keeping the per-unit sums."""
    reader = _read.WatermarkReader(key=key)
    if isinstance(source, str | Path):  # as read_watermark reads a file (first stream)
        for luma in _read._file_lumas(Path(source), None):
            reader._add_luma(luma)
    else:
        _read._feed(reader, source)
    reading = reader.reading()  # the coded bits of the orientation it chose
    sums = reader._accumulator.sums_for(reading.orientation)
    return score(reading, payload, -sums[: _code.CODED_BITS])


# --- one clip --------------------------------------------------------------------------


def run_clip(name: str, frames: Callable[[], Frames], fps: Fraction, key: bytes,
             results: Results, tmp: Path, layouts: list[_layout.Layout],
             embedder: Callable[[bytes, Frames], Frames] | None = None,
             reader: Callable[[str | Path | Frames, bytes, bytes], Trial] | None = None) -> None:
    payload = secrets.token_bytes(8)
    wm = Watermark(payload, key=key)
    marked_path, orig_path = tmp / "marked.mp4", tmp / "orig.mp4"
    times: list[float] = []
    size = ""

    def marked_frames() -> Iterator[np.ndarray]:
        nonlocal size
        source = frames() if embedder is None else None
        if embedder is not None:
            for frame in embedder(payload, frames()):
                size = f"{frame.shape[1]}x{frame.shape[0]}"
                yield frame
            return
        assert source is not None
        for i, frame in enumerate(source):
            size = f"{frame.shape[1]}x{frame.shape[0]}"
            t0 = time.perf_counter()
            out = wm.apply(frame)
            times.append(time.perf_counter() - t0)
            if i % 5 == 0:
                results.psnr.append(psnr(frame, out))
                results.ssim.append(ssim(frame, out))
            yield out

    encode(marked_frames(), marked_path, fps=fps, crf=18)
    if times:
        results.embed_ms.setdefault(size, []).append(1000 * statistics.median(times[1:] or times))
    read = reader or read_scored

    def trial(attack: str, source: str | Path | Frames) -> None:
        result = read(source, key, payload)
        result.group = size_class(size)
        results.trials[attack].append(result)

    trial("none", marked_path)
    if reader is None:  # the public API on the shipped file: same answer, and its speed
        t0 = time.perf_counter()
        public = read_watermark(str(marked_path), key=key)
        elapsed = time.perf_counter() - t0
        assert public.present == results.trials["none"][-1].detected
        results.read_ms.setdefault(size, []).append(1000 * elapsed / public.frames_used)
    att = tmp / "attacked.mp4"
    for crf in (23, 30, 40):
        trial(f"crf{crf}", encode(decode_rgb(marked_path), att, fps=fps, crf=crf))
    trial("half", encode(decode_rgb(marked_path), att, fps=fps, crf=23, scale=0.5))
    trial("jpeg50", jpeg_frames(decode_rgb(marked_path), 50))
    skip = round(0.5 * fps)
    trimmed = (f for i, f in enumerate(decode_rgb(marked_path)) if i >= skip)
    trial("trim", encode(trimmed, att, fps=fps, crf=23))
    for attack, turn in (("mirror", lambda f: f[:, ::-1]), ("turn90", lambda f: np.rot90(f, -1))):
        turned = (np.ascontiguousarray(turn(f)) for f in decode_rgb(marked_path))
        trial(attack, encode(turned, att, fps=fps, crf=23))
    encode(decode_rgb(marked_path), att, fps=fps, crf=23)
    segment = round(2 * fps)
    frames_23 = list(decode_rgb(att))
    for start in range(0, len(frames_23) - segment + 1, segment):
        trial("seg2s", frames_23[start : start + segment])
    if reader is not None:  # comparison run: robustness only
        results.clips.append(name)
        return
    # False alarms: unmarked original with the right key, marked with a wrong key, and
    # the unmarked original with many random keys.
    encode(frames(), orig_path, fps=fps, crf=18)
    unmarked = read_watermark(str(orig_path), key=key)
    results.unmarked.append(unmarked.z_score)
    results.unmarked_present += unmarked.present
    wrong = read_watermark(str(marked_path), key=secrets.token_bytes(16))
    results.wrong_key.append(wrong.z_score)
    results.wrong_key_present += wrong.present
    cells = whitened_cells(file_lumas(orig_path))
    for reading in readings_for_keys(cells, layouts):
        results.many_keys_z.append(reading.z_score)
        results.many_keys_present += reading.present
        results.many_keys_crc += reading.payload is not None
    results.clips.append(name)


# --- invisible-watermark dwtDct, for comparison ------------------------------------------


def _import_imwatermark():
    # imwatermark imports torch at module level for RivaGAN only; dwtDct needs none of it.
    # Its venv has no torch (installing it would bring a second OpenCV), so stub it.
    try:
        import torch  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        sys.modules["torch"] = types.ModuleType("torch")
    import imwatermark  # type: ignore[import-not-found]

    return imwatermark


def dwtdct_embedder(payload: bytes, frames: Frames) -> Iterator[np.ndarray]:
    WatermarkEncoder = _import_imwatermark().WatermarkEncoder

    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", payload)
    for frame in frames:
        bgr = encoder.encode(np.ascontiguousarray(frame[..., ::-1]), DWT_METHOD[0])
        out = np.ascontiguousarray(bgr[..., ::-1])
        DWT_FIDELITY.append((psnr(frame, out), ssim(frame, out)))
        yield out


DWT_FIDELITY: list[tuple[float, float]] = []
DWT_METHOD = ["dwtDct"]  # or "dwtDctSvd" (--dwtdct-method)


def dwtdct_reader(source: str | Path | Frames, key: bytes, payload: bytes) -> Trial:
    """Per-frame dwtDct decoding, soft-combined by majority vote over frames."""
    decoder = _import_imwatermark().WatermarkDecoder("bits", 64)
    frames = decode_rgb(source) if isinstance(source, str | Path) else source
    votes = np.zeros(64)
    for frame in frames:
        try:
            bits = decoder.decode(np.ascontiguousarray(frame[..., ::-1]), DWT_METHOD[0])
        except RuntimeError:  # dwtDct refuses frames under 256x256 pixels: no vote
            continue
        votes += 2 * np.asarray(bits, float) - 1
    truth = np.unpackbits(np.frombuffer(payload, np.uint8))
    bits = (votes > 0).astype(np.uint8)
    accuracy = float(np.mean(bits == truth))
    recovered = bool(np.all(bits == truth))
    return Trial("", recovered, recovered, float("nan"), accuracy, float("nan"))


# --- report ----------------------------------------------------------------------------


def summarise(results: Results, *, comparison: bool = False) -> dict:
    orientations = len(_read.ORIENTATIONS)
    def rate(xs: list[bool]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    table = {}
    for attack, trials in results.trials.items():
        if not trials:
            continue
        table[attack] = {
            "trials": len(trials),
            "coded_bit_accuracy": statistics.fmean(t.coded_bit_accuracy for t in trials),
            "payload_bit_accuracy": statistics.fmean(t.payload_bit_accuracy for t in trials),
            "payload_recovered": rate([t.recovered for t in trials]),
            "detected": rate([t.detected for t in trials]),
            "median_z": statistics.median(t.z for t in trials),
            "by_size": {
                group: {
                    "trials": len(ts),
                    "payload_recovered": rate([t.recovered for t in ts]),
                    "detected": rate([t.detected for t in ts]),
                }
                for group in sorted({t.group for t in trials})
                for ts in [[t for t in trials if t.group == group]]
            },
        }
    out: dict = {"clips": len(results.clips), "failed": results.failed, "attacks": table}
    if comparison:
        fid = DWT_FIDELITY
        out["psnr_mean"] = statistics.fmean(p for p, _ in fid) if fid else None
        out["ssim_mean"] = statistics.fmean(s for _, s in fid) if fid else None
        return out
    z = np.asarray(results.many_keys_z)
    out.update({
        "psnr_mean": statistics.fmean(results.psnr), "psnr_min": min(results.psnr),
        "ssim_mean": statistics.fmean(results.ssim), "ssim_min": min(results.ssim),
        "unmarked_readings": len(results.unmarked),
        "unmarked_present": results.unmarked_present,
        "unmarked_max_z": max(results.unmarked),
        "wrong_key_readings": len(results.wrong_key),
        "wrong_key_present": results.wrong_key_present,
        "wrong_key_max_z": max(results.wrong_key),
        "many_keys_readings": int(z.size),
        "many_keys_present": results.many_keys_present,
        "many_keys_crc_pass": results.many_keys_crc,
        "many_keys_z_mean": float(z.mean()), "many_keys_z_std": float(z.std()),
        "many_keys_z_max": float(z.max()),
        "many_keys_frac_z_ge_3": float(np.mean(z >= 3)),
        # the best of the reader's orientations: at most that many times one's tail
        "gaussian_tail_3": orientations * 0.5 * math.erfc(3 / math.sqrt(2)),
        "theoretical_fpr_gaussian": orientations * (
            0.5 * math.erfc(_read.Z_PRESENT / math.sqrt(2))
            + 0.5 * math.erfc(_read.Z_PAYLOAD / math.sqrt(2)) * 2.0**-16),
        "theoretical_fpr_bound": orientations * (
            math.exp(-_read.Z_PRESENT**2 / 2) + math.exp(-_read.Z_PAYLOAD**2 / 2) * 2.0**-16),
        "embed_ms_median": {k: statistics.median(v) for k, v in results.embed_ms.items()},
        "read_ms_median": {k: statistics.median(v) for k, v in results.read_ms.items()},
    })
    return out


def print_summary(summary: dict, title: str) -> None:
    print(f"\n## {title} ({summary['clips']} clips)")
    print("| attack | trials | coded-bit acc. | payload-bit acc. | payload recovered | detected |"
          " median z |")
    print("|---|---|---|---|---|---|---|")
    for attack, row in summary["attacks"].items():
        print(f"| {attack} | {row['trials']} | {row['coded_bit_accuracy']:.3f} | "
              f"{row['payload_bit_accuracy']:.3f} | {row['payload_recovered']:.1%} | "
              f"{row['detected']:.1%} | {row['median_z']:.1f} |")
    print("\npayload recovered / detected by clip size (shorter side):")
    for attack, row in summary["attacks"].items():
        parts = [f"{g}: {v['payload_recovered']:.0%}/{v['detected']:.0%} (n={v['trials']})"
                 for g, v in row["by_size"].items()]
        print(f"- {attack}: " + ", ".join(parts))
    for k, v in summary.items():
        if k not in ("attacks", "clips"):
            print(f"- {k}: {v}")


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", default="/work/shared/media/real",
                    help="folder of real clips (*.mp4), read in place")
    ap.add_argument("--quick", action="store_true", help="8 real clips, 2 synthetic, 4 s each")
    ap.add_argument("--clips", type=int, default=None, help="at most this many real clips")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of each clip used")
    ap.add_argument("--keys", type=int, default=None, help="random keys per unmarked clip")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    ap.add_argument("--dwtdct-method", choices=["dwtDct", "dwtDctSvd"], default="dwtDct")
    ap.add_argument("--comparison", action="store_true",
                    help="use the clips of the --dwtdct comparison (256 px and larger)")
    ap.add_argument("--dwtdct", action="store_true",
                    help="evaluate invisible-watermark dwtDct instead (needs imwatermark)")
    args = ap.parse_args(argv)

    seconds = args.seconds or (4.0 if args.quick else 6.0)
    n_keys = args.keys if args.keys is not None else (200 if args.quick else 500)
    paths = sorted(str(p) for p in Path(args.media).glob("*.mp4"))
    if args.quick and args.clips is None:
        # a spread of sources and sizes: 224, 256, 480, 512, 640x360, 1920x1080
        step = max(1, len(paths) // 8)
        paths = paths[::step][:8]
    elif args.clips is not None:
        paths = paths[: args.clips]
    synthetic = [(0, (256, 256)), (1, (512, 512))] + ([] if args.quick else [(2, (640, 360))])
    if args.comparison or args.dwtdct:
        # dwtDct refuses frames under 256x256: compare on clips it can mark, 256 px and up.
        sizes = {p: min(video_info(p)[:2]) for p in sorted(str(q) for q in
                                                        Path(args.media).glob("*.mp4"))}
        paths = ([p for p, side in sizes.items() if side == 256][:2]
                 + [p for p, side in sizes.items() if side >= 360][:4])
        synthetic = [s for s in synthetic if min(s[1]) >= 512][:1]
    if args.dwtdct:
        n_keys = 0
        DWT_METHOD[0] = args.dwtdct_method
    key = secrets.token_bytes(16)
    layouts = [_layout.layout_for(secrets.token_bytes(16)) for _ in range(n_keys)]
    results = Results()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wm-eval-") as tmpdir:
        tmp = Path(tmpdir)
        jobs: list[tuple[str, Callable[[], Frames], Fraction]] = []
        for kind, size in synthetic:
            n = round(seconds * 25)
            jobs.append((f"synthetic-{kind}-{size[0]}x{size[1]}",
                         lambda kind=kind, size=size, n=n: synthetic_frames(kind, size, n),
                         Fraction(25)))
        for path in paths:
            _, _, fps = video_info(path)
            n = max(1, round(seconds * fps))
            jobs.append((Path(path).name, lambda path=path, n=n: decode_rgb(path, n), fps))
        for i, (name, frames, fps) in enumerate(jobs):
            t0 = time.perf_counter()
            try:
                if args.dwtdct:
                    run_clip(name, frames, fps, key, results, tmp, layouts,
                             embedder=dwtdct_embedder, reader=dwtdct_reader)
                else:
                    run_clip(name, frames, fps, key, results, tmp, layouts)
            except Exception as e:  # one bad clip must not lose the others' numbers
                results.failed.append(f"{name}: {type(e).__name__}: {e}")
                print(f"[{i + 1}/{len(jobs)}] {name} FAILED: {e}", file=sys.stderr, flush=True)
                continue
            print(f"[{i + 1}/{len(jobs)}] {name} {time.perf_counter() - t0:.1f}s",
                  file=sys.stderr, flush=True)
    summary = summarise(results, comparison=args.dwtdct)
    summary["seconds_per_clip"] = seconds
    summary["runtime_s"] = time.perf_counter() - started
    print_summary(summary, f"invisible-watermark {args.dwtdct_method}" if args.dwtdct
                  else "trustavatar")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
