"""A library call given an argument of the wrong kind raises InputError naming it, before
any work: never an AttributeError or TypeError from deep inside, and never a string such
as "no" taken for True (Keystore.create(force="no") retired the identity)."""

from __future__ import annotations

import pytest

from trustavatar import consent, provenance
from trustavatar.errors import InputError
from trustavatar.home import Home
from trustavatar.keys import Keystore
from trustavatar.registry import Registry, export_head, verify_ledger


def test_a_string_is_not_a_yes(tmp_path) -> None:
    home = Home.resolve(tmp_path / "home")
    ks = Keystore.create(home, organisation="Keep Me")
    for force in ("no", 0, 1, None):
        with pytest.raises(InputError, match=r"^force must be True or False"):
            Keystore.create(home, organisation="Other", force=force)  # type: ignore[arg-type]
    assert Keystore.open(home).identity.organisation == "Keep Me"
    assert not (home.keys_dir / "retired").exists()
    src = tmp_path / "a.wav"
    src.write_bytes(b"RIFF")
    with pytest.raises(InputError, match=r"^overwrite must be True or False"):
        provenance.sign(src, tmp_path / "b.wav", key=ks.signing_key(), trust=ks.trust_store(),
                        overwrite="no")  # type: ignore[arg-type]


def test_keys_stores_registries_and_paths_are_checked(tmp_path, media) -> None:
    home = Home.resolve(tmp_path / "home")
    ks = Keystore.create(home, organisation="Org")
    key, trust = ks.signing_key(), ks.trust_store()
    out = tmp_path / "out.mp4"
    for kwargs, says in (({"key": None}, r"^key must be a SigningKey"),
                         ({"key": ks}, r"^key must be a SigningKey"),
                         ({"trust": None}, r"^trust must be a TrustStore"),
                         ({"trust": "x"}, r"^trust must be a TrustStore"),
                         ({"consent": "a.consent.json"}, r"^consent must be a ConsentBinding"),
                         ({"ingredients": "x"}, r"^ingredients must be a sequence"),
                         ({"title": 5}, r"^title must be text"),
                         ({"tsa_url": 5}, r"^tsa_url must be a URL")):
        with pytest.raises(InputError, match=says):
            provenance.sign(media["mp4"], out, **{"key": key, "trust": trust, **kwargs})
    for bad in (None, 5, b"/tmp/x.mp4"):
        with pytest.raises(InputError, match=r"^path must be a path"):
            provenance.verify(bad, trust=trust)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"^src must be a path"):
            provenance.sign(bad, out, key=key, trust=trust)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^trust must be a TrustStore"):
        provenance.verify(media["mp4"], trust=ks)  # type: ignore[arg-type]
    registry_file = str(tmp_path / "registry.sqlite3")
    for call in (lambda: export_head(registry_file, key),  # type: ignore[arg-type]
                 lambda: verify_ledger(registry_file),  # type: ignore[arg-type]
                 lambda: consent.export_revocations(registry_file, key),  # type: ignore[arg-type]
                 lambda: consent.create_challenge(
                     registry_file, consent.ConsentDraft(display_name="A"))):  # type: ignore
        with pytest.raises(InputError, match=r"^registry must be a Registry"):
            call()
    with (Registry.open(tmp_path / "r.sqlite3") as reg,
          pytest.raises(InputError, match=r"^key must be a SigningKey")):
        export_head(reg, None)  # type: ignore[arg-type]
    assert not out.exists()


def test_a_checkpoint_is_given_as_bytes(tmp_path) -> None:
    from trustavatar.registry import load_checkpoint

    ks = Keystore.create(Home.resolve(tmp_path / "home"), organisation="Org")
    for source in ("head.json", tmp_path / "head.json", 10 ** 12, -1, {"seq": 1}):
        with pytest.raises(InputError, match=r"^a ledger checkpoint is given as its bytes"):
            load_checkpoint(source, trust=ks.trust_store())  # type: ignore[arg-type]


def test_scan_arguments_are_checked_before_any_work(tmp_path) -> None:
    from trustavatar.detector import scan, scan_many
    from trustavatar.errors import DetectionError

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not looked at")
    for kwargs, says in (({"analyzers": 5}, "analyzers must be a sequence"),
                         ({"analyzer_options": [1]}, "analyzer_options must be a mapping"),
                         ({"fusion": "model.json"}, "fusion must be a FusionModel"),
                         ({"stream": "0"}, "stream must be a video stream's number"),
                         ({"stream": True}, "stream must be")):
        with pytest.raises(DetectionError, match=says):
            scan(video, **kwargs)
    with pytest.raises(DetectionError, match=r"argument\(s\) scan does not take: bogus"):
        list(scan_many([video], bogus=1))
    with pytest.raises(DetectionError, match="home must be a path"):
        list(scan_many([video], home=5))
    (item,) = list(scan_many([None]))  # type: ignore[list-item]
    assert item.path == "None" and "not a path" in (item.error or "")


def test_consent_scalars_and_sequences_of_the_wrong_kind(tmp_path) -> None:
    from trustavatar.face import sample_portrait_path

    ks = Keystore.create(Home.resolve(tmp_path / "home"), organisation="Org")
    release = tmp_path / "release.txt"
    release.write_text("signed")
    common = {"portrait": sample_portrait_path(), "display_name": "A",
              "evidence": consent.Evidence.operator_attestation(release)}
    for kwargs, says in (({"purposes": None}, r"^purposes must be a sequence of strings"),
                         ({"languages": 5}, r"^languages must be a sequence"),
                         ({"valid_for": 365}, r"^valid_for must be a datetime.timedelta"),
                         ({"portrait": None}, r"^the portrait must be a path or the image")):
        with pytest.raises(InputError, match=says):
            consent.issue(ks.signing_key(), **{**common, **kwargs})
    artifact = consent.issue(ks.signing_key(), **common)
    for kwargs, says in (({"face_threshold": "0.5"}, r"^face_threshold must be in"),
                         ({"face_threshold": None}, r"^face_threshold must be in"),
                         ({"revocation_lists": None}, r"^revocation_lists must be a sequence")):
        with pytest.raises(InputError, match=says):
            consent.verify(artifact.raw, trust=ks.trust_store(), **kwargs)


def test_paths_given_as_bytes_objects_and_generators_of_names(tmp_path) -> None:
    import os

    from trustavatar._arguments import path

    (tmp_path / "x").write_bytes(b"")
    (entry,) = list(os.scandir(os.fsencode(tmp_path)))  # a path object that gives bytes
    with pytest.raises(InputError, match="must be a path given as text"):
        path(entry, "clip")
    with pytest.raises(InputError, match="clip: the path is empty"):
        path("  ", "clip")
    from trustavatar.detector import scan

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not a video")
    with pytest.raises(Exception) as e:  # the names were used, not used up by the check
        scan(video, analyzers=(n for n in ["blink"]))
    assert "no analyzers selected" not in str(e.value)


def test_write_audit_takes_a_real_yes(tmp_path) -> None:
    from trustavatar.reports import build_audit, write_audit

    home = Home.resolve(tmp_path / "home")
    ks = Keystore.create(home, organisation="Org")
    with Registry.for_home(home):
        pass  # an empty registry: an audit of nothing
    page = tmp_path / "a.html"
    page.write_text("MINE")
    with pytest.raises(InputError, match=r"^overwrite must be True or False"):
        write_audit(build_audit(home), page, ks.signing_key(), overwrite="no")  # type: ignore
    assert page.read_text() == "MINE"
