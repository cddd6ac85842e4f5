"""The audit trail over HTTP against real Postgres and Kafka: refusals audited with their caller, the
server's own correlation id, and region staff reading the trail (and being audited for it)."""

import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import builders
from tests.support.kafka import read_topic
from tests.support.stack import ORGANISATIONS, Namespace, running
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_ops import credentials
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_runtime.telemetry import setup_telemetry

SPANS = InMemorySpanExporter()
FORGED_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REF = "a" * 64
AUDITOR = ("region", "flevoland", ["reports:region", "audit:read"])


@pytest.fixture(scope="module", autouse=True)
def spans() -> None:
    setup_telemetry("tests", extra_processors=[SimpleSpanProcessor(SPANS)])


@pytest.fixture
def audit_ns(ns: Namespace, tmp_path: Path) -> Namespace:
    """The test namespace with region staff allowed to read the audit trail (`auditor`)."""
    ns.credentials_file, ns.tokens = credentials.write(ORGANISATIONS | {"auditor": AUDITOR}, tmp_path / "auditors")
    return ns


@pytest.fixture
async def intake(audit_ns: Namespace) -> AsyncIterator[httpx.AsyncClient]:
    async with running(build_intake(audit_ns.settings("intake")), "intake") as client:
        yield client


async def audit_rows(ns: Namespace, service: str = "intake") -> list[dict]:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        rows = await conn.fetch(
            "SELECT actor, on_behalf_of, action, client_ref, subject, outcome, correlation_id"
            f' FROM "{service}_{ns.suffix}".audit_log ORDER BY id'
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


def register() -> dict:
    return builders.intake_body(registered_on=(datetime.now(UTC).date() - timedelta(days=3)).isoformat())


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4()}"}


async def test_a_request_without_a_token_is_audited_as_anonymous_and_still_answered_401(
    audit_ns: Namespace, intake: httpx.AsyncClient
) -> None:
    answer = await intake.get("/v1/intakes/INTAKE-1")
    assert answer.status_code == 401 and answer.json()["title"] == "Unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"
    [row] = await audit_rows(audit_ns)
    assert row["actor"] == "anonymous" and row["on_behalf_of"] == ""
    assert row["action"] == "GET /v1/intakes/{intake_id}" and row["outcome"] == "refused: 401"
    assert row["client_ref"] is None and len(row["correlation_id"]) == 32


async def test_a_bad_token_is_audited_as_anonymous(audit_ns: Namespace, intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/v1/intakes", json=register(), headers={"Authorization": "Bearer forged"} | key())
    assert answer.status_code == 401
    [row] = await audit_rows(audit_ns)
    assert (row["actor"], row["action"], row["outcome"]) == ("anonymous", "POST /v1/intakes", "refused: 401")


async def test_a_caller_without_the_role_is_audited_by_name_and_the_problem_is_unchanged(
    audit_ns: Namespace, intake: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="zorgstroom.access"):
        answer = await intake.post("/v1/intakes", json=register(), headers=audit_ns.auth("readonly") | key())
    [line] = [r for r in caplog.records if r.name == "zorgstroom.access"]
    assert (line.actor, line.organisation, line.status) == ("readonly", "municipality:0034", 403)  # type: ignore[attr-defined]
    assert answer.status_code == 403
    assert answer.json()["detail"] == "credential 'readonly' lacks the role 'intake:register'"
    [row] = await audit_rows(audit_ns)
    assert (row["actor"], row["on_behalf_of"], row["action"], row["outcome"]) == (
        "readonly",
        "municipality:0034",
        "POST /v1/intakes",
        "refused: 403",
    )


async def test_a_refusal_on_a_client_route_records_the_client_ref(audit_ns: Namespace) -> None:
    async with running(build_placement(audit_ns.settings("placement")), "placement") as placement:
        answer = await placement.put(
            f"/v1/clients/{REF}/consent",
            json={"consent_to_share": False, "recorded_on": datetime.now(UTC).date().isoformat()},
            headers=audit_ns.auth("corporation"),
        )
    assert answer.status_code == 403
    [row] = await audit_rows(audit_ns, "placement")
    assert row["client_ref"] == REF and row["action"] == "PUT /v1/clients/{client_ref}/consent"
    assert (row["actor"], row["on_behalf_of"]) == ("corporation", "corporation:woonstad-illustratief")


async def test_a_forged_traceparent_does_not_become_the_correlation_id(
    audit_ns: Namespace, intake: httpx.AsyncClient
) -> None:
    forged = {"traceparent": f"00-{FORGED_TRACE}-00f067aa0ba902b7-01"}
    answer = await intake.post("/v1/intakes", json=register(), headers=audit_ns.auth("almere") | key() | forged)
    assert answer.status_code == 202, answer.text
    [row] = await audit_rows(audit_ns)
    assert row["correlation_id"] != FORGED_TRACE and len(row["correlation_id"]) == 32
    [record] = await read_topic(audit_ns.infra.kafka_bootstrap, audit_ns.topic("wmo.client-registered.v1"))
    assert json.loads(record.value)["correlation_id"] == row["correlation_id"]  # the trace `zorgstroom trace` finds
    server = [s for s in SPANS.get_finished_spans() if s.attributes.get("zorgstroom.caller_trace_id") == FORGED_TRACE]
    assert server and all(format(s.context.trace_id, "032x") == row["correlation_id"] for s in server)
    assert all(s.parent is None for s in server)  # a new root: the caller's span is no parent of ours


async def test_region_staff_filter_the_trail_by_client_ref_and_their_query_is_audited(
    audit_ns: Namespace, intake: httpx.AsyncClient
) -> None:
    mine = (await intake.post("/v1/intakes", json=register(), headers=audit_ns.auth("almere") | key())).json()
    await intake.post("/v1/intakes", json=register(), headers=audit_ns.auth("lelystad") | key())
    await intake.get(f"/v1/intakes/{mine['intake_id']}", headers=audit_ns.auth("almere"))
    answer = await intake.get("/v1/audit", params={"client_ref": mine["client_ref"]}, headers=audit_ns.auth("auditor"))
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        ("almere", "intake.read", "ok"),
        ("almere", "intake.register", "ok"),
    ]  # newest first
    assert {e["client_ref"] for e in entries} == {mine["client_ref"]} and answer.json()["next_after"] is None
    last = (await audit_rows(audit_ns))[-1]
    assert (last["actor"], last["on_behalf_of"], last["action"]) == ("auditor", "region:flevoland", "audit.read")
    assert last["client_ref"] == mine["client_ref"] and last["subject"] == "limit=100"


async def test_the_trail_pages_by_id_and_filters_by_outcome(audit_ns: Namespace, intake: httpx.AsyncClient) -> None:
    for _ in range(3):
        await intake.get("/v1/intakes/INTAKE-1")
    auditor = audit_ns.auth("auditor")
    first = (await intake.get("/v1/audit", params={"outcome": "refused: 401", "limit": 2}, headers=auditor)).json()
    assert len(first["entries"]) == 2 and first["next_after"] == first["entries"][-1]["id"]
    params = {"outcome": "refused: 401", "limit": 2, "after": first["next_after"]}
    second = (await intake.get("/v1/audit", params=params, headers=auditor)).json()
    assert len(second["entries"]) == 1 and second["next_after"] is None
    assert second["entries"][0]["id"] < first["entries"][-1]["id"]


async def test_a_municipality_may_not_read_the_trail_and_its_attempt_is_audited(
    audit_ns: Namespace, intake: httpx.AsyncClient
) -> None:
    answer = await intake.get("/v1/audit", params={"client_ref": REF}, headers=audit_ns.auth("almere"))
    assert answer.status_code == 403 and answer.json()["type"].endswith("/forbidden")
    [row] = await audit_rows(audit_ns)
    assert (row["actor"], row["action"], row["outcome"], row["client_ref"]) == (
        "almere",
        "GET /v1/audit",
        "refused: 403",
        REF,
    )


@pytest.mark.parametrize(
    "params",
    [
        {"client_ref": "not-a-ref"},
        {"outcome": "maybe"},
        {"limit": 0},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ],
)
async def test_bad_filters_are_problems(audit_ns: Namespace, intake: httpx.AsyncClient, params: dict) -> None:
    answer = await intake.get("/v1/audit", params=params, headers=audit_ns.auth("auditor"))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/invalid-request")


async def test_an_intake_answered_again_from_its_key_is_audited_as_replayed(
    audit_ns: Namespace, intake: httpx.AsyncClient
) -> None:
    body, headers = register(), audit_ns.auth("almere") | key()
    first = await intake.post("/v1/intakes", json=body, headers=headers)
    again = await intake.post("/v1/intakes", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202) and again.json() == first.json()
    lines = [r for r in await audit_rows(audit_ns) if r["action"] == "intake.register"]
    # the retry shows the client_ref again: a read of client data, so it leaves its own line
    assert [(r["actor"], r["client_ref"], r["subject"], r["outcome"]) for r in lines] == [
        ("almere", first.json()["client_ref"], first.json()["intake_id"], "ok"),
        ("almere", first.json()["client_ref"], first.json()["intake_id"], "replayed"),
    ]
