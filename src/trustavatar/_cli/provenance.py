"""``trustavatar provenance``: sign and verify C2PA manifests."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from trustavatar import provenance as pv
from trustavatar._cli._common import (
    emit,
    json_option,
    passphrase_option,
    refuse_overwrite,
    state,
)
from trustavatar._display import visible
from trustavatar.errors import ExitCode
from trustavatar.keys import Keystore, TrustStore
from trustavatar.provenance.model import SHORT_SOURCE_TYPES as _SOURCE_TYPES

EXIT_BY_STATE = {
    pv.ValidationState.TRUSTED: ExitCode.OK,
    pv.ValidationState.VALID_UNTRUSTED: ExitCode.UNTRUSTED,
    pv.ValidationState.INVALID: ExitCode.REJECTED,
    pv.ValidationState.ABSENT: ExitCode.ABSENT,
}


@click.group("provenance")
def command() -> None:
    """Sign media with a C2PA manifest; verify a file's manifest."""


def consent_binding(artifact: str) -> pv.ConsentBinding:
    """Verify a consent artifact (signature, issuer, validity, revocation) and bind to it."""
    from trustavatar import consent
    from trustavatar.registry import Registry

    st = state()
    with Registry.for_home(st.home) as registry:
        grant = consent.verify(Path(artifact), trust=TrustStore.from_home(st.home),
                               registry=registry, home=st.home)
    return pv.ConsentBinding(grant.consent_id, grant.artifact_sha256)


@command.command("sign")
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("--out", "dst", required=True, type=click.Path(dir_okay=False),
              help="Signed copy to write (may equal SRC).")
@click.option("--source-type", type=click.Choice(sorted(_SOURCE_TYPES)), default="generated",
              show_default=True,
              help="generated: fully AI-made; composite: AI edit of real footage (dubbing).")
@click.option("--consent", "consent_path", type=click.Path(dir_okay=False), default=None,
              help="Consent artifact to bind (verified first; only its id and hash are embedded).")
@click.option("--ingredient", "ingredient_paths", multiple=True, type=click.Path(dir_okay=False),
              help="An input file, recorded by SHA-256 only. Repeatable.")
@click.option("--title", default=None, help="Manifest title (default: the output file name).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (not needed when --out "
              "is SRC itself).")
@passphrase_option
@json_option
def sign_cmd(src: str, dst: str, source_type: str, consent_path: str | None,
             ingredient_paths: tuple[str, ...], title: str | None, force: bool,
             passphrase: bytes | None) -> int:
    """Embed a signed manifest declaring SRC AI-generated (MP4, JPEG, PNG, WAV)."""
    st = state()
    in_place = Path(dst).exists() and Path(src).exists() and Path(src).samefile(dst)
    # signing in place replaces the file without --force, but never a file of the home
    inputs = [("--consent", consent_path)] + [("--ingredient", p) for p in ingredient_paths]
    refuse_overwrite(dst, force or in_place, [] if in_place else inputs)
    keystore = Keystore.open(st.home)
    key = keystore.signing_key(passphrase)
    pv.detect_format(src)
    binding = consent_binding(consent_path) if consent_path else None
    ingredients = [pv.Ingredient.from_file(p) for p in ingredient_paths]
    result = pv.sign(
        src, dst, key=key, trust=keystore.trust_store(), source_type=_SOURCE_TYPES[source_type],
        consent=binding, ingredients=ingredients, title=title,
        tsa_url=st.home.load_config().tsa_url, overwrite=force or in_place,
    )
    emit({"ok": True, **result.to_dict(),
          "consent": {"consent_id": binding.consent_id} if binding else None},
         lambda con: con.print(f"signed {dst} ({pv.SUPPORTED_FORMATS[result.mime]}), manifest "
                               f"{result.manifest_label}, {result.seconds * 1000:.0f} ms"))
    return ExitCode.OK


def print_report(report: pv.ProvenanceReport, con: Console) -> None:
    style = {"trusted": "green", "valid-untrusted": "yellow", "invalid": "red",
             "absent": "blue"}[report.state.value]
    con.print(Text.assemble(f"{visible(report.path)}: ", (report.state.value, f"bold {style}"),
                            f" — {visible(report.summary)}"))
    if report.state is pv.ValidationState.ABSENT:
        return
    types = ", ".join(t.rsplit("/", 1)[-1] for t in report.digital_source_types) or "none declared"
    con.print(f"  AI-generated: {'yes' if report.ai_generated else 'no'} ({types})")
    con.print(f"  signer: {visible(report.signer_name)}; "
              f"generator: {visible(report.claim_generator or '-')}")
    if report.consent:
        con.print(f"  consent: {visible(report.consent.consent_id)} "
                  f"(artifact sha256 {report.consent.artifact_sha256[:16]}…)")
    else:
        con.print("  consent: no consent binding")
    for ing in report.ingredients:
        con.print(f"  ingredient: {visible(ing.title)} ({visible(ing.mime)}, "
                  f"{visible(ing.relationship)}, "
                  f"sha256 {ing.sha256[:16]}…)")
    if report.training_mining:
        uses = sorted(set(report.training_mining.values()))
        con.print(f"  AI training / data mining: {visible(', '.join(uses))}")
    con.print(f"  timestamp: {visible(report.timestamp or report.timestamp_note)}")


@command.command("verify")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
def verify_cmd(path: str) -> int:
    """Verify the manifest of PATH against the trust store.

    Exit code: 0 trusted, 5 valid but untrusted signer, 3 invalid, 4 no manifest.
    """
    report = pv.verify(path, trust=TrustStore.from_home(state().home))
    emit({"ok": report.state is pv.ValidationState.TRUSTED, **report.to_dict()},
         lambda con: print_report(report, con))
    return EXIT_BY_STATE[report.state]
