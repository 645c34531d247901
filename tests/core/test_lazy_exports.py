"""Packages that import their public names on first use (``trustavatar._lazy``)."""

from __future__ import annotations

import pytest
from tests.fresh_python import fresh_python_json

from trustavatar._lazy import lazy_exports

LAZY_PACKAGES = ["trustavatar.consent", "trustavatar.generator", "trustavatar.generator.audio"]


def _modules_after(statement: str) -> set[str]:
    return set(fresh_python_json(f"{statement}\nprint(json.dumps(sorted(sys.modules)))"))


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_importing_the_package_imports_none_of_its_modules(package: str) -> None:
    loaded = _modules_after(f"import {package}")
    assert not {m for m in loaded if m.startswith(f"{package}.")
                and m.count(".") == package.count(".") + 1}


def test_the_spoken_code_child_imports_no_face_crypto_schema_or_scipy() -> None:
    loaded = _modules_after("import trustavatar.consent.speech_process")
    heavy = {"scipy", "cryptography", "jsonschema", "mediapipe", "cv2", "dlib", "c2pa",
             "trustavatar.face", "trustavatar.consent.artifact", "trustavatar.generator.motion"}
    assert not heavy & loaded


def test_the_consent_commands_do_not_import_scipy_ndimage() -> None:
    # ~0.3 s per process; the one filter they need is trustavatar._series_filters's
    loaded = _modules_after("import trustavatar._cli.consent, trustavatar.consent.record, "
                            "trustavatar.consent.liveness")
    assert "scipy.ndimage" not in loaded


def test_the_detectors_analyzers_import_neither_scipy_stats_nor_scipy_ndimage() -> None:
    # ~1.1 s per scan process (and per worker)
    loaded = _modules_after("from trustavatar.detector.registry import create_analyzer, "
                            "list_analyzers\n[create_analyzer(n) for n in list_analyzers()]")
    assert not {"scipy.stats", "scipy.ndimage"} & loaded


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves_and_is_listed(package: str) -> None:
    module = __import__(package, fromlist=["_"])
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        module.nonexistent  # noqa: B018


def test_a_function_named_like_a_module_of_its_package_is_refused() -> None:
    with pytest.raises(ImportError, match=r"also module names: \['record'\]"):
        lazy_exports("trustavatar.consent", {"record": "record", "check_clip": "record"})


def test_a_submodule_imported_first_does_not_replace_a_public_function() -> None:
    code = ("import trustavatar.consent.verification, trustavatar.consent.issuance\n"
            "import trustavatar.generator.audio.posteriors\n"
            "from trustavatar import consent\nfrom trustavatar.generator import audio\n"
            "print(json.dumps([callable(consent.verify), callable(consent.issue), "
            "callable(audio.phone_posteriors), type(consent.verify).__name__]))")
    assert fresh_python_json(code) == [True, True, True, "function"]
