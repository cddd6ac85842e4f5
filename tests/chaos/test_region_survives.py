"""The fault suite: the whole region under load while faults strike one after another, then every invariant.

Two processes of every service run on a PostgreSQL with fsync on and a Kafka of the suite's own while
municipalities, providers, a corporation and the region drive the whole flow through the HTTP APIs
(tests/support/chaos_load.py). Faults come in a seeded order at seeded intervals (ZS_CHAOS_SEED repeats
the schedule; the load's choices depend on timing and do not repeat): kill -9 and SIGTERM of service
processes, SIGSTOP of a relay leader until another relay takes its lease, kill -9 of a broker for 12 s, an
immediate stop of PostgreSQL (fsync on: WAL recovery, not a power loss), a process joining and leaving
(rebalances), the database refusing writes for 20 s. Each fault is verified to have taken effect; one that
did not is no survived fault and fails the run. When the load stops, tests/support/chaos_checks.py checks
every invariant until two consecutive checks pass on unchanged end offsets, and the test prints one line:

    faults: N survived; accepted: A; lost: 0; duplicated: 0; invariants: all hold

The short run (the five main kinds once each, one broker) is part of `make test`; `make chaos` runs the
long one (about twenty faults including kill -9 and SIGTERM of every service, a three-broker KRaft cluster
with replication 3 and min.insync.replicas 2).
"""

import asyncio
import contextlib
import os
import random
import signal
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaError

from tests.support.chaos_checks import Verdict, check, hopeless
from tests.support.chaos_load import Load
from tests.support.chaos_region import KINDS, ChaosInfra, FaultMissed, Faults, Fleet, start_fleet
from tests.support.infra import Infra, starts_brokers
from zorgstroom_ops import processes
from zorgstroom_ops.processes import SERVICES

SHORT_FAULTS = ["kill9", "sigterm", "crash_postgres", "kill_broker", "read_only_database"]
# The long run kills (-9) and stops (SIGTERM) every service at least once.
EVERY_SERVICE = [f"{kind}:{name}" for kind in ("kill9", "sigterm") for name in SERVICES]
DRAIN_SECONDS = 240
TEARDOWN_SECONDS = 90  # kept from the test's budget for stopping the fleet and the infra
SHORT_TIMEOUT, LONG_TIMEOUT = 600, 2400
# What a check may meet while the region settles (leaders re-electing after a broker's restart).
SETTLING = (KafkaError, asyncpg.PostgresError, OSError, TimeoutError)


@dataclass(frozen=True)
class Plan:
    instance: str
    kafka_port: int
    pg_port: int
    service_port: int
    nodes: int
    faults: list[str]
    gap: tuple[float, float]  # seconds of load between two faults
    timeout: float  # the test's budget in seconds (its pytest-timeout)


def schedule(rng: random.Random, kinds: list[str], count: int) -> list[str]:
    """Every kind named at least once (a kind:service names the service), the rest drawn, in a seeded order."""
    chosen = list(kinds) + [rng.choice(list(KINDS)) for _ in range(max(0, count - len(kinds)))]
    rng.shuffle(chosen)
    return chosen


def the_seed() -> int:
    return int(os.environ.get("ZS_CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))


@pytest.fixture
def native_only(infra: Infra) -> None:
    if not starts_brokers(infra):
        pytest.skip("the fault suite starts a Kafka and PostgreSQL of its own: it needs the native start-up")


Cleanups = list[Callable[[], None]]


@pytest.fixture
def cleanups() -> Iterator[Cleanups]:
    """Synchronous clean-ups that run even when pytest-timeout ends the test inside the event loop."""
    registered: Cleanups = []
    yield registered
    for cleanup in reversed(registered):
        with contextlib.suppress(Exception):
            cleanup()


def kill_by_pid_files(run_dir: Path) -> Callable[[], None]:
    def kill() -> None:
        for pid_file in run_dir.glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text())
                if b"zorgstroom" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused pid
                    os.kill(pid, signal.SIGKILL)

    return kill


async def run(plan: Plan, seed: int, tmp_path: Path, report: "Report", cleanups: Cleanups) -> tuple[str, Verdict]:
    budget_ends = time.monotonic() + plan.timeout - TEARDOWN_SECONDS
    rng = random.Random(seed)
    report(f"chaos seed {seed} (ZS_CHAOS_SEED={seed} repeats it); faults: {', '.join(plan.faults)}")
    infra = ChaosInfra(plan.instance, plan.kafka_port, plan.pg_port, plan.nodes)
    cleanups += [infra.stop, kill_by_pid_files(tmp_path / "run")]
    await asyncio.to_thread(infra.start)
    fleet: Fleet | None = None
    try:
        fleet = await start_fleet(infra, tmp_path / "run", plan.service_port)
        load = Load({name: fleet.urls(name) for name in fleet.per_service}, fleet.stack.tokens, seed)
        survived, missed = await _under_load(plan, rng, infra, fleet, load, report)
        for service in fleet.all():  # every process back, whatever the last fault was
            await asyncio.to_thread(processes.wait_ready, service, 180)
        verdict = await _drained(infra, fleet, load, min(time.monotonic() + DRAIN_SECONDS, budget_ends))
        verdict.failures += missed
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
        for write in load.indeterminate:  # printed, not failed: see tests/support/chaos_load.py
            report(f"  indeterminate: {write}")
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
) -> tuple[int, list[str]]:
    """The faults of the plan under load; how many were survived, and those that did not take effect."""
    survived, missed = 0, []
    faults = Faults(infra, fleet, rng.choice)
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as http:
        await load.set_up(http)
        running = asyncio.create_task(load.run(http, stop))
        try:
            for entry in plan.faults:
                kind, _, service = entry.partition(":")
                await asyncio.sleep(rng.uniform(*plan.gap))
                started = time.monotonic()
                try:
                    what = await (KINDS[kind](faults, service) if service else KINDS[kind](faults))
                except FaultMissed as miss:
                    report(f"  {entry}: not survived: {miss}")
                    missed += [f"fault {entry}: {miss}"] if miss.fails else []
                    continue
                except Exception as error:  # the verdict line must still be printed
                    report(f"  {entry}: failed: {error!r}")
                    missed.append(f"fault {entry} failed: {error!r}")
                    continue
                report(f"  {what} ({time.monotonic() - started:.0f} s)")
                survived += 1
            await asyncio.sleep(plan.gap[1])
        finally:
            stop.set()
            await running
    return survived, missed


async def _drained(infra: ChaosInfra, fleet: Fleet, load: Load, deadline: float) -> Verdict:
    """Check until two consecutive checks pass on unchanged end offsets (a snapshot nothing moved under),
    what failed cannot heal, or `deadline` (taken from the test's budget) has passed."""
    region = tomllib.loads(await asyncio.to_thread(Path(fleet.env["ZS_REGION_FILE"]).read_text))
    passed_at: dict[str, int] | None = None
    while True:
        try:
            verdict = await check(fleet.env["ZS_DATABASE_URL"], infra.bootstrap, fleet.stack.prefix, load, region)
        except SETTLING as error:
            verdict = Verdict(failures=[f"the check itself failed: {error!r}"])
        if not verdict.failures and passed_at == verdict.ends:
            return verdict
        passed_at = None if verdict.failures else verdict.ends
        if hopeless(load) or time.monotonic() > deadline:
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


@pytest.mark.timeout(SHORT_TIMEOUT)
async def test_a_short_seeded_run_loses_and_duplicates_nothing(
    native_only: None, tmp_path: Path, report: Report, cleanups: Cleanups
) -> None:
    seed = the_seed()
    faults = schedule(random.Random(seed), SHORT_FAULTS, 5)
    plan = Plan("h-chaos-short", 19620, 15602, 8850, 1, faults, (4, 8), SHORT_TIMEOUT)
    line, verdict = await run(plan, seed, tmp_path, report, cleanups)
    assert_all_held(line, verdict)


@pytest.mark.chaos
@pytest.mark.timeout(LONG_TIMEOUT)
async def test_every_invariant_holds_through_seeded_chaos(tmp_path: Path, report: Report, cleanups: Cleanups) -> None:
    seed = the_seed()
    count = int(os.environ.get("ZS_CHAOS_FAULTS", "20"))
    faults = schedule(
        random.Random(seed), [*EVERY_SERVICE, *(k for k in KINDS if k not in ("kill9", "sigterm"))], count
    )
    plan = Plan("h-chaos", 19600, 15600, 8800, 3, faults, (5, 12), LONG_TIMEOUT)
    line, verdict = await run(plan, seed, tmp_path, report, cleanups)
    assert_all_held(line, verdict)
