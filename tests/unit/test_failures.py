"""A failure of the database is waited out; a failure of one event counts towards its dead letter."""

import asyncpg
import pytest

from zorgstroom_runtime.failures import waits_out


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(),
        asyncpg.exceptions.CannotConnectNowError("starting up"),
        asyncpg.exceptions.DiskFullError("no space"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only"),
        asyncpg.exceptions.QueryCanceledError("statement timeout"),
        asyncpg.exceptions.LockNotAvailableError("lock timeout"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.SerializationError("could not serialize"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_databases_own_failures_are_waited_out(error: BaseException) -> None:
    assert waits_out(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CheckViolationError("check constraint"),
        asyncpg.exceptions.UndefinedColumnError("no such column"),
        KeyError("bug"),
        ValueError("bad data"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_of_the_event_itself_is_not(error: BaseException) -> None:
    assert not waits_out(error)
