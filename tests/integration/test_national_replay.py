"""A national history written to Kafka in bulk and replayed into reporting (`zorgstroom national generate`, then
`zorgstroom rebuild`): Almere's report shows exactly what the generator says it produced for Almere."""

import pytest

from tests.integration.test_reporting_numbers import reporting_app
from tests.support.stack import Namespace, running
from zorgstroom_ops.national import NationalHistory
from zorgstroom_ops.national_command import publish
from zorgstroom_ops.rebuild_command import run_rebuild
from zorgstroom_runtime.kafka import KafkaConnection

ALMERE = "0034"


@pytest.mark.timeout(120)
async def test_a_replayed_national_history_shows_in_reporting_as_generated(ns: Namespace) -> None:
    history = NationalHistory(11, years=1, scale=0.01)  # 2016, a hundredth of the national volumes
    published = await publish(history, KafkaConnection(ns.infra.kafka_bootstrap), ns.prefix, partitions=1)
    assert published.events == history.tally.events > 1000

    settings = ns.settings("reporting")
    async with running(reporting_app(settings), "reporting") as client:
        result = await run_rebuild(
            settings.database_url, settings.schema_name, KafkaConnection(ns.infra.kafka_bootstrap), ns.prefix
        )
        assert (result.applied, result.skipped) == (published.events, 0)
        answer = await client.get(
            f"/v1/municipalities/{ALMERE}/flows?from=2016-01&to=2016-12", headers=ns.auth("almere")
        )
    assert answer.status_code == 200, answer.text
    totals = answer.json()["totals"]
    generated = {
        figure: history.tally.total(what, {ALMERE}, 2016)
        for figure, what in (
            ("registrations", "registrations"),
            ("withdrawals", "withdrawals"),
            ("inflow", "placements"),
            ("outflow", "outflows"),
        )
    }
    assert {figure: totals[figure] for figure in generated} == generated
    assert generated["registrations"] > 0
