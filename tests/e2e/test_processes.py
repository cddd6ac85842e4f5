"""End to end: every service as its own process on real Kafka and PostgreSQL, driven over HTTP."""

import socket
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.builders import intake_body, valid_bsn
from tests.support.infra import Infra
from tests.support.kafka import eventually, read_topic
from tests.support.processes import start_process_stack
from tests.support.stack import Namespace

pytestmark = pytest.mark.e2e


def free_base_port(count: int = 4) -> int:
    for base in range(21000, 29000, 10):
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


@pytest.fixture
async def stack(infra: Infra, ns: Namespace, tmp_path: Path):  # type: ignore[no-untyped-def]
    started = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        tmp_path / "stack",  # beside, not over, the namespace's credentials
        free_base_port(),
        name="e2e",
        prefix=ns.prefix,
        extra_env={"ZS_CREDENTIALS_FILE": str(ns.credentials_file)},
    )
    try:
        yield started.services
    finally:
        started.stop()


async def test_an_intake_is_counted_in_reporting_for_its_municipality_and_month(stack, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    bsn = valid_bsn()
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            stack["intake"].url + "/v1/intakes",
            headers=ns.auth("lelystad") | {"Idempotency-Key": f"e2e-{uuid.uuid4()}"},
            json=intake_body(
                registering_municipality="0995",
                residence_municipality="0995",
                bsn=bsn,
                registered_on="2026-04-10",
                preferred_municipalities=["0995"],
            ),
        )
        assert answer.status_code == 202, answer.text
        client_ref = answer.json()["client_ref"]

        async def counted() -> dict | None:
            flows = (
                await http.get(
                    stack["reporting"].url + "/v1/municipalities/0995/flows?from=2026-03&to=2026-05",
                    headers=ns.auth("lelystad"),
                )
            ).json()
            return flows if flows["totals"]["registrations"] == 1 else None

        flows = await eventually(counted, timeout=60)
        waiting = await http.get(stack["placement"].url + "/v1/waiting-list", headers=ns.auth("lelystad"))
    assert [m["registrations"] for m in flows["months"]] == [0, 1, 0]
    assert [c["client_ref"] for c in waiting.json()["clients"]] == [client_ref]
    waitlisted = await read_topic(ns.infra.kafka_bootstrap, ns.topic("wmo.client-waitlisted.v1"))
    assert [r.key.decode() for r in waitlisted] == [client_ref]
    for service in stack.values():
        assert bsn not in service.log_file.read_text(), f"the BSN leaked into the {service.name} log"
