"""A rebuild large enough to be shared out over processes (each replaying its share of the partitions on
connections of its own) ends in exactly the tables of one replayed in a single process."""

import asyncpg
import pytest

from tests.integration.test_reporting_numbers import EPISODES, EVENTS, reporting_app
from tests.support.kafka import publish_events
from tests.support.stack import Namespace, running
from zorgstroom_reporting.bootstrap import DEFINITION
from zorgstroom_runtime import rebuild as rebuilding
from zorgstroom_runtime.app import projection_topics
from zorgstroom_runtime.kafka import KafkaConnection


async def tables(database_url: str, schema: str, names: list[str]) -> dict[str, list[str]]:
    conn = await asyncpg.connect(database_url)
    try:  # sorted here: not every table has a unique first column to order by
        return {t: sorted(repr(tuple(r)) for r in await conn.fetch(f'SELECT * FROM "{schema}"."{t}"')) for t in names}
    finally:
        await conn.close()


@pytest.mark.timeout(120)
async def test_a_rebuild_shared_out_over_two_processes_ends_in_the_rows_of_one(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EVENTS + EPISODES)
    settings = ns.settings("reporting")
    projection = DEFINITION.projection
    assert projection is not None
    topics = projection_topics(projection, ns.prefix)
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    async with running(reporting_app(settings), "reporting"):  # its schema, migrated
        one = await rebuilding.rebuild(
            settings.database_url, settings.schema_name, projection, kafka, topics, processes=1
        )
        monkeypatch.setattr(rebuilding, "_IN_PROCESSES_FROM", 0)  # a replay this small is shared out too
        two = await rebuilding.rebuild(
            settings.database_url, settings.schema_name, projection, kafka, topics, processes=2
        )
    assert (two.records, two.applied, two.skipped) == (one.records, one.applied, one.skipped)
    assert one.applied == len(EVENTS) + len(EPISODES)
    names = list(projection.tables)
    shared_out = await tables(settings.database_url, settings.schema_name, names)
    assert shared_out == await tables(settings.database_url, two.previous_schema, names)
    assert len(shared_out["projection_events"]) == one.applied
