"""Intake over HTTP against real Postgres and Kafka: what a municipal case system sees."""

import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support import builders
from tests.support.builders import valid_bsn
from tests.support.infra import ROOT
from tests.support.kafka import eventually, publish_events, read_topic
from tests.support.stack import TEST_SECRET, Namespace, running
from zorgstroom_contracts.codes import EndReason
from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake.bootstrap import build
from zorgstroom_intake.domain.bsn import client_ref_for

# Registrations lie in the past: the service refuses a date after today (DOMAIN.md rule 15).
DAYS_AGO = date.today() - timedelta(days=20)


def intake_body(**overrides: Any) -> dict[str, Any]:
    return builders.intake_body(**{"registered_on": DAYS_AGO.isoformat(), **overrides})


def region_with_residence_principle_from(tmp_path: Path, since: date) -> Path:
    """Flevoland with the woonplaatsbeginsel already in force (its file sets a date still ahead)."""
    text = (ROOT / "data/regions/flevoland.toml").read_text()
    region = tmp_path / "region.toml"
    region.write_text(
        text.replace("bw_residence_principle_from = 2027-01-01", f"bw_residence_principle_from = {since}")
    )
    return region


async def outbox_rows(ns: Namespace) -> int:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return await conn.fetchval(f'SELECT count(*) FROM "intake_{ns.suffix}".outbox')
    finally:
        await conn.close()


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{uuid.uuid4()}"}


async def test_registered_client_is_published_without_its_bsn(ns: Namespace) -> None:
    bsn = valid_bsn()
    async with running(build(ns.settings("intake")), "intake") as intake:
        answer = await intake.post("/v1/intakes", json=intake_body(bsn=bsn), headers=ns.auth("almere") | key())
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["responsible_municipality"] == "0034"
        assert bsn not in answer.text
        records = await read_topic(ns.infra.kafka_bootstrap, ns.topic("wmo.client-registered.v1"))
    assert len(records) == 1
    record = records[0]
    envelope = json.loads(record.value)
    assert envelope["event_type"] == "ClientRegistered" and envelope["schema_version"] == 2
    assert envelope["event_id"] == accepted["event_id"] and envelope["region"] == "flevoland"
    assert envelope["data"]["client_ref"] == accepted["client_ref"] == record.key.decode()
    assert envelope["data"]["consent_to_share"] is True
    headers = dict(record.headers)
    assert headers["event-type"] == b"ClientRegistered" and headers["content-type"] == b"application/json"
    assert b"traceparent" in b"".join(k.encode() for k in headers)
    everything = record.key + record.value + b"".join(k.encode() + v for k, v in record.headers)
    assert bsn.encode() not in everything


async def test_the_intake_can_be_read_back_by_its_municipality_only(ns: Namespace) -> None:
    async with running(build(ns.settings("intake")), "intake") as intake:
        accepted = (await intake.post("/v1/intakes", json=intake_body(), headers=ns.auth("almere") | key())).json()
        own = await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("almere"))
        other = await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("urk"))
    assert own.status_code == 200 and own.json()["client_ref"] == accepted["client_ref"]
    assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"


async def test_same_idempotency_key_and_body_returns_the_same_answer_once(ns: Namespace) -> None:
    body, headers = intake_body(), ns.auth("almere") | key()
    async with running(build(ns.settings("intake")), "intake") as intake:
        first = await intake.post("/v1/intakes", json=body, headers=headers)
        second = await intake.post("/v1/intakes", json=body, headers=headers)
        reused = await intake.post("/v1/intakes", json=intake_body(birth_year=1990), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert reused.status_code == 409 and reused.json()["type"].endswith("idempotency-key-reused")
    assert await outbox_rows(ns) == 1


async def test_bw_follows_the_residence_principle_from_the_regions_date(ns: Namespace, tmp_path: Path) -> None:
    on = DAYS_AGO.isoformat()
    body = intake_body(care_form="BW_24H", residence_municipality="0995", registered_on=on)
    recent = intake_body(
        care_form="BW_24H",
        residence_municipality="0995",
        registered_on=on,
        last_bw={"municipality": "0303", "ended_on": (DAYS_AGO - timedelta(days=100)).isoformat()},
    )
    settings = ns.settings("intake", region_file=region_with_residence_principle_from(tmp_path, date(2025, 1, 1)))
    async with running(build(settings), "intake") as intake:
        by_residence = (await intake.post("/v1/intakes", json=body, headers=ns.auth("almere") | key())).json()
        by_recent_bw = (await intake.post("/v1/intakes", json=recent, headers=ns.auth("almere") | key())).json()
    assert by_residence["responsible_municipality"] == "0995"
    assert by_recent_bw["responsible_municipality"] == "0303"


async def bw_endings(ns: Namespace) -> int:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return await conn.fetchval(f'SELECT count(*) FROM "intake_{ns.suffix}".bw_endings')
    finally:
        await conn.close()


async def test_a_bw_ending_placement_publishes_keeps_its_municipality_for_the_next_registration(
    ns: Namespace, tmp_path: Path
) -> None:
    bsn, ended_on = valid_bsn(), DAYS_AGO - timedelta(days=200)
    ended = PlacementEnded(
        placement_id="p-1", client_ref=client_ref_for(bsn, TEST_SECRET.encode()), facility_id="fac-1",
        provider_agb="11111111", responsible_municipality="0303", reason=EndReason.ENDED_BY_CLIENT,
        end_date=ended_on, care_form="BW_24H",
    )  # fmt: skip
    settings = ns.settings("intake", region_file=region_with_residence_principle_from(tmp_path, date(2025, 1, 1)))
    async with running(build(settings), "intake") as intake:
        await publish_events(ns.infra.kafka_bootstrap, ns.prefix, [ended])
        assert await eventually(lambda: bw_endings(ns)) == 1
        body = intake_body(bsn=bsn, care_form="BW_24H", residence_municipality="0995")
        answer = await intake.post("/v1/intakes", json=body, headers=ns.auth("almere") | key())
    assert answer.status_code == 202, answer.text
    assert (answer.json()["responsible_municipality"], answer.json()["responsibility_rule"]) == (
        "0303",
        "woonplaatsbeginsel_recent_bw",
    )


def not_bsn() -> str:
    return "123456789"  # fails the eleven-test


BAD_REQUESTS = [
    pytest.param(
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, "body", id="not-json"
    ),
    pytest.param(
        {"json": {k: v for k, v in intake_body().items() if k != "care_form"}}, 422, "care_form", id="missing-field"
    ),
    pytest.param({"json": intake_body(shoe_size=44)}, 422, "shoe_size", id="extra-field"),
    pytest.param({"json": intake_body(bsn=not_bsn())}, 422, "bsn", id="bsn-fails-eleven-test"),
    pytest.param(
        {"json": intake_body(residence_municipality="9999")}, 422, "residence_municipality", id="unknown-municipality"
    ),
    pytest.param({"json": intake_body(care_form="HOUSING_FIRST")}, 422, "care_form", id="care-form-of-no-region"),
    pytest.param(
        {"json": intake_body(registered_on=(date.today() + timedelta(days=1)).isoformat())},
        422,
        "registered_on",
        id="registered-tomorrow",
    ),
    pytest.param({"json": intake_body(registering_municipality="0150")}, 403, None, id="registers-as-another"),
    pytest.param(
        {"content": b"{" + b" " * 70_000 + b"}", "headers": {"Content-Type": "application/json"}},
        413,
        None,
        id="too-large",
    ),
    pytest.param(
        {"content": b"bsn=123", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        None,
        id="wrong-content-type",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "field"), BAD_REQUESTS)
async def test_bad_input_is_refused_with_a_problem_and_nothing_is_stored(
    ns: Namespace, request_kwargs: dict, status: int, field: str | None
) -> None:
    kwargs = dict(request_kwargs)
    kwargs["headers"] = {**kwargs.get("headers", {}), **ns.auth("almere"), **key()}
    async with running(build(ns.settings("intake")), "intake") as intake:
        answer = await intake.post("/v1/intakes", **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field:
        assert field in problem["detail"]
        assert any(e["field"].startswith(field) for e in problem["errors"])
    assert not_bsn() not in answer.text
    assert await outbox_rows(ns) == 0


async def test_every_business_endpoint_requires_a_credential(ns: Namespace) -> None:
    async with running(build(ns.settings("intake")), "intake") as intake:
        anonymous = await intake.post("/v1/intakes", json=intake_body(), headers=key())
        wrong = await intake.post("/v1/intakes", json=intake_body(), headers={"Authorization": "Bearer nope"} | key())
        no_role = await intake.post("/v1/intakes", json=intake_body(), headers=ns.auth("readonly") | key())
        health = await intake.get("/healthz")
        ready = await intake.get("/readyz")
        openapi = await intake.get("/openapi.json")
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert no_role.status_code == 403
    assert health.status_code == 200 and ready.json()["checks"] == {"postgres": True, "kafka": True, "consumer": True}
    assert "/v1/intakes" in openapi.json()["paths"]


async def intake_table(ns: Namespace, sql: str) -> list:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return await conn.fetch(sql.replace("{schema}", f'"intake_{ns.suffix}"'))
    finally:
        await conn.close()


async def test_registering_and_reading_a_client_are_audited_and_the_log_refuses_edits(ns: Namespace) -> None:
    async with running(build(ns.settings("intake")), "intake") as intake:
        accepted = (await intake.post("/v1/intakes", json=intake_body(), headers=ns.auth("almere") | key())).json()
        await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("almere"))
    rows = await intake_table(ns, "SELECT actor, on_behalf_of, action, client_ref FROM {schema}.audit_log ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("almere", "municipality:0034", "intake.register", accepted["client_ref"]),
        ("almere", "municipality:0034", "intake.read", accepted["client_ref"]),
    ]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await intake_table(ns, "DELETE FROM {schema}.audit_log")


async def test_published_rows_leave_the_outbox_after_retention_and_the_status_stays_published(ns: Namespace) -> None:
    app = build(ns.settings("intake", outbox_retention_hours=0))
    async with running(app, "intake") as intake:
        accepted = (await intake.post("/v1/intakes", json=intake_body(), headers=ns.auth("almere") | key())).json()
        assert await eventually(app.state.context.relay.purge_published) == 1
        status = await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("almere"))
    assert status.json()["status"] == "published"
    assert await outbox_rows(ns) == 0
