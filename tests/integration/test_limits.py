"""Limits on abuse over a real socket (uvicorn on a free port, the service on the shared PostgreSQL and Kafka):
rate limits per credential and per address of failed authentications, bodies over the limit with and without a
Content-Length, pages of a list, and a report computed off the event loop while /healthz keeps answering."""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from tests.integration.test_api_conformance import serving
from tests.integration.test_housing_api import UNIT
from tests.support.builders import FACILITY
from tests.support.stack import Namespace, running
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting import service as reporting_service
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_reporting.domain.months import Month


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


async def refusals_audited(ns: Namespace) -> int:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return int(
            await conn.fetchval(f"SELECT count(*) FROM placement_{ns.suffix}.audit_log WHERE outcome = 'refused: 401'")
        )
    finally:
        await conn.close()


async def test_over_its_limit_a_credential_gets_429_and_a_flood_of_bad_tokens_is_not_audited_line_by_line(
    ns: Namespace, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_placement(ns.settings("placement", rate_limit="4/minute", rate_limit_refused="3/minute"))
    caplog.set_level(logging.INFO, logger="zorgstroom.access")
    async with served(app) as http:
        own = [await http.get("/v1/transfers", headers=ns.auth("almere")) for _ in range(5)]
        other = await http.get("/v1/transfers", headers=ns.auth("lelystad"))
        operational = [await http.get(path) for path in ("/healthz", "/readyz", "/metrics") * 4]
        forged = [await http.get("/v1/transfers", headers={"Authorization": f"Bearer forged-{i}"}) for i in range(8)]
        metrics = (await http.get("/metrics")).text
    assert [a.status_code for a in own] == [200, 200, 200, 200, 429]
    limited = own[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["type"] == "https://zorgstroom.nl/problems/too-many-requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60 and limited.headers["RateLimit-Limit"] == "4"
    assert other.status_code == 200  # a window per credential
    assert all(a.status_code == 200 for a in operational)  # never limited
    assert [a.status_code for a in forged] == [401] * 3 + [429] * 5
    assert await refusals_audited(ns) == 3  # the rest is a number on /metrics
    assert 'zorgstroom_rate_limited_total{scope="refused",service="placement"} 5.0' in metrics
    lines = [r.__dict__ for r in caplog.records if r.name == "zorgstroom.access" and r.__dict__["status"] >= 400]
    assert [(line["status"], line.get("client"), line.get("rate_limited")) for line in lines] == [
        (429, "127.0.0.1", "credential"),
        *[(401, "127.0.0.1", None)] * 3,
        *[(429, "127.0.0.1", "refused")] * 5,
    ]  # where the abuse came from, and which limit it hit
    warnings = [r.getMessage() for r in caplog.records if r.name == "zorgstroom_runtime.rate_limits"]
    assert len(warnings) == 2 and "127.0.0.1" in warnings[1], warnings  # one per credential or address


async def chunks(*sizes: int) -> AsyncIterator[bytes]:
    """A body without a Content-Length: httpx sends it chunked."""
    for size in sizes:
        yield b" " * size


async def test_a_body_over_the_limit_gets_413_with_or_without_a_content_length(ns: Namespace) -> None:
    region = ns.auth("region") | {"Content-Type": "application/json"}
    async with served(build_placement(ns.settings("placement"))) as http:
        declared = await http.put("/v1/facilities/big", content=b" " * (65 * 1024), headers=region)
        chunked = await http.put("/v1/facilities/big", content=chunks(40 * 1024, 40 * 1024), headers=region)
        small = httpx.Response(200, json=FACILITY).content  # the same facility, streamed in two chunks
        fits = await http.put("/v1/facilities/fits", content=chunks_of(small), headers=region)
    for refused in (declared, chunked):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "https://zorgstroom.nl/problems/content-too-large"
    assert fits.status_code == 201, fits.text


async def chunks_of(body: bytes) -> AsyncIterator[bytes]:
    middle = len(body) // 2
    yield body[:middle]
    yield body[middle:]


async def test_a_list_comes_in_pages_that_together_hold_it_once(ns: Namespace) -> None:
    ids = [f"page-{i}" for i in range(5)]
    async with served(build_placement(ns.settings("placement"))) as http:
        for facility_id in ids:
            put = await http.put(f"/v1/facilities/{facility_id}", json=FACILITY, headers=ns.auth("region"))
            assert put.status_code == 201, put.text
        whole = (await http.get("/v1/facilities", headers=ns.auth("region"))).json()
        paged, after = [], None
        while True:
            params = {"limit": "2"} | ({"after": after} if after else {})
            page = (await http.get("/v1/facilities", params=params, headers=ns.auth("region"))).json()
            paged.append([f["facility_id"] for f in page["facilities"]])
            if (after := page["next_after"]) is None:
                break
        foreign = await http.get("/v1/facilities", params={"after": "WzFd"}, headers=ns.auth("region"))
        too_many = await http.get("/v1/facilities", params={"limit": "501"}, headers=ns.auth("region"))
    assert [f["facility_id"] for f in whole["facilities"]] == ids and whole["next_after"] is None
    assert paged == [ids[0:2], ids[2:4], ids[4:]]
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "after"
    assert too_many.status_code == 422


async def collated_naturally(ns: Namespace, app: FastAPI, table: str, column: str) -> None:
    """The id column ordered as a natural-language collation orders it ("a1" before "B1"), as a database made
    with such a default (compose's postgres:15: en_US.utf8) would; the shared test database collates C. The
    running service's connections are replaced: their prepared statements on the table are stale."""
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        if not await conn.fetchval("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'"):
            pytest.skip("this PostgreSQL has no ICU collation")
        await conn.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE text COLLATE "und-x-icu"')
    finally:
        await conn.close()
    await app.state.context.pool.expire_connections()


IDS = ["a1", "B1", "b2", "A2"]  # a natural-language collation: a1 A2 B1 b2; code points: A2 B1 a1 b2


async def one_by_one(http: httpx.AsyncClient, path: str, member: str, id_of: str, headers: dict[str, str]) -> list[str]:
    """Every item of a list, read in pages of one."""
    paged, after = [], None
    while True:
        params = {"limit": "1"} | ({"after": after} if after else {})
        page = (await http.get(path, params=params, headers=headers)).json()
        paged += [item[id_of] for item in page[member]]
        if (after := page["next_after"]) is None:
            return paged


async def test_pages_of_facilities_hold_every_one_whatever_the_database_collation(ns: Namespace) -> None:
    app = build_placement(ns.settings("placement"))
    async with served(app) as http:
        await collated_naturally(ns, app, f"placement_{ns.suffix}.facilities", "facility_id")
        for facility_id in IDS:
            put = await http.put(f"/v1/facilities/{facility_id}", json=FACILITY, headers=ns.auth("region"))
            assert put.status_code == 201, put.text
        paged = await one_by_one(http, "/v1/facilities", "facilities", "facility_id", ns.auth("region"))
    assert paged == sorted(IDS)  # code points, as the cursor compares: none skipped


async def test_pages_of_units_hold_every_one_whatever_the_database_collation(ns: Namespace) -> None:
    corporation = ns.auth("corporation")
    app = build_housing(ns.settings("housing"))
    async with served(app) as http:
        await collated_naturally(ns, app, f"housing_{ns.suffix}.housing_units", "unit_id")
        for unit_id in IDS:
            posted = await http.post("/v1/housing-units", json=UNIT | {"unit_id": unit_id}, headers=corporation)
            assert posted.status_code == 202, posted.text
        path = f"/v1/corporations/{UNIT['corporation_id']}/units"
        paged = await one_by_one(http, path, "units", "unit_id", corporation)
    assert paged == sorted(IDS)


def blocking_once(real: Callable[..., Any], started: threading.Event, release: threading.Event) -> Callable[..., Any]:
    """`real`, whose first call signals and then waits to be released (10 s at most, so that a computation on
    the event loop, which nothing else can then release, fails the test instead of hanging it)."""

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if not started.is_set():
            started.set()
            release.wait(10)
        return real(*args, **kwargs)

    return hooked


async def test_health_answers_while_a_report_is_being_computed(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release, answered = threading.Event(), threading.Event(), []
    monkeypatch.setattr(
        reporting_service, "flows_of", blocking_once(reporting_service.flows_of, started, release)
    )
    async with served(build_reporting(ns.settings("reporting"))) as http:

        async def report() -> httpx.Response:
            answer = await http.get("/v1/region/flows", headers=ns.auth("region"))
            answered.append("report")
            return answer

        computing = asyncio.create_task(report())
        assert await asyncio.to_thread(started.wait, 20)  # the report is in its computation
        health = await http.get("/healthz")
        answered.append("health")
        release.set()
        flows = await computing
    assert health.status_code == 200 and flows.status_code == 200, flows.text
    assert answered == ["health", "report"]


def months_back(month: Month, count: int) -> Month:
    index = month.year * 12 + month.month - 1 - count
    return Month(index // 12, index % 12 + 1)


async def test_every_report_with_a_period_refuses_one_beyond_its_bounds(ns: Namespace) -> None:
    """Found from the document, so a new report with a period is held to the same bounds."""
    app = build_reporting(ns.settings("reporting"))
    document = app.openapi()
    reports = [
        path
        for path, item in document["paths"].items()
        if "reports" in item.get("get", {}).get("tags", ())
        and any(p["name"] == "from" for p in item["get"].get("parameters", ()))
    ]
    now = Month.of(date.today())
    beyond = {
        "to": {"from": str(months_back(now, 120)), "to": str(now)},  # 121 months
        "from": {"from": "1999-12", "to": "2000-01"},
    }
    after_now = {"from": str(now), "to": str(now.next())}
    async with running(app, "reporting") as http:
        for path in reports:
            for field, period in [*beyond.items(), ("to", after_now)]:
                answer = await http.get(path.replace("{code}", "0034"), params=period, headers=ns.auth("region"))
                assert answer.status_code == 422, (path, period, answer.text)
                assert answer.json()["errors"][0]["field"] == field, (path, period)
            longest = {"from": str(months_back(now, 119)), "to": str(now)}
            assert (
                await http.get(path.replace("{code}", "0034"), params=longest, headers=ns.auth("region"))
            ).is_success
    assert len(reports) >= 6


async def test_an_unhandled_error_is_counted_as_a_500_for_the_error_rate_alert(ns: Namespace) -> None:
    """Starlette answers an unhandled exception outside every middleware of ours: the metrics middleware must
    still count it, or the alert on the rate of 5xx answers never sees a database that went away."""
    app = build_intake(ns.settings("intake"))

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    labels = {"service": "intake", "method": "GET", "route": "/boom", "status": "500"}
    before = REGISTRY.get_sample_value("zorgstroom_http_requests_total", labels) or 0.0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            answer = await client.get("/boom")
    assert answer.status_code == 500
    assert REGISTRY.get_sample_value("zorgstroom_http_requests_total", labels) == before + 1
