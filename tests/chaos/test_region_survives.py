"""The fault suite: the whole region under load while faults strike one after another, then every invariant.

Two processes of every service run on a PostgreSQL with fsync on and a Kafka of the suite's own while
municipalities, providers, a corporation and the region drive the whole flow through the HTTP APIs
(tests/support/chaos_load.py). Faults come at seeded times (ZS_CHAOS_SEED repeats a schedule): kill -9
and SIGTERM of service processes, SIGSTOP of a relay leader, kill -9 of a broker, an immediate stop of
PostgreSQL, a process joining and leaving (rebalances), the database refusing writes for 20 s. When the
load stops and everything has drained, tests/support/chaos_checks.py checks every invariant and the test
prints one line:

    faults: N survived; accepted: A; lost: 0; duplicated: 0; invariants: all hold

The short run (a few faults, one broker) is part of `make test`; `make chaos` runs the long one (about
twenty faults, a three-broker KRaft cluster with replication 3 and min.insync.replicas 2).
"""

import asyncio
import os
import random
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.chaos_checks import Verdict, check
from tests.support.chaos_load import Load
from tests.support.chaos_region import KINDS, ChaosInfra, Faults, Fleet, start_fleet
from tests.support.infra import Infra, starts_brokers
from zorgstroom_ops import processes

SHORT_FAULTS = ["kill9", "sigterm", "crash_postgres", "kill_broker", "read_only_database"]
DRAIN_SECONDS = 240


@dataclass(frozen=True)
class Plan:
    instance: str
    kafka_port: int
    pg_port: int
    service_port: int
    nodes: int
    faults: list[str]
    gap: tuple[float, float]  # seconds of load between two faults


def schedule(rng: random.Random, kinds: list[str], count: int) -> list[str]:
    """Every kind named at least once, the rest drawn, in a seeded order."""
    chosen = list(kinds) + [rng.choice(list(KINDS)) for _ in range(max(0, count - len(kinds)))]
    rng.shuffle(chosen)
    return chosen


def the_seed() -> int:
    return int(os.environ.get("ZS_CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))


@pytest.fixture
def native_only(infra: Infra) -> None:
    if not starts_brokers(infra):
        pytest.skip("the fault suite starts a Kafka and PostgreSQL of its own: it needs the native start-up")


async def run(plan: Plan, seed: int, tmp_path: Path, report: "Report") -> tuple[str, Verdict]:
    rng = random.Random(seed)
    report(f"chaos seed {seed} (ZS_CHAOS_SEED={seed} repeats it); faults: {', '.join(plan.faults)}")
    infra = ChaosInfra(plan.instance, plan.kafka_port, plan.pg_port, plan.nodes)
    await asyncio.to_thread(infra.start)
    fleet: Fleet | None = None
    try:
        fleet = await start_fleet(infra, tmp_path / "run", plan.service_port)
        load = Load({name: fleet.urls(name) for name in fleet.per_service}, fleet.stack.tokens, seed)
        survived = await _under_load(plan, rng, infra, fleet, load, report)
        for service in fleet.all():  # every process back, whatever the last fault was
            await asyncio.to_thread(processes.wait_ready, service, 180)
        verdict = await _drained(infra, fleet, load)
        accepted = len(load.accepted)
        holds = "all hold" if not verdict.failures else f"{len(verdict.failures)} fail"
        line = (
            f"faults: {survived} survived; accepted: {accepted}; lost: {verdict.lost};"
            f" duplicated: {verdict.duplicated}; invariants: {holds}"
        )
        report(line)
        for failure in verdict.failures:
            report(f"  - {failure}")
        kinds = Counter(a.kind for a in load.accepted)
        report(f"  accepted {dict(kinds)}; refused as expected {dict(load.refused)}; retried {dict(load.retries)}")
        return line, verdict
    finally:
        if fleet is not None:
            for n in range(1, 3):
                for name in processes.SERVICES:
                    processes.stop(fleet.extra(name, n))
            fleet.stop()
        await asyncio.to_thread(infra.stop)


async def _under_load(
    plan: Plan, rng: random.Random, infra: ChaosInfra, fleet: Fleet, load: Load, report: "Report"
) -> int:
    survived = 0
    faults = Faults(infra, fleet, rng.choice)
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as http:
        await load.set_up(http)
        running = asyncio.create_task(load.run(http, stop))
        try:
            for kind in plan.faults:
                await asyncio.sleep(rng.uniform(*plan.gap))
                started = time.monotonic()
                what = await KINDS[kind](faults)
                report(f"  {what} ({time.monotonic() - started:.0f} s)")
                survived += not what.startswith("SIGSTOP skipped")
            await asyncio.sleep(plan.gap[1])
        finally:
            stop.set()
            await running
    return survived


async def _drained(infra: ChaosInfra, fleet: Fleet, load: Load) -> Verdict:
    """Check until every invariant holds or the region has had DRAIN_SECONDS to settle."""
    deadline = time.monotonic() + DRAIN_SECONDS
    region = tomllib.loads(await asyncio.to_thread(Path(fleet.env["ZS_REGION_FILE"]).read_text))
    while True:
        verdict = await check(fleet.env["ZS_DATABASE_URL"], infra.bootstrap, fleet.stack.prefix, load, region)
        if not verdict.failures or time.monotonic() > deadline:
            return verdict
        await asyncio.sleep(5)


class Report:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, line: str) -> None:
        with self.capsys.disabled():
            print(line, flush=True)


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[Report]:
    yield Report(capsys)


def assert_all_held(line: str, verdict: Verdict) -> None:
    assert verdict.failures == [], "\n".join([line, *verdict.failures])
    assert line.endswith("; lost: 0; duplicated: 0; invariants: all hold"), line


@pytest.mark.timeout(600)
async def test_a_short_seeded_run_loses_and_duplicates_nothing(
    native_only: None, tmp_path: Path, report: Report
) -> None:
    seed = the_seed()
    plan = Plan("h-chaos-short", 19620, 15602, 8850, 1, schedule(random.Random(seed), SHORT_FAULTS, 5), (4, 8))
    line, verdict = await run(plan, seed, tmp_path, report)
    assert_all_held(line, verdict)


@pytest.mark.chaos
@pytest.mark.timeout(2400)
async def test_every_invariant_holds_through_seeded_chaos(tmp_path: Path, report: Report) -> None:
    seed = the_seed()
    count = int(os.environ.get("ZS_CHAOS_FAULTS", "20"))
    plan = Plan("h-chaos", 19600, 15600, 8800, 3, schedule(random.Random(seed), list(KINDS), count), (5, 12))
    line, verdict = await run(plan, seed, tmp_path, report)
    assert_all_held(line, verdict)
