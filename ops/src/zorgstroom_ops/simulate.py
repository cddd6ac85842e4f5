"""Simulated intakes for a region, driven through the real intake API.

Deterministic for a seed. The rates are ILLUSTRATIVE, anchored on docs/domain.md's sizes: MO at 3.3 per
1,000 inhabitants a year in the centre municipality (Almere region, 2023) and 2.0 elsewhere, BW at
0.6 per 1,000. Every request carries an Idempotency-Key derived from the seed and the dates, so
driving the same period twice registers nobody twice.
"""

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from zorgstroom_ops.client_credentials import Callers
from zorgstroom_runtime.region import Region

MO_RATE_CENTRE, MO_RATE_OTHER, BW_RATE = 3.3, 2.0, 0.6  # per 1,000 inhabitants a year (illustrative)
NEEDS = ["psychiatric", "addiction", "mild_intellectual_disability", "domestic_violence"]


@dataclass(frozen=True)
class SimulatedIntake:
    key: str
    registering: str
    body: dict[str, Any]


def valid_bsn(rng: random.Random) -> str:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    while True:
        digits = f"{rng.randrange(100_000_000, 999_999_999):09d}"
        if sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0:
            return digits


def intakes_between(region: Region, first: date, last: date, seed: int) -> list[SimulatedIntake]:
    """The registrations of the days `first` to `last`, at the yearly rates above (a year of 365 days)."""
    rng = random.Random(f"{seed}-{region.code}-{first}-{last}")
    codes = list(region.municipalities)
    days = (last - first).days + 1
    intakes: list[SimulatedIntake] = []
    for code, municipality in region.municipalities.items():
        mo_rate = MO_RATE_CENTRE if code == region.centre_municipality else MO_RATE_OTHER
        for kind, rate in (("MO", mo_rate), ("BW", BW_RATE)):
            expected = municipality.population / 1000 * rate * days / 365
            count = int(expected) + (rng.random() < expected - int(expected))
            for _ in range(count):
                registered_on = first + timedelta(days=rng.randrange(days))
                body = _intake(rng, kind, code, codes, registered_on)
                intakes.append(SimulatedIntake(f"sim-{seed}-{first:%Y%m%d}-{len(intakes):05d}", code, body))
    intakes.sort(key=lambda i: (i.body["registered_on"], i.key))
    return intakes


def again(intake: SimulatedIntake, suffix: str, on: date, **changes: Any) -> SimulatedIntake:
    """The same person registered again (same BSN, so the same client_ref): a relapse or a doorstroom."""
    body = {**intake.body, "registered_on": on.isoformat(), **changes}
    body.pop("last_bw", None)
    return SimulatedIntake(f"{intake.key}-{suffix}", intake.registering, body)


def _intake(rng: random.Random, kind: str, code: str, codes: list[str], on: date) -> dict[str, Any]:
    others = [c for c in codes if c != code] or [code]
    if kind == "MO":
        care_form = rng.choices(["MO_24H", "MO_NIGHT", "MO_EMERGENCY"], [40, 35, 25])[0]
        residence = None if rng.random() < 0.4 else (code if rng.random() < 0.85 else rng.choice(others))
    else:
        care_form = rng.choices(["BW_24H", "BW_HOME"], [60, 40])[0]
        residence = rng.choices([code, rng.choice(others), None], [80, 15, 5])[0]
    urgency = "emergency" if care_form == "MO_EMERGENCY" else rng.choices(["high", "normal"], [20, 80])[0]
    body: dict[str, Any] = {
        "registering_municipality": code,
        "bsn": valid_bsn(rng),
        "care_form": care_form,
        "needs": sorted(set(rng.choices(NEEDS, [45, 30, 15, 10], k=rng.randint(1, 2)))),
        "urgency": urgency,
        "residence_municipality": residence,
        "household": {
            "adults": rng.choices([1, 2], [90, 10])[0],
            "children": rng.choices([0, 1, 2, 3], [80, 10, 7, 3])[0],
        },
        "preferred_municipalities": [code],
        "registered_on": on.isoformat(),
    }
    # About one in twenty clients does not consent to sharing with corporations (ILLUSTRATIVE); taken from the
    # BSN already drawn, so the other draws of a seed stay as they were.
    body["consent_to_share"] = int(body["bsn"]) % 20 != 0
    if kind == "BW" and rng.random() < 0.1:
        body["last_bw"] = {
            "municipality": rng.choice(others),
            "ended_on": (on - timedelta(days=rng.randint(90, 540))).isoformat(),
        }
    return body


@dataclass
class DriveResult:
    accepted: dict[str, dict[str, Any]]  # intake's answer by Idempotency-Key
    statuses: Counter[int]
    responsible: Counter[str]


async def drive(
    intakes: list[SimulatedIntake],
    intake_url: str,
    callers: Callers,
    *,
    concurrency: int = 16,
    progress: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DriveResult:
    """POST every intake with its municipality's credential (`callers`); returns what the API answered."""
    result = DriveResult({}, Counter(), Counter())
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=intake_url, timeout=30, transport=transport) as client:

        async def post(intake: SimulatedIntake) -> None:
            async with gate:
                answer = await client.post(
                    "/v1/intakes",
                    json=intake.body,
                    headers={"Idempotency-Key": intake.key},
                    auth=callers[f"municipality-{intake.registering}"],
                )
            result.statuses[answer.status_code] += 1
            if answer.status_code == 202:
                body = answer.json()
                result.accepted[intake.key] = body
                result.responsible[body["responsible_municipality"]] += 1
            if progress is not None:
                progress()

        await asyncio.gather(*(post(i) for i in intakes))
    return result
