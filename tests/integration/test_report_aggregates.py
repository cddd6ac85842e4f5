"""Reports read from the kept aggregates on real PostgreSQL answer what the facts give: a generated history applied
through ReportingProjection in random batches (with a rollover of the horizon between them), then every report
compared with the documents monthly_tallies, protect_flows and the matrix build from all the facts; and every
aggregate derived in one pass (as a rebuild does) equals the ones the batches kept."""

import asyncio
import random
from collections import Counter
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from tests.support.stack import Namespace, running
from zorgstroom_ops.national import NationalHistory, records
from zorgstroom_reporting import service
from zorgstroom_reporting.bootstrap import build
from zorgstroom_reporting.domain.aggregates import Contributions
from zorgstroom_reporting.domain.disclosure import Rounding, protect_flows, protect_matrix
from zorgstroom_reporting.domain.flows import monthly_tallies, totals
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.solidarity import monthly_matrix
from zorgstroom_reporting.projections import kept
from zorgstroom_reporting.projections.writer import ReportingProjection
from zorgstroom_reporting.queries.disclosure_key import disclosure_secret
from zorgstroom_reporting.queries.documents import shown
from zorgstroom_reporting.queries.flows import load_facts
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.batch import open_deliveries
from zorgstroom_runtime.region import load_region
from zorgstroom_runtime.relay import event_headers

FIRST, LAST = Month(2016, 1), Month(2018, 12)


def _record(offset: int, r: Any) -> ConsumerRecord:  # type: ignore[type-arg]
    headers = event_headers(r.event_type, r.schema_version)
    return ConsumerRecord(r.topic, 0, offset, 0, 0, r.key, r.value, None, len(r.key), len(r.value), headers)


def _principal(kind: OrganisationKind, organisation: str, roles: list[Role]) -> Principal:
    return Principal(name="test", organisation_kind=kind, organisation_id=organisation, roles=frozenset(roles))


async def _apply_in_batches(pool: asyncpg.Pool, projection: ReportingProjection, history: NationalHistory) -> int:
    opened, _, _ = open_deliveries([_record(i, r) for i, r in enumerate(records(history))], projection.event_types)
    rng, applied = random.Random(7), 0
    rng.shuffle(opened)  # topics deliver in any order: an ending before its placement, a redelivery
    opened += opened[: len(opened) // 20]
    while applied < len(opened):
        batch = opened[applied : applied + rng.randrange(1, 300)]
        async with pool.acquire() as conn, conn.transaction():
            await projection.apply(conn, batch)
        applied += len(batch)
    return len(opened)


async def _old_region_flows(pool: asyncpg.Pool, region: Any, today: date, first: Month, last: Month) -> dict[str, Any]:
    """What region_flows answered when it computed from the facts (the code before the aggregates)."""
    facts, rounding = await load_facts(pool), Rounding(await disclosure_secret(pool))
    threshold = region.reporting.small_number_threshold
    named = {r.responsible for r in facts.registrations} | {p.responsible for p in facts.placements}
    named |= {t.to_municipality for t in facts.transfers} | {w.responsible for w in facts.withdrawals}
    codes = [*region.municipalities, *sorted(c for c in named if not region.in_region(c))]
    hidden = {
        c: shown(totals(protect_flows(monthly_tallies(facts, c, first, last, region), c, rounding, region, threshold)))
        for c in codes
    }
    days: Counter[str] = Counter()
    for (responsible, _), cell in protect_matrix(
        monthly_matrix(facts, first, last, today), rounding, Month.of(today)
    ).items():
        days[responsible] += cell.client_days
    return {"hidden": hidden, "days": days}


@pytest.mark.timeout(300)
async def test_reports_from_kept_aggregates_equal_the_reports_of_the_facts(ns: Namespace) -> None:
    settings = ns.settings("reporting")
    region = load_region(settings.region_file, settings.municipalities_file)
    history = NationalHistory(3, years=3, scale=0.3, only={"0034"})
    today = date(2019, 2, 10)
    clock = {"today": date(2017, 6, 1)}  # the batches run with an earlier clock: reports then roll the horizon over
    projection = ReportingProjection(region, lambda: clock["today"])
    async with running(build(settings), "reporting") as _:
        pool = await asyncpg.create_pool(settings.database_url, server_settings={"search_path": settings.schema_name})
        try:
            assert await _apply_in_batches(pool, projection, history) > 1000
            clock["today"] = today
            staff = _principal(OrganisationKind.REGION, region.code, [Role.REPORTS_REGION])
            for first, last in ((FIRST, LAST), (Month(2016, 5), Month(2018, 9)), (Month(2017, 3), Month(2019, 2))):
                await _region_reports_equal(pool, region, staff, today, first, last)

            facts, secret = await load_facts(pool), await disclosure_secret(pool)
            for code in ("0034", "0995"):
                own = _principal(OrganisationKind.MUNICIPALITY, code, [Role.REPORTS_OWN])
                for who, exact in ((own, True), (staff, False)):
                    got = (await service.municipality_flows(pool, region, who, code, FIRST, LAST, today)).document
                    tallies = monthly_tallies(facts, code, FIRST, LAST, region)
                    months = protect_flows(tallies, code, Rounding(secret, exact), region, 5)
                    assert got["months"] == [{"month": str(m)} | shown(f) for m, f in sorted(months.items())]
                    assert got["totals"] == shown(totals(months))

            async with pool.acquire() as conn:  # a rebuild derives the same aggregates in one pass
                live = await _aggregates(conn)
                # The horizon the live cells reached (the service's start-up brings it to the real month)
                horizon = Month.of(await conn.fetchval("SELECT month FROM report_horizon"))
                async with conn.transaction():
                    await kept.derive(conn, region, secret, horizon)
                assert await _aggregates(conn) == live
        finally:
            await pool.close()


async def _region_reports_equal(
    pool: asyncpg.Pool, region: Any, staff: Principal, today: date, first: Month, last: Month
) -> None:
    answer = (await service.region_flows(pool, region, staff, first, last, today)).document
    old = await _old_region_flows(pool, region, today, first, last)
    for m in answer["municipalities"]:
        assert m["totals"] == old["hidden"][m["municipality"]], (m["municipality"], first, last)
    for m in answer["responsible_elsewhere"]:
        assert m["totals"] == old["hidden"][m["municipality"]] and m["client_days"] == old["days"][m["municipality"]]
    assert answer["totals"]["registrations"] > 0
    matrix = (await service.region_matrix(pool, region, staff, first, last, today)).document["cells"]
    rounding = Rounding(await disclosure_secret(pool))
    facts_matrix = protect_matrix(monthly_matrix(await load_facts(pool), first, last, today), rounding, Month.of(today))
    assert [(c["responsible"], c["facility_municipality"], c["clients"], c["client_days"]) for c in matrix] == [
        (r, f, cell.placements, cell.client_days) for (r, f), cell in facts_matrix.items()
    ]


async def _aggregates(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {t} AS t ORDER BY t::text")] for t in kept.TABLES}


def _waiting_days(*pairs: tuple[int, int]) -> Contributions:
    delta = Contributions()
    for days, n in pairs:
        delta.days[("0034", date(2026, 1, 1), "waiting_days", "BW_24H", days)] += n
    return delta


@pytest.mark.timeout(120)
async def test_two_writers_of_one_histogram_leave_the_measures_of_both(ns: Namespace) -> None:
    """Two instances apply batches of different clients of one municipality and month: the second waits for the
    first, and the median then counts both (without the wait it counted one, or the insert failed)."""
    settings = ns.settings("reporting")
    region = load_region(settings.region_file, settings.municipalities_file)
    async with running(build(settings), "reporting") as _:
        url, path = settings.database_url, {"search_path": settings.schema_name}
        first, second = (
            await asyncpg.connect(url, server_settings=path),
            await asyncpg.connect(url, server_settings=path),
        )
        try:
            async with first.transaction():
                await kept._days(first, _waiting_days((10, 1)), region)
            one = first.transaction()
            await one.start()
            await kept._days(first, _waiting_days((20, 1)), region)
            other = second.transaction()
            await other.start()
            waiting = asyncio.create_task(kept._days(second, _waiting_days((10, -1)), region))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # the histogram is the first writer's until it commits
            await one.commit()
            await waiting
            await other.commit()
            measures = await first.fetch("SELECT scope, n, median FROM flow_measures ORDER BY scope")
            assert [tuple(r) for r in measures] == [("form:BW_24H", 1, 20.0), ("group:BW", 1, 20.0), ("total", 1, 20.0)]
            assert [tuple(r) for r in await first.fetch("SELECT days, n FROM flow_days")] == [(20, 1)]
        finally:
            await first.close()
            await second.close()
