"""Intake's registration as one statement (the key claim, the intake, its audit line and its outbox row, all
or nothing, committed before the 202) against real PostgreSQL: the Idempotency-Key semantics, the per-key
order of the outbox, and a statement unit of work that refuses to drop an event."""

import asyncio
import dataclasses
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support import builders
from tests.support.stack import ORGANISATIONS, Namespace, running
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_contracts.topics import Topic
from zorgstroom_intake.bootstrap import build
from zorgstroom_ops import credentials
from zorgstroom_ops.credentials import MUNICIPALITY_ROLES
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox, _lock_id, statement_unit_of_work

KEY = "cd" * 32


def intake_body(**overrides: Any) -> dict[str, Any]:
    return builders.intake_body(**{"registered_on": (date.today() - timedelta(days=20)).isoformat(), **overrides})


async def intake_rows(ns: Namespace, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        return await conn.fetch(sql.format(schema=f'"intake_{ns.suffix}"'))
    finally:
        await conn.close()


async def test_one_key_sent_at_once_twice_registers_once_and_replays_once(ns: Namespace) -> None:
    body, headers = intake_body(), ns.auth("almere") | {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    async with running(build(ns.settings("intake")), "intake") as intake:
        first, second = await asyncio.gather(
            intake.post("/v1/intakes", json=body, headers=headers),
            intake.post("/v1/intakes", json=body, headers=headers),
        )
        other_body = await intake.post("/v1/intakes", json=intake_body(), headers=headers)
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json() == second.json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in (first, second)) == ["", "true"]
    assert other_body.status_code == 409, other_body.text
    assert len(await intake_rows(ns, "SELECT 1 FROM {schema}.intakes")) == 1
    assert len(await intake_rows(ns, "SELECT 1 FROM {schema}.outbox")) == 1
    audit = await intake_rows(ns, "SELECT outcome, subject, correlation_id FROM {schema}.audit_log ORDER BY id")
    assert [row["outcome"] for row in audit] == ["ok", "replayed"]
    assert {row["subject"] for row in audit} == {first.json()["intake_id"]}
    assert all(row["correlation_id"] for row in audit)  # the request's trace id, as a transaction wrote it


def waitlisted() -> ClientWaitlisted:
    return ClientWaitlisted(
        client_ref=KEY, care_form="MO_24H", responsible_municipality="0034", urgency="high", waiting_since="2027-01-01"
    )  # type: ignore[arg-type]


async def write_in_one_statement(pool: asyncpg.Pool, outbox: Outbox, claim: bool) -> None:
    async with statement_unit_of_work(pool, outbox) as uow:
        await uow.emit(waitlisted())
        ctes, args = uow.pending_as_ctes(2, after="claimed")
        await uow.conn.execute(f"WITH claimed AS (SELECT 1 WHERE $1::boolean), {ctes} SELECT 1", claim, *args)


async def test_a_statement_writes_its_events_only_after_the_claim_and_after_the_holder_of_the_key(
    ns: Namespace,
) -> None:
    schema = f"onestatement_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    outbox = Outbox("placement", "flevoland", ns.prefix, schema)
    try:
        await write_in_one_statement(pool, outbox, claim=False)  # no claim: nothing written, nothing locked
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        holder = await pool.acquire()
        try:
            transaction = holder.transaction()
            await transaction.start()
            topic = topic_name(Topic.CLIENT_WAITLISTED, ns.prefix)
            await holder.execute("SELECT pg_advisory_xact_lock($1)", _lock_id(topic, KEY))
            writer = asyncio.create_task(write_in_one_statement(pool, outbox, claim=True))
            await asyncio.sleep(0.5)
            assert not writer.done()  # waits for the transaction that holds the key
            await holder.execute(
                "INSERT INTO outbox (event_id, topic, message_key, event_type, schema_version, payload)"
                " VALUES ($1, $2, $3, 'ClientWaitlisted', 1, '{}')",
                uuid.uuid4(),
                topic,
                KEY,
            )
            await transaction.commit()
        finally:
            await pool.release(holder)
        await asyncio.wait_for(writer, 10)
        keys = await pool.fetch("SELECT payload = '{}' AS held FROM outbox ORDER BY id")
        assert [row["held"] for row in keys] == [True, False]  # the holder's row first: commit order
    finally:
        await pool.close()


async def test_an_event_emitted_and_not_written_is_refused_not_dropped(ns: Namespace) -> None:
    schema = f"onestatement_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    try:
        with pytest.raises(RuntimeError, match="pending_as_ctes"):
            async with statement_unit_of_work(pool, Outbox("placement", "flevoland", ns.prefix, schema)) as uow:
                await uow.emit(waitlisted())
    finally:
        await pool.close()


async def test_a_key_another_credential_of_the_same_organisation_sends_is_refused_not_replayed(
    ns: Namespace, tmp_path: Path
) -> None:
    """Two case systems of one municipality, each with its own token: the second never reads the first's
    answer (its client_ref) by guessing or reusing its key."""
    organisations = dict(ORGANISATIONS) | {"almere-second-system": ("municipality", "0034", MUNICIPALITY_ROLES)}
    path, tokens = credentials.write(organisations, tmp_path / "credentials")
    two = dataclasses.replace(ns, credentials_file=path, tokens=tokens)
    body, key = intake_body(), {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    async with running(build(two.settings("intake")), "intake") as intake:
        first = await intake.post("/v1/intakes", json=body, headers=two.auth("almere") | key)
        other = await intake.post("/v1/intakes", json=body, headers=two.auth("almere-second-system") | key)
        again = await intake.post("/v1/intakes", json=body, headers=two.auth("almere") | key)
    assert first.status_code == 202, first.text
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-key-reused"), other.text
    assert first.json()["client_ref"] not in other.text
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["intake_id"] == first.json()["intake_id"]
