"""What `emit` puts in the outbox: the event for its topic, a provider's smaller copy, and nothing too large."""

from datetime import date
from typing import Any

import pytest

from zorgstroom_contracts import provider_topic
from zorgstroom_contracts.events import OutflowCompleted, PlacementEnded
from zorgstroom_runtime.outbox import MAX_EVENT_BYTES, Outbox, UnitOfWork

REF = "ab" * 32


def unit_of_work() -> UnitOfWork:
    conn: Any = None  # emit only collects rows; flush writes them
    return UnitOfWork(conn, Outbox("placement", "flevoland", "", "placement"), correlation_id=None, causation_id=None)


def outflow(**overrides: Any) -> OutflowCompleted:
    fields: dict[str, Any] = {
        "placement_id": "p-1", "client_ref": REF, "unit_id": "u-1", "responsible_municipality": "0034",
        "municipality": "0034", "outflow_date": date(2027, 3, 1), "support_at_home": "none", "wijk": "WK003401",
    }  # fmt: skip
    return OutflowCompleted.model_validate(fields | overrides)


async def test_a_copy_goes_to_the_other_topics_with_the_same_event_id_and_its_own_data() -> None:
    uow = unit_of_work()
    event = outflow()
    envelope = await uow.emit(event, also_to=[provider_topic("12345678")], copy=outflow(unit_id=None, wijk=None))
    rows = {row[1]: row for row in uow._pending}
    assert set(rows) == {"wmo.outflow-completed.v1", "wmo.provider.12345678.v1"}
    assert {row[0] for row in rows.values()} == {envelope.event_id}
    assert '"unit_id":"u-1"' in rows["wmo.outflow-completed.v1"][5]
    assert '"unit_id":null' in rows["wmo.provider.12345678.v1"][5]


async def test_a_copy_of_another_type_or_key_is_refused() -> None:
    other_key = outflow(client_ref="cd" * 32)
    ended = PlacementEnded.model_validate(
        {"placement_id": "p-1", "client_ref": REF, "facility_id": "f", "provider_agb": "12345678",
         "responsible_municipality": "0034", "reason": "19", "end_date": date(2027, 3, 1)}
    )  # fmt: skip
    for copy in (other_key, ended):
        with pytest.raises(ValueError, match="same type with the same key"):
            await unit_of_work().emit(outflow(), also_to=[provider_topic("12345678")], copy=copy)


async def test_an_event_larger_than_the_limit_is_refused_before_it_reaches_the_outbox() -> None:
    uow = unit_of_work()
    huge = outflow().model_copy(update={"placement_id": "p" * (MAX_EVENT_BYTES + 1)})  # past any validation
    with pytest.raises(ValueError, match="bytes; an event may be"):
        await uow.emit(huge)
    assert uow._pending == []
