"""Random bytes and mutated signed files: the reader only ever reports or raises our errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustavatar import provenance as pv
from trustavatar.errors import ProvenanceInputError

PREFIXES = [b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WAVE",
            b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"]


def _check(data: bytes, trust) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.bin"
        p.write_bytes(data)
        try:
            report = pv.verify(p, trust=trust)
        except ProvenanceInputError:
            return
        assert report.state in set(pv.ValidationState)
        report.to_dict()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=4096))
def test_random_bytes(trust, prefix: bytes, body: bytes) -> None:
    _check(prefix + body, trust)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_signed_files(tmp_path_factory, media, signing_key, trust, data) -> None:
    kind = data.draw(st.sampled_from(["mp4", "jpeg", "png", "wav"]))
    signed = _signed_cache(tmp_path_factory, media, signing_key, trust, kind)
    blob = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        i = data.draw(st.integers(0, len(blob) - 1))
        if op == "flip":
            blob[i] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            blob[i:i] = data.draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del blob[i:i + data.draw(st.integers(1, 16))]
        else:
            del blob[i:]
        if not blob:
            blob = bytearray(b"\x00")
    _check(bytes(blob), trust)


_CACHE: dict[tuple[int, str], bytes] = {}


def _signed_cache(tmp_path_factory, media, key, trust, kind) -> bytes:
    k = (id(trust), kind)
    if k not in _CACHE:
        out = tmp_path_factory.mktemp("signed") / f"s{media[kind].suffix}"
        pv.sign(media[kind], out, key=key, trust=trust)
        _CACHE[k] = out.read_bytes()
    return _CACHE[k]
