"""The outbox relay's lease: which process publishes a schema's outbox, fenced by an epoch.

Every new holder takes a higher epoch. A holder renews its lease in the same statement that reads its
next batch (`fetch_while_held`), and only while the epoch is still its own: a relay that was stopped,
hung or cut off and has been replaced reads nothing more. A session advisory lock could not do this: a
stopped process keeps its session (its kernel still answers TCP keepalives), and with it the lock.
Expiry is measured on the database's clock, the one clock all processes share.
"""

import contextlib
import os
import socket
import time
import uuid

import asyncpg

ACQUIRE = (
    "INSERT INTO relay_lease AS l (holder, epoch, expires_at) VALUES ($1, 1, now() + $2 * interval '1 second')"
    " ON CONFLICT (only_row) DO UPDATE SET holder = excluded.holder, epoch = l.epoch + 1,"
    " expires_at = excluded.expires_at WHERE l.expires_at <= now() OR l.holder = excluded.holder"
    " RETURNING epoch"
)


class RelayLease:
    """This process's claim on the relay lease of the pool's schema."""

    def __init__(self, pool: asyncpg.Pool, seconds: float) -> None:
        self.pool, self.seconds = pool, seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.epoch: int | None = None
        self._renewed = 0.0  # time.monotonic() of the last statement that took or renewed the lease

    def held_within_term(self) -> bool:
        """Whether this process surely still holds the lease: taken or renewed less than its term ago. A relay that
        sleeps in a Kafka backoff past its term may have been replaced without knowing it yet."""
        return self.epoch is not None and time.monotonic() - self._renewed < self.seconds

    async def acquire(self) -> bool:
        """Take the lease if it has expired (or is ours already): a new epoch either way."""
        started = time.monotonic()
        self.epoch = await self.pool.fetchval(ACQUIRE, self.holder, self.seconds, timeout=self.seconds)
        self._renewed = started
        return self.epoch is not None

    async def fetch_while_held(self, select: str, *args: object) -> list[asyncpg.Record] | None:
        """Renew the lease and run `select` (its parameters numbered from $3) in one statement.

        None when another relay holds the lease now: the statement is atomic on the server, so a holder
        stopped after sending it reads, when it resumes, only rows that were waiting before it was replaced.
        """
        if self.epoch is None:
            return None
        started = time.monotonic()
        rows = await self.pool.fetch(
            "WITH lease AS (UPDATE relay_lease SET expires_at = now() + $1 * interval '1 second'"
            f" WHERE epoch = $2 RETURNING epoch) SELECT batch.* FROM lease LEFT JOIN LATERAL ({select}) AS batch"
            " ON true",
            self.seconds,
            self.epoch,
            *args,
            timeout=self.seconds,
        )
        if not rows:
            self.epoch = None
            return None
        self._renewed = started
        return sorted((r for r in rows if r["id"] is not None), key=lambda r: int(r["id"]))

    async def release(self) -> None:
        """Give the lease up at once (a graceful stop), so that another relay need not wait for it to expire."""
        epoch, self.epoch = self.epoch, None
        if epoch is not None:
            with contextlib.suppress(Exception):
                await self.pool.execute(
                    "UPDATE relay_lease SET expires_at = now() WHERE epoch = $1", epoch, timeout=min(self.seconds, 2)
                )
