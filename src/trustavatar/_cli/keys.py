"""``trustavatar keys``: the organisation signing identity and trust anchors."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from trustavatar._cli._common import (
    PASSPHRASE_ENV_DEFAULT,
    emit,
    json_option,
    passphrase_option,
    read_passphrase,
    state,
)
from trustavatar._display import visible
from trustavatar._files import read_input
from trustavatar.errors import Error, ExitCode, InputError, PassphraseError
from trustavatar.home import Home
from trustavatar.keys import Keystore, TrustStore
from trustavatar.keys._x509 import fingerprint, same_organisation
from trustavatar.keys.keystore import own_certificates
from trustavatar.keys.trust import MAX_LABEL, MIN_PREFIX, anchor_problem

_MAX_PEM = 1 << 20


@click.group("keys")
def command() -> None:
    """Create or import the signing identity; manage trusted roots."""


def _show(ks: Keystore, con: Console, title: str) -> None:
    d = ks.identity.to_dict()
    con.print(Text.assemble((title, "bold"), f" in {ks.home.root}"))
    for k in ("organisation", "source", "signer", "issuer", "algorithm", "not_after",
              "certificate_sha256", "key_encrypted"):
        con.print(f"  {k.replace('_', ' ')}: {d[k]}")


def _replaces_an_encrypted_key(home: Home, force: bool, passphrase: bytes | None) -> bool:
    """Whether ``--force`` without a passphrase is about to replace an identity whose key
    was encrypted (said afterwards: the new key is stored in clear)."""
    if not (force and passphrase is None and Keystore.exists(home)):
        return False
    with contextlib.suppress(Error):  # a damaged identity is replaced all the same
        return Keystore.open(home).identity.encrypted
    return False


@command.command("init")
@click.option("--org", "organisation", default="trustavatar local", show_default=True,
              help="Organisation name in the certificates.")
@click.option("--valid-days", default=365, show_default=True, type=click.IntRange(1, 3650),
              help="Validity of the signing certificate.")
@click.option("--force", is_flag=True, help="Retire an existing identity instead of refusing.")
@passphrase_option
@json_option
def init(organisation: str, valid_days: int, force: bool, passphrase: bytes | None) -> int:
    """Create a local root CA and an EC P-256 signing certificate, and trust the root."""
    st = state()
    was_encrypted = _replaces_an_encrypted_key(st.home, force, passphrase)
    ks = Keystore.create(st.home, organisation=organisation, passphrase=passphrase,
                         leaf_days=valid_days, force=force)
    if was_encrypted:
        click.echo("trustavatar: warning: the identity replaced had an encrypted key; this "
                   "one's is not encrypted (give --passphrase-env to encrypt it)", err=True)
    emit({"ok": True, "home": str(st.home.root), "identity": ks.identity.to_dict()},
         lambda con: _show(ks, con, "created signing identity"))
    return ExitCode.OK


@command.command("import")
@click.option("--chain", "chain_path", required=True, type=click.Path(dir_okay=False),
              help="PEM chain, signing certificate first.")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False),
              help="PEM private key of the signing certificate.")
@click.option("--key-passphrase-env", metavar="VAR", default=None,
              help="Environment variable with the passphrase of the given key file.")
@click.option("--org", "organisation", default=None,
              help="The organisation the certificate must name (its one O attribute, which "
                   "every signed document names): a check, refused when it differs. "
                   "Default: the certificate's.")
@click.option("--force", is_flag=True, help="Retire an existing identity instead of refusing.")
@passphrase_option
@json_option
def import_(chain_path: str, key_path: str, key_passphrase_env: str | None,
            organisation: str | None, force: bool, passphrase: bytes | None) -> int:
    """Use a CA-issued signing certificate and key (stored encrypted with --passphrase-env).
    The certificate must name exactly one organisation (O); the chain file lists it first,
    then each issuer in turn."""
    st = state()
    key_pass = (read_passphrase(key_passphrase_env, "--key-passphrase-env")
                if key_passphrase_env else None)
    was_encrypted = _replaces_an_encrypted_key(st.home, force, passphrase)
    ks = Keystore.import_identity(
        st.home, chain_pem=read_input(chain_path, max_bytes=_MAX_PEM, what="chain file"),
        key_pem=read_input(key_path, max_bytes=_MAX_PEM, what="key file"),
        key_passphrase=key_pass, passphrase=passphrase, organisation=organisation, force=force,
    )

    if passphrase is None and (key_pass is not None or was_encrypted):
        # the key came encrypted, or replaces an encrypted one: said, not done in silence
        click.echo("trustavatar: warning: the signing key is stored unencrypted in this home "
                   "(give --passphrase-env to encrypt it)", err=True)
    # A root speaks for the organisations it names itself: a certification authority's
    # root (which names the authority) is trusted for the identity's with --organisation.
    org = ks.identity.organisation
    hint = "trustavatar keys trust add ROOT.pem"
    if not any(same_organisation(org, o) for o in ks.identity.root_organisations):
        hint += ' --organisation "' + org.translate({ord(c): "\\" + c for c in '\\"$`'}) + '"'

    def human(con: Console) -> None:
        _show(ks, con, "imported signing identity")
        con.print(Text(f"  (trust its root with: {hint})"))

    emit({"ok": True, "home": str(st.home.root), "identity": ks.identity.to_dict()}, human)
    return ExitCode.OK


@command.command("show")
@passphrase_option
@json_option
def show(passphrase: bytes | None) -> int:
    """Show the signing identity and the trust anchors. The signing key is checked against
    its certificate: an unencrypted one always, an encrypted one when its passphrase is
    given (--passphrase-env, or the default variable when set)."""
    st = state()
    ks = Keystore.open(st.home)  # checks an unencrypted key (KeystoreError when damaged)
    key_checked = not ks.identity.encrypted
    why_not = "encrypted: give --passphrase-env to check it"
    if ks.identity.encrypted and passphrase is not None:
        try:
            ks.signing_key(passphrase)  # KeystoreError (exit 1) when damaged or foreign
            key_checked = True
        except PassphraseError:
            if click.get_current_context().params.get("passphrase_env") is not None:
                raise  # asked for with --passphrase-env: a wrong one is an error
            why_not = (f"the passphrase in {PASSPHRASE_ENV_DEFAULT} does not unlock it: "
                       "another home's?")
    anchors = TrustStore.from_home(st.home).anchors

    def human(con: Console) -> None:
        _show(ks, con, "signing identity")
        con.print("  key checked against the certificate: " + (
            "yes" if key_checked else f"no ({why_not})"))
        con.print(f"  trust anchors: {len(anchors)}")

    emit({"ok": True, "home": str(st.home.root), "identity": ks.identity.to_dict(),
          "key_checked": key_checked, "key_check_note": None if key_checked else why_not,
          "trust_anchors": [a.to_dict() for a in anchors]}, human)
    return ExitCode.OK


@command.group("trust")
def trust() -> None:
    """Roots whose signatures are trusted (manifests and consent artifacts)."""


@trust.command("add")
@click.argument("root", type=click.Path(dir_okay=False))
@click.option("--label", default=None, help="A short name (default: the file name).")
@click.option("--organisation", "organisations", multiple=True, metavar="NAME",
              help="An organisation this root may certify besides the one it names itself "
                   "(repeatable): for a certification authority's root, whose name is the "
                   "authority's. Without it a root speaks only for its own organisation.")
@json_option
def trust_add(root: str, label: str | None, organisations: tuple[str, ...]) -> int:
    """Trust a third-party root certificate (PEM). Documents signed under it must name the
    organisation the root names, or one given with --organisation."""
    st = state()
    before = TrustStore.from_home(st.home)
    _, anchor = before.add(
        read_input(root, max_bytes=_MAX_PEM, what="root certificate"),
        label=label or Path(root).stem[:MAX_LABEL], source=root,
        organisations=organisations,
    )
    # trusted already when the home held this root before (by its SHA-256): the store
    # add returns is a new one also when it only accepted the root for more organisations
    previous = next((a for a in before.anchors if a.fingerprint == anchor.fingerprint), None)
    added = ([o for o in anchor.vouched if o not in previous.vouched] if previous is not None
             else [])
    text = f"{anchor.subject} (sha256 {anchor.fingerprint[:16]}…)"
    if previous is None:
        text = f"trusted: {text}"
    else:
        text = f"already trusted (as {anchor.label}): {text}"
        if added:
            text += "; now also accepted for " + ", ".join(added)
    problem = anchor_problem(anchor.certificate, dt.datetime.now(dt.UTC))
    if problem is not None:  # trusted as asked, but nothing under it verifies now
        click.echo(f"trustavatar: warning: {visible(problem)}: documents signed under this "
                   "root do not verify at the present time", err=True)
    result: dict[str, object] = {"ok": True, "already_trusted": previous is not None,
                                 "anchor": anchor.to_dict()}
    if previous is not None:
        result["organisations_added"] = added
    emit(result, lambda con: con.print(Text(visible(text))))
    return ExitCode.OK


@trust.command("remove")
@click.argument("anchor")
@click.option("--force", is_flag=True,
              help="Remove a root this home retired too (after a key was leaked): what it "
                   "signed stops verifying here.")
@json_option
def trust_remove(anchor: str, force: bool) -> int:
    """Stop trusting a root: ANCHOR is its label or the start of its SHA-256, at least 8
    hex digits ('keys trust list'). This home's own roots are kept, the current one's and
    those 'keys init --force' retired: its outputs, and ledger checkpoints it signed,
    would no longer verify here."""
    st = state()
    store = TrustStore.from_home(st.home)
    chain = Keystore.open(st.home).identity.chain if Keystore.exists(st.home) else ()
    found = store.matching(anchor)
    if not found:
        raise InputError(_unmatched(anchor))
    if any(a.certificate in chain for a in found):
        raise InputError(f"{anchor!r} is this home's own root: what it signs would no longer "
                         "verify here")
    retired_roots, _ = own_certificates(st.home)
    if any(a.fingerprint in retired_roots for a in found):
        if not force:
            raise InputError(f"{anchor!r} is a root of this home's own, retired by 'keys init "
                             "--force': what it signed (videos, consents, ledger checkpoints) "
                             "would no longer verify here (--force removes it all the same, "
                             "e.g. after its key leaked)")
        click.echo("trustavatar: warning: removing a root this home retired: what it signed "
                   "no longer verifies here", err=True)
    _, gone = store.remove(anchor)
    emit({"ok": True, "removed": gone.to_dict()},
         lambda con: con.print(f"no longer trusted: {gone.subject} (sha256 "
                               f"{gone.fingerprint[:16]}…)"))
    return ExitCode.OK


def _unmatched(anchor: str) -> str:
    """What to say when no root is labelled ``anchor`` or has a SHA-256 starting with it."""
    key = anchor.strip().lower()
    if key and len(key) < MIN_PREFIX and all(c in "0123456789abcdef" for c in key):
        return (f"no trust anchor labelled {anchor!r}, and {len(key)} hex digits are too few "
                f"for the start of a SHA-256: give at least {MIN_PREFIX} ('keys trust list' "
                "shows them)")
    return (f"no trust anchor labelled {anchor!r} or with a SHA-256 starting so (a SHA-256 "
            f"prefix needs at least {MIN_PREFIX} hex digits; 'keys trust list' shows them)")


@trust.command("list")
@json_option
def trust_list() -> int:
    """List the trusted roots (this home's own marked: current, or retired by
    'keys init --force', which keep one label)."""
    home = state().home
    anchors = TrustStore.from_home(home).anchors
    own = _own_roots(home)

    def human(con: Console) -> None:
        if not anchors:
            con.print("no trust anchors (run 'trustavatar keys init' or 'keys trust add')")
        for a in anchors:
            mine = {"current": " (this home's root)",
                    "retired": " (this home's, retired)"}.get(own.get(a.fingerprint, ""), "")
            con.print(f"{a.label}{mine}: {a.subject}  sha256 {a.fingerprint[:16]}…  "
                      f"until {a.certificate.not_valid_after_utc:%Y-%m-%d}")
            if a.vouched:  # it may sign as these too: an organisation of one's own, say
                con.print("    also accepted for: " + ", ".join(repr(o) for o in a.vouched))

    emit({"ok": True, "anchors": [a.to_dict() | {"own": own.get(a.fingerprint)}
                                  for a in anchors]}, human)
    return ExitCode.OK


def _own_roots(home: Home) -> dict[str, str]:
    """SHA-256 → "current" or "retired" for this home's own roots (none where its keystore
    cannot be read: the list still shows every anchor)."""
    try:
        roots, _ = own_certificates(home)
        chain = Keystore.open(home).identity.chain if Keystore.exists(home) else ()
    except Error:
        return {}
    current = {fingerprint(c) for c in chain}
    return {f: "current" if f in current else "retired" for f in roots}
