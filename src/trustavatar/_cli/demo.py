"""``trustavatar demo``: the whole trust chain on the built-in sample, in its own folder."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import av
import click
import numpy as np
from rich.console import Console

from trustavatar import consent, provenance
from trustavatar._atomic import atomic_output
from trustavatar._cli._common import emit, json_option, state
from trustavatar.errors import ExitCode
from trustavatar.face import load_image, sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry

RELEASE_TEXT = """\
MODEL RELEASE (demonstration)

The person shown in the trustavatar sample portrait (NASA public-domain photograph of
astronaut Eileen Collins, as distributed with scikit-image) is used here only to
demonstrate the consent workflow. This document stands for the signed release an operator
would hold for a real subject; the consent artifact records its SHA-256.
"""


def _stand_in_video(portrait: Path, out: Path, *, seconds: float = 2.0, fps: int = 25) -> None:
    """A short H.264 clip of the portrait with a slow zoom: the stand-in for a generated video."""
    img = load_image(portrait)
    h, w = (d - d % 2 for d in img.shape[:2])
    img = img[:h, :w]
    with atomic_output(out) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        n = round(seconds * fps)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        for i in range(n):
            s = 1.0 + 0.04 * i / n
            sy = np.clip(((ys - h / 2) / s + h / 2).astype(np.int32), 0, h - 1)
            sx = np.clip(((xs - w / 2) / s + w / 2).astype(np.int32), 0, w - 1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[sy, sx]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@click.command("demo")
@click.option("--out", "out_dir", default="trustavatar-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo's home and files.")
@json_option
def command(out_dir: str) -> int:
    """Run the trust chain end to end on the built-in sample face (isolated in --out)."""
    st = state()
    t0 = time.perf_counter()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    home = Home.resolve(folder / "home")
    steps: list[dict[str, Any]] = []

    def step(name: str, **info: Any) -> None:
        steps.append({"step": name, **info})
        if not st.json:
            detail = ", ".join(f"{k}: {v}" for k, v in info.items())
            st.console.print(f"[green]✓[/] {name}" + (f" — {detail}" if detail else ""))

    # 1. keystore (reused on later runs: an identity is never overwritten)
    ks = Keystore.open(home) if Keystore.exists(home) else Keystore.create(
        home, organisation="trustavatar demo studio")
    key = ks.signing_key()
    step("signing identity", organisation=ks.identity.organisation,
         certificate=ks.identity.to_dict()["certificate_sha256"][:16])
    # 2. operator-attested consent for the sample face
    portrait = sample_portrait_path()
    release = folder / "release.txt"
    release.write_text(RELEASE_TEXT)
    artifact_path = folder / "sample.consent.json"
    with Registry.for_home(home) as registry:
        artifact = consent.issue(
            key, portrait=portrait, display_name="Sample subject (NASA astronaut portrait)",
            evidence=consent.Evidence.operator_attestation(release),
            purposes=("avatar-generation",), languages=("en",), operator="trustavatar demo",
            registry=registry,
        )
        with atomic_output(artifact_path, mode=0o600) as tmp:
            tmp.write_bytes(artifact.raw)
        step("consent issued", consent_id=artifact.consent_id, file=str(artifact_path))
        # 3. the consent gate: the artifact must verify for this face, purpose and language
        grant = consent.require(artifact_path, face=portrait, purpose="avatar-generation",
                                language="en", trust=ks.trust_store(), registry=registry)
    step("consent verified", face_distance=round(grant.face_distance or 0.0, 3),
         valid_until=grant.not_after.date().isoformat())
    # 4. the output, signed last, bound to the consent
    raw = folder / ".unsigned.mp4"
    _stand_in_video(portrait, raw)
    video = folder / "sample-avatar.mp4"
    signed = provenance.sign(
        raw, video, key=key, trust=ks.trust_store(),
        consent=provenance.ConsentBinding(grant.consent_id, grant.artifact_sha256),
        ingredients=[provenance.Ingredient.from_file(portrait, title="sample_portrait.jpg")],
        tsa_url=home.load_config().tsa_url,
    )
    raw.unlink()
    step("video signed", file=str(video), manifest=signed.manifest_label)
    # 5. verify as anyone holding our root would
    report = provenance.verify(video, trust=ks.trust_store())
    step("provenance verified", state=report.state.value, ai_generated=report.ai_generated,
         consent_bound=report.consent == provenance.ConsentBinding(grant.consent_id,
                                                                   grant.artifact_sha256))
    # 6. one flipped byte is detected
    tampered = folder / "sample-avatar.tampered.mp4"
    shutil.copyfile(video, tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    bad = provenance.verify(tampered, trust=ks.trust_store())
    step("tampered copy detected", state=bad.state.value,
         reason="; ".join(f.explanation for f in bad.failures))
    ok = report.state is provenance.ValidationState.TRUSTED and \
        bad.state is provenance.ValidationState.INVALID

    def human(con: Console) -> None:
        con.print(f"\n{'demo passed' if ok else 'demo FAILED'} in "
                  f"{time.perf_counter() - t0:.1f} s; files in {folder}/")
        con.print(f"  try: trustavatar --home {home.root} provenance verify {video}")

    emit({"ok": ok, "folder": str(folder), "home": str(home.root), "steps": steps,
          "consent": grant.to_dict(), "provenance": report.to_dict()}, human)
    return ExitCode.OK if ok else ExitCode.FAILURE
