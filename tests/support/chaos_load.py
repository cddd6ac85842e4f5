"""The fault suite's load: municipalities, providers, a corporation and the region driving the whole flow
through the real HTTP APIs, as their systems would: every write with an Idempotency-Key, retried (on
either process of the service) until it is answered, and every accepted write remembered for the checks.

A write is "ambiguous" once an attempt may have reached the service without its answer reaching the load
(the connection broke after the request was sent, a read timed out, a 5xx): a later 404 or 409 on it is
counted as indeterminate and printed, not as refused. It does not fail the run by itself: the attempt may not
have committed and another actor changed the state since; an effect it hid would show as a stored 2xx answer
whose key the load never saw (tests/support/chaos_checks.py), which counts as lost.

Seeded, but not repeatable: seven actors draw from one random.Random, so what each does next depends on
when the faults let the others run; the fault schedule (tests/chaos) is what a seed repeats.
"""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from tests.support.builders import intake_body
from zorgstroom_contracts.codes import ZrmDomain

ZRM_DOMAINS = tuple(d.value for d in ZrmDomain)
PROVIDERS = {"provider-a": "11111111", "provider-b": "22222222"}
CORPORATION, CORPORATION_NAME = "woonstad-illustratief", "corporation"
# Four facilities of four places, two wijken in each of two municipalities.
FACILITIES = {
    "chaos-almere-1": ("provider-a", "0034", "WK003401"),
    "chaos-almere-2": ("provider-a", "0034", "WK003402"),
    "chaos-lelystad-1": ("provider-b", "0995", "WK099501"),
    "chaos-lelystad-2": ("provider-b", "0995", "WK099502"),
}
REGISTERING = {"almere": "0034", "lelystad": "0995", "urk": "0184"}
RETRY_FOR = 300.0  # seconds a write is retried before the actor gives up on it (then it is not "accepted")
# What a fault may answer for a while (not our answer to a correct request).
TRANSIENT = {429, 500, 502, 503, 504}
# Refusals a racing actor may rightly get: the placement ended meanwhile, the offer was answered, the
# facility holds more than the new capacity, the client is no longer waiting.
EXPECTED_REFUSALS = {404, 409}
# Errors after which the request may have reached the service (not a refused connection).
AMBIGUOUS_ERRORS = (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)
# The idempotency layer's 409 for a key whose first request never completed: the key is free to retry.
NOT_COMPLETED = "did not complete: send it again"


@dataclass
class Accepted:
    """A write the API accepted: what it was, the Idempotency-Key it went with, and its answer."""

    kind: str
    key: str
    status: int
    body: dict[str, Any]
    request: dict[str, Any]


@dataclass
class Load:
    urls: dict[str, list[str]]
    tokens: dict[str, str]
    seed: int
    rng: random.Random = field(init=False)
    accepted: list[Accepted] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # an answer no fault explains: a bug
    retries: Counter[str] = field(default_factory=Counter)
    given_up: list[str] = field(default_factory=list)
    indeterminate: list[str] = field(default_factory=list)  # a 404/409 after an ambiguous attempt
    bsns: set[str] = field(default_factory=set)
    capacities: dict[str, int] = field(default_factory=dict)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def of(self, kind: str) -> list[Accepted]:
        return [a for a in self.accepted if a.kind == kind]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def write(
        self, http: httpx.AsyncClient, kind: str, service: str, method: str, path: str, who: str, body: Any
    ) -> httpx.Response | None:
        """One write, retried with the same key on any process of the service until it is answered."""
        self._counter += 1
        key = f"chaos-{self.seed}-{kind}-{self._counter}"
        headers = self.auth(who) | {"Idempotency-Key": key}
        # Either process of the service first, the other on the next attempt: a load balancer's round robin.
        deadline, attempt = time.monotonic() + RETRY_FOR, self.rng.randrange(len(self.urls[service]))
        ambiguous = False
        while time.monotonic() < deadline:
            url = self.urls[service][attempt % len(self.urls[service])] + path
            attempt += 1
            try:
                answer = await http.request(method, url, json=body, headers=headers)
            except httpx.TransportError as error:
                ambiguous = ambiguous or isinstance(error, AMBIGUOUS_ERRORS)
                self.retries[kind] += 1
                await asyncio.sleep(0.3)
                continue
            if answer.status_code in TRANSIENT or (answer.status_code == 409 and NOT_COMPLETED in answer.text):
                ambiguous = ambiguous or answer.status_code >= 500
                self.retries[kind] += 1
                await asyncio.sleep(0.3)
                continue
            self._note(kind, key, method, path, body, answer, ambiguous)
            return answer
        self.given_up.append(f"{kind} {method} {path}")
        return None

    def _note(
        self, kind: str, key: str, method: str, path: str, body: Any, answer: httpx.Response, ambiguous: bool
    ) -> None:
        if answer.status_code < 300:
            self.accepted.append(Accepted(kind, key, answer.status_code, answer.json(), {"path": path, "body": body}))
        elif answer.status_code in EXPECTED_REFUSALS and ambiguous:
            self.indeterminate.append(f"{kind} {method} {path} ({key}) -> {answer.status_code} after an ambiguous try")
        elif answer.status_code in EXPECTED_REFUSALS:
            self.refused[f"{kind} {answer.status_code}"] += 1
        else:
            self.unexpected.append(f"{kind} {method} {path} -> {answer.status_code} {answer.text[:300]}")

    async def read(self, http: httpx.AsyncClient, service: str, path: str, who: str) -> dict[str, Any] | None:
        url = self.rng.choice(self.urls[service]) + path
        try:
            answer = await http.get(url, headers=self.auth(who))
        except httpx.TransportError:
            return None
        return answer.json() if answer.status_code == 200 else None

    # --- the actors ---

    async def set_up(self, http: httpx.AsyncClient) -> None:
        for fid in FACILITIES:
            await self.put_facility(http, fid, 4)
        for municipality in ("0034", "0995"):
            await self.write(
                http,
                "contingent",
                "housing",
                "PUT",
                f"/v1/contingents/{CORPORATION}/{municipality}/{date.today().year}",
                CORPORATION_NAME,
                {"units": 12},
            )

    async def put_facility(self, http: httpx.AsyncClient, fid: str, capacity: int) -> None:
        provider, municipality, wijk = FACILITIES[fid]
        body = {
            "provider_agb": PROVIDERS[provider],
            "name": f"Illustrative {fid}",
            "municipality": municipality,
            "wijk": wijk,
            "care_form": "MO_24H",
            "capacity": capacity,
            "supported_needs": ["psychiatric", "addiction"],
        }
        answer = await self.write(http, "facility", "placement", "PUT", f"/v1/facilities/{fid}", "region", body)
        if answer is not None and answer.status_code < 300:
            self.capacities[fid] = capacity

    async def register(self, http: httpx.AsyncClient, n: int) -> None:
        who = self.rng.choice(list(REGISTERING))
        body = intake_body(
            registering_municipality=REGISTERING[who],
            residence_municipality=None,
            needs=["psychiatric"],
            preferred_municipalities=[],
            registered_on=(date.today() - timedelta(days=n % 300)).isoformat(),  # intake refuses future dates
        )
        body["bsn"] = self.new_bsn()
        await self.write(http, "intake", "intake", "POST", "/v1/intakes", who, body)

    def new_bsn(self) -> str:
        """A BSN no earlier intake of the run had: the same person twice would read as a duplicate."""
        while (bsn := _bsn(self.rng)) in self.bsns:
            pass
        self.bsns.add(bsn)
        return bsn

    async def care(self, http: httpx.AsyncClient) -> None:
        """A provider assesses one of its clients (ready to move on) or ends a stay."""
        provider = self.rng.choice(list(PROVIDERS))
        found = await self.read(http, "placement", f"/v1/providers/{PROVIDERS[provider]}/placements", provider)
        if not found or not found["placements"]:
            return
        placement = self.rng.choice(found["placements"])
        pid, today = placement["placement_id"], date.today().isoformat()
        if self.rng.random() < 0.6:
            body = {"assessed_on": today, "scores": dict.fromkeys(ZRM_DOMAINS, 4), "client_wants_to_move": True}
            await self.write(
                http, "assessment", "placement", "POST", f"/v1/placements/{pid}/assessments", provider, body
            )
        else:
            body = {"reason": "21", "end_date": today}
            await self.write(http, "ending", "placement", "POST", f"/v1/placements/{pid}/end", provider, body)

    async def offer_unit(self, http: httpx.AsyncClient, n: int) -> None:
        municipality = self.rng.choice(["0034", "0995"])
        body = {
            "corporation_id": CORPORATION,
            "unit_id": f"chaos-unit-{n}",
            "municipality": municipality,
            "wijk": f"WK{municipality}0{self.rng.randint(3, 6)}",
            "rooms": 2,
            "rent_eur": 600.0,
            "available_from": date.today().isoformat(),
        }
        await self.write(http, "unit", "housing", "POST", "/v1/housing-units", CORPORATION_NAME, body)

    async def answer_offers(self, http: httpx.AsyncClient) -> None:
        found = await self.read(http, "housing", f"/v1/corporations/{CORPORATION}/offers", CORPORATION_NAME)
        for offer in (found or {}).get("offers", []):
            if offer["status"] != "open":
                continue
            choice = "accept" if self.rng.random() < 0.7 else "decline"
            body: dict[str, Any] = {"answered_on": date.today().isoformat()}
            if choice == "decline":
                body["reason"] = self.rng.choice(["too_far", "too_small", "other"])
            path = f"/v1/offers/{offer['offer_id']}/{choice}"
            await self.write(http, f"offer-{choice}", "housing", "POST", path, CORPORATION_NAME, body)

    async def transfer(self, http: httpx.AsyncClient) -> None:
        """Almere hands a waiting client to Dronten, which accepts."""
        found = await self.read(http, "placement", "/v1/waiting-list?municipality=0034", "almere")
        waiting = [c for c in (found or {}).get("clients", []) if c.get("responsible_municipality", "0034") == "0034"]
        if not waiting:
            return
        client = self.rng.choice(waiting)["client_ref"]
        body = {"to_municipality": "0303", "reason": "origin", "effective_on": date.today().isoformat()}
        proposed = await self.write(
            http, "transfer", "placement", "POST", f"/v1/clients/{client}/transfer", "almere", body
        )
        if proposed is not None and proposed.status_code == 202:
            path = f"/v1/transfers/{proposed.json()['transfer_id']}/accept"
            await self.write(http, "transfer-accept", "placement", "POST", path, "dronten", {})

    async def grow_a_facility(self, http: httpx.AsyncClient) -> None:
        fid = self.rng.choice(list(FACILITIES))
        if self.capacities.get(fid, 4) < 8:
            await self.put_facility(http, fid, self.capacities.get(fid, 4) + 1)

    async def run(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Every actor in its own loop, paced, until `stop`; the writes in flight then finish."""

        async def every(seconds: float, act: Any) -> None:
            n = 0
            while not stop.is_set():
                await act(n)
                n += 1
                await asyncio.sleep(seconds * (0.5 + self.rng.random()))

        await asyncio.gather(
            every(0.25, lambda n: self.register(http, n)),
            every(0.25, lambda n: self.register(http, n + 100_000)),
            every(0.8, lambda n: self.care(http)),
            every(1.5, lambda n: self.offer_unit(http, n)),
            every(1.0, lambda n: self.answer_offers(http)),
            every(6.0, lambda n: self.transfer(http)),
            every(8.0, lambda n: self.grow_a_facility(http)),
        )


def _bsn(rng: random.Random) -> str:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    while True:
        digits = f"{rng.randrange(100_000_000, 999_999_999):09d}"
        if sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0:
            return digits
