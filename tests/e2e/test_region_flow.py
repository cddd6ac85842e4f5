"""The region's flow end to end, every service its own process on real Kafka and PostgreSQL: intakes of
mixed urgency and needs placed by the rules, providers' own topics, an assessment that makes a client
ready, a home offered within quota and accepted, the outflow that frees a place for the next client, an
ending, a transfer; and two placement and two housing processes racing without breaking an invariant."""

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_processes import free_base_port
from tests.integration.test_placement_api import ZRM
from tests.support.builders import intake_body
from tests.support.infra import ROOT, Infra
from tests.support.kafka import eventually, read_topic
from tests.support.processes import env_of_service, start_process_stack
from tests.support.stack import Namespace
from zorgstroom_ops import processes

pytestmark = pytest.mark.e2e
PROVIDER_A, PROVIDER_B = "11111111", "22222222"
CORPORATION = "woonstad-illustratief"
CAPPED = ("WK003401", "WK099501")


@dataclass
class Region:
    ns: Namespace
    http: httpx.AsyncClient
    urls: dict[str, list[str]]  # service -> the URLs of its processes

    def url(self, service: str, n: int = 0) -> str:
        instances = self.urls[service]
        return instances[n % len(instances)]

    async def register(self, who: str, n: int = 0, **overrides: Any) -> str:
        body = intake_body(**({"needs": ["psychiatric"], "preferred_municipalities": []} | overrides))
        answer = await self.http.post(
            self.url("intake") + "/v1/intakes",
            json=body,
            headers=self.ns.auth(who) | {"Idempotency-Key": f"e2e-{uuid.uuid4()}"},
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["client_ref"])

    async def put_facility(
        self, fid: str, provider: str, municipality: str, wijk: str, capacity: int, **extra: Any
    ) -> None:
        body = {
            "provider_agb": provider,
            "name": f"Illustrative {fid}",
            "municipality": municipality,
            "wijk": wijk,
            "care_form": "MO_24H",
            "capacity": capacity,
            "supported_needs": ["psychiatric", "addiction"],
        } | extra
        answer = await self.http.put(
            f"{self.url('placement')}/v1/facilities/{fid}", json=body, headers=self.ns.auth("region")
        )
        assert answer.status_code in (200, 201), answer.text

    async def waiting(self, who: str = "region") -> list[str]:
        answer = await self.http.get(self.url("placement") + "/v1/waiting-list", headers=self.ns.auth(who))
        return [c["client_ref"] for c in answer.json()["clients"]]

    async def events(self, topic: str, at_least: int = 1) -> list[dict[str, Any]]:
        records = await read_topic(self.ns.infra.kafka_bootstrap, self.ns.topic(topic), at_least=at_least)
        return [json.loads(r.value) for r in records]


async def _stack(
    infra: Infra, ns: Namespace, run_dir: Path, extra: dict[str, int], env: dict[str, str] | None = None
) -> AsyncIterator[Region]:
    base = free_base_port(8)
    stack = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        run_dir,
        base,
        name="flow",
        prefix=ns.prefix,
        extra_env={"ZS_CREDENTIALS_FILE": str(ns.credentials_file), **(env or {})},
    )
    more = [
        processes.ServiceProcess(name, base + 4 + i, run_dir / f"{name}-{i + 2}.pid", run_dir / f"{name}-{i + 2}.log")
        for i, (name, count) in enumerate(extra.items())
        for _ in range(count)
    ]
    try:
        for service in more:
            processes.start(service, env_of_service(service.name, stack.env))
        for service in more:
            processes.wait_ready(service)
        urls: dict[str, list[str]] = {name: [s.url] for name, s in stack.services.items()}
        for service in more:
            urls[service.name].append(service.url)
        async with httpx.AsyncClient(timeout=20) as http:
            yield Region(ns, http, urls)
    finally:
        for service in more:
            processes.stop(service)
        stack.stop()


@pytest.fixture
async def region(infra: Infra, ns: Namespace, tmp_path: Path) -> AsyncIterator[Region]:
    async for r in _stack(infra, ns, tmp_path / "stack", {}):
        yield r


@pytest.fixture
async def racing_region(infra: Infra, ns: Namespace, tmp_path: Path) -> AsyncIterator[Region]:
    region_file = tmp_path / "region.toml"  # two wijken may take one outflow home each
    region_file.write_text(
        (ROOT / "data/regions/flevoland.toml").read_text()
        + f"\n[housing.wijk_outflow_caps]\n{CAPPED[0]} = 1\n{CAPPED[1]} = 1\n"
    )
    env = {"ZS_REGION_FILE": str(region_file)}
    async for r in _stack(infra, ns, tmp_path / "stack", {"placement": 1, "housing": 1}, env):
        yield r


async def test_a_region_places_houses_and_moves_its_clients_on_by_the_rules(region: Region) -> None:
    r = region
    # Facilities come after the registrations, so places start today; every later step is dated today.
    today = date.today().isoformat()
    refs = {
        "normal-almere": await r.register("almere", registered_on="2026-03-01"),
        "prefers-lelystad": await r.register("almere", registered_on="2026-03-02", preferred_municipalities=["0995"]),
        "urk": await r.register("urk", registering_municipality="0184", registered_on="2026-03-03"),
        "emergency": await r.register("almere", registered_on="2026-03-10", urgency="emergency"),
        "high": await r.register("almere", registered_on="2026-03-12", urgency="high"),
        "unsupported": await r.register("almere", registered_on="2026-03-04", needs=["mild_intellectual_disability"]),
    }
    await eventually(r.waiting, until=lambda w: len(w) == 6, timeout=60)
    await r.put_facility("almere-1", PROVIDER_A, "0034", "WK003401", 2)
    await r.put_facility("lelystad-1", PROVIDER_B, "0995", "WK099501", 2)

    made = {e["data"]["client_ref"]: e["data"] for e in await r.events("wmo.placement-made.v1", at_least=4)}
    assert {name: made[ref]["facility_id"] for name, ref in refs.items() if ref in made} == {
        "emergency": "almere-1",  # emergency first
        "high": "almere-1",  # then urgency, in the responsible municipality
        "prefers-lelystad": "lelystad-1",  # Almere full: the preferred municipality
        "normal-almere": "lelystad-1",  # then the longest waiting of the rest, elsewhere in the region
    }
    assert sorted(await r.waiting()) == sorted([refs["urk"], refs["unsupported"]])
    own_a = {e["data"]["client_ref"] for e in await r.events(f"wmo.provider.{PROVIDER_A}.v1", at_least=2)}
    assert own_a == {refs["emergency"], refs["high"]}  # a provider's topic: only its own clients

    # The provider assesses: ready. A quota and a home follow; the offer goes to the ready client.
    placement_id = made[refs["high"]]["placement_id"]
    assessment = await r.http.post(
        f"{r.url('placement')}/v1/placements/{placement_id}/assessments",
        json={"assessed_on": today, "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True},
        headers=r.ns.auth("provider-a"),
    )
    assert assessment.status_code == 201, assessment.text
    assert assessment.json()["ready"] is True
    corporation = r.ns.auth("corporation")
    await r.http.put(
        f"{r.url('housing')}/v1/contingents/{CORPORATION}/0034/{today[:4]}", json={"units": 1}, headers=corporation
    )
    unit = {
        "corporation_id": CORPORATION,
        "unit_id": "e2e-home",
        "municipality": "0034",
        "wijk": "WK003406",
        "rooms": 1,
        "rent_eur": 610.0,
        "available_from": today,
    }

    async def offers() -> list[dict[str, Any]]:
        await r.http.post(f"{r.url('housing')}/v1/housing-units", json=unit, headers=corporation)  # idempotent
        answer = await r.http.get(f"{r.url('housing')}/v1/corporations/{CORPORATION}/offers", headers=corporation)
        return list(answer.json()["offers"])

    [offer] = await eventually(offers, timeout=60)
    offered = await r.events("wmo.housing-offer-made.v1")
    assert offered[0]["data"]["client_ref"] == refs["high"] and "client_ref" not in offer
    accepted = await r.http.post(
        f"{r.url('housing')}/v1/offers/{offer['offer_id']}/accept",
        json={"answered_on": today},
        headers=corporation,
    )
    assert accepted.status_code == 200

    outflow = (await r.events("wmo.outflow-completed.v1"))[0]["data"]
    assert (outflow["client_ref"], outflow["wijk"], outflow["outflow_date"]) == (refs["high"], "WK003406", today)
    ended = {e["data"]["client_ref"]: e["data"]["reason"] for e in await r.events("wmo.placement-ended.v1")}
    assert ended[refs["high"]] == "19"
    made = {e["data"]["client_ref"]: e["data"] for e in await r.events("wmo.placement-made.v1", at_least=5)}
    assert made[refs["urk"]]["facility_id"] == "almere-1" and made[refs["urk"]]["start_date"] == today
    quotas = await r.http.get(f"{r.url('housing')}/v1/corporations/{CORPORATION}/contingents", headers=corporation)
    assert [(q["used"], q["left"]) for q in quotas.json()["contingents"]] == [(1, 0)]

    # The responsible municipality ends a placement: the place is freed (nobody fitting waits for it).
    ending = await r.http.post(
        f"{r.url('placement')}/v1/placements/{made[refs['emergency']]['placement_id']}/end",
        json={"reason": "36", "end_date": today},
        headers=r.ns.auth("almere"),
    )
    assert ending.status_code == 200
    facilities = (await r.http.get(r.url("placement") + "/v1/facilities", headers=r.ns.auth("region"))).json()
    assert {f["facility_id"]: f["free_places"] for f in facilities["facilities"]} == {"almere-1": 1, "lelystad-1": 0}

    # A reasoned transfer is proposed; once Dronten accepts, the client who still waits is on its list.
    proposal = await r.http.post(
        f"{r.url('placement')}/v1/clients/{refs['unsupported']}/transfer",
        json={"to_municipality": "0303", "reason": "origin", "effective_on": today},
        headers=r.ns.auth("almere"),
    )
    assert proposal.status_code == 202 and proposal.json()["status"] == "proposed"
    assert await r.waiting("dronten") == [] and await r.waiting("almere") == [refs["unsupported"]]
    accepted = await r.http.post(
        f"{r.url('placement')}/v1/transfers/{proposal.json()['transfer_id']}/accept", headers=r.ns.auth("dronten")
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert await r.waiting("dronten") == [refs["unsupported"]] and await r.waiting("almere") == []

    async def reported() -> dict[str, Any]:
        answer = await r.http.get(
            r.url("reporting") + f"/v1/municipalities/0034/flows?from=2026-01&to={today[:7]}",  # up to this month
            headers=r.ns.auth("almere"),
        )
        return dict(answer.json()["totals"])

    # Reporting follows from the topics, so wait for the last fact (the transfer) to be counted.
    totals = await eventually(
        reported, until=lambda t: t["outflow"] == 1 and t["ended_other"] == 1 and t["waiting_at_end"] == 0, timeout=60
    )
    assert (totals["registrations"], totals["inflow"]) == (5, 4)  # the transferred client stays registered here


async def test_two_placement_and_two_housing_processes_never_overfill_or_double_book(racing_region: Region) -> None:
    r = racing_region
    for i in range(4):  # 4 facilities x 3 places, in two municipalities
        await r.put_facility(
            f"race-{i}", PROVIDER_A, "0034" if i < 2 else "0995", f"WK{'0034' if i < 2 else '0995'}0{i + 1}", 3
        )
    refs = await asyncio.gather(
        *(
            r.register(
                "almere" if n % 2 else "lelystad",
                registering_municipality="0034" if n % 2 else "0995",
                registered_on=f"2026-02-{1 + n % 27:02d}",
            )
            for n in range(40)
        )
    )

    async def placed_now() -> list[dict[str, Any]]:
        answer = await r.http.get(
            f"{r.url('placement', 1)}/v1/providers/{PROVIDER_A}/placements", headers=r.ns.auth("provider-a")
        )
        return list(answer.json()["placements"])

    # Endings race new matches: each ending, on either process, frees a place the next client takes.
    for _round in range(3):
        current = await eventually(placed_now, until=lambda p: len(p) == 12, timeout=60)
        await asyncio.gather(
            *(
                r.http.post(
                    f"{r.url('placement', n)}/v1/placements/{p['placement_id']}/end",
                    json={"reason": "21", "end_date": "2026-03-01"},
                    headers=r.ns.auth("provider-a"),
                )
                for n, p in enumerate(current[:6])
            )
        )
    final = await eventually(placed_now, until=lambda p: len(p) == 12, timeout=60)
    made = await r.events("wmo.placement-made.v1", at_least=30)
    assert len(made) == 30  # 12 first, then 3 x 6 freed places
    per_client = Counter(e["data"]["client_ref"] for e in made)
    assert max(per_client.values()) == 1 and set(per_client) <= set(refs)  # nobody placed twice
    facilities = (await r.http.get(r.url("placement") + "/v1/facilities", headers=r.ns.auth("region"))).json()
    assert all(f["occupied"] == 3 and f["capacity"] == 3 for f in facilities["facilities"])
    assert Counter(p["facility_id"] for p in final) == {f"race-{i}": 3 for i in range(4)}

    # Housing: every open placement becomes ready, units arrive on both processes at once.
    await asyncio.gather(
        *(
            r.http.post(
                f"{r.url('placement', n)}/v1/placements/{p['placement_id']}/assessments",
                json={"assessed_on": "2026-04-01", "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True},
                headers=r.ns.auth("provider-a"),
            )
            for n, p in enumerate(final)
        )
    )
    corporation = r.ns.auth("corporation")
    for municipality in ("0034", "0995"):
        await r.http.put(
            f"{r.url('housing')}/v1/contingents/{CORPORATION}/{municipality}/2026",
            json={"units": 4},
            headers=corporation,
        )
    await asyncio.sleep(2)  # both housing processes learn who is ready
    units = [
        {
            "corporation_id": CORPORATION,
            "unit_id": f"race-unit-{n}",
            "municipality": "0034" if n % 2 else "0995",
            "wijk": f"WK{'0034' if n % 2 else '0995'}0{1 + n % 3}",
            "rooms": 2,
            "rent_eur": 600.0,
            "available_from": "2026-05-01",
        }
        for n in range(16)
    ]
    answers = await asyncio.gather(
        *(
            r.http.post(f"{r.url('housing', n)}/v1/housing-units", json=u, headers=corporation)
            for n, u in enumerate(units)
        )
    )
    assert {a.status_code for a in answers} == {202}

    async def offers() -> list[dict[str, Any]]:
        answer = await r.http.get(f"{r.url('housing', 1)}/v1/corporations/{CORPORATION}/offers", headers=corporation)
        return list(answer.json()["offers"])

    made_offers = await eventually(offers, until=lambda o: len(o) == 8, timeout=60)
    await asyncio.sleep(1)
    assert len(await offers()) == 8  # 4 + 4 quota: never more
    assert len({o["unit_id"] for o in made_offers}) == 8  # no unit offered twice at once
    per_wijk = Counter(o["wijk"] for o in made_offers)
    assert per_wijk[CAPPED[0]] <= 1 and per_wijk[CAPPED[1]] <= 1  # the wijk caps held under the race
    offered = await r.events("wmo.housing-offer-made.v1", at_least=8)
    assert len({e["data"]["client_ref"] for e in offered}) == 8  # one open offer per client
    quotas = (
        await r.http.get(f"{r.url('housing')}/v1/corporations/{CORPORATION}/contingents", headers=corporation)
    ).json()
    assert [(q["units"], q["reserved"], q["left"]) for q in quotas["contingents"]] == [(4, 4, 0), (4, 4, 0)]
