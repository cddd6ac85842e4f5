"""What `zorgstroom status` reads, against a running reporting service fed by real events: its consumer
group's lag (events waiting before it catches up, none after), the projections' freshness, an outbox
backlog, and dead letters per topic."""

from datetime import UTC, datetime

import asyncpg

from tests.integration.test_reporting_numbers import EVENTS
from tests.support.kafka import eventually, produce, publish_events
from tests.support.stack import Namespace, running
from zorgstroom_contracts import spec_for, topic_name
from zorgstroom_ops import status
from zorgstroom_reporting.bootstrap import DEFINITION, build
from zorgstroom_runtime.kafka import KafkaConnection


async def test_status_shows_lag_freshness_outbox_and_dead_letters(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EVENTS)
    poisoned = topic_name(spec_for(EVENTS[2]).topic, ns.prefix)
    await produce(ns.infra.kafka_bootstrap, poisoned, [(b"k", b"not an envelope", [])])

    before = {lag.topic: lag.lag for lag in await status.consumer_lag(kafka, [DEFINITION], ns.prefix)}
    assert before[poisoned] == 5  # four registrations and the poison: nobody has read them yet
    assert sum(before.values()) == len(EVENTS) + 1

    settings = ns.settings("reporting")
    async with running(build(settings), "reporting"):

        async def caught_up() -> int:
            return sum(lag.lag for lag in await status.consumer_lag(kafka, [DEFINITION], ns.prefix))

        await eventually(caught_up, until=lambda lag: lag == 0, timeout=60)
        fresh = {f.projection: f for f in await status.freshness(settings.database_url, settings.schema_name)}
        dead = {d.topic: d for d in await status.dead_letter_counts(kafka, ns.prefix)}

    assert fresh["flows"].events_applied + fresh["places"].events_applied == len(EVENTS)
    assert 0 <= fresh["flows"].age_seconds(datetime.now(UTC)) < 600
    assert dead[f"{poisoned}.dlq"].total == 1 and dead[f"{poisoned}.dlq"].reasons == {"InvalidEnvelope": 1}

    # An outbox row not yet published shows as backlog with its age.
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            f'INSERT INTO "{settings.schema_name}".outbox (event_id, topic, message_key, event_type, schema_version,'
            " payload, created_at) VALUES (gen_random_uuid(), 't', 'k', 'X', 1, '{}', now() - interval '90 seconds')"
        )
    finally:
        await conn.close()
    (outbox,) = await status.outbox_states(settings.database_url, [settings.schema_name])
    assert outbox.backlog == 1 and outbox.oldest_seconds is not None and outbox.oldest_seconds >= 90
