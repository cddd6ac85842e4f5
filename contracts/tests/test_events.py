"""Events, envelope and value types behave as the contract promises."""

from datetime import date

import pytest
from pydantic import ValidationError

from zorgstroom_contracts import EVENT_TYPES, Envelope, dlq_topic, provider_topic, topic_name
from zorgstroom_contracts.codes import CareForm, EndReason, ProductCategory
from zorgstroom_contracts.envelope import UnknownEventType
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_contracts.topics import Topic

REF = "ab" * 32


def registered(**overrides: object) -> ClientRegistered:
    fields: dict[str, object] = dict(
        intake_id="in-1",
        client_ref=REF,
        registering_municipality="0034",
        responsible_municipality="0034",
        care_form="BW_24H",
        needs=["psychiatric"],
        urgency="normal",
        household={"adults": 1, "children": 0},
        preferred_municipalities=[],
        registered_on=date(2026, 11, 22),
    )
    fields.update(overrides)
    return ClientRegistered.model_validate(fields)


def test_envelope_round_trips_through_json_and_opens_to_the_event() -> None:
    envelope = Envelope.wrap(registered(), producer="intake", region="flevoland")
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again.event_type == "ClientRegistered" and again.schema_version == 2
    assert again.open() == registered()


def test_consumers_ignore_fields_they_do_not_know() -> None:
    envelope = Envelope.wrap(registered(), producer="intake", region="flevoland")
    raw = envelope.model_dump(mode="json")
    raw["future_field"] = 1
    raw["data"]["future_field"] = "x"
    assert Envelope.model_validate(raw).open() == registered()


def test_an_unknown_event_type_cannot_be_opened() -> None:
    envelope = Envelope.wrap(registered(), producer="intake", region="flevoland")
    with pytest.raises(UnknownEventType):
        envelope.model_copy(update={"event_type": "Nonsense"}).open()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("registering_municipality", "34"),
        ("client_ref", "not-a-ref"),
        ("urgency", "very"),
        ("care_form", "bw_24h"),
        ("needs", ["sad"]),
    ],
)
def test_value_types_refuse_malformed_codes(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        registered(**{field: value})
    assert error.value.errors()[0]["loc"][0] == field


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        registered().care_form = "MO_24H"  # type: ignore[misc]


def test_every_event_type_has_a_topic_and_a_key_it_carries() -> None:
    for spec in EVENT_TYPES.values():
        assert spec.key_field in spec.model.model_fields, spec.event_type
        assert spec.topic in Topic


def test_topic_names_carry_the_region_prefix_and_dlq_twin() -> None:
    assert topic_name(Topic.CLIENT_REGISTERED, "fl.") == "fl.wmo.client-registered.v1"
    assert dlq_topic("wmo.client-registered.v1") == "wmo.client-registered.v1.dlq"
    assert provider_topic("12345678") == "wmo.provider.12345678.v1"


def test_care_forms_map_to_iwmo_product_categories() -> None:
    assert CareForm.MO_EMERGENCY.product_category is ProductCategory.SPOEDOPVANG
    assert CareForm.BW_HOME.is_sheltered_housing
    assert EndReason("19") is EndReason.ENDED_AS_PLANNED


def test_every_topic_has_exactly_one_producer() -> None:
    from zorgstroom_contracts.topics import PRODUCER_OF, TOPICS

    assert set(PRODUCER_OF) == set(TOPICS)
    assert set(PRODUCER_OF.values()) == {"intake", "placement", "housing"}


def test_a_v1_registration_on_the_topic_reads_as_v2_without_the_fields_no_consumer_needs() -> None:
    raw = Envelope.wrap(registered(), producer="intake", region="flevoland").model_dump(mode="json")
    raw["schema_version"] = 1
    raw["data"] |= {"birth_year": 1987, "residence_municipality": None, "responsibility_rule": "turned_to"}
    opened = Envelope.model_validate(raw).open()
    assert opened == registered()
    assert not {"birth_year", "residence_municipality", "responsibility_rule"} & set(opened.model_dump())


def test_a_v1_assessment_reads_as_v2_without_the_zrm_scores_or_the_wish() -> None:
    from zorgstroom_contracts.events import OutflowReadinessAssessed

    data = {
        "placement_id": "p-1", "client_ref": REF, "provider_agb": "12345678", "responsible_municipality": "0034",
        "assessed_on": "2027-02-01", "ready": True, "scores": {"housing": 4}, "client_scores": {"housing": 3},
        "client_wants_to_move": True,
    }  # fmt: skip
    raw = Envelope.wrap(
        OutflowReadinessAssessed.model_validate(data), producer="placement", region="flevoland"
    ).model_dump(mode="json")
    raw["schema_version"], raw["data"] = 1, data
    opened = Envelope.model_validate(raw).open()
    assert isinstance(opened, OutflowReadinessAssessed) and opened.ready is True
    assert not {"scores", "client_scores", "client_wants_to_move"} & set(opened.model_dump())
