"""What the simulated providers and housing corporations do each week, through the real HTTP APIs:
providers end and assess placements, corporations offer homes and answer offers.

Deterministic for a seed: every decision is drawn from a generator seeded by the id it concerns. The
lengths of stay, readiness and answer rates are ILLUSTRATIVE, chosen so that homes run short of the
clients who become ready, as the region reports (docs/domain.md: housing is the bottleneck).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_ops.client_credentials import Callers
from zorgstroom_ops.demo_data import DemoData
from zorgstroom_ops.plan import clamp, draw

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
WAITS_FOR_DOORSTROOM_DAYS = 90  # a client waiting for doorstroom keeps the place this much longer (illustrative)
# A stay towards an own home that has not led to one this long after its usual length ends otherwise
# (illustrative): without it, clients the homes never reach would fill the places for ever.
GIVES_UP_AFTER_DAYS = 365
HOUSING_PATH = {"MO_24H": 0.45, "BW_24H": 0.7}  # share of stays that aim at an own home (assessed)
FIRST_ASSESSMENT_DAYS = {"MO_24H": 35, "BW_24H": 90}
DECLINE_REASONS = ["too_far", "too_small", "too_expensive", "other"]


@dataclass
class Outcome:
    """What the services answered, by kind of request (a status other than the expected one is named)."""

    statuses: Counter[str] = field(default_factory=Counter)

    def count(self, what: str, answer: httpx.Response, expected: int = 200) -> None:
        self.statuses[f"{what} {answer.status_code}" if answer.status_code != expected else what] += 1


@dataclass
class Urls:
    intake: str
    placement: str
    housing: str


def towards_home(seed: int, placement_id: str, care_form: str) -> bool:
    """Whether a stay aims at an own home (assessed, then outflow) rather than ending by itself."""
    return draw(seed, placement_id).random() < HOUSING_PATH.get(care_form, 0.0)


class Actors:
    """The demo's providers and corporations; `callers` are the demo's credentials by name."""

    def __init__(self, data: DemoData, urls: Urls, callers: Callers, seed: int, outcome: Outcome) -> None:
        self.data, self.urls, self.callers, self.seed, self.outcome = data, urls, callers, seed, outcome
        self._assessed: dict[str, date] = {}
        self._ready: set[str] = set()  # placements assessed ready: they wait for a home, not reassessed

    def auth(self, name: str) -> httpx.Auth:
        return self.callers[name]

    async def set_up(self, client: httpx.AsyncClient, quota_years: list[int]) -> None:
        """The facilities, and the same quotas for every year: the supply of homes does not change."""
        names = {p.agb: p.name for p in self.data.providers}
        region = next(k for k in self.callers if k.startswith("region-"))
        for f in self.data.facilities:
            answer = await client.put(
                f"{self.urls.placement}/v1/facilities/{f.id}", json=f.body(names), auth=self.auth(region)
            )
            answer.raise_for_status()
        for year in quota_years:
            for corporation, quotas in self.data.quotas.items():
                for municipality, units in quotas.items():
                    answer = await client.put(
                        f"{self.urls.housing}/v1/contingents/{corporation}/{municipality}/{year}",
                        json={"units": units},
                        auth=self.auth(f"corporation-{corporation}"),
                    )
                    if answer.status_code != 409:  # a second run may find more already used than a lowered quota
                        answer.raise_for_status()

    async def open_placements(self, client: httpx.AsyncClient) -> list[tuple[str, dict[str, Any]]]:
        """Every provider's open placements, with the provider's AGB code."""
        found = []
        for provider in self.data.providers:
            url = f"{self.urls.placement}/v1/providers/{provider.agb}/placements"
            placements = await every_page(client, url, "placements", self.auth(f"provider-{provider.agb}"))
            found += [(provider.agb, p) for p in placements]
        return found

    async def care(self, client: httpx.AsyncClient, agb: str, p: dict[str, Any], until: date, waits: bool) -> bool:
        """Assess a stay towards an own home, or end a stay whose time has come; True when it ended it.
        A client who `waits` for doorstroom keeps the place longer."""
        pid, care_form, started = p["placement_id"], p["care_form"], date.fromisoformat(p["start_date"])
        rng = draw(self.seed, "stay", pid)
        low, high = STAY_DAYS.get(care_form, (30, 300))
        ends_on = started + timedelta(days=rng.randint(low, high) + (WAITS_FOR_DOORSTROOM_DAYS if waits else 0))
        if towards_home(self.seed, pid, care_form):
            ends_on += timedelta(days=GIVES_UP_AFTER_DAYS)  # it ends by outflow, unless no home comes
            first = started + timedelta(days=FIRST_ASSESSMENT_DAYS.get(care_form, 60) + rng.randint(0, 30))
            last_assessed = self._assessed.get(pid)
            due = first if last_assessed is None else last_assessed + timedelta(days=56)
            if pid not in self._ready and due <= min(until, ends_on):
                await self._assess(client, agb, p, due)
        if ends_on > until:
            return False
        answer = await client.post(
            f"{self.urls.placement}/v1/placements/{pid}/end",
            json={"reason": rng.choice(END_REASONS.get(care_form, ["21"])), "end_date": ends_on.isoformat()},
            auth=self.auth(f"provider-{agb}"),
        )
        self.outcome.count("placements ended", answer)
        return answer.status_code == 200

    async def _assess(self, client: httpx.AsyncClient, agb: str, p: dict[str, Any], on: date) -> None:
        """A ZRM assessment, drawn afresh each time: a client not ready now may be at the next one."""
        rng = draw(self.seed, "assessment", p["placement_id"], on)
        ready = rng.random() < 0.65
        scores = {k: rng.choice([3, 4, 4, 5]) if ready else rng.choice([2, 3, 3, 4]) for k in ZRM}
        if not ready:
            scores["housing"] = 2
        body = {"assessed_on": on.isoformat(), "scores": scores, "client_wants_to_move": ready or rng.random() < 0.5}
        answer = await client.post(
            f"{self.urls.placement}/v1/placements/{p['placement_id']}/assessments",
            json=body,
            auth=self.auth(f"provider-{agb}"),
        )
        self.outcome.count("assessments", answer, 201)
        self._assessed[p["placement_id"]] = on
        if answer.status_code == 201 and answer.json().get("ready"):
            self._ready.add(p["placement_id"])

    async def offer_homes(self, client: httpx.AsyncClient, first: date, last: date) -> None:
        """The homes that come free this week: the same rate every year (data/demo's homes_per_year)."""
        for municipality, per_year in sorted(self.data.homes_per_year.items()):
            corporation = self.data.corporation_for(municipality)
            if corporation is None:
                continue
            rng = draw(self.seed, "homes", municipality, first)
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
                    "available_from": clamp(first + timedelta(days=rng.randint(0, 6)), first, last).isoformat(),
                    "accessible": rng.random() < 0.2,
                }
                answer = await client.post(
                    f"{self.urls.housing}/v1/housing-units",
                    json=body,
                    auth=self.auth(f"corporation-{corporation.id}"),
                )
                self.outcome.count("homes offered", answer, 202)

    async def answer_offers(self, client: httpx.AsyncClient, until: date) -> None:
        for corporation in self.data.corporations:
            auth = self.auth(f"corporation-{corporation.id}")
            url = f"{self.urls.housing}/v1/corporations/{corporation.id}/offers"
            for offer in await every_page(client, url, "offers", auth):
                if offer["status"] != "open":
                    continue
                rng = draw(self.seed, offer["offer_id"])
                choice = rng.choices(["accept", "decline", "ignore"], [70, 18, 12])[0]
                offered_on = date.fromisoformat(offer["offered_on"])
                answered_on = clamp(offered_on + timedelta(days=rng.randint(1, 10)), offered_on, max(until, offered_on))
                if choice == "ignore":
                    continue  # it lapses (the demo's housing lapses offers after seconds, not days)
                path = f"{self.urls.housing}/v1/offers/{offer['offer_id']}/{choice}"
                body: dict[str, str] = {"answered_on": answered_on.isoformat()}
                if choice == "decline":
                    body["reason"] = rng.choice(DECLINE_REASONS)
                reply = await client.post(path, json=body, auth=auth)
                if reply.status_code != 409:  # lapsed meanwhile
                    self.outcome.count("offers accepted" if choice == "accept" else "offers declined", reply)


async def every_page(client: httpx.AsyncClient, url: str, member: str, auth: httpx.Auth) -> list[dict[str, Any]]:
    """Every item of a paged list (docs/http.md, Pages): the pages one after another, by `next_after`."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        answer = await client.get(url, params={"after": after} if after else None, auth=auth)
        answer.raise_for_status()
        page = answer.json()
        items += page[member]
        if (after := page.get("next_after")) is None:
            return items
