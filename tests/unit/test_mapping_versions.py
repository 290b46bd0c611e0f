"""Index names carry their mapping version; an index made from an older mapping than the code's is reported."""

from __future__ import annotations

import pytest

from projector.elastic import load_mapping, mapping_version_of, new_index_name, outdated_mapping
from shared.read_models import MAPPING_VERSIONS, Projection


@pytest.mark.parametrize("projection", list(Projection))
def test_new_index_names_carry_the_current_mapping_version(projection: Projection) -> None:
    name = new_index_name("test-", projection)
    assert mapping_version_of(name) == MAPPING_VERSIONS[projection]
    assert outdated_mapping(name, projection) is None


@pytest.mark.parametrize("projection", list(Projection))
def test_every_current_mapping_file_exists_and_parses(projection: Projection) -> None:
    body = load_mapping(projection, MAPPING_VERSIONS[projection])
    assert body["mappings"]["dynamic"] == "strict"


def test_an_older_index_is_reported_with_the_command_that_moves_it() -> None:
    old = f"products-v{MAPPING_VERSIONS[Projection.PRODUCTS] - 1}-1795678947974"
    warning = outdated_mapping(old, Projection.PRODUCTS)
    assert warning is not None and "python -m projector rebuild products" in warning


def test_names_not_made_by_the_projector_are_left_alone() -> None:
    assert mapping_version_of("products") is None
    assert outdated_mapping("my-own-index", Projection.PRODUCTS) is None
