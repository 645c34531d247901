"""The source type a manifest declares, as a caller may name it."""

from __future__ import annotations

import pytest

from trustavatar.errors import InputError
from trustavatar.provenance import SourceType, build_manifest


@pytest.mark.parametrize("name", ["composite", "compositeWithTrainedAlgorithmicMedia",
                                  SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.uri,
                                  SourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA])
def test_a_source_type_by_any_of_its_names(name) -> None:
    actions = build_manifest(title="x", source_type=name)["assertions"][0]["data"]["actions"]
    assert actions[0]["digitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.edited"]


@pytest.mark.parametrize("bad", ["bogus", 5, None, ""])
def test_an_unknown_source_type_is_an_input_error(bad) -> None:
    with pytest.raises(InputError, match="unknown source type"):
        build_manifest(title="x", source_type=bad)
