"""Shared by eval.py, fit_fusion.py and bench.py: the dev media, variants, cached scans.

Nothing here writes into the repository except the reports the scripts are asked to write:
variants (re-encodes, trims) and cached scan results live under ``/tmp`` (``--work``).
The dev media is read by path from ``shared/media`` and never copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MEDIA = Path(os.environ.get("TRUSTAVATAR_MEDIA", ROOT.parent / "shared" / "media"))
DEFAULT_WORK = Path(os.environ.get("TRUSTAVATAR_DETECTOR_WORK",
                                   "/tmp/trustavatar-detector"))  # noqa: S108
VARIANTS = ("original", "crf40", "trim")


@dataclass(frozen=True)
class Clip:
    file: str  #: relative to the media folder
    label: int  #: 1 = fake
    group: str  #: source repository
    generator: str | None
    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool

    @property
    def name(self) -> str:
        return Path(self.file).name


def load_clips(media: Path, *, limit: int | None = None) -> list[Clip]:
    """Real and fake videos of the manifest; ``limit`` keeps at most that many per source
    repository and label (first by name), so every source stays represented."""
    manifest = json.loads((media / "manifest.json").read_text())
    clips = [Clip(m["file"], int(m["label"] == "fake"), m["source_repo"], m.get("generator"),
                  int(m["width"] or 0), int(m["height"] or 0), float(m["fps"] or 0),
                  float(m["duration_s"] or 0), bool(m["has_audio"]))
             for m in manifest if m["label"] in ("real", "fake")]
    clips.sort(key=lambda c: c.file)
    if limit is not None:
        kept: dict[tuple[str, int], int] = {}
        out = []
        for c in clips:
            k = (c.group, c.label)
            if kept.get(k, 0) < limit:
                kept[k] = kept.get(k, 0) + 1
                out.append(c)
        clips = out
    return clips


def generator_name(clip: Clip) -> str:
    g = clip.generator or "real"
    return g.split(" (")[0]


# -- variants -------------------------------------------------------------------------------


def reencode(src: Path, dst: Path, *, crf: int, start: float = 0.0) -> Path:
    """Re-encode ``src`` to H.264 (``crf``) + AAC mono, dropping the first ``start`` seconds.

    Timestamps are kept (shifted by ``start``), so variable frame rates survive.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.time_base = Fraction(1, 90000)
        vout.codec_context.time_base = Fraction(1, 90000)
        w, h = vin.codec_context.width, vin.codec_context.height
        vout.width, vout.height, vout.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vout.options = {"preset": "veryfast", "crf": str(crf)}
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = None
        if ain is not None:
            aout = out.add_stream("aac", rate=16000)
            aout.layout = "mono"
        t0 = None
        last_pts = -1
        for frame in inp.decode(vin):
            t = frame.time if frame.time is not None else 0.0
            t0 = t if t0 is None else t0
            rel = t - t0 - start
            if rel < -1e-6:
                continue
            img = frame.to_ndarray(format="rgb24")[: vout.height, : vout.width]
            nf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            pts = max(last_pts + 1, round(rel * 90000))
            nf.pts, nf.time_base = pts, Fraction(1, 90000)
            last_pts = pts
            out.mux(vout.encode(nf))
        out.mux(vout.encode())
        if ain is not None and aout is not None:
            _copy_audio(src, aout, out, start + (_start(ain) - (t0 or 0.0)))
    tmp.replace(dst)
    return dst


def _start(stream: Any) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _copy_audio(src: Path, aout: Any, out: Any, skip: float) -> None:
    """``src``'s first audio track, from ``skip`` seconds, encoded to ``aout``. The source
    is opened again: the video pass has read its container to the end (decoding the audio
    from that container gave nothing, and the variants had no sound before session 13)."""
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
    skip_samples = max(0, round(skip * 16000))
    pending = np.zeros(0, np.float32)
    pts = 0
    try:
        with av.open(str(src)) as inp:
            frames = list(inp.decode(inp.streams.audio[0]))
    except av.error.FFmpegError:
        frames = []
    chunks = []
    for frame in frames:
        for r in resampler.resample(frame):
            chunks.append(r.to_ndarray()[0])
    for r in resampler.resample(None):
        chunks.append(r.to_ndarray()[0])
    pending = np.concatenate(chunks).astype(np.float32) if chunks else pending
    pending = pending[skip_samples:]
    for k in range(0, len(pending), 1024):
        block = pending[k:k + 1024]
        f = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
        f.sample_rate, f.pts = 16000, pts
        pts += len(block)
        out.mux(aout.encode(f))
    out.mux(aout.encode())


def variant_path(clip: Clip, variant: str, media: Path, work: Path) -> Path:
    src = media / clip.file
    if variant == "original":
        return src
    dst = work / "variants" / variant / (Path(clip.file).stem + ".mp4")
    if not dst.exists():
        if variant == "crf40":
            reencode(src, dst, crf=40)
        elif variant == "trim":
            reencode(src, dst, crf=12, start=0.5)
        else:
            raise ValueError(f"unknown variant {variant}")
    return dst


# -- cached scans -----------------------------------------------------------------------------


def _key(path: Path, model: Path | None = None) -> str:
    from trustavatar.detector import DETECTOR_VERSION, analyzer_spec, list_analyzers

    versions = ",".join(f"{n}={analyzer_spec(n).version}" for n in list_analyzers())
    st = path.stat()
    weights = analyzer_spec("lipsync").weights_sha256 if model is None else \
        json.loads(model.read_text())["sha256"]
    raw = (f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{DETECTOR_VERSION}|{versions}"
           f"|{weights}")
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


#: Cross-fitted lip-sync models (``lipsync_train.py --folds 2 --out DIR``): when set, each
#: clip is scanned with the fold model that never saw its source repository's real clips.
LIPSYNC_CV = os.environ.get("TRUSTAVATAR_LIPSYNC_CV")


def lipsync_model_for(clip: Clip) -> Path | None:
    """The cross-fitted fold model for ``clip`` (None: the packaged model)."""
    if not LIPSYNC_CV:
        return None
    root = Path(LIPSYNC_CV)
    folds = sorted(root.glob("fold*.json"))
    for f in folds:
        if clip.group in json.loads(f.read_text())["held_out"]:
            return root / f.stem / "lipsync-vit-v1.json"
    # a source no fold trained on (fake-only repositories): any fold model is unseen
    pick = int(hashlib.sha256(clip.file.encode()).hexdigest(), 16) % max(1, len(folds))
    return root / folds[pick].stem / "lipsync-vit-v1.json"


def openness_tables(clips: Sequence[Clip], media: Path, work: Path) -> dict[str, Path]:
    """{source repository: openness table fitted without it} for the clips' repositories
    whose fakes taught the packaged mouth-openness table (its provenance lists them;
    ``generator/MOUTH_OPENNESS.md``). Each is fitted by ``generator/fit_mouth_openness.py
    --exclude-repo`` with the packaged table's ridge and blend, once, under
    ``work/openness``. A clip from such a repository is scanned with its table, so that the
    sync analyzer's planned opening was never fitted on it."""
    from trustavatar.generator.audio import OpennessTable

    shipped = OpennessTable.load()
    teachers = {str(t["repo"]) for t in shipped.provenance.get("teachers", [])}
    out: dict[str, Path] = {}
    for repo in sorted(teachers & {c.group for c in clips}):
        path = work / "openness" / f"without-{repo.replace('/', '__')}.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if str(ROOT / "generator") not in sys.path:
                sys.path.insert(0, str(ROOT / "generator"))
            import fit_mouth_openness

            code = fit_mouth_openness.main([
                "--media", str(media), "--exclude-repo", repo, "--out", str(path),
                "--ridge", str(shipped.provenance["ridge"]),
                "--phonetic-weight", str(shipped.phonetic_weight)])
            if code != 0:
                raise RuntimeError(f"could not fit an openness table without {repo}")
        out[repo] = path
    return out


def cached_scan(path: Path, work: Path, *, refresh: bool = False,
                lipsync_model: Path | None = None,
                openness_table: Path | None = None) -> dict[str, Any]:
    """The scan result dict of ``path`` (cached under ``work/cache``)."""
    from trustavatar.detector import scan
    from trustavatar.keys import TrustStore

    key = _key(path, lipsync_model)
    if openness_table is not None:
        digest = hashlib.sha256(openness_table.read_bytes()).hexdigest()
        key = hashlib.sha256(f"{key}|{digest}".encode()).hexdigest()[:24]
    cache = work / "cache" / f"{key}.json"
    if cache.exists() and not refresh:
        return json.loads(cache.read_text())
    options: dict[str, dict[str, Any]] = {}
    if lipsync_model:
        options["lipsync"] = {"model": str(lipsync_model)}
    if openness_table:
        options["sync"] = {"table": str(openness_table)}
    result = scan(path, trust=TrustStore.of(), analyzer_options=options or None).to_dict()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result))
    return result


def scan_all(clips: Sequence[Clip], variants: Iterable[str], media: Path, work: Path, *,
             workers: int = 1) -> dict[tuple[str, str], dict[str, Any]]:
    """{(variant, file): result dict}, scanning what is not cached (``workers`` processes)."""
    jobs = [(v, c) for v in variants for c in clips]
    tables = openness_tables(clips, media, work)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    t0 = time.time()
    if workers <= 1:
        for i, (v, c) in enumerate(jobs):
            out[(v, c.file)] = _job(v, c, media, work, tables.get(c.group))
            _tick(i + 1, len(jobs), t0)
    else:
        import concurrent.futures as cf
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futs = {pool.submit(_job, v, c, media, work, tables.get(c.group)): (v, c.file)
                    for v, c in jobs}
            for i, f in enumerate(cf.as_completed(futs)):
                out[futs[f]] = f.result()
                _tick(i + 1, len(jobs), t0)
    print(file=sys.stderr)
    return out


def _job(variant: str, clip: Clip, media: Path, work: Path,
         openness_table: Path | None = None) -> dict[str, Any]:
    try:
        return cached_scan(variant_path(clip, variant, media, work), work,
                           lipsync_model=lipsync_model_for(clip), openness_table=openness_table)
    except Exception as e:  # keep the evaluation going; the clip is reported as failed
        return {"error": f"{type(e).__name__}: {e}"}


def _tick(done: int, total: int, t0: float) -> None:
    print(f"\rscanned {done}/{total} ({time.time() - t0:.0f} s)", end="", file=sys.stderr,
          flush=True)


def figures_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-analyzer figures of a result dict (what fusion features are computed from)."""
    return {name: a["figures"] for name, a in result.get("analyzers", {}).items()
            if a["status"] in ("ok", "insufficient-footage")}
