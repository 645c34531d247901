"""``trustavatar demo``: the whole chain on the built-in sample face, in its own folder:
keystore → consent → TTS talking head → C2PA → verify → tamper check."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console
from rich.text import Text

from trustavatar import consent, provenance
from trustavatar._atomic import atomic_output
from trustavatar._cli._common import emit, json_option, state
from trustavatar.errors import ExitCode, InputError
from trustavatar.face import sample_portrait_path
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry
from trustavatar.watermark import read_watermark

DEMO_SCRIPT = ("Hello. I am an AI avatar, made with consent. "
               "This video carries a signed record of how it was made.")

RELEASE_TEXT = """\
MODEL RELEASE (demonstration)

The person shown in the trustavatar sample portrait (NASA public-domain photograph of
astronaut Eileen Collins, as distributed with scikit-image) is used here only to
demonstrate the consent workflow. This document stands for the signed release an operator
would hold for a real subject; the consent artifact records its SHA-256.
"""


@click.command("demo")
@click.option("--out", "out_dir", default="trustavatar-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo's home and files.")
@json_option
def command(out_dir: str) -> int:
    """Run the trust chain end to end on the built-in sample face (isolated in --out: its
    own keys and registry in OUT/home, never the ones --home names)."""
    st = state()
    if click.get_current_context().find_root().params.get("home") is not None:
        raise click.UsageError("the demo keeps its own home in --out (OUT/home) and never "
                               "touches yours: drop --home")
    if not out_dir.strip():  # Path("") is the current folder
        raise click.BadParameter("the demo's folder is empty", param_hint="--out")
    t0 = time.perf_counter()
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the demo folder {folder}: {e.strerror or e}") from e
    home = Home.resolve(folder / "home")
    steps: list[dict[str, Any]] = []

    def step(name: str, **info: Any) -> None:
        steps.append({"step": name, **info})
        if not st.json:
            detail = ", ".join(f"{k}: {v}" for k, v in info.items())
            st.console.print(Text.assemble(("✓", "green"),
                                           f" {name}" + (f" — {detail}" if detail else "")))

    # 1. keystore (reused on later runs: an identity is never overwritten)
    ks = Keystore.open(home) if Keystore.exists(home) else Keystore.create(
        home, organisation="trustavatar demo studio")
    key = ks.signing_key()
    step("signing identity", organisation=ks.identity.organisation,
         certificate=cast(str, ks.identity.to_dict()["certificate_sha256"])[:16])
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
    # 4. the talking head: TTS → motion → render → watermark → QA → C2PA → ledger
    from trustavatar.generator import generate

    video = folder / "sample-avatar.mp4"
    result = generate(face=portrait, consent=artifact_path, out=video, script=DEMO_SCRIPT,
                      language="en", home=home, operator="trustavatar demo")
    step("video generated", file=str(video), seconds=round(result.duration, 1),
         manifest=result.manifest_label, qa="passed" if result.qa.passed else "failed",
         ledger_row=result.ledger_seq)
    # 5. verify as anyone holding our root would
    report = provenance.verify(video, trust=ks.trust_store())
    mark = read_watermark(video)
    step("provenance verified", state=report.state.value, ai_generated=report.ai_generated,
         watermark="found" if mark.present and mark.payload == bytes.fromhex(result.watermark)
         else "missing",
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
        bad.state is provenance.ValidationState.INVALID and result.qa.passed

    def human(con: Console) -> None:
        con.print()
        con.print(f"{'demo passed' if ok else 'demo FAILED'} in "
                  f"{time.perf_counter() - t0:.1f} s; files in {folder}/")
        con.print(f"  try: trustavatar --home {home.root} provenance verify {video}")

    emit({"ok": ok, "folder": str(folder), "home": str(home.root), "steps": steps,
          "consent": grant.to_dict(), "generation": result.to_dict(),
          "provenance": report.to_dict()}, human)
    return ExitCode.OK if ok else ExitCode.FAILURE
