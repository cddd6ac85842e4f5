"""The committed JSON Schemas are the published contract; a breaking change fails the build."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from zorgstroom_contracts import EVENT_TYPES
from zorgstroom_contracts.compat import breaking_changes, schema_of

_spec = importlib.util.spec_from_file_location("gen_schemas", Path(__file__).parents[1] / "gen_schemas.py")
assert _spec and _spec.loader
gen_schemas = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_schemas)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_models_do_not_break_the_published_schema(event_type: str) -> None:
    spec = EVENT_TYPES[event_type]
    published = json.loads(gen_schemas.path_for(event_type, spec.schema_version).read_text())
    assert breaking_changes(published, schema_of(spec)) == []


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_published_schema_is_up_to_date_with_the_models(event_type: str) -> None:
    spec = EVENT_TYPES[event_type]
    committed = gen_schemas.path_for(event_type, spec.schema_version).read_text()
    assert committed == gen_schemas.render(schema_of(spec)), "run `make schemas` and commit"


@pytest.fixture
def published() -> dict:
    return json.loads(gen_schemas.path_for("ClientRegistered", 1).read_text())  # v1 still had birth_year


def test_every_published_version_stays_committed() -> None:
    for spec in EVENT_TYPES.values():
        for version in range(1, spec.schema_version + 1):
            assert gen_schemas.path_for(spec.event_type, version).exists(), f"{spec.event_type} v{version}"


def test_removing_a_field_is_breaking(published: dict) -> None:
    changed = copy.deepcopy(published)
    del changed["properties"]["birth_year"]
    changed["required"].remove("birth_year")
    assert breaking_changes(published, changed) == ["data.birth_year: field removed"]


def test_changing_a_type_is_breaking(published: dict) -> None:
    changed = copy.deepcopy(published)
    changed["properties"]["birth_year"]["type"] = "string"
    assert breaking_changes(published, changed) == ["data.birth_year: type changed from ['integer'] to ['string']"]


def test_making_an_optional_field_required_is_breaking(published: dict) -> None:
    changed = copy.deepcopy(published)
    changed["properties"]["note"] = {"type": "string"}
    optional = copy.deepcopy(changed)
    changed["required"].append("note")
    assert breaking_changes(optional, changed) == ["data.note: field made required"]


def test_adding_an_optional_field_is_compatible(published: dict) -> None:
    changed = copy.deepcopy(published)
    changed["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert breaking_changes(published, changed) == []


def test_removing_a_code_from_a_code_list_is_breaking(published: dict) -> None:
    changed = copy.deepcopy(published)
    changed["$defs"]["Urgency"]["enum"].remove("high")
    assert breaking_changes(published, changed) == ["data.urgency: enum values removed: ['high']"]


def test_a_nested_field_removed_is_breaking(published: dict) -> None:
    changed = copy.deepcopy(published)
    del changed["$defs"]["Household"]["properties"]["children"]
    assert "data.household.children: field removed" in breaking_changes(published, changed)


def test_the_asyncapi_document_names_every_topic_and_event_and_is_committed() -> None:
    from zorgstroom_contracts.asyncapi import asyncapi_document
    from zorgstroom_contracts.topics import TOPICS

    document = asyncapi_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {t.value for t in TOPICS} | {"wmo.provider.{agb}.v1"} == addresses
    assert set(document["components"]["messages"]) == set(EVENT_TYPES)
    for message in document["components"]["messages"].values():
        ref = message["payload"]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert ref in document["components"]["schemas"]
    committed = (gen_schemas.SCHEMAS / "asyncapi.json").read_text()
    assert committed == gen_schemas.render(document), "run `make schemas` and commit"
