"""A region's flow over a simulated period, week by week through the real HTTP APIs: registrations,
relapses and doorstroom from intake's side, withdrawals and transfers by the municipalities, and the
providers and corporations of actors.py.

What the simulation knows of a person is what a municipality would: the registration it sent and
intake's answer (intake_id, client_ref, responsible municipality). Rates are ILLUSTRATIVE (plan.Rates).
"""

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from zorgstroom_contracts.codes import TransferReason, WithdrawalReason
from zorgstroom_ops.actors import Actors, Outcome, Urls, towards_home
from zorgstroom_ops.client_credentials import Callers
from zorgstroom_ops.demo_data import DemoData
from zorgstroom_ops.plan import (
    ILLUSTRATIVE_RATES,
    Period,
    Rates,
    clamp,
    doorstroom_to,
    draw,
    proposes_transfer,
    relapse_on,
    withdrawal_on,
)
from zorgstroom_ops.simulate import DriveResult, SimulatedIntake, again, drive
from zorgstroom_runtime.region import Region


@dataclass
class Registered:
    """A registration intake accepted, as the registering municipality knows it."""

    intake: SimulatedIntake
    intake_id: str
    client_ref: str
    responsible: str
    withdraw_on: date | None = None  # the day its municipality withdraws it if it still waits then

    @property
    def registered_on(self) -> date:
        return date.fromisoformat(self.intake.body["registered_on"])


@dataclass
class RunOutcome(Outcome):
    intakes: DriveResult = field(default_factory=lambda: DriveResult({}, Counter(), Counter()))


class RegionRun:
    def __init__(
        self,
        data: DemoData,
        region: Region,
        urls: Urls,
        callers: Callers,
        period: Period,
        seed: int,
        rates: Rates = ILLUSTRATIVE_RATES,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # tests answer in memory
        settle_seconds: float = 0.4,
    ) -> None:
        self.region, self.urls, self.callers, self.period, self.seed, self.rates = (
            region, urls, callers, period, seed, rates,
        )  # fmt: skip
        self.transport, self.settle_seconds = transport, settle_seconds
        self.outcome = RunOutcome()
        self.actors = Actors(data, urls, callers, seed, self.outcome)
        self.registered: dict[str, Registered] = {}  # by Idempotency-Key
        self.by_client: dict[str, Registered] = {}  # the latest registration of each client
        self.pending: list[SimulatedIntake] = []  # relapses, registered when their day comes
        self.open: dict[str, dict[str, Any]] = {}  # open placements seen last week, by id
        self.ended: set[str] = set()  # placements ended by their provider (not by outflow)
        self.waits: set[str] = set()  # placements whose client also waits for doorstroom
        self.withdrawn: set[str] = set()
        self.transfers_done = False

    def _auth(self, municipality: str) -> httpx.Auth | None:
        return self.callers.get(f"municipality-{municipality}")

    async def run(self, intakes: list[SimulatedIntake], progress: Callable[[], None] | None = None) -> RunOutcome:
        async with httpx.AsyncClient(timeout=30, transport=self.transport) as client:
            await self.actors.set_up(client, self.period.quota_years())
            for first, last in self.period.weeks():
                due = [i for i in intakes if first.isoformat() <= i.body["registered_on"] <= last.isoformat()]
                due += [i for i in self.pending if i.body["registered_on"] <= last.isoformat()]
                self.pending = [i for i in self.pending if i.body["registered_on"] > last.isoformat()]
                await self.register(due)
                await asyncio.sleep(self.settle_seconds)  # placement consumes the registrations and places
                await self.register(await self._providers(client, first, last))
                await self._withdraw(client, last)
                await self._transfer(client, first, last)
                await self.actors.offer_homes(client, first, last)
                await asyncio.sleep(self.settle_seconds)  # housing learns readiness and makes offers
                await self.actors.answer_offers(client, last)
                if progress is not None:
                    progress()
        return self.outcome

    async def register(self, intakes: list[SimulatedIntake]) -> None:
        if not intakes:
            return
        done = await drive(intakes, self.urls.intake, self.callers, transport=self.transport)
        self.outcome.intakes.accepted.update(done.accepted)
        self.outcome.intakes.statuses.update(done.statuses)
        self.outcome.intakes.responsible.update(done.responsible)
        for intake in intakes:
            answer = done.accepted.get(intake.key)
            if answer is not None:
                for kind in ("relapse", "door"):
                    self.outcome.statuses[f"registered again ({kind})"] += f"-{kind}-" in intake.key
                on = date.fromisoformat(intake.body["registered_on"])
                known = Registered(
                    intake,
                    answer["intake_id"],
                    answer["client_ref"],
                    answer["responsible_municipality"],
                    withdrawal_on(self.seed, intake.key, on, self.rates),
                )
                self.registered[intake.key] = self.by_client[known.client_ref] = known

    async def _providers(self, client: httpx.AsyncClient, first: date, last: date) -> list[SimulatedIntake]:
        """Each open placement cared for; a placement gone that aimed at a home flowed out (a relapse may
        follow); an emergency or night shelter client may also be registered for doorstroom."""
        now = {p["placement_id"]: (agb, p) for agb, p in await self.actors.open_placements(client)}
        for gone in set(self.open) - set(now) - self.ended:
            p = self.open.pop(gone)
            if towards_home(self.seed, gone, p["care_form"]):
                self._relapse_later(p["client_ref"], first)
        doorstroom = []
        for pid, (agb, p) in sorted(now.items()):
            self.open[pid] = p
            if pid not in self.waits and (intake := self._doorstroom(p)) is not None:
                self.waits.add(pid)
                doorstroom.append(intake)
            if await self.actors.care(client, agb, p, last, waits=pid in self.waits):
                self.ended.add(pid)
                self.open.pop(pid)
        return doorstroom

    def _relapse_later(self, client_ref: str, outflow_on: date) -> None:
        known = self.by_client.get(client_ref)
        day = relapse_on(self.seed, client_ref, outflow_on, self.rates)
        if known is not None and day is not None and day <= self.period.today:
            self.pending.append(again(known.intake, f"relapse-{outflow_on:%Y%m%d}", day))

    def _doorstroom(self, p: dict[str, Any]) -> SimulatedIntake | None:
        known = self.by_client.get(p["client_ref"])
        to = doorstroom_to(self.seed, p["placement_id"], p["care_form"], self.rates)
        if known is None or to is None:
            return None
        on = date.fromisoformat(p["start_date"])  # registered for the next care form the day the place began
        urgency = "high" if known.intake.body["urgency"] == "emergency" else known.intake.body["urgency"]
        return again(known.intake, f"door-{p['placement_id']}", on, care_form=to, urgency=urgency)

    async def _withdraw(self, client: httpx.AsyncClient, until: date) -> None:
        """Registrations withdrawn by their municipality when their day comes (409 when placed meanwhile)."""
        for key, known in list(self.registered.items()):
            day, auth = known.withdraw_on, self._auth(known.responsible)
            if key in self.withdrawn or day is None or day > until or auth is None:
                continue
            self.withdrawn.add(key)
            reason = draw(self.seed, "withdrawal-reason", key).choice(list(WithdrawalReason))
            answer = await client.post(
                f"{self.urls.placement}/v1/registrations/{known.intake_id}/withdraw",
                json={"reason": reason.value, "withdrawn_on": day.isoformat()},
                auth=auth,
            )
            if answer.status_code == 409:
                self.outcome.statuses["withdrawals refused: no longer waiting"] += 1
            else:
                self.outcome.count("withdrawals", answer)

    async def _transfer(self, client: httpx.AsyncClient, first: date, last: date) -> None:
        """Once, in the period's last month (transfers take effect within a window around today):
        recent shelter clients proposed to another municipality of the region, which accepts."""
        earliest, latest = self.period.transfer_days(self.region.dates)
        if self.transfers_done or last < earliest:
            return
        self.transfers_done = True
        on = clamp(first, earliest, latest)
        for key, known in sorted(self.registered.items()):
            recent = (on - known.registered_on).days <= 92
            shelter = not self.region.care_form(known.intake.body["care_form"]).is_sheltered_housing
            if recent and shelter and proposes_transfer(self.seed, key, self.rates):
                await self._propose_and_accept(client, key, known, on)

    async def _propose_and_accept(self, client: httpx.AsyncClient, key: str, known: Registered, on: date) -> None:
        others = sorted(c for c in self.region.municipalities if c != known.responsible)
        to = draw(self.seed, "transfer-to", key).choice(others)
        giver, receiver = self._auth(known.responsible), self._auth(to)
        if giver is None or receiver is None:
            return
        reason = draw(self.seed, "transfer-reason", key).choice([TransferReason.ORIGIN, TransferReason.SOCIAL_NETWORK])
        proposed = await client.post(
            f"{self.urls.placement}/v1/clients/{known.client_ref}/transfer",
            json={"to_municipality": to, "reason": reason.value, "effective_on": on.isoformat()},
            auth=giver,
        )
        self.outcome.count("transfers proposed", proposed, 202)
        if proposed.status_code != 202:
            return
        # Accepted today: a proposal is dated on the day it is made, and an answer cannot come before it.
        accepted = await client.post(
            f"{self.urls.placement}/v1/transfers/{proposed.json()['transfer_id']}/accept", auth=receiver
        )
        self.outcome.count("transfers accepted", accepted)
