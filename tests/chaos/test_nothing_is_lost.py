"""Chaos: intakes keep coming while Kafka stops, PostgreSQL restarts and services are killed (-9).

The promise under test: every intake that got a 202 is counted exactly once in reporting. The
driver behaves like a municipal case system: on a failed request it retries with the same
Idempotency-Key. Runs on a Kafka and PostgreSQL of its own; `make chaos` runs it (not `make test`).
"""

import asyncio
import os
import random
import signal
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.support.builders import intake_body
from tests.support.infra import native_env, run_deploy
from tests.support.kafka import eventually
from tests.support.processes import env_of_service, start_process_stack
from zorgstroom_ops import processes

pytestmark = pytest.mark.chaos
KAFKA_PORT, PG_PORT = 19492, 15472
INTAKES = int(os.environ.get("ZS_CHAOS_INTAKES", "600"))


@pytest.fixture
async def chaos_stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = native_env("chaos", KAFKA_PORT, PG_PORT)
    for script in ("postgres.sh", "kafka.sh"):
        run_deploy(script, "start", env)
    stack = await start_process_stack(
        f"postgresql://zorgstroom@127.0.0.1:{PG_PORT}/zorgstroom",
        f"127.0.0.1:{KAFKA_PORT}",
        tmp_path,
        8301,
        name="chaos",
    )
    try:
        yield stack.services, stack.env, env, stack.tokens
    finally:
        stack.stop()
        for script in ("kafka.sh", "postgres.sh"):
            run_deploy(script, "stop", env)


async def register_with_retries(http: httpx.AsyncClient, url: str, body: dict, headers: dict) -> dict:
    """What a case system does: the same request, with the same Idempotency-Key, until it is accepted."""
    while True:
        try:
            answer = await http.post(url, json=body, headers=headers)
            if answer.status_code == 202:
                return answer.json()
            assert answer.status_code >= 500, answer.text  # a 4xx would be our bug, not chaos
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)


def kill_and_restart(service: processes.ServiceProcess, env: dict[str, str]) -> None:
    os.kill(int(service.pid_file.read_text()), signal.SIGKILL)
    while service.running():
        pass
    processes.start(service, env_of_service(service.name, env))


async def disrupt(services, service_env, infra_env) -> list[str]:  # type: ignore[no-untyped-def]
    done = []
    await asyncio.sleep(2)
    await asyncio.to_thread(run_deploy, "kafka.sh", "stop", infra_env)
    done.append("kafka stopped")
    await asyncio.sleep(4)
    await asyncio.to_thread(run_deploy, "kafka.sh", "start", infra_env)
    done.append("kafka started")
    await asyncio.sleep(2)
    kill_and_restart(services["reporting"], service_env)
    done.append("reporting killed -9 and restarted")
    await asyncio.sleep(2)
    await asyncio.to_thread(run_deploy, "postgres.sh", "stop", infra_env)
    await asyncio.sleep(2)
    await asyncio.to_thread(run_deploy, "postgres.sh", "start", infra_env)
    done.append("postgres restarted")
    await asyncio.sleep(2)
    kill_and_restart(services["intake"], service_env)
    done.append("intake killed -9 and restarted")
    return done


async def test_every_accepted_intake_is_counted_exactly_once_through_chaos(chaos_stack) -> None:  # type: ignore[no-untyped-def]
    services, service_env, infra_env, tokens = chaos_stack
    rng = random.Random(7)
    municipalities = {"almere": "0034", "lelystad": "0995", "urk": "0184"}
    gate = asyncio.Semaphore(4)
    accepted_at: list[float] = []
    async with httpx.AsyncClient(timeout=10) as http:

        async def one(i: int) -> dict:
            name = rng.choice(list(municipalities))
            body = intake_body(
                registering_municipality=municipalities[name],
                residence_municipality=None,
                registered_on=f"2026-{1 + i % 11:02d}-10",
                preferred_municipalities=[],
            )
            headers = {"Authorization": f"Bearer {tokens[name]}", "Idempotency-Key": f"chaos-{i}-{uuid.uuid4()}"}
            async with gate:
                await asyncio.sleep(0.1 + rng.random() * 0.2)  # paced, so the chaos lands mid-traffic
                answer = await register_with_retries(http, services["intake"].url + "/v1/intakes", body, headers)
                accepted_at.append(asyncio.get_running_loop().time())
                return answer

        last_disruption_at: list[float] = []

        async def disrupt_and_note() -> list[str]:
            done = await disrupt(services, service_env, infra_env)
            last_disruption_at.append(asyncio.get_running_loop().time())
            return done

        disruptions = asyncio.create_task(disrupt_and_note())
        accepted = await asyncio.gather(*(one(i) for i in range(INTAKES)))
        assert await disruptions == [
            "kafka stopped",
            "kafka started",
            "reporting killed -9 and restarted",
            "postgres restarted",
            "intake killed -9 and restarted",
        ]
        for service in services.values():
            await asyncio.to_thread(processes.wait_ready, service)
        expected = len({a["intake_id"] for a in accepted})
        assert expected == INTAKES

        async def region_total() -> int:
            answer = await http.get(
                services["reporting"].url + f"/v1/region/flows?from=2026-01&to={date.today():%Y-%m}",
                headers={"Authorization": f"Bearer {tokens['region']}"},
            )
            return answer.json()["totals"]["registrations"] if answer.status_code == 200 else -1

        await eventually(region_total, until=lambda n: n == expected, timeout=180, interval=1)
        await asyncio.sleep(3)  # a late duplicate would show now
        assert await region_total() == expected
