"""Which failures a consumer waits out, and which belong to the one event it is applying.

A failure that would fail every event alike (the database is down, full, read-only, out of memory, timing
out or shutting down) is not the event's fault: dead-lettering would empty the topic into its `.dlq` twin.
The consumer waits and tries again, as long as it takes. Only what fails for this event (a constraint it
breaks, a bug its data triggers) counts towards the attempts after which it is dead-lettered.
"""

import asyncpg

from zorgstroom_runtime.db import TRANSIENT_DB_ERRORS

# SQLSTATE classes and codes that say "the database", not "this event" (PostgreSQL, Appendix A):
# 08 connection exception, 53 insufficient resources (disk full 53100, out of memory 53200, too many
# connections 53300), 57P operator intervention (admin shutdown, crash shutdown, cannot connect now),
# 58 system error (I/O), 25006 read-only transaction, 57014 statement timeout, 55P03 lock not available,
# 40001 serialization failure, 40P01 deadlock.
SYSTEMIC_SQLSTATES = ("08", "53", "57P", "58", "25006", "57014", "55P03", "40001", "40P01")


def waits_out(error: BaseException) -> bool:
    """Whether `error` would fail any event alike, so the consumer pauses and retries instead of counting it."""
    if isinstance(error, TRANSIENT_DB_ERRORS):
        return True
    state = getattr(error, "sqlstate", None)
    return isinstance(error, asyncpg.PostgresError) and isinstance(state, str) and state.startswith(SYSTEMIC_SQLSTATES)
