"""A service whose one handler takes two seconds, run as a process by test_graceful_shutdown.py.

`python -m tests.integration.slow_service`, configured as every service is (ZS_* variables), plus
ZS_TEST_MIGRATIONS (a folder with its `applied` table) and ZS_TEST_MARKER (a file where the handler notes
when it starts and finishes an event, so the test knows what is in flight).
"""

import asyncio
import os
from pathlib import Path

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_runtime.app import ServiceDefinition, serve
from zorgstroom_runtime.handlers import On
from zorgstroom_runtime.outbox import UnitOfWork

HANDLER_SECONDS = 2.0


def note(line: str) -> None:
    with Path(os.environ["ZS_TEST_MARKER"]).open("a") as marker:
        marker.write(line + "\n")


async def apply_slowly(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    """One outcome row per application (no key of its own: a second application would show as a second row)."""
    await uow.conn.execute("INSERT INTO applied (event_id, pid) VALUES ($1, $2)", envelope.event_id, os.getpid())
    note(f"started {envelope.event_id}")
    await asyncio.sleep(HANDLER_SECONDS)
    note(f"finished {envelope.event_id}")


if __name__ == "__main__":
    serve(
        ServiceDefinition(
            name="slow",
            title="Slow",
            migrations=Path(os.environ["ZS_TEST_MIGRATIONS"]),
            handlers=[On(ClientRegistered, apply_slowly)],
            publishes=False,
        )
    )
