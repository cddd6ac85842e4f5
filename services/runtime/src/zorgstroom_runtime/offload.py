"""CPU-bound work off the event loop: a few worker threads per process; a burst of work queues behind them.

While a thread computes (a report over ten years of facts takes seconds), the event loop keeps answering
/healthz and /readyz and keeps the consumer polling: the interpreter hands it the GIL every few milliseconds.
A report takes its turn before it loads its inputs (`computed_from`), so the requests that wait hold nothing:
ten queued reports do not hold ten copies of a region's facts.
"""

import asyncio
import contextvars
import functools
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# Two at a time: a burst of heavy requests waits its turn instead of taking every core from the loop.
WORKERS = 2
T = TypeVar("T")
Inputs = TypeVar("Inputs")
# One semaphore per event loop (a semaphore belongs to the loop it first waited on; tests run several loops).
_TURNS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


@functools.cache
def _workers() -> ThreadPoolExecutor:
    """Made on first use, not at import; its threads start only when work arrives."""
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="zorgstroom-compute")


def _turns() -> asyncio.Semaphore:
    return _TURNS.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(WORKERS))


async def off_the_loop(work: Callable[[], T]) -> T:
    """`work()` in a worker thread, with the caller's context (its trace span, the acting person)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_workers(), context.run, work)


async def computed_from(load: Callable[[], Awaitable[Inputs]], compute: Callable[[Inputs], T]) -> T:
    """`compute(await load())`, the computation in a worker thread, at most WORKERS at a time per process from
    the load on: a request that waits its turn has loaded nothing yet, and its inputs are let go with its turn."""
    async with _turns():
        inputs = await load()
        return await off_the_loop(functools.partial(compute, inputs))
