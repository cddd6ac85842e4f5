"""A simulated year of the region after intake: providers end and assess placements, corporations offer
homes and answer offers, all through the real HTTP APIs, week by week.

Deterministic for a seed: every decision is drawn from a generator seeded by the id it concerns. The
lengths of stay, readiness and answer rates are ILLUSTRATIVE, chosen so that homes run short of the
clients who become ready, as the region reports (DOMAIN.md: housing is the bottleneck).
"""

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_ops.demo_data import DemoData
from zorgstroom_ops.simulate import SimulatedIntake

ZRM = tuple(d.value for d in ZrmDomain)
# Days in place before a stay ends on its own (illustrative), and the WMO588 reasons it ends with.
STAY_DAYS = {
    "MO_EMERGENCY": (2, 10),
    "MO_NIGHT": (10, 60),
    "MO_24H": (40, 240),
    "BW_24H": (150, 600),
    "BW_HOME": (90, 400),
}
END_REASONS = {
    "MO_EMERGENCY": ["19", "38"],
    "MO_NIGHT": ["21", "19"],
    "MO_24H": ["21", "22", "38"],
    "BW_24H": ["21", "22", "39"],
    "BW_HOME": ["19", "21"],
}
HOUSING_PATH = {"MO_24H": 0.45, "BW_24H": 0.7}  # share of stays that aim at an own home (assessed)
FIRST_ASSESSMENT_DAYS = {"MO_24H": 35, "BW_24H": 90}
DECLINE_REASONS = ["too_far", "too_small", "too_expensive", "other"]


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random("-".join(map(str, (seed, *parts))))


@dataclass
class YearOutcome:
    statuses: Counter[str] = field(default_factory=Counter)

    def count(self, what: str, answer: httpx.Response, expected: int = 200) -> None:
        self.statuses[f"{what} {answer.status_code}" if answer.status_code != expected else what] += 1


@dataclass
class Urls:
    intake: str
    placement: str
    housing: str


class RegionYear:
    """Drives one year of a region's flow; `tokens` are the demo's credentials by name."""

    def __init__(self, data: DemoData, urls: Urls, tokens: dict[str, str], year: int, seed: int) -> None:
        self.data, self.urls, self.tokens, self.year, self.seed = data, urls, tokens, year, seed
        self.outcome = YearOutcome()
        self._assessed: dict[str, date] = {}

    def _auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def set_up(self, client: httpx.AsyncClient) -> None:
        names = {p.agb: p.name for p in self.data.providers}
        region_token = next(k for k in self.tokens if k.startswith("region-"))
        for f in self.data.facilities:
            answer = await client.put(
                f"{self.urls.placement}/v1/facilities/{f.id}", json=f.body(names), headers=self._auth(region_token)
            )
            answer.raise_for_status()
        for corporation, quotas in self.data.quotas.items():
            for municipality, units in quotas.items():
                answer = await client.put(
                    f"{self.urls.housing}/v1/contingents/{corporation}/{municipality}/{self.year}",
                    json={"units": units},
                    headers=self._auth(f"corporation-{corporation}"),
                )
                if answer.status_code != 409:  # a second run may find more already used than a lowered quota
                    answer.raise_for_status()

    async def run(
        self,
        intakes: list[SimulatedIntake],
        post_intakes: Callable[[list[SimulatedIntake]], Any],
        progress: Callable[[int], None] | None = None,
        settle_seconds: float = 0.4,
    ) -> YearOutcome:
        start = date(self.year, 1, 1)
        async with httpx.AsyncClient(timeout=30) as client:
            await self.set_up(client)
            for week in range(53):
                first, last = start + timedelta(weeks=week), start + timedelta(weeks=week, days=6)
                if first.year != self.year:
                    break
                todays = [i for i in intakes if first.isoformat() <= i.body["registered_on"] <= last.isoformat()]
                await post_intakes(todays)
                await asyncio.sleep(settle_seconds)  # placement consumes the registrations and places
                await self._providers(client, last)
                await self._corporations(client, first, last)
                await asyncio.sleep(settle_seconds)  # housing learns readiness and makes offers
                await self._answer_offers(client, last)
                if progress is not None:
                    progress(week)
        return self.outcome

    async def _providers(self, client: httpx.AsyncClient, until: date) -> None:
        for provider in self.data.providers:
            answer = await client.get(
                f"{self.urls.placement}/v1/providers/{provider.agb}/placements",
                headers=self._auth(f"provider-{provider.agb}"),
            )
            answer.raise_for_status()
            for p in answer.json()["placements"]:
                await self._care(client, provider.agb, p, until)

    async def _care(self, client: httpx.AsyncClient, agb: str, p: dict[str, Any], until: date) -> None:
        rng = _rng(self.seed, p["placement_id"])
        care_form, started = p["care_form"], date.fromisoformat(p["start_date"])
        low, high = STAY_DAYS[care_form]
        ends_on = started + timedelta(days=rng.randint(low, high))
        towards_home = rng.random() < HOUSING_PATH.get(care_form, 0.0)
        if towards_home:
            first = started + timedelta(days=FIRST_ASSESSMENT_DAYS[care_form] + rng.randint(0, 30))
            last_assessed = self._assessed.get(p["placement_id"])
            due = first if last_assessed is None else last_assessed + timedelta(days=56)
            if due <= until and due.year == self.year:
                await self._assess(client, agb, p, due, rng)
            return  # a stay towards an own home ends by outflow, not by itself
        if ends_on <= until:
            answer = await client.post(
                f"{self.urls.placement}/v1/placements/{p['placement_id']}/end",
                json={"reason": rng.choice(END_REASONS[care_form]), "end_date": ends_on.isoformat()},
                headers=self._auth(f"provider-{agb}"),
            )
            self.outcome.count("placements ended", answer)

    async def _assess(
        self, client: httpx.AsyncClient, agb: str, p: dict[str, Any], on: date, rng: random.Random
    ) -> None:
        ready = rng.random() < 0.65
        scores = {k: rng.choice([3, 4, 4, 5]) if ready else rng.choice([2, 3, 3, 4]) for k in ZRM}
        if not ready:
            scores["housing"] = 2
        body = {"assessed_on": on.isoformat(), "scores": scores, "client_wants_to_move": ready or rng.random() < 0.5}
        answer = await client.post(
            f"{self.urls.placement}/v1/placements/{p['placement_id']}/assessments",
            json=body,
            headers=self._auth(f"provider-{agb}"),
        )
        self.outcome.count("assessments", answer, 201)
        self._assessed[p["placement_id"]] = on

    async def _corporations(self, client: httpx.AsyncClient, first: date, last: date) -> None:
        for municipality, per_year in sorted(self.data.homes_per_year.items()):
            corporation = self.data.corporation_for(municipality)
            if corporation is None:
                continue
            rng = _rng(self.seed, "homes", municipality, first)
            homes = (
                sum(rng.random() < per_year / 52 for _ in range(2))
                if per_year >= 52
                else int(rng.random() < per_year / 52)
            )
            for n in range(homes):
                body = {
                    "corporation_id": corporation.id,
                    "unit_id": f"{municipality}-{first:%Y%m%d}-{n}",
                    "municipality": municipality,
                    "wijk": f"WK{municipality}{rng.randint(1, 6):02d}",
                    "rooms": rng.choices([1, 2, 3, 4], [25, 40, 25, 10])[0],
                    "rent_eur": round(rng.uniform(520, 760), 2),
                    "available_from": (first + timedelta(days=rng.randint(0, 6))).isoformat(),
                    "accessible": rng.random() < 0.2,
                }
                answer = await client.post(
                    f"{self.urls.housing}/v1/housing-units",
                    json=body,
                    headers=self._auth(f"corporation-{corporation.id}"),
                )
                self.outcome.count("homes offered", answer, 202)

    async def _answer_offers(self, client: httpx.AsyncClient, until: date) -> None:
        for corporation in self.data.corporations:
            auth = self._auth(f"corporation-{corporation.id}")
            answer = await client.get(f"{self.urls.housing}/v1/corporations/{corporation.id}/offers", headers=auth)
            answer.raise_for_status()
            for offer in answer.json()["offers"]:
                if offer["status"] != "open":
                    continue
                rng = _rng(self.seed, offer["offer_id"])
                choice = rng.choices(["accept", "decline", "ignore"], [70, 18, 12])[0]
                answered_on = date.fromisoformat(offer["offered_on"]) + timedelta(days=rng.randint(1, 10))
                if choice == "ignore":
                    continue  # it lapses (the demo's housing lapses offers after seconds, not days)
                path = f"{self.urls.housing}/v1/offers/{offer['offer_id']}/{choice}"
                body: dict[str, str] = {"answered_on": answered_on.isoformat()}
                if choice == "decline":
                    body["reason"] = rng.choice(DECLINE_REASONS)
                reply = await client.post(path, json=body, headers=auth)
                if reply.status_code != 409:  # lapsed meanwhile
                    self.outcome.count(f"offers {choice}ed".replace("eed", "ed"), reply)
