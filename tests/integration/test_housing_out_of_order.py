"""Housing converges whatever order the topics deliver a client's events in, on real Kafka and Postgres: a late
registration does not undo a transfer, an ending or an assessment that overtakes its placement counts, and an
acceptance that races the placement's ending is given back (OutflowRefused) instead of dead-lettered."""

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.test_housing_flow import CORPORATION, Y1, _ready_count, flow, region_file, unit
from tests.integration.test_reporting_numbers import reporting_app
from tests.support.fake_housing import (
    LELYSTAD,
    assessed,
    client_registered,
    placement_ended,
    placement_made,
    ref,
    transferred,
)
from tests.support.kafka import eventually, publish_events, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope, dlq_topic
from zorgstroom_contracts.codes import EndReason, OutflowRefusalReason
from zorgstroom_contracts.events import (
    Event,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferMade,
    OutflowRefused,
)
from zorgstroom_contracts.topics import Topic
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_runtime.consumer import IdempotentConsumer

THIS_YEAR = date.today().year


async def applied(ns: Namespace, envelopes: list[Envelope], *, by: str = "housing") -> None:
    """A barrier: wait until a service has applied each of these events (its inbox, or reporting's ledger, holds
    their ids)."""
    ids = [e.event_id for e in envelopes]
    table = "projection_events" if by == "reporting" else "processed_events"

    async def count() -> int:
        conn = await asyncpg.connect(ns.infra.database_url)
        try:
            query = f'SELECT count(*) FROM "{by}_{ns.suffix}".{table} WHERE event_id = ANY($1::uuid[])'
            return int(await conn.fetchval(query, ids))
        finally:
            await conn.close()

    await eventually(count, until=lambda n: n == len(ids))


async def in_order(ns: Namespace, *events: Event) -> None:
    """Each event delivered and applied before the next is sent: the arrival order is the test's, not Kafka's."""
    for event in events:
        await applied(ns, await publish_events(ns.infra.kafka_bootstrap, ns.prefix, [event]))


async def offers_made(ns: Namespace, at_least: int = 1) -> list[dict[str, Any]]:
    records = await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.HOUSING_OFFER_MADE), at_least=at_least)
    return [json.loads(r.value)["data"] for r in records]


async def quota(housing: httpx.AsyncClient, ns: Namespace, municipality: str, homes: int, year: int = Y1) -> None:
    answer = await housing.put(
        f"/v1/contingents/{CORPORATION}/{municipality}/{year}", json={"units": homes}, headers=ns.auth("corporation")
    )
    assert answer.status_code == 200, answer.text


async def units_of(housing: httpx.AsyncClient, ns: Namespace) -> dict[str, dict[str, Any]]:
    answer = await housing.get(f"/v1/corporations/{CORPORATION}/units", headers=ns.auth("corporation"))
    return {u["unit_id"]: u for u in answer.json()["units"]}


async def test_a_late_registration_does_not_undo_a_transfer(ns: Namespace, tmp_path: Path) -> None:
    """Client a's transfer is an older event without its episode (it must hold for the registration it overtook);
    client b's names its episode. Both registrations for Almere (0034) arrive after the transfer to Lelystad
    (0995), and once more later (as a replay would): Lelystad's homes go to both, as Lelystad's clients."""
    settings = ns.settings("housing", region_file=region_file(tmp_path))
    async with running(build_housing(settings), "housing") as housing:
        await quota(housing, ns, LELYSTAD, 2)
        for name, episode in (("a", None), ("b", ["i-b"])):
            intake = f"i-{name}"
            registration = client_registered(name, intake, date(Y1, 1, 5))
            await in_order(
                ns,
                transferred(name, LELYSTAD, date(Y1, 3, 1), episode, transfer_id=f"t-{name}"),
                registration,
                placement_made(name, f"p-{name}", date(Y1, 1, 6), intake_id=intake),
                assessed(name, f"p-{name}", date(Y1, 2, 1)),
                registration,  # a new envelope of the same registration: as replayed from a dead letter
            )
        for unit_id in ("l1", "l2"):
            body = unit(unit_id, municipality=LELYSTAD, wijk="WK099501")
            assert (
                await housing.post("/v1/housing-units", json=body, headers=ns.auth("corporation"))
            ).status_code == 202
        made = await offers_made(ns, at_least=2)
        assert sorted((o["client_ref"], o["responsible_municipality"]) for o in made) == [
            (ref("a"), LELYSTAD),
            (ref("b"), LELYSTAD),
        ]


async def test_an_ending_before_its_placement_leaves_the_client_unplaced(ns: Namespace, tmp_path: Path) -> None:
    settings = ns.settings("housing", region_file=region_file(tmp_path))
    async with running(build_housing(settings), "housing") as housing:
        await quota(housing, ns, "0034", 2)
        await in_order(
            ns,
            client_registered("a", "i-a", date(Y1, 1, 5)),
            placement_ended("a", "p-a", date(Y1, 2, 20), EndReason.ENDED_BY_CLIENT),
            placement_made("a", "p-a", date(Y1, 1, 6), intake_id="i-a"),
            assessed("a", "p-a", date(Y1, 2, 1)),
        )
        assert (
            await housing.post("/v1/housing-units", json=unit("u1"), headers=ns.auth("corporation"))
        ).status_code == 202
        waiting = await eventually(
            lambda: units_of(housing, ns), until=lambda us: us.get("u1", {}).get("waiting_reason") is not None
        )
        assert (waiting["u1"]["status"], waiting["u1"]["waiting_reason"]) == ("available", "no_fitting_client")


async def test_an_assessment_before_its_placement_keeps_ready_since(ns: Namespace, tmp_path: Path) -> None:
    settings = ns.settings("housing", region_file=region_file(tmp_path))
    async with running(build_housing(settings), "housing") as housing:
        await quota(housing, ns, "0034", 2)
        await in_order(
            ns,
            client_registered("a", "i-a", date(Y1, 1, 5)),
            assessed("a", "p-a", date(Y1, 2, 1)),
            placement_made("a", "p-a", date(Y1, 1, 6), intake_id="i-a"),
        )
        early = unit("u1", available_from=f"{Y1}-01-15")
        assert (await housing.post("/v1/housing-units", json=early, headers=ns.auth("corporation"))).status_code == 202
        [offer] = await offers_made(ns)
        assert (offer["client_ref"], offer["offered_on"], offer["placement_id"]) == (
            ref("a"),
            f"{Y1}-02-01",  # dated from the readiness the placement found already there
            "p-a",
        )


def gate(consumer: IdempotentConsumer) -> asyncio.Event:
    """Pause a consumer between records: while the returned event is clear, the next record waits unapplied
    (as when housing's consumer lags behind, or its process is stopped for a while)."""
    open_ = asyncio.Event()
    apply = consumer._apply_opened

    async def held(*args: Any) -> str:
        await open_.wait()
        return await apply(*args)

    consumer._apply_opened = held  # type: ignore[method-assign]
    return open_


async def test_an_acceptance_racing_an_ending_converges(ns: Namespace, tmp_path: Path) -> None:
    async with flow(ns, tmp_path) as f:
        corp = ns.auth("corporation")
        await f.assess("c1", f"{Y1}-02-01")
        await f.quota(2)
        await quota(f.housing, ns, "0034", 2, THIS_YEAR)  # a home given back is offered again today
        await eventually(lambda: _ready_count(f), until=lambda n: n == 1)
        assert (await f.housing.post("/v1/housing-units", json=unit("u1"), headers=corp)).status_code == 202
        [offer] = await f.offers()
        resume = gate(f.housing._transport.app.state.context.consumer)  # type: ignore[attr-defined]
        ended = await f.placement.post(
            f"/v1/placements/{f.placements['c1']}/end",
            json={"reason": "21", "end_date": f"{Y1}-04-05"},
            headers=ns.auth("provider-a"),
        )
        assert ended.status_code == 200, ended.text
        await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.PLACEMENT_ENDED))  # on its way to housing
        accepted = await f.housing.post(
            f"/v1/offers/{offer['offer_id']}/accept", json={"answered_on": f"{Y1}-04-10"}, headers=corp
        )
        resume.set()
        if accepted.status_code != 409:  # housing could not know yet: placement answers with OutflowRefused
            assert accepted.status_code == 200, accepted.text
            [refused] = await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.OUTFLOW_REFUSED))
            data = json.loads(refused.value)["data"]
            assert (data["offer_id"], data["placement_id"], data["reason"]) == (
                offer["offer_id"],
                f.placements["c1"],
                "placement_ended",
            )
            voided = await f.offers(until=lambda o: o[0]["status"] == "voided")
            assert voided[0]["decline_reason"] == "placement_ended"
        # Converged: the quota unit is back, and the home is free again (nobody else is ready for it).
        assert await eventually(lambda: _contingents(f.housing, ns), until=lambda cs: cs == [(2, 0, 0)] * 2)
        homes = await eventually(lambda: units_of(f.housing, ns), until=lambda us: us["u1"]["status"] == "available")
        assert homes["u1"]["waiting_reason"] == "no_fitting_client"
        dead = await read_topic(
            ns.infra.kafka_bootstrap, dlq_topic(ns.topic(Topic.HOUSING_OFFER_ANSWERED)), at_least=1, timeout=3
        )
        assert dead == []
        assert await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.OUTFLOW_COMPLETED), timeout=2) == []


@pytest.mark.parametrize("reason", [EndReason.ENDED_BY_CLIENT, EndReason.ENDED_AS_PLANNED])
async def test_a_refusal_that_overtakes_the_ending_does_not_offer_the_home_back(
    ns: Namespace, tmp_path: Path, reason: EndReason
) -> None:
    """Placement's refusal comes before the ending it answers (different topics): the refusal tells already that
    the client left the placement, so the home they accepted is not offered to them again (as it is not in the
    other order), and the ending, when it comes, finds nothing to undo."""
    settings = ns.settings("housing", region_file=region_file(tmp_path))
    async with running(build_housing(settings), "housing") as housing:
        for year in (Y1, THIS_YEAR):  # a home given back is offered again today
            await quota(housing, ns, "0034", 2, year)
        await in_order(
            ns,
            client_registered("a", "i-a", date(Y1, 1, 5)),
            placement_made("a", "p-a", date(Y1, 1, 6), intake_id="i-a"),
            assessed("a", "p-a", date(Y1, 2, 1)),
        )
        assert (
            await housing.post("/v1/housing-units", json=unit("u1"), headers=ns.auth("corporation"))
        ).status_code == 202
        [offer] = await offers_made(ns)
        answered = {"answered_on": f"{Y1}-04-10"}
        accept = f"/v1/offers/{offer['offer_id']}/accept"
        assert (await housing.post(accept, json=answered, headers=ns.auth("corporation"))).status_code == 200
        refusal = OutflowRefused(
            offer_id=offer["offer_id"],
            unit_id="u1",
            client_ref=ref("a"),
            reason=OutflowRefusalReason.PLACEMENT_ENDED,
            refused_on=date(Y1, 4, 10),
            placement_id="p-a",
            corporation_id=CORPORATION,
            municipality="0034",
        )
        await in_order(ns, refusal, placement_ended("a", "p-a", date(Y1, 4, 9), reason))
        assert await eventually(lambda: _contingents(housing, ns), until=lambda cs: cs == [(2, 0, 0)] * 2)
        homes = await units_of(housing, ns)
        assert (homes["u1"]["status"], homes["u1"]["waiting_reason"]) == ("available", "no_fitting_client")
        made = await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.HOUSING_OFFER_MADE), at_least=2, timeout=3)
        assert len(made) == 1  # no second offer to the client who left


async def _contingents(housing: httpx.AsyncClient, ns: Namespace) -> list[tuple[int, int, int]]:
    answer = await housing.get(f"/v1/corporations/{CORPORATION}/contingents", headers=ns.auth("corporation"))
    return [(c["units"], c["used"], c["reserved"]) for c in answer.json()["contingents"]]


async def test_reporting_counts_a_refused_acceptance_as_voided_whichever_comes_first(ns: Namespace) -> None:
    """Five offers (a multiple of the rounding base, so shown as they are): each accepted, and refused by placement.
    Three refusals come before their acceptance, two after; none uses the quota."""
    corporation, day = "woonstad-illustratief", date(2027, 3, 20)
    made = [
        HousingOfferMade(offer_id=f"o{i}", unit_id=f"u{i}", corporation_id=corporation, client_ref=ref(f"c{i}"),
                         municipality="0034", offered_on=day, wijk="WK003402", quota_year=2027)
        for i in range(5)
    ]  # fmt: skip
    accepted = [
        HousingOfferAccepted(offer_id=o.offer_id, unit_id=o.unit_id, client_ref=o.client_ref, answered_on=day,
                             corporation_id=corporation, municipality="0034", placement_id=f"p{i}")
        for i, o in enumerate(made)
    ]  # fmt: skip
    refused = [
        OutflowRefused(offer_id=a.offer_id, unit_id=a.unit_id, client_ref=a.client_ref, reason="placement_ended",  # type: ignore[arg-type]
                       refused_on=day, placement_id=a.placement_id, corporation_id=corporation, municipality="0034")
        for a in accepted
    ]  # fmt: skip
    quota = HousingContingentAgreed(corporation_id=corporation, municipality="0034", year=2027, homes=10)
    async with running(reporting_app(ns.settings("reporting")), "reporting") as reporting:
        bootstrap = ns.infra.kafka_bootstrap
        for events in ([quota, *made, *refused[:3]], accepted, refused[3:]):  # each applied before the next
            await applied(ns, await publish_events(bootstrap, ns.prefix, events), by="reporting")
        answer = await reporting.get("/v1/region/housing?from=2027-01&to=2027-12", headers=ns.auth("region"))
        [row] = answer.json()["offers"]
        assert {k: row[k] for k in ("offers_made", "accepted", "voided", "open", "quota", "quota_left")} == {
            "offers_made": 5,
            "accepted": 0,
            "voided": 5,
            "open": 0,
            "quota": 10,
            "quota_left": 10,
        }
