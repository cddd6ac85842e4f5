"""What `zorgstroom status` shows of a running stack: services and the identity provider, consumer lag, outbox,
dead letters, freshness.

Everything is read from the outside, as an operator's own tools would: the services' /readyz, the identity
provider's discovery document, Kafka's
committed group offsets against the end offsets, each service's outbox table, the `.dlq` topics, and
reporting's projection position.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from zorgstroom_contracts import EVENT_TYPES, topic_name
from zorgstroom_ops import dead_letters
from zorgstroom_runtime.app import ServiceDefinition
from zorgstroom_runtime.kafka import KafkaConnection, partitions_of


@dataclass(frozen=True)
class ServiceState:
    name: str
    url: str
    ready: bool | None  # None: not reachable at all
    detail: str


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    lag: int  # end offset minus committed offset, summed over the topic's partitions


@dataclass(frozen=True)
class OutboxState:
    service: str
    backlog: int
    oldest_seconds: float | None
    parked: int = 0  # rows Kafka refused repeatedly: they, and later rows of their key, wait for an operator


@dataclass(frozen=True)
class Freshness:
    projection: str
    last_event_at: datetime
    events_applied: int

    def age_seconds(self, now: datetime) -> float:
        return (now - self.last_event_at).total_seconds()


async def service_states(urls: dict[str, str]) -> list[ServiceState]:
    async with httpx.AsyncClient(timeout=3) as client:

        async def one(name: str, url: str) -> ServiceState:
            try:
                answer = await client.get(f"{url}/readyz")
            except httpx.HTTPError as error:
                return ServiceState(name, url, None, type(error).__name__)
            checks = answer.json().get("checks", {})
            failing = ", ".join(k for k, ok in checks.items() if not ok)
            return ServiceState(name, url, answer.status_code == 200, f"not ready: {failing}" if failing else "ready")

        return list(await asyncio.gather(*(one(n, u) for n, u in urls.items())))


async def identity_provider_state(issuer: str) -> ServiceState:
    """The identity provider is ready when its realm's discovery document answers and names the realm as
    issuer (what a service needs to find the keys its tokens are signed with)."""
    async with httpx.AsyncClient(timeout=3) as client:
        try:
            answer = await client.get(f"{issuer}/.well-known/openid-configuration")
        except httpx.HTTPError as error:
            return ServiceState("keycloak", issuer, None, type(error).__name__)
    if answer.status_code != 200:
        return ServiceState("keycloak", issuer, False, f"discovery document: {answer.status_code}")
    named = answer.json().get("issuer")
    return ServiceState("keycloak", issuer, named == issuer, "ready" if named == issuer else f"issuer {named}")


async def consumer_lag(
    kafka: KafkaConnection, definitions: list[ServiceDefinition], prefix: str = ""
) -> list[GroupLag]:
    wanted = {
        f"{prefix}{d.name}": sorted({topic_name(EVENT_TYPES[e].topic, prefix) for e in d.consumed_event_types()})
        for d in definitions
        if d.consumed_event_types()
    }
    known = await partitions_of(kafka, sorted({t for topics in wanted.values() for t in topics}))
    admin = AIOKafkaAdminClient(**kafka.options(), client_id="zorgstroom-status")
    consumer = AIOKafkaConsumer(**kafka.options(), group_id=None, client_id="zorgstroom-status")
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t, ps in known.items() for p in ps]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        lags: list[GroupLag] = []
        for group, topics in wanted.items():
            committed = await admin.list_consumer_group_offsets(group)
            for topic in topics:
                lag = sum(
                    ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                    for tp in partitions
                    if tp.topic == topic
                )
                lags.append(GroupLag(group, topic, lag))
        return lags
    finally:
        await consumer.stop()
        await admin.close()


async def outbox_states(database_url: str, schemas: list[str]) -> list[OutboxState]:
    conn = await asyncpg.connect(database_url)
    try:
        states = []
        for schema in schemas:
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".outbox')
            if not exists:
                continue
            # A schema whose service has not started since the relay learnt to park rows has no parked_at yet.
            parking = await conn.fetchval(
                "SELECT true FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'parked_at'",
                f'"{schema}".outbox',
            )
            parked = "count(*) FILTER (WHERE parked_at IS NOT NULL)" if parking else "0"
            row = await conn.fetchrow(
                "SELECT count(*) AS backlog, extract(epoch FROM now() - min(created_at)) AS oldest,"
                f' {parked} AS parked FROM "{schema}".outbox WHERE published_at IS NULL'
            )
            oldest = float(row["oldest"]) if row["oldest"] is not None else None
            states.append(OutboxState(schema, int(row["backlog"]), oldest, int(row["parked"])))
        return states
    finally:
        await conn.close()


async def freshness(database_url: str, schema: str = "reporting") -> list[Freshness]:
    conn = await asyncpg.connect(database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".projection_position'):
            return []
        rows = await conn.fetch(
            f'SELECT projection, last_event_occurred_at, events_applied FROM "{schema}".projection_position'
            " ORDER BY projection"
        )
        return [Freshness(r["projection"], r["last_event_occurred_at"], r["events_applied"]) for r in rows]
    finally:
        await conn.close()


async def dead_letter_counts(kafka: KafkaConnection, prefix: str = "") -> list[dead_letters.DeadLetterTopic]:
    return await dead_letters.summarise(kafka, prefix)


def now() -> datetime:
    return datetime.now(UTC)
