"""The consumer's retry policy, with a fake pool: transient errors wait, poison is dead-lettered."""

import contextlib
from types import SimpleNamespace

import asyncpg
import pytest

from tests.unit.test_consumer_dead_letters import record, waitlisted
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.delivery import DeadLetter
from zorgstroom_runtime.handlers import On, Rejected, Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.outbox import Outbox


class FakeConnection:
    async def fetchval(self, *_: object) -> bool:
        return True  # the event was not applied before

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


class FlakyPool:
    """A pool whose first `failures` acquisitions fail as if PostgreSQL were down."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    @contextlib.asynccontextmanager
    async def acquire(self):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        yield FakeConnection()


def consumer(pool: object, handler, max_attempts: int = 3) -> IdempotentConsumer:  # type: ignore[no-untyped-def]
    subscription = Subscription("g", ["t"], [On(ClientWaitlisted, handler)])
    return IdempotentConsumer(
        pool,
        Outbox("s", "r", "", "s"),
        KafkaConnection("127.0.0.1:1"),
        subscription,  # type: ignore[arg-type]
        max_attempts=max_attempts,
        retry_base_seconds=0.001,
    )


async def test_a_database_outage_is_waited_out_and_never_dead_lettered() -> None:
    applied = []

    async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        applied.append(envelope.event_id)

    pool = FlakyPool(failures=12)  # more failures than max_attempts: transient errors do not count
    outcome = await consumer(pool, handler)._apply(record(waitlisted()))  # type: ignore[arg-type]
    assert outcome == "applied" and len(applied) == 1 and pool.failures == 0


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts() -> None:
    calls = SimpleNamespace(n=0)

    async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        calls.n += 1
        raise KeyError("bug")

    with pytest.raises(DeadLetter, match="handler failed 3 times: KeyError"):
        await consumer(FlakyPool(0), handler)._apply(record(waitlisted()))  # type: ignore[arg-type]
    assert calls.n == 3


async def test_a_rejected_event_is_dead_lettered_at_once() -> None:
    calls = SimpleNamespace(n=0)

    async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        calls.n += 1
        raise Rejected("unknown facility")

    with pytest.raises(DeadLetter, match="rejected by g: unknown facility"):
        await consumer(FlakyPool(0), handler)._apply(record(waitlisted()))  # type: ignore[arg-type]
    assert calls.n == 1


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.exceptions.DiskFullError("could not extend file"),  # 53100
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
        asyncpg.exceptions.LockNotAvailableError("canceling statement due to lock timeout"),  # 55P03
        asyncpg.exceptions.OutOfMemoryError("out of memory"),  # 53200
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_database_that_fails_every_event_alike_is_waited_out_not_dead_lettered(failure: Exception) -> None:
    calls = SimpleNamespace(n=0)

    async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        calls.n += 1
        if calls.n <= 7:  # more than max_attempts (3): these are the database's failures, not the event's
            raise failure

    outcome = await consumer(FlakyPool(0), handler)._apply(record(waitlisted()))  # type: ignore[arg-type]
    assert outcome == "applied" and calls.n == 8


async def test_a_failure_of_this_event_alone_still_counts_towards_its_dead_letter() -> None:
    async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        raise asyncpg.exceptions.CheckViolationError('new row violates check constraint "capacity"')

    with pytest.raises(DeadLetter, match="handler failed 3 times: CheckViolationError"):
        await consumer(FlakyPool(0), handler)._apply(record(waitlisted()))  # type: ignore[arg-type]


def test_the_back_off_doubles_up_to_its_ceiling_and_starts_again_after_a_success() -> None:
    from zorgstroom_runtime.delivery import Backoff

    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 0.5
