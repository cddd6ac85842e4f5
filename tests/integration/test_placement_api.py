"""Placement over HTTP with intake beside it: facilities, matching by the rules, assessments, endings,
outflow on an accepted offer, doorstroom, registrations kept, transfers as proposals, and every refusal a
caller can meet. Business dates lie in the recent past: none may lie beyond today (docs/domain.md, rule 15)."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.builders import intake_body, valid_bsn
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_contracts.events import HousingOfferAccepted
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_placement.adapters.repository import PostgresWaitingList
from zorgstroom_placement.bootstrap import build as build_placement

ZRM = [d.value for d in ZrmDomain]
PROVIDER_A, PROVIDER_B = "11111111", "22222222"
TODAY = date.today()


def ago(days: int) -> str:
    """A business date `days` before today, as sent over HTTP."""
    return (TODAY - timedelta(days=days)).isoformat()


def facility(provider: str, municipality: str, wijk: str | None, capacity: int, **extra: Any) -> dict[str, Any]:
    return {
        "provider_agb": provider,
        "name": f"Illustrative facility {wijk or municipality}",
        "municipality": municipality,
        "wijk": wijk,
        "care_form": "MO_24H",
        "capacity": capacity,
        "supported_needs": ["psychiatric", "addiction"],
    } | extra


@dataclass
class Stack:
    ns: Namespace
    intake: httpx.AsyncClient
    placement: httpx.AsyncClient

    async def register(self, who: str, **overrides: Any) -> str:
        return (await self.register_intake(who, **overrides))["client_ref"]

    async def register_intake(self, who: str, **overrides: Any) -> dict[str, str]:
        defaults = {"needs": ["psychiatric"], "preferred_municipalities": [], "registered_on": ago(30)}
        body = intake_body(**(defaults | overrides))
        answer = await self.intake.post(
            "/v1/intakes", json=body, headers=self.ns.auth(who) | {"Idempotency-Key": str(uuid.uuid4())}
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    async def waiting(self, who: str = "region") -> list[dict[str, Any]]:
        answer = await self.placement.get("/v1/waiting-list", headers=self.ns.auth(who))
        assert answer.status_code == 200, answer.text
        return list(answer.json()["clients"])

    async def put_facility(self, facility_id: str, body: dict[str, Any], who: str = "region") -> httpx.Response:
        return await self.placement.put(f"/v1/facilities/{facility_id}", json=body, headers=self.ns.auth(who))

    async def placements(self, at_least: int, topic: str = "wmo.placement-made.v1") -> dict[str, dict[str, Any]]:
        records = await read_topic(self.ns.infra.kafka_bootstrap, self.ns.topic(topic), at_least=at_least)
        events = [json.loads(r.value) for r in records]
        return {e["data"]["client_ref"]: e["data"] for e in events}


@contextlib.asynccontextmanager
async def stack(ns: Namespace) -> AsyncIterator[Stack]:
    async with (
        running(build_intake(ns.settings("intake")), "intake") as intake,
        running(build_placement(ns.settings("placement")), "placement") as placement,
    ):
        yield Stack(ns, intake, placement)


@pytest.fixture
async def placed(ns: Namespace) -> AsyncIterator[tuple[Stack, dict[str, str]]]:
    """Six clients on the list before any facility exists, then two facilities: placed by the rules."""
    async with stack(ns) as s:
        refs = {
            "c1": await s.register("almere", registered_on=ago(40)),
            "c2": await s.register("almere", registered_on=ago(39), preferred_municipalities=["0995"]),
            "c3": await s.register("urk", registering_municipality="0184", registered_on=ago(38)),
            "c4": await s.register("almere", registered_on=ago(31), urgency="emergency"),
            "c5": await s.register("almere", registered_on=ago(37), needs=["mild_intellectual_disability"]),
        }
        await eventually(s.waiting, until=lambda clients: len(clients) == 5)
        assert (await s.put_facility("almere-1", facility(PROVIDER_A, "0034", "WK003401", 2))).status_code == 201
        assert (await s.put_facility("lelystad-1", facility(PROVIDER_B, "0995", "WK099501", 2))).status_code == 201
        yield s, refs


async def test_waiting_clients_are_placed_by_urgency_then_municipality_then_preference(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    made = await s.placements(at_least=4)
    assert {name: made[ref]["facility_id"] for name, ref in refs.items() if ref in made} == {
        "c4": "almere-1",  # emergency first, in its responsible municipality
        "c1": "almere-1",  # then the longest waiting, in its responsible municipality
        "c2": "lelystad-1",  # Almere full: the municipality the client prefers
        "c3": "lelystad-1",  # Urk has no facility: elsewhere in the region
    }
    event = made[refs["c4"]]
    assert event["product_category"] == "16" and event["unit"] == "14" and event["wijk"] == "WK003401"
    assert event["provider_agb"] == PROVIDER_A and event["responsible_municipality"] == "0034"
    assert [c["client_ref"] for c in await s.waiting()] == [refs["c5"]]  # nobody supports c5's needs


async def test_each_provider_topic_holds_only_its_own_clients(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    own_a = await s.placements(at_least=2, topic=f"wmo.provider.{PROVIDER_A}.v1")
    own_b = await s.placements(at_least=2, topic=f"wmo.provider.{PROVIDER_B}.v1")
    assert set(own_a) == {refs["c4"], refs["c1"]} and set(own_b) == {refs["c2"], refs["c3"]}


async def test_facilities_show_occupancy_to_region_staff_and_to_their_own_provider_only(placed) -> None:  # type: ignore[no-untyped-def]
    s, _ = placed
    await s.placements(at_least=4)

    async def listed(who: str) -> list[tuple[str, int, int | None, int | None]]:
        found = (await s.placement.get("/v1/facilities", headers=s.ns.auth(who))).json()["facilities"]
        return [(f["facility_id"], f["capacity"], f["occupied"], f["free_places"]) for f in found]

    assert await listed("region") == [("almere-1", 2, 2, 0), ("lelystad-1", 2, 2, 0)]
    assert await listed("provider-a") == [("almere-1", 2, 2, 0), ("lelystad-1", 2, None, None)]  # its own only
    for other in ("almere", "readonly"):  # capacity is for whoever plans; who is in a place is not
        assert await listed(other) == [("almere-1", 2, None, None), ("lelystad-1", 2, None, None)]
    refused = await s.placement.get("/v1/facilities", headers=s.ns.auth("corporation"))
    assert refused.status_code == 403  # a corporation plans no care places


async def test_an_ending_frees_a_place_that_the_next_waiting_client_gets(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    made = await s.placements(at_least=4)
    c6 = await s.register("almere", registered_on=ago(12))
    await eventually(s.waiting, until=lambda clients: c6 in [c["client_ref"] for c in clients])
    ending = await s.placement.post(
        f"/v1/placements/{made[refs['c4']]['placement_id']}/end",
        json={"reason": "21", "end_date": ago(0)},
        headers=s.ns.auth("provider-a"),
    )
    assert ending.status_code == 200, ending.text
    again = await s.placement.post(
        f"/v1/placements/{made[refs['c4']]['placement_id']}/end",
        json={"reason": "21", "end_date": ago(0)},
        headers=s.ns.auth("provider-a"),
    )
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    made = await s.placements(at_least=5)
    assert made[c6]["facility_id"] == "almere-1"
    assert made[c6]["start_date"] == ago(0) and made[c6]["waited_days"] == 12
    ended = await s.placements(at_least=1, topic="wmo.placement-ended.v1")
    assert ended[refs["c4"]]["reason"] == "21" and ended[refs["c4"]]["care_form"] == "MO_24H"
    assert ended[refs["c4"]]["intake_id"] == made[refs["c4"]]["intake_id"]


async def test_an_assessment_makes_a_client_ready_and_a_later_one_takes_it_back(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    placement_id = (await s.placements(at_least=4))[refs["c1"]]["placement_id"]
    path = f"/v1/placements/{placement_id}/assessments"
    good = {"assessed_on": ago(0), "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True}
    ready = await s.placement.post(path, json=good, headers=s.ns.auth("provider-a"))
    assert ready.status_code == 201 and ready.json()["ready"] is True and ready.json()["support_at_home"] is False
    unwilling = await s.placement.post(
        path, json=good | {"client_wants_to_move": False}, headers=s.ns.auth("provider-a")
    )
    assert unwilling.json()["ready"] is False  # the client's voice counts
    acute = good | {"scores": dict.fromkeys(ZRM, 4) | {"justice": 1}}
    assert (await s.placement.post(path, json=acute, headers=s.ns.auth("provider-a"))).json()["ready"] is False
    events = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.outflow-readiness-assessed.v1"), at_least=3)
    assert [json.loads(r.value)["data"]["ready"] for r in events] == [True, False, False]  # one key: in order
    # The event carries the outcome; the scores and the client's wish stay with placement (minimisation).
    assert not {"scores", "client_scores", "client_wants_to_move"} & set(json.loads(events[1].value)["data"])


async def test_assessments_are_refused_with_a_reason(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    placement_id = (await s.placements(at_least=4))[refs["c1"]]["placement_id"]
    path = f"/v1/placements/{placement_id}/assessments"
    body = {"assessed_on": ago(0), "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True}
    missing = await s.placement.post(
        path, json=body | {"scores": dict.fromkeys(ZRM[:-1], 4)}, headers=s.ns.auth("provider-a")
    )
    out_of_range = await s.placement.post(
        path, json=body | {"scores": dict.fromkeys(ZRM, 4) | {"housing": 6}}, headers=s.ns.auth("provider-a")
    )
    other_provider = await s.placement.post(path, json=body, headers=s.ns.auth("provider-b"))
    unknown = await s.placement.post("/v1/placements/nope/assessments", json=body, headers=s.ns.auth("provider-a"))
    assert missing.status_code == 422 and "justice" in missing.text
    assert out_of_range.status_code == 422 and "housing" in out_of_range.text
    assert other_provider.status_code == 403 and unknown.status_code == 404


async def test_an_accepted_offer_completes_the_outflow_and_frees_the_place(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    made = await s.placements(at_least=4)
    accepted = Envelope.wrap(
        HousingOfferAccepted(
            offer_id="offer-1",
            unit_id="unit-1",
            client_ref=refs["c1"],
            answered_on=TODAY,
            corporation_id="woonstad-illustratief",
            municipality="0034",
            wijk="WK003402",
        ),
        producer="housing",
        region="flevoland",
    )
    await produce(
        s.ns.infra.kafka_bootstrap,
        s.ns.topic("wmo.housing-offer-answered.v1"),
        [(refs["c1"].encode(), accepted.model_dump_json().encode(), [])],
    )
    outflow = (await s.placements(at_least=1, topic="wmo.outflow-completed.v1"))[refs["c1"]]
    assert outflow["placement_id"] == made[refs["c1"]]["placement_id"]
    assert (outflow["municipality"], outflow["wijk"], outflow["outflow_date"]) == ("0034", "WK003402", ago(0))
    ended = await s.placements(at_least=1, topic="wmo.placement-ended.v1")
    assert ended[refs["c1"]]["reason"] == "19"
    own = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic(f"wmo.provider.{PROVIDER_A}.v1"), at_least=4)
    copies = {(e["event_type"], e["data"]["client_ref"]): e for e in (json.loads(r.value) for r in own)}
    # The provider's copies carry only what it needs: not the new home, not the wait, not the intake.
    copy = copies[("OutflowCompleted", refs["c1"])]
    assert (copy["data"]["unit_id"], copy["data"]["wijk"], copy["data"]["municipality"]) == (None, None, "0034")
    assert (outflow["unit_id"], copy["schema_version"]) == ("unit-1", 2)
    made_copy = copies[("PlacementMade", refs["c1"])]["data"]
    assert (made_copy["waited_days"], made_copy["intake_id"]) == (None, None)
    assert made[refs["c1"]]["waited_days"] is not None and made[refs["c1"]]["intake_id"] is not None


async def test_facility_changes_that_break_a_rule_are_refused_and_change_nothing(placed) -> None:  # type: ignore[no-untyped-def]
    s, _ = placed
    await s.placements(at_least=4)
    below = await s.put_facility("almere-1", facility(PROVIDER_A, "0034", "WK003401", 1))
    over_cap = await s.put_facility("almere-2", facility(PROVIDER_A, "0034", "WK003401", 59))  # cap 60, 2 in use
    wrong_wijk = await s.put_facility("almere-3", facility(PROVIDER_A, "0034", "WK099501", 5))
    outside = await s.put_facility("deventer-1", facility(PROVIDER_A, "0150", "WK015001", 5))
    other_provider = await s.put_facility("almere-1", facility(PROVIDER_B, "0034", "WK003401", 3), who="provider-b")
    home_with_wijk = await s.put_facility("team-1", facility(PROVIDER_A, "0034", "WK003401", 5, care_form="BW_HOME"))
    unknown_form = await s.put_facility("x-1", facility(PROVIDER_A, "0034", "WK003401", 5, care_form="MO_CLUSTERED"))
    assert below.status_code == 409 and below.json()["occupied"] == 2
    assert over_cap.status_code == 409 and over_cap.json()["wijk"] == "WK003401" and over_cap.json()["cap"] == 60
    assert [r.status_code for r in (wrong_wijk, outside, home_with_wijk, unknown_form)] == [422, 422, 422, 422]
    assert unknown_form.json()["errors"][0]["field"] == "care_form"
    assert other_provider.status_code == 403
    listed = (await s.placement.get("/v1/facilities", headers=s.ns.auth("region"))).json()["facilities"]
    assert [(f["facility_id"], f["capacity"]) for f in listed] == [("almere-1", 2), ("lelystad-1", 2)]
    team = await s.put_facility("team-1", facility(PROVIDER_A, "0034", None, 30, care_form="BW_HOME"), "provider-a")
    assert team.status_code == 201 and team.json()["wijk"] is None


async def test_a_proposed_transfer_moves_the_client_to_another_municipalitys_list_once_accepted(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    c5 = refs["c5"]
    path = f"/v1/clients/{c5}/transfer"
    body = {"to_municipality": "0303", "reason": "origin", "effective_on": ago(0)}
    assert (await s.placement.post(path, json=body, headers=s.ns.auth("urk"))).status_code == 403
    proposal = await s.placement.post(path, json=body, headers=s.ns.auth("almere"))
    assert proposal.status_code == 202, proposal.text
    transfer_id = proposal.json()["transfer_id"]
    assert proposal.json()["status"] == "proposed" and len(proposal.json()["intake_ids"]) == 1
    assert c5 in [c["client_ref"] for c in await s.waiting("almere")]  # nothing changes before the answer
    listed = await s.placement.get("/v1/transfers?status=proposed", headers=s.ns.auth("dronten"))
    assert [t["transfer_id"] for t in listed.json()["transfers"]] == [transfer_id]
    answer = f"/v1/transfers/{transfer_id}/accept"
    assert (await s.placement.post(answer, headers=s.ns.auth("almere"))).status_code == 403
    accepted = await s.placement.post(answer, headers=s.ns.auth("dronten"))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert [c["client_ref"] for c in await s.waiting("dronten")] == [c5]
    assert c5 not in [c["client_ref"] for c in await s.waiting("almere")]
    events = await s.placements(at_least=1, topic="wmo.responsibility-transferred.v1")
    assert events[c5]["from_municipality"] == "0034" and events[c5]["to_municipality"] == "0303"
    assert events[c5]["transfer_id"] == transfer_id and events[c5]["intake_ids"] == proposal.json()["intake_ids"]
    proposed = await s.placements(at_least=1, topic="wmo.responsibility-transfer-proposals.v1")
    assert proposed[c5]["transfer_id"] == transfer_id
    assert (await s.placement.post(answer, headers=s.ns.auth("dronten"))).status_code == 409  # answered
    assert (await s.placement.post(path, json=body, headers=s.ns.auth("almere"))).status_code == 403  # not theirs now


async def test_a_declined_transfer_changes_nothing_and_dates_outside_the_window_are_refused(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    path = f"/v1/clients/{refs['c5']}/transfer"
    late = {"to_municipality": "0303", "reason": "origin", "effective_on": ago(-93)}
    refused = await s.placement.post(path, json=late, headers=s.ns.auth("almere"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "effective_on"
    proposal = await s.placement.post(path, json=late | {"effective_on": ago(5)}, headers=s.ns.auth("almere"))
    transfer_id = proposal.json()["transfer_id"]
    declined = await s.placement.post(
        f"/v1/transfers/{transfer_id}/decline", json={"reason": "no_ties"}, headers=s.ns.auth("dronten")
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert refs["c5"] in [c["client_ref"] for c in await s.waiting("almere")]
    events = await read_topic(
        s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.responsibility-transfer-proposals.v1"), at_least=2
    )
    assert [json.loads(r.value)["event_type"] for r in events] == [
        "ResponsibilityTransferProposed",
        "ResponsibilityTransferDeclined",
    ]


async def test_the_responsible_municipality_updates_and_withdraws_a_waiting_registration(ns: Namespace) -> None:
    async with stack(ns) as s:
        first = await s.register_intake("almere", registered_on=ago(20))
        second = await s.register_intake("almere", registered_on=ago(10))
        await eventually(s.waiting, until=lambda clients: len(clients) == 2)
        path = f"/v1/registrations/{second['intake_id']}"
        assert (await s.placement.patch(path, json={"urgency": "high"}, headers=s.ns.auth("urk"))).status_code == 403
        ahead = await s.placement.patch(
            path, json={"urgency": "high", "updated_on": ago(-1)}, headers=s.ns.auth("almere")
        )
        assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "updated_on"
        updated = await s.placement.patch(
            path, json={"urgency": "high", "household": {"adults": 1, "children": 1}}, headers=s.ns.auth("almere")
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["urgency"], updated.json()["household"]) == ("high", {"adults": 1, "children": 1})
        assert [c["client_ref"] for c in await s.waiting()] == [second["client_ref"], first["client_ref"]]
        withdraw = f"/v1/registrations/{first['intake_id']}/withdraw"
        withdrawn = await s.placement.post(withdraw, json={"reason": "duplicate"}, headers=s.ns.auth("almere"))
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
        again = await s.placement.post(withdraw, json={"reason": "duplicate"}, headers=s.ns.auth("almere"))
        assert again.status_code == 409 and again.json()["type"].endswith("/registration-not-waiting")
        assert [c["client_ref"] for c in await s.waiting()] == [second["client_ref"]]
        assert (await s.put_facility("almere-1", facility(PROVIDER_A, "0034", "WK003401", 5))).status_code == 201
        made = await s.placements(at_least=1)
        assert set(made) == {second["client_ref"]}  # the withdrawn registration is never placed
        changed = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.registration-changed.v1"), at_least=2)
        by_intake = {json.loads(r.value)["data"]["intake_id"]: json.loads(r.value)["event_type"] for r in changed}
        assert by_intake == {second["intake_id"]: "RegistrationUpdated", first["intake_id"]: "RegistrationWithdrawn"}
        unknown = await s.placement.patch(
            "/v1/registrations/nope", json={"urgency": "high"}, headers=s.ns.auth("almere")
        )
        assert unknown.status_code == 404


async def test_a_client_in_night_shelter_moves_on_to_24_hour_shelter_the_same_day(ns: Namespace) -> None:
    async with stack(ns) as s:
        night = facility(PROVIDER_A, "0034", "WK003401", 1, care_form="MO_NIGHT")
        assert (await s.put_facility("night-1", night)).status_code == 201
        bsn = valid_bsn()
        client = await s.register("almere", bsn=bsn, care_form="MO_NIGHT", registered_on=ago(20))
        await s.placements(at_least=1)  # the client sits in the night shelter before anyone else registers
        await s.register("almere", bsn=bsn, care_form="MO_24H", registered_on=ago(10))
        follower = await s.register("almere", care_form="MO_NIGHT", registered_on=ago(9))
        # The client waits for 24-hour shelter in the night place; the follower waits for the night.
        expected = {(client, "MO_24H"), (follower, "MO_NIGHT")}
        await eventually(
            s.waiting, until=lambda clients: {(c["client_ref"], c["care_form"]) for c in clients} == expected
        )
        assert (await s.put_facility("24h-1", facility(PROVIDER_A, "0034", "WK003402", 1))).status_code == 201
        records = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.placement-made.v1"), at_least=3)
        made = [json.loads(r.value)["data"] for r in records]
        moved = next(m for m in made if m["client_ref"] == client and m["care_form"] == "MO_24H")
        assert moved["start_date"] == ago(0) and moved["doorstroom_from"] is not None
        ended = (await s.placements(at_least=1, topic="wmo.placement-ended.v1"))[client]
        assert (ended["reason"], ended["doorstroom_to"], ended["end_date"]) == ("37", "MO_24H", ago(0))
        assert ended["next_placement_id"] == moved["placement_id"] and ended["placement_id"] == moved["doorstroom_from"]
        taken = next(m for m in made if m["client_ref"] == follower)
        assert taken["facility_id"] == "night-1"  # the freed night place goes to the next client


async def test_an_ending_dated_beyond_today_is_refused_naming_end_date(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    made = await s.placements(at_least=4)
    ending = await s.placement.post(
        f"/v1/placements/{made[refs['c1']]['placement_id']}/end",
        json={"reason": "21", "end_date": ago(-1)},
        headers=s.ns.auth("provider-a"),
    )
    assert ending.status_code == 422 and ending.json()["errors"][0]["field"] == "end_date"


async def test_a_municipality_sees_only_its_own_clients_on_the_list(placed) -> None:  # type: ignore[no-untyped-def]
    s, _ = placed
    others = await s.placement.get("/v1/waiting-list?municipality=0184", headers=s.ns.auth("almere"))
    assert others.status_code == 403
    assert {c["responsible_municipality"] for c in await s.waiting("almere")} <= {"0034"}


async def test_a_withdrawal_waits_for_the_care_forms_matcher_and_a_withdrawn_registration_stays_withdrawn(
    ns: Namespace,
) -> None:
    async with stack(ns) as s:
        registered = await s.register_intake("almere", registered_on=ago(20))
        await eventually(s.waiting, until=lambda clients: len(clients) == 1)
        assert (await s.waiting())[0]["intake_id"] == registered["intake_id"]  # the list names the intake
        withdraw = f"/v1/registrations/{registered['intake_id']}/withdraw"
        matcher = await asyncpg.connect(ns.infra.database_url)
        try:
            await matcher.execute(f"SET search_path TO placement_{ns.suffix}")
            async with matcher.transaction():  # a matcher of MO_24H holds its turn (the key names the schema)
                await matcher.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':placement-match:' || 'MO_24H'))"
                )
                answer = asyncio.create_task(
                    s.placement.post(withdraw, json={"reason": "duplicate"}, headers=s.ns.auth("almere"))
                )
                await asyncio.sleep(1.0)
                assert not answer.done()  # the withdrawal waits its turn instead of racing the matcher
            assert (await answer).json()["status"] == "withdrawn"
            placed = await PostgresWaitingList(matcher).mark_placed(registered["intake_id"], "late-placement")
            status = await matcher.fetchval(
                "SELECT status FROM waiting_list WHERE intake_id = $1", registered["intake_id"]
            )
            assert (placed, status) == (False, "withdrawn")  # a matcher that read it before changes nothing
        finally:
            await matcher.close()


async def test_after_an_outflow_the_clients_other_waiting_registration_is_withdrawn(ns: Namespace) -> None:
    async with stack(ns) as s:
        night = facility(PROVIDER_A, "0034", "WK003401", 1, care_form="MO_NIGHT")
        assert (await s.put_facility("night-1", night)).status_code == 201
        bsn = valid_bsn()
        client = await s.register("almere", bsn=bsn, care_form="MO_NIGHT", registered_on=ago(20))
        onward = await s.register_intake("almere", bsn=bsn, care_form="MO_24H", registered_on=ago(10))
        await eventually(s.waiting, until=lambda clients: len(clients) == 1)
        await s.placements(at_least=1)
        accepted = HousingOfferAccepted(
            offer_id="offer-1", unit_id="unit-1", client_ref=client, answered_on=TODAY, municipality="0034"
        )
        envelope = Envelope.wrap(accepted, producer="housing", region="flevoland")
        await produce(
            s.ns.infra.kafka_bootstrap,
            s.ns.topic("wmo.housing-offer-answered.v1"),
            [(client.encode(), envelope.model_dump_json().encode(), [])],
        )
        changed = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.registration-changed.v1"), at_least=1)
        (withdrawn,) = [json.loads(r.value)["data"] for r in changed]
        assert (withdrawn["intake_id"], withdrawn["reason"]) == (onward["intake_id"], "other_solution")
        assert await s.waiting() == []
        assert (await s.put_facility("24h-1", facility(PROVIDER_A, "0034", "WK003402", 1))).status_code == 201
        made = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.placement-made.v1"), at_least=1)
        assert [json.loads(r.value)["data"]["care_form"] for r in made] == ["MO_NIGHT"]


async def test_a_second_transfer_may_not_predate_an_accepted_one_nor_be_accepted_before_its_proposal(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    path = f"/v1/clients/{refs['c5']}/transfer"
    first = await s.placement.post(
        path, json={"to_municipality": "0303", "reason": "origin", "effective_on": ago(5)}, headers=s.ns.auth("almere")
    )
    transfer_id = first.json()["transfer_id"]
    early = await s.placement.post(
        f"/v1/transfers/{transfer_id}/accept", json={"accepted_on": ago(1)}, headers=s.ns.auth("dronten")
    )
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "accepted_on"
    accepted = await s.placement.post(f"/v1/transfers/{transfer_id}/accept", headers=s.ns.auth("dronten"))
    assert accepted.status_code == 200, accepted.text
    second = {"to_municipality": "0995", "reason": "origin", "effective_on": ago(6)}
    refused = await s.placement.post(path, json=second, headers=s.ns.auth("dronten"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "effective_on"
    later = await s.placement.post(path, json=second | {"effective_on": ago(5)}, headers=s.ns.auth("dronten"))
    assert later.status_code == 202, later.text


async def test_region_staff_answer_a_transfer_out_of_the_region(placed) -> None:  # type: ignore[no-untyped-def]
    s, refs = placed
    path = f"/v1/clients/{refs['c5']}/transfer"
    body = {"to_municipality": "0150", "reason": "origin", "effective_on": ago(0)}
    transfer_id = (await s.placement.post(path, json=body, headers=s.ns.auth("almere"))).json()["transfer_id"]
    accepted = await s.placement.post(f"/v1/transfers/{transfer_id}/accept", headers=s.ns.auth("region"))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


async def test_the_responsible_municipality_records_consent_which_lands_on_its_topic_and_is_audited(
    ns: Namespace,
) -> None:
    async with stack(ns) as s:
        client_ref = await s.register("almere", registered_on=ago(20))
        await eventually(s.waiting, until=lambda clients: len(clients) == 1)
        path = f"/v1/clients/{client_ref}/consent"
        assert (
            await s.placement.put(path, json={"consent_to_share": True}, headers=s.ns.auth("urk"))
        ).status_code == 403
        ahead = await s.placement.put(
            path, json={"consent_to_share": True, "recorded_on": ago(-1)}, headers=s.ns.auth("almere")
        )
        assert ahead.status_code == 422 and ahead.json()["errors"][0]["field"] == "recorded_on"
        unknown = await s.placement.put(
            f"/v1/clients/{'0' * 64}/consent", json={"consent_to_share": True}, headers=s.ns.auth("almere")
        )
        assert unknown.status_code == 404
        given = await s.placement.put(path, json={"consent_to_share": True}, headers=s.ns.auth("almere"))
        assert given.status_code == 200, given.text
        assert {k: v for k, v in given.json().items() if k != "event_id"} == {
            "client_ref": client_ref,
            "consent_to_share": True,
            "recorded_on": ago(0),
        }
        withdrawn = await s.placement.put(
            path, json={"consent_to_share": False, "recorded_on": ago(0)}, headers=s.ns.auth("almere")
        )
        assert withdrawn.status_code == 200 and withdrawn.json()["consent_to_share"] is False
        records = await read_topic(s.ns.infra.kafka_bootstrap, s.ns.topic("wmo.consent-recorded.v1"), at_least=2)
    envelopes = [json.loads(r.value) for r in records]
    assert [r.key for r in records] == [client_ref.encode()] * 2  # keyed by client: the two stay in order
    assert [(e["event_id"], e["event_type"], e["data"]) for e in envelopes] == [
        (
            given.json()["event_id"],
            "ConsentRecorded",
            {
                "client_ref": client_ref,
                "responsible_municipality": "0034",
                "consent_to_share": True,
                "recorded_on": ago(0),
            },
        ),
        (
            withdrawn.json()["event_id"],
            "ConsentRecorded",
            {
                "client_ref": client_ref,
                "responsible_municipality": "0034",
                "consent_to_share": False,
                "recorded_on": ago(0),
            },
        ),
    ]
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        audited = await conn.fetch(
            f'SELECT on_behalf_of, client_ref, subject FROM "placement_{ns.suffix}".audit_log'
            " WHERE action = 'client.consent' ORDER BY id"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in audited] == [
        ("municipality:0034", client_ref, "consent=true"),
        ("municipality:0034", client_ref, "consent=false"),
    ]
