"""The consumers' FastStream broker: its security settings from the connection, and its start, lag reports and stop."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from zorgstroom_runtime.delivery import Backoff
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.lag import report_lag

log = logging.getLogger(__name__)


def kafka_security(kafka: KafkaConnection) -> BaseSecurity | None:
    """FastStream's security object for a connection (SASL SCRAM or PLAIN, with or without TLS)."""
    options = kafka.options()
    ssl_context = options.get("ssl_context")
    use_ssl = kafka.security_protocol.endswith("SSL")
    if not kafka.security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True) if use_ssl else None
    kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    return kind[kafka.sasl_mechanism](
        kafka.username or "", kafka.password or "", ssl_context=ssl_context, use_ssl=use_ssl
    )


async def serve_broker(
    broker: KafkaBroker,
    subscriber: Any,
    service: str,
    set_error: Callable[[str | None], None],
    close: Callable[[], Awaitable[None]],
) -> None:
    """Start a consumer's broker (retried with back-off while Kafka is away), report its lag on a timer,
    and keep it running until cancelled; then stop it and `close` what the consumer holds."""
    backoff = Backoff()
    while True:
        try:
            await broker.start()
            break
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await broker.stop()
            raise
        except Exception as error:
            delay = backoff.next()
            log.warning("%s consumer not started: %r; retrying in %.1fs", service, error, delay)
            set_error(repr(error))
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(delay)
    set_error(None)
    lag = asyncio.create_task(report_lag(lambda: subscriber.consumer, service))
    try:
        await asyncio.Event().wait()
    finally:
        lag.cancel()
        await broker.stop()
        await close()
