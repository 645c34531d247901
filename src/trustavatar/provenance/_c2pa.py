"""The one place that talks to c2pa-python: contexts, signers, readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import c2pa

from trustavatar import _terminate
from trustavatar._arguments import instance
from trustavatar.keys import SigningKey, TrustStore

_ALGS = {
    "ES256": c2pa.C2paSigningAlg.ES256,
    "ES384": c2pa.C2paSigningAlg.ES384,
    "ES512": c2pa.C2paSigningAlg.ES512,
    "PS256": c2pa.C2paSigningAlg.PS256,
    "Ed25519": c2pa.C2paSigningAlg.ED25519,
}

C2paError = c2pa.C2paError


def context(trust: TrustStore) -> c2pa.Context:
    """A c2pa context that trusts ``trust``'s anchors (InputError for anything else: the
    trust store a caller passes ends up here)."""
    instance(trust, TrustStore, "trust", " (TrustStore.from_home(home) or TrustStore.of(...))")
    return c2pa.Context.from_dict(trust.c2pa_settings())


def signer(key: SigningKey, tsa_url: str | None) -> c2pa.Signer:
    """A c2pa signer whose signatures are made by our key (it never leaves cryptography)."""
    return c2pa.Signer.from_callback(
        key.sign, _ALGS[key.algorithm], key.chain_pem().decode(), tsa_url
    )


@contextmanager
def builder(definition: dict[str, Any], ctx: c2pa.Context) -> Iterator[c2pa.Builder]:
    with c2pa.Builder(definition, context=ctx) as b:
        yield b


def add_parent(b: c2pa.Builder, title: str, mime: str, stream: Any) -> None:
    """Add the media in ``stream`` as the ``parentOf`` ingredient of the manifest being
    built: c2pa copies its manifest store in and records how that validated."""
    b.add_ingredient(json.dumps({"title": title, "relationship": "parentOf"}), mime, stream)


def read_store(path: str, mime: str, ctx: c2pa.Context) -> dict[str, Any] | None:
    """The manifest store of ``path`` as JSON, None when it has none (raises C2paError)."""
    # c2pa reads through Python callbacks: a Ctrl-C raised in one is lost, or aborts
    with _terminate.held(), open(path, "rb") as stream:  # noqa: PTH123
        reader = c2pa.Reader.try_create(mime, stream, context=ctx)
        if reader is None:
            return None
        with reader:
            return json.loads(reader.json())
