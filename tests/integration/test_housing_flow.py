"""From ready to housed: intake, placement and housing in one process on real Kafka and Postgres.
Offers go to the longest-ready client who fits, within quota and wijk cap; an acceptance completes the
outflow; a decline or a lapse passes the unit on."""

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.integration.test_placement_api import ZRM, facility
from tests.support.builders import intake_body
from tests.support.infra import ROOT
from tests.support.kafka import eventually, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_placement.bootstrap import build as build_placement

CORPORATION = "woonstad-illustratief"
FULL_WIJK = "WK003409"  # its cap on outflow homes is set to 0 in this test's region file
ONE_HOME_WIJK = "WK003408"  # and this one's to 1 (over the region's rolling window of 12 months)


# The flow runs in the two years before this one: no offer is dated after today, and a home recorded now may
# have come free long ago in this test's region.
Y1, Y2 = date.today().year - 2, date.today().year - 1


def region_file(tmp: Path) -> Path:
    """Flevoland with a wijk closed to outflow, one that takes a single home per window, and homes that may be
    recorded long after they came free (the flow runs in Y1 and Y2, whenever the test runs)."""
    path = tmp / "region.toml"
    text = (ROOT / "data/regions/flevoland.toml").read_text()
    back = "max_days_back = 1500\n"
    text = text.replace("\n[dates]\n", f"\n[dates]\n{back}") if "\n[dates]\n" in text else f"{text}\n[dates]\n{back}"
    path.write_text(text + f"\n[housing.wijk_outflow_caps]\n{FULL_WIJK} = 0\n{ONE_HOME_WIJK} = 1\n")
    return path


def unit(unit_id: str, rooms: int = 2, wijk: str = "WK003402", **extra: Any) -> dict[str, Any]:
    return {
        "corporation_id": CORPORATION,
        "unit_id": unit_id,
        "municipality": "0034",
        "wijk": wijk,
        "rooms": rooms,
        "rent_eur": 640.0,
        "available_from": f"{Y1}-04-01",
    } | extra


@dataclass
class Flow:
    ns: Namespace
    intake: httpx.AsyncClient
    placement: httpx.AsyncClient
    housing: httpx.AsyncClient
    placements: dict[str, str]  # name -> placement_id

    async def offers(self, until: Any = bool) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            answer = await self.housing.get(
                f"/v1/corporations/{CORPORATION}/offers", headers=self.ns.auth("corporation")
            )
            return list(answer.json()["offers"])

        return list(await eventually(read, until=until))

    async def units(self) -> dict[str, dict[str, Any]]:
        answer = await self.housing.get(f"/v1/corporations/{CORPORATION}/units", headers=self.ns.auth("corporation"))
        return {u["unit_id"]: u for u in answer.json()["units"]}

    async def offered_to(self, at_least: int) -> dict[str, str]:
        """offer_id -> client_ref, from the topic (the corporation itself never sees a client_ref)."""
        records = await read_topic(
            self.ns.infra.kafka_bootstrap, self.ns.topic("wmo.housing-offer-made.v1"), at_least=at_least
        )
        return {e["data"]["offer_id"]: e["data"]["client_ref"] for e in map(lambda r: json.loads(r.value), records)}

    async def assess(self, name: str, on: str) -> None:
        answer = await self.placement.post(
            f"/v1/placements/{self.placements[name]}/assessments",
            json={"assessed_on": on, "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True},
            headers=self.ns.auth("provider-a"),
        )
        assert answer.status_code == 201 and answer.json()["ready"], answer.text

    async def quota(self, units: int) -> httpx.Response:
        return await self.housing.put(
            f"/v1/contingents/{CORPORATION}/0034/{Y1}", json={"units": units}, headers=self.ns.auth("corporation")
        )


@contextlib.asynccontextmanager
async def flow(ns: Namespace, tmp_path: Path, **housing_settings: Any) -> AsyncIterator[Flow]:
    region = region_file(tmp_path)
    async with (
        running(build_intake(ns.settings("intake", region_file=region)), "intake") as intake,
        running(build_placement(ns.settings("placement", region_file=region)), "placement") as placement,
        running(build_housing(ns.settings("housing", region_file=region, **housing_settings)), "housing") as housing,
    ):
        # The facility first: each client is placed on the day they register, in Y1 (a facility registered
        # later would place them today, after the assessments below).
        body = facility("11111111", "0034", "WK003401", 3, care_form="BW_24H")
        await placement.put("/v1/facilities/bw-almere", json=body, headers=ns.auth("region"))
        refs = {}
        households = {"c3": {"adults": 2, "children": 2}}  # four persons need three rooms
        for name, day in (("c1", f"{Y1}-01-05"), ("c2", f"{Y1}-01-10"), ("c3", f"{Y1}-01-12")):
            body = intake_body(
                care_form="BW_24H",
                needs=["psychiatric"],
                registered_on=day,
                household=households.get(name, {"adults": 1, "children": 0}),
            )
            answer = await intake.post(
                "/v1/intakes", json=body, headers=ns.auth("almere") | {"Idempotency-Key": str(uuid.uuid4())}
            )
            refs[name] = answer.json()["client_ref"]
        made = await read_topic(ns.infra.kafka_bootstrap, ns.topic("wmo.placement-made.v1"), at_least=3)
        by_ref = {json.loads(r.value)["data"]["client_ref"]: json.loads(r.value)["data"]["placement_id"] for r in made}
        f = Flow(ns, intake, placement, housing, {name: by_ref[ref] for name, ref in refs.items()})
        f.refs = refs  # type: ignore[attr-defined]
        yield f


async def test_the_longest_ready_client_who_fits_gets_the_unit_and_moves_out(ns: Namespace, tmp_path: Path) -> None:
    async with flow(ns, tmp_path) as f:
        refs = f.refs  # type: ignore[attr-defined]
        await f.assess("c2", f"{Y1}-02-01")
        await f.assess("c3", f"{Y1}-02-10")  # ready earlier than c1, but a household of four
        await f.assess("c1", f"{Y1}-03-01")
        assert (await f.quota(1)).status_code == 200
        c4 = (
            await f.intake.post(
                "/v1/intakes",
                json=intake_body(care_form="BW_24H", needs=["psychiatric"], registered_on=f"{Y1}-03-05"),
                headers=f.ns.auth("almere") | {"Idempotency-Key": str(uuid.uuid4())},
            )
        ).json()["client_ref"]
        await eventually(lambda: _waiting(f), until=lambda refs_: c4 in refs_)
        await eventually(lambda: _ready_count(f), until=lambda n: n == 3)
        assert (
            await f.housing.post("/v1/housing-units", json=unit("u1"), headers=f.ns.auth("corporation"))
        ).status_code == 202
        [offer] = await f.offers()
        assert (await f.offered_to(1))[offer["offer_id"]] == refs["c2"]
        assert "client_ref" not in offer and offer["household_size"] == 1 and offer["rooms_needed"] == 1
        assert offer["status"] == "open" and offer["offered_on"] == f"{Y1}-04-01"
        accepted = await f.housing.post(
            f"/v1/offers/{offer['offer_id']}/accept",
            json={"answered_on": f"{Y1}-04-10"},
            headers=f.ns.auth("corporation"),
        )
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        twice = await f.housing.post(f"/v1/offers/{offer['offer_id']}/accept", headers=f.ns.auth("corporation"))
        assert twice.status_code == 409
        outflow = await read_topic(f.ns.infra.kafka_bootstrap, f.ns.topic("wmo.outflow-completed.v1"))
        data = json.loads(outflow[0].value)["data"]
        assert (data["client_ref"], data["municipality"], data["wijk"], data["outflow_date"]) == (
            refs["c2"],
            "0034",
            "WK003402",
            f"{Y1}-04-10",
        )
        ended = await read_topic(f.ns.infra.kafka_bootstrap, f.ns.topic("wmo.placement-ended.v1"))
        assert json.loads(ended[0].value)["data"]["reason"] == "19"
        made = await read_topic(f.ns.infra.kafka_bootstrap, f.ns.topic("wmo.placement-made.v1"), at_least=4)
        freed = [json.loads(r.value)["data"] for r in made if json.loads(r.value)["data"]["client_ref"] == c4]
        assert freed and freed[0]["start_date"] == f"{Y1}-04-10"  # the freed place went to the next waiting client
        quotas = (
            await f.housing.get(f"/v1/corporations/{CORPORATION}/contingents", headers=f.ns.auth("corporation"))
        ).json()
        assert [(q["units"], q["used"], q["reserved"], q["left"]) for q in quotas["contingents"]] == [(1, 1, 0, 0)]
        # The quota is used up: the next unit waits, and says why.
        await f.housing.post("/v1/housing-units", json=unit("u2"), headers=f.ns.auth("corporation"))
        assert (await f.units())["u2"]["waiting_reason"] == "quota_used_up"
        assert (await f.quota(0)).status_code == 409  # below what is used
        raised = await f.quota(2)
        assert raised.json()["reserved"] == 1  # raising the quota released the waiting unit to c1
        offers = await f.offers(until=lambda o: len(o) == 2)
        assert (await f.offered_to(2))[offers[1]["offer_id"]] == refs["c1"]


async def test_a_unit_in_a_wijk_at_its_cap_is_not_offered(ns: Namespace, tmp_path: Path) -> None:
    async with flow(ns, tmp_path) as f:
        await f.assess("c1", f"{Y1}-02-01")
        await f.quota(5)
        await eventually(lambda: _ready_count(f), until=lambda n: n == 1)
        await f.housing.post("/v1/housing-units", json=unit("full", wijk=FULL_WIJK), headers=f.ns.auth("corporation"))
        assert (await f.units())["full"]["waiting_reason"] == "wijk_at_cap"
        tomorrow = (date.today() + timedelta(days=1)).isoformat()  # announced ahead: it waits for its day
        await f.housing.post(
            "/v1/housing-units", json=unit("ahead", available_from=tomorrow), headers=f.ns.auth("corporation")
        )
        assert (await f.units())["ahead"]["waiting_reason"] == "not_yet_available"
        assert (await f.housing.get(f"/v1/corporations/{CORPORATION}/offers", headers=f.ns.auth("corporation"))).json()[
            "offers"
        ] == []


async def test_a_wijk_at_its_cap_opens_again_once_the_window_has_passed(ns: Namespace, tmp_path: Path) -> None:
    """One home per 12 months in ONE_HOME_WIJK: the home let on 10 April Y1 holds the slot until 10 April Y2."""
    async with flow(ns, tmp_path) as f:
        refs = f.refs  # type: ignore[attr-defined]
        await f.assess("c1", f"{Y1}-02-01")
        await f.assess("c2", f"{Y1}-02-05")
        await f.quota(5)
        next_year = await f.housing.put(
            f"/v1/contingents/{CORPORATION}/0034/{Y2}", json={"units": 5}, headers=f.ns.auth("corporation")
        )
        assert next_year.status_code == 200
        await eventually(lambda: _ready_count(f), until=lambda n: n == 2)
        auth = f.ns.auth("corporation")
        await f.housing.post("/v1/housing-units", json=unit("first", wijk=ONE_HOME_WIJK), headers=auth)
        [first] = await f.offers()
        accepted = await f.housing.post(
            f"/v1/offers/{first['offer_id']}/accept", json={"answered_on": f"{Y1}-04-10"}, headers=auth
        )
        assert accepted.status_code == 200
        soon = unit("too-soon", wijk=ONE_HOME_WIJK, available_from=f"{Y2}-04-09")
        await f.housing.post("/v1/housing-units", json=soon, headers=auth)
        assert (await f.units())["too-soon"]["waiting_reason"] == "wijk_at_cap"
        in_time = unit("in-time", wijk=ONE_HOME_WIJK, available_from=f"{Y2}-04-10")
        await f.housing.post("/v1/housing-units", json=in_time, headers=auth)
        # The slot frees on 10 April Y2: the unit that waited longest goes first, the other waits again.
        offers = await f.offers(until=lambda o: len(o) == 2)
        assert [(o["unit_id"], o["offered_on"], o["quota_year"]) for o in offers] == [
            ("first", f"{Y1}-04-01", Y1),
            ("too-soon", f"{Y2}-04-10", Y2),
        ]
        assert (await f.offered_to(2))[offers[1]["offer_id"]] == refs["c2"]
        assert (await f.units())["in-time"]["waiting_reason"] == "wijk_at_cap"


async def test_a_declined_unit_passes_on_and_an_unanswered_offer_lapses(ns: Namespace, tmp_path: Path) -> None:
    async with flow(ns, tmp_path, offer_lapse_after_seconds=2.0) as f:
        refs = f.refs  # type: ignore[attr-defined]
        await f.assess("c1", f"{Y1}-02-01")
        await f.assess("c2", f"{Y1}-02-05")
        await f.quota(5)
        await eventually(lambda: _ready_count(f), until=lambda n: n == 2)
        await f.housing.post("/v1/housing-units", json=unit("u1"), headers=f.ns.auth("corporation"))
        [first] = await f.offers()
        declined = await f.housing.post(
            f"/v1/offers/{first['offer_id']}/decline",
            json={"reason": "too_far", "answered_on": f"{Y1}-04-03"},
            headers=f.ns.auth("corporation"),
        )
        assert declined.status_code == 200 and declined.json()["decline_reason"] == "too_far"
        other = await f.housing.post(
            f"/v1/offers/{first['offer_id']}/decline", json={"reason": "lapsed"}, headers=f.ns.auth("corporation-b")
        )
        assert other.status_code == 422  # `lapsed` is not an answer a client gives
        offers = await f.offers(until=lambda o: len(o) >= 2)
        to = await f.offered_to(2)
        assert (to[first["offer_id"]], to[offers[1]["offer_id"]]) == (refs["c1"], refs["c2"])  # passed on
        foreign = await f.housing.post(f"/v1/offers/{offers[1]['offer_id']}/accept", headers=f.ns.auth("corporation-b"))
        assert foreign.status_code == 403  # another corporation's offer
        # Nobody answers the second offer: it lapses, and c1 (who declined this unit) is not asked again.
        lapsed = await f.offers(until=lambda o: len(o) >= 2 and o[1]["status"] == "lapsed")
        assert lapsed[1]["answered_on"] == lapsed[1]["answer_by"]
        answers = await read_topic(f.ns.infra.kafka_bootstrap, f.ns.topic("wmo.housing-offer-answered.v1"), at_least=2)
        reasons = {json.loads(r.value)["data"]["offer_id"]: json.loads(r.value)["data"]["reason"] for r in answers}
        assert reasons == {first["offer_id"]: "too_far", offers[1]["offer_id"]: "lapsed"}
        assert (await f.units())["u1"]["status"] == "available"
        late = await f.housing.post(f"/v1/offers/{offers[1]['offer_id']}/accept", headers=f.ns.auth("corporation"))
        assert late.status_code == 409


async def test_bad_units_are_refused_and_change_nothing(ns: Namespace, tmp_path: Path) -> None:
    async with flow(ns, tmp_path) as f:
        auth = f.ns.auth("corporation")
        bad = [
            unit("b1", municipality="0150", wijk="WK015001"),
            unit("b2", wijk="WK099501"),
            unit("b3", rent_eur=-1),
            unit("b4", rooms=0),
            unit("b5", available_from="2020-01-01"),
        ]
        statuses = [(await f.housing.post("/v1/housing-units", json=b, headers=auth)).status_code for b in bad]
        assert statuses == [422, 422, 422, 422, 422]
        first = await f.housing.post("/v1/housing-units", json=unit("same"), headers=auth)
        again = await f.housing.post("/v1/housing-units", json=unit("same"), headers=auth)
        changed = await f.housing.post("/v1/housing-units", json=unit("same", rooms=3), headers=auth)
        assert again.status_code == 202 and again.json() == first.json() and changed.status_code == 409
        other = await f.housing.get("/v1/corporations/thuis-illustratief/offers", headers=auth)
        assert other.status_code == 403
        assert set(await f.units()) == {"same"}


async def _waiting(f: Flow) -> list[str]:
    answer = await f.placement.get("/v1/waiting-list", headers=f.ns.auth("region"))
    return [c["client_ref"] for c in answer.json()["clients"]]


async def _ready_count(f: Flow) -> int:
    """A barrier, not an assertion: how many clients housing has learnt are ready (its own view, by events)."""
    pool = f.housing._transport.app.state.context.pool  # type: ignore[attr-defined]
    return int(await pool.fetchval("SELECT count(*) FROM clients WHERE ready_since IS NOT NULL AND housed_on IS NULL"))


async def test_an_offers_deadline_lives_in_the_database_and_another_process_lapses_it(
    ns: Namespace, tmp_path: Path
) -> None:
    """As after a restart: the process that made the offer never lapses it (its deadline is far); a new
    housing process on the same database does, from the offer's own row."""
    async with flow(ns, tmp_path, offer_lapse_after_seconds=3600) as f:
        await f.assess("c1", f"{Y1}-02-01")
        await f.quota(2)
        await eventually(lambda: _ready_count(f), until=lambda n: n == 1)
        await f.housing.post("/v1/housing-units", json=unit("u1"), headers=f.ns.auth("corporation"))
        [offer] = await f.offers()
        settings = ns.settings("housing", region_file=tmp_path / "region.toml", offer_lapse_after_seconds=0.5)
        async with running(build_housing(settings), "housing-2"):
            lapsed = await f.offers(until=lambda o: o[0]["status"] == "lapsed")
        assert lapsed[0]["offer_id"] == offer["offer_id"] and lapsed[0]["decline_reason"] == "lapsed"
