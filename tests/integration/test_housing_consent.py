"""Rule 14 on real Kafka and Postgres: housing offers no home to a ready client without consent to share with
corporations; consent recorded later brings the offer, dated from its day; a withdrawal withdraws the open
offer (HousingOfferDeclined, `consent_withdrawn`)."""

import json
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.test_housing_flow import CORPORATION, Y1, region_file, unit
from tests.support.fake_housing import assessed, client_registered, consent_recorded, placement_made, ref
from tests.support.kafka import eventually, publish_events, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts.topics import Topic
from zorgstroom_housing.bootstrap import build


async def ready_since(ns: Namespace, name: str) -> Any:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return await conn.fetchval(
            f'SELECT ready_since FROM "housing_{ns.suffix}".clients WHERE client_ref = $1', ref(name)
        )
    finally:
        await conn.close()


async def test_no_offer_without_consent_then_one_from_its_day_and_a_withdrawal_withdraws_it(
    ns: Namespace, tmp_path: Path
) -> None:
    settings = ns.settings("housing", region_file=region_file(tmp_path))
    async with running(build(settings), "housing") as housing:
        corp = ns.auth("corporation")
        assert (
            await housing.put(f"/v1/contingents/{CORPORATION}/0034/{Y1}", json={"units": 2}, headers=corp)
        ).status_code == 200
        await publish_events(
            ns.infra.kafka_bootstrap,
            ns.prefix,
            [
                client_registered("a", "i-a", date(Y1, 1, 5), consent=False),
                placement_made("a", "p-a", date(Y1, 1, 6), intake_id="i-a"),
                assessed("a", "p-a", date(Y1, 2, 1)),
            ],
        )
        await eventually(lambda: ready_since(ns, "a"), until=lambda d: d == date(Y1, 2, 1))
        assert (await housing.post("/v1/housing-units", json=unit("u1"), headers=corp)).status_code == 202

        async def units() -> dict[str, Any]:
            answer = await housing.get(f"/v1/corporations/{CORPORATION}/units", headers=corp)
            return {u["unit_id"]: u for u in answer.json()["units"]}

        waiting = await eventually(units, until=lambda us: us.get("u1", {}).get("waiting_reason") is not None)
        assert waiting["u1"]["waiting_reason"] == "no_fitting_client" and waiting["u1"]["status"] == "available"

        await publish_events(ns.infra.kafka_bootstrap, ns.prefix, [consent_recorded("a", True, date(Y1, 5, 10))])
        [made] = await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.HOUSING_OFFER_MADE), at_least=1)
        offer = json.loads(made.value)["data"]
        assert (offer["client_ref"], offer["unit_id"], offer["offered_on"]) == (ref("a"), "u1", f"{Y1}-05-10")

        await publish_events(ns.infra.kafka_bootstrap, ns.prefix, [consent_recorded("a", False, date(Y1, 5, 12))])
        answered = await read_topic(ns.infra.kafka_bootstrap, ns.topic(Topic.HOUSING_OFFER_ANSWERED), at_least=1)
        [declined] = [json.loads(r.value) for r in answered]
        assert declined["event_type"] == "HousingOfferDeclined"
        assert (declined["data"]["offer_id"], declined["data"]["reason"], declined["data"]["answered_on"]) == (
            offer["offer_id"],
            "consent_withdrawn",
            f"{Y1}-05-12",
        )
        after = await eventually(units, until=lambda us: us["u1"]["status"] == "available")
        assert after["u1"]["waiting_reason"] == "no_fitting_client"  # nobody else consents: it waits again
