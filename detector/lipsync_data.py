"""Step 1 of the lip-sync ViT recipe: aligned mouth crops of every dev clip, cached.

For every real and fake video in ``shared/media`` (read in place, never copied) this runs
the *scan's own* front end — :class:`~trustavatar.detector.video.FrameReader`,
:class:`~trustavatar.detector.tracking.FaceTracker` and
:class:`~trustavatar.detector.crops.MouthAligner` — so training sees exactly the crops a
scan feeds the model. One ``.npz`` per clip under ``--work``:

- ``crops`` ``(N, S, S, 3) uint8`` RGB aligned mouth crops of the face frames,
- ``segment`` ``(N,) int32`` face-track segment of each crop (stacks never cross one),
- ``time`` ``(N,) float32`` seconds.

Usage::

    python detector/lipsync_data.py [--media DIR] [--work DIR] [--jobs 2] [--size 64]

Re-running skips clips already cached (delete ``--work`` to start over). It also caches
our own generator's dubbing of real clips when ``--with-generator`` is given: each real clip
with speech re-dubbed (video mode) with *another* clip's speech — matched pairs, the same
footage with only the mouth changed (see detector/README.md, "Lip-sync ViT").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_MEDIA, Clip, load_clips

DEFAULT_LIPSYNC_WORK = Path("/tmp/trustavatar-lipsync")  # noqa: S108


def extract(video: Path, out: Path, *, size: int = 64, max_seconds: float = 60.0) -> dict[str, Any]:
    """Aligned RGB mouth crops of ``video`` → ``out`` (npz); returns counts."""
    from trustavatar.detector.crops import MouthAligner
    from trustavatar.detector.tracking import FaceTracker
    from trustavatar.detector.video import FrameReader

    aligner = MouthAligner(size=size, grey=False)
    crops: list[np.ndarray] = []
    segs: list[int] = []
    times: list[float] = []
    frames = 0
    with FaceTracker() as tracker:
        for frame in FrameReader(video, max_seconds=max_seconds):
            frames += 1
            obs = tracker.observe(frame)
            if obs.landmarks is None:
                aligner.reset()
                continue
            crop = aligner(obs.image, obs.landmarks, new_segment=obs.new_segment)
            crops.append(crop.image)
            segs.append(obs.segment)
            times.append(obs.time)
    arr = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    tmp = out.with_suffix(".part.npz")
    np.savez_compressed(tmp, crops=arr, segment=np.asarray(segs, np.int32),
                        time=np.asarray(times, np.float32))
    tmp.replace(out)
    return {"frames": frames, "crops": len(crops)}


def _job(args: tuple[str, str, int]) -> tuple[str, dict[str, Any]]:
    video, out, size = args
    try:
        return video, extract(Path(video), Path(out), size=size)
    except Exception as e:  # a clip that fails is reported, the rest go on
        return video, {"error": f"{type(e).__name__}: {e}"}


def cache_name(clip_file: str) -> str:
    return clip_file.replace("/", "__") + ".npz"


def _generator_eval() -> Any:
    """generator/eval.py, loaded by path (both workbenches have an eval.py)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "generator" / "eval.py"
    spec = importlib.util.spec_from_file_location("generator_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _dub(args: tuple[str, str, str, str]) -> tuple[str, str | None]:
    """One dub: consent for the clip's first face frame in a throwaway home, then
    :func:`trustavatar.generator.generate` in video mode with the donor's speech."""
    import tempfile

    from trustavatar import consent
    from trustavatar.generator import generate
    from trustavatar.home import Home
    from trustavatar.keys import Keystore
    from trustavatar.registry import Registry

    clip, donor, dst, tmp_root = args
    try:
        ge = _generator_eval()
        work = Path(tempfile.mkdtemp(dir=tmp_root))
        home = Home.resolve(work / "home")
        ks = Keystore.create(home, organisation="lipsync-data")
        png = work / "face.png"
        ge.first_face_frame(Path(clip), png)
        with Registry.for_home(home) as registry:
            art = consent.issue(ks.signing_key(), portrait=png, display_name="dev subject",
                                evidence=consent.Evidence.operator_attestation(b"dev data"),
                                registry=registry)
        (work / "consent.json").write_bytes(art.raw)
        face = Path(clip)
        if face.suffix.lower() not in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
            face = work / "clip.mp4"
            face.symlink_to(Path(clip).resolve())
        generate(face=face, consent=work / "consent.json", out=dst, audio=donor,
                 qa="report", home=home, seed=0)
        return dst, None
    except Exception as e:  # report and go on
        return dst, f"{type(e).__name__}: {e}"


def dub_real_clips(media: Path, work: Path, clips: list[Clip], jobs: int
                   ) -> list[dict[str, Any]]:
    """Our generator's video-mode dubbing of each real clip with the next clip's speech.

    Evaluation footage made in a throwaway home (operator-attested consent for the clip's
    own first face frame), written to ``work/generated``, never to the repository.
    """
    import tempfile

    speech = [c for c in clips if c.label == 0 and c.has_audio]
    out_dir = work / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix="dub_")
    plan = []
    for i, c in enumerate(speech):
        donor = speech[(i + 1) % len(speech)]
        dst = out_dir / (Path(c.file).stem + ".dub.mp4")
        plan.append((c, str(media / c.file), str(media / donor.file), str(dst)))
    todo = [(a, b, d, tmp_root) for _, a, b, d in plan if not Path(d).exists()]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for dst, err in pool.map(_dub, todo):
            print(f"  dub {Path(dst).name}: {err or 'ok'}", file=sys.stderr)
    return [{"file": d, "group": c.group, "source_clip": c.file}
            for c, _, _, d in plan if Path(d).exists()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--work", type=Path, default=DEFAULT_LIPSYNC_WORK)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--with-generator", action="store_true")
    args = ap.parse_args(argv)
    crops_dir = args.work / "crops"
    crops_dir.mkdir(parents=True, exist_ok=True)
    clips = load_clips(args.media)
    index = [{"file": c.file, "label": c.label, "group": c.group,
              "generator": c.generator, "cache": cache_name(c.file)} for c in clips]
    todo = [(str(args.media / c.file), str(crops_dir / cache_name(c.file)), args.size)
            for c in clips if not (crops_dir / cache_name(c.file)).exists()]
    if args.with_generator:
        for g in dub_real_clips(args.media, args.work, clips, args.jobs):
            name = "generated__" + Path(g["file"]).name + ".npz"
            index.append({"file": g["file"], "label": 1, "group": g["group"],
                          "generator": "trustavatar (video mode)", "cache": name,
                          "source_clip": g["source_clip"]})
            if not (crops_dir / name).exists():
                todo.append((g["file"], str(crops_dir / name), args.size))
    t0 = time.perf_counter()
    print(f"{len(todo)} clips to extract ({len(index) - len(todo)} cached)", file=sys.stderr)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for k, (video, info) in enumerate(pool.map(_job, todo), 1):
            print(f"[{k}/{len(todo)}] {Path(video).name}: {info}", file=sys.stderr)
    (args.work / "index.json").write_text(json.dumps(index, indent=1))
    print(f"done in {time.perf_counter() - t0:.0f} s → {args.work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
