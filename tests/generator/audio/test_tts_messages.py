"""An unknown language or voice names the function that lists the known ones by its full
path, so that a CLI user (who has no ``list_languages`` in scope) can find and call it."""

from __future__ import annotations

import importlib
import re

import pytest

from trustavatar.errors import SpeechSynthesisError
from trustavatar.generator.audio import synthesize


@pytest.mark.parametrize(("kwargs", "call"), [
    ({"language": "xx"}, "trustavatar.generator.audio.list_languages()"),
    ({"voice": "nobody"}, "trustavatar.generator.audio.list_voices(variants=True)"),
])
def test_the_message_names_a_function_that_exists(kwargs: dict[str, str], call: str) -> None:
    with pytest.raises(SpeechSynthesisError) as info:
        synthesize("Hello", **kwargs)
    said = str(info.value)
    assert f"see {call})" in said, said
    found = re.fullmatch(r"([\w.]+)\.(\w+)\((.*)\)", call)
    assert found is not None
    module, name, args = found.groups()
    listed = getattr(importlib.import_module(module), name)(
        **({"variants": True} if args else {}))
    assert listed  # it runs and lists something
