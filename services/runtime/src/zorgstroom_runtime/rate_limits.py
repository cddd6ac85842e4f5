"""Rate limits per caller: a sliding window counter kept in this process's memory (the `limits` library).

Every request that passes authentication counts against its credential (ZS_RATE_LIMIT); every request whose
authentication fails counts against its client address (ZS_RATE_LIMIT_REFUSED, lower), so a flood of bad
tokens is limited too and does not write one audit line per token. Over a limit the answer is 429
problem+json with `Retry-After` and the RateLimit headers; it is counted in a metric, never audited line by
line. The operational endpoints need no credential and are never limited.

The windows live in one process: two processes of a service let a caller through twice as often. A window's
counters expire two windows after its last request (the library sweeps them), so a flood from many addresses
leaves nothing behind; the library's moving window would keep one entry per address it ever saw.

The first refusal of a caller in a window logs one warning naming it (its address, or its credential and
address); the further refusals of that window are only counted, so a flood cannot flood the log either.
"""

import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

from zorgstroom_runtime import metrics
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.problems import Problem

log = logging.getLogger(__name__)
CREDENTIAL, REFUSED = "credential", "refused"


def parse_limit(text: str) -> RateLimitItem:
    """'6000/minute', '100 per second': the library's notation; a ValueError names what does not parse."""
    return parse(text)


@dataclass
class RateLimits:
    service: str
    per_credential: RateLimitItem
    per_refused_address: RateLimitItem
    limiter: SlidingWindowCounterRateLimiter
    warned: FixedWindowRateLimiter  # one warning per caller and window, on the same storage

    @classmethod
    def of(cls, service: str, per_credential: str, per_refused_address: str) -> "RateLimits":
        # The library's memory storage expires its counters with a timer thread of its own: nothing to close.
        storage = MemoryStorage()
        return cls(
            service,
            parse_limit(per_credential),
            parse_limit(per_refused_address),
            SlidingWindowCounterRateLimiter(storage),
            FixedWindowRateLimiter(storage),
        )

    def admit(self, request: Request, principal: Principal) -> None:
        """Count an authenticated request against its credential (and the person it acts for, so that the
        people of one login client each have their own window); 429 over the limit."""
        key = "|".join((principal.organisation, principal.name, principal.subject or ""))
        self._hit(request, CREDENTIAL, self.per_credential, key)

    def refused(self, request: Request) -> None:
        """Count a failed authentication against the client's address; 429 (in place of the 401) over the limit."""
        self._hit(request, REFUSED, self.per_refused_address, client_address(request))

    def _hit(self, request: Request, scope: str, item: RateLimitItem, key: str) -> None:
        if self.limiter.hit(item, scope, key):
            return
        stats = self.limiter.get_window_stats(item, scope, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        metrics.RATE_LIMITED.labels(self.service, scope).inc()
        request.state.rate_limited = scope  # the access log says why; the audit does not list it
        if self.warned.hit(type(item)(1, item.multiples), "warned", scope, key):  # its first refusal in a window
            caller = (
                f"credential {key} (address {client_address(request)})" if scope == CREDENTIAL else f"address {key}"
            )
            what = "requests" if scope == CREDENTIAL else "failed authentications"
            log.warning(
                "rate limit: %s passed %d %s per %s; refused until its window passes",
                caller,
                item.amount,
                what,
                _window(item),
            )
        raise Problem(
            429,
            "Too many requests",
            f"more than {item.amount} requests per {_window(item)} from this "
            + ("credential" if scope == CREDENTIAL else "address with failed authentications")
            + f": try again in {retry_after} s",
            kind="too-many-requests",
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": str(stats.remaining),
                "RateLimit-Reset": str(retry_after),
            },
        )


def client_address(request: Request) -> str:
    """The peer's address as uvicorn gives it: behind a proxy, the proxy's, unless uvicorn trusts the proxy's
    X-Forwarded-For (FORWARDED_ALLOW_IPS; docs/operators.md, "Rate limits")."""
    return request.client.host if request.client else "unknown"


def _window(item: RateLimitItem) -> str:
    return item.GRANULARITY.name if item.multiples == 1 else f"{item.multiples} {item.GRANULARITY.name}s"
