"""Upcasters are small chained steps: each tested alone, the chain applied in order, a gap refused."""

from typing import Any

import pytest

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.envelope import UnknownEventType
from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_contracts.upcasting import MissingUpcaster, upcast


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:  # a field renamed
    data["end_on"] = data.pop("ended")
    return data


def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:  # a field added with a default
    return {**data, "reason": data.get("reason", "99")}


STEPS = {("Example", 1): v1_to_v2, ("Example", 2): v2_to_v3}


def test_each_step_alone() -> None:
    assert v1_to_v2({"ended": "2027-01-01"}) == {"end_on": "2027-01-01"}
    assert v2_to_v3({"end_on": "2027-01-01"}) == {"end_on": "2027-01-01", "reason": "99"}


def test_the_chain_runs_from_the_stored_version_to_the_known_one() -> None:
    stored = {"ended": "2027-01-01"}
    assert upcast("Example", stored, from_version=1, to_version=3, steps=STEPS) == {
        "end_on": "2027-01-01",
        "reason": "99",
    }
    assert stored == {"ended": "2027-01-01"}  # the message as read is not changed
    assert upcast("Example", {"end_on": "x"}, from_version=2, to_version=3, steps=STEPS)["reason"] == "99"
    assert upcast("Example", {"a": 1}, from_version=3, to_version=3, steps=STEPS) == {"a": 1}


def test_a_missing_step_is_refused_with_the_version_named() -> None:
    with pytest.raises(MissingUpcaster, match="Example v2 cannot be read"):
        upcast("Example", {"ended": "x"}, from_version=1, to_version=3, steps={("Example", 1): v1_to_v2})


def test_an_envelope_of_a_version_newer_than_this_build_is_refused() -> None:
    event = PlacementEnded(
        placement_id="p", client_ref="a" * 64, facility_id="f", provider_agb="11111111",
        responsible_municipality="0034", reason="19", end_date="2027-01-01",
    )  # type: ignore[arg-type]  # fmt: skip
    raw = Envelope.wrap(event, producer="t", region="flevoland").model_dump(mode="json")
    with pytest.raises(UnknownEventType, match="PlacementEnded v2"):
        Envelope.model_validate({**raw, "schema_version": 2}).open()
    assert Envelope.model_validate(raw).open() == event
