"""The one composition root every service shares: a FastAPI app whose lifespan wires the plumbing.

A service describes itself with a ServiceDefinition (routers, migrations, event handlers); `create_app`
connects the database, migrates, starts the outbox relay and the idempotent consumer, and serves
/healthz, /readyz, /metrics and /openapi.json beside the service's own routes.
"""

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zorgstroom_contracts import EVENT_TYPES, topic_name
from zorgstroom_runtime import metrics
from zorgstroom_runtime.acl import service_topics
from zorgstroom_runtime.api_keys import ApiKeys, start_refresher
from zorgstroom_runtime.apidocs import install_answers, install_api_docs
from zorgstroom_runtime.audit import (
    REFUSED,
    audit_refusal,
    audit_router,
    caller_of,
    note_caller_trace,
    start_every_request_a_new_trace,
)
from zorgstroom_runtime.auth import CredentialStore
from zorgstroom_runtime.batch import BatchConsumer, Projection
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.db import open_service_database
from zorgstroom_runtime.handlers import On, Subscription, handlers_by_type
from zorgstroom_runtime.jwt_auth import AccessTokenVerifier
from zorgstroom_runtime.kafka import KafkaConnection, refuse_topics_that_lose_history
from zorgstroom_runtime.outbox import Outbox, UnitOfWork, statement_unit_of_work, unit_of_work
from zorgstroom_runtime.problems import BodyGuard, install_problem_handlers, problem_response
from zorgstroom_runtime.rate_limits import RateLimits, client_address
from zorgstroom_runtime.region import Region, load_region
from zorgstroom_runtime.relay import OutboxRelay
from zorgstroom_runtime.settings import ServiceSettings
from zorgstroom_runtime.telemetry import setup_logging, setup_telemetry

log = logging.getLogger(__name__)
access = logging.getLogger("zorgstroom.access")  # route templates only: paths can hold ids


@dataclass
class ServiceContext:
    """What a running service holds; reached from routes through ContextDep."""

    settings: ServiceSettings
    region: Region
    pool: asyncpg.Pool
    outbox: Outbox
    relay: OutboxRelay | None = None
    consumer: IdempotentConsumer | BatchConsumer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    kafka_probe: "KafkaProbe | None" = None

    def unit_of_work(
        self, *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(
            self.pool, self.outbox, correlation_id=correlation_id, causation_id=causation_id, region=self.region
        )

    def statement_unit_of_work(
        self, *, correlation_id: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work whose writes are each one statement, atomic by itself (outbox.statement_unit_of_work)."""
        return statement_unit_of_work(self.pool, self.outbox, correlation_id=correlation_id, region=self.region)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    title: str
    migrations: Path
    routers: Sequence[APIRouter] = ()
    # The per-event handlers, by event class: `On(ClientRegistered, on_client_registered)`; several per event allowed.
    handlers: Sequence[On[Any]] = ()
    # A read model fed in batches (one transaction per poll) instead of per-event handlers.
    projection: Projection | None = None
    publishes: bool = True
    # Long-running jobs of the service (a scheduler), started with it and cancelled when it stops.
    jobs: Sequence[Callable[["ServiceContext"], Coroutine[Any, Any, None]]] = ()

    def consumed_event_types(self) -> list[str]:
        """Every event type this service reads, by handler or by its projection (its Kafka ACLs follow)."""
        projected = self.projection.event_types if self.projection is not None else frozenset()
        return sorted(set(handlers_by_type(self.handlers)) | projected)

    def subscription(self, topic_prefix: str) -> Subscription:
        """The consumer group of this service: the topics that carry the event types it handles."""
        event_types = handlers_by_type(self.handlers)
        topics = sorted({topic_name(EVENT_TYPES[event_type].topic, topic_prefix) for event_type in event_types})
        return Subscription(group_id=f"{topic_prefix}{self.name}", topics=topics, handlers=tuple(self.handlers))


def projection_topics(projection: Projection, topic_prefix: str) -> list[str]:
    """The topics that carry the event types a projection reads."""
    return sorted({topic_name(EVENT_TYPES[event_type].topic, topic_prefix) for event_type in projection.event_types})


async def get_context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off on every request.
    context: ServiceContext = request.app.state.context
    return context


ContextDep = Annotated[ServiceContext, Depends(get_context)]


async def start_context(definition: ServiceDefinition, settings: ServiceSettings) -> ServiceContext:
    region = load_region(settings.region_file, settings.municipalities_file)
    pool = await open_service_database(settings, definition.migrations)
    outbox = Outbox(definition.name, region.code, settings.topic_prefix, settings.schema_name)
    context = ServiceContext(settings=settings, region=region, pool=pool, outbox=outbox)
    kafka = KafkaConnection.from_settings(settings)
    if settings.environment == "production":  # a rebuild replays from offset 0: nothing may have expired
        topics = service_topics(definition.name, definition.consumed_event_types(), settings.topic_prefix)
        await refuse_topics_that_lose_history(kafka, topics)
    context.kafka_probe = KafkaProbe(kafka)
    if definition.publishes:
        context.relay = OutboxRelay(
            pool,
            outbox,
            kafka,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
            retention=timedelta(hours=settings.outbox_retention_hours),
            lease_seconds=settings.relay_lease_seconds,
            send_attempts=settings.relay_send_attempts,
        )
        context.tasks.append(asyncio.create_task(context.relay.run(), name=f"{definition.name}-relay"))
    if definition.handlers:
        context.consumer = IdempotentConsumer(
            pool,
            outbox,
            kafka,
            definition.subscription(settings.topic_prefix),
            max_attempts=settings.consumer_max_attempts,
            region=region,
        )
        context.tasks.append(asyncio.create_task(context.consumer.run(), name=f"{definition.name}-consumer"))
    if definition.projection is not None:
        projection = definition.projection
        context.consumer = BatchConsumer(
            pool,
            kafka,
            projection,
            group_id=f"{settings.topic_prefix}{definition.name}",
            topics=projection_topics(projection, settings.topic_prefix),
            service=definition.name,
            max_attempts=settings.consumer_max_attempts,
        )
        context.tasks.append(asyncio.create_task(context.consumer.run(), name=f"{definition.name}-projection"))
    for job in definition.jobs:
        context.tasks.append(asyncio.create_task(job(context), name=f"{definition.name}-{job.__name__}"))
    return context


async def stop_context(context: ServiceContext) -> None:
    for task in context.tasks:
        task.cancel()
    for task in context.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await context.pool.close()


def create_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings(service_name=definition.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(definition.name)
        app.state.context = await start_context(definition, settings)
        keys_url = settings.credentials_database_url or settings.database_url
        refresher = await start_refresher(app.state.api_keys, keys_url, settings.api_keys_poll_seconds)
        app.state.context.tasks.append(refresher)  # stopped with the service's other tasks
        try:
            yield
        finally:
            await stop_context(app.state.context)

    app = FastAPI(title=definition.title, version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.credentials = CredentialStore.from_file(settings.credentials_file)
    app.state.access_tokens = AccessTokenVerifier.from_file(
        settings.auth_issuers_file, refuse_plain_http=settings.environment == "production"
    )
    app.state.rate_limits = RateLimits.of(definition.name, settings.rate_limit, settings.rate_limit_refused)
    app.state.api_keys = ApiKeys()  # filled from the credentials store when the service starts
    install_problem_handlers(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    _install_http_metrics(app, definition.name)
    app.include_router(_operational_router())
    install_api_docs(app, definition.title)
    install_answers(app)
    if definition.handlers:
        app.include_router(_subscribers_router(definition.title))
    app.include_router(audit_router())
    for router in definition.routers:
        app.include_router(router)
    # One server span a request: the ASGI "http receive"/"http send" spans (three a request) tell nothing a
    # trace reader needs and cost as much to export as the request's database spans.
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="healthz,readyz,metrics",
        server_request_hook=note_caller_trace,
        exclude_spans=["receive", "send"],
    )
    start_every_request_a_new_trace(app)  # outside the instrumentation: the audit's correlation id is ours
    return app


def _install_http_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(HttpMeasure, service=service)


class HttpMeasure:
    """Metrics, the access log and the audit of refusals for every request: a pure ASGI middleware (Starlette's
    BaseHTTPMiddleware runs each request in a task of its own and copies the body through a stream).

    The route template is read from the scope the router filled in; a 401 or 403 on a route is audited before
    its answer leaves (audit_refusal); one access-log line per request, but none for the operational routes."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, elapsed = 500, None

        async def measured_send(message: Message) -> None:
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status, elapsed = message["status"], time.perf_counter() - started
                self._count(scope, status, elapsed)
                await self._audit_refusal(scope, status)
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            # An unhandled exception answers 500 in Starlette's ServerErrorMiddleware, outside this middleware:
            # it is counted and logged here, or the 5xx alert would never see it.
            if elapsed is None:
                elapsed = time.perf_counter() - started
                self._count(scope, status, elapsed)
            route = _route_of(scope)
            if route not in ("/healthz", "/readyz", "/metrics"):
                _log_access(Request(scope), route, status, elapsed)

    def _count(self, scope: Scope, status: int, elapsed: float) -> None:
        route, method = _route_of(scope), scope["method"]
        metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)

    @staticmethod
    async def _audit_refusal(scope: Scope, status: int) -> None:
        route = _route_of(scope)
        context: ServiceContext | None = getattr(scope["app"].state, "context", None)  # None before the lifespan
        if status in REFUSED and route != "unmatched" and context is not None:
            await audit_refusal(context.pool, Request(scope), route, status)


def _route_of(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", "unmatched")


def _log_access(request: Request, route: str, status: int, elapsed: float) -> None:
    """One line per request; a 401 or 429 also names the peer's address (where abuse came from) and a 429 the
    limit it hit (`rate_limited`: credential or refused)."""
    caller: dict[str, str] = caller_of(request)
    if status in (401, 429):
        caller["client"] = client_address(request)
    if limited := getattr(request.state, "rate_limited", None):
        caller["rate_limited"] = limited
    access.info(
        "%s %s %d %s",
        request.method,
        route,
        status,
        caller["actor"],
        extra={"method": request.method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)}
        | caller,
    )


SERVICE_ASYNCAPI_PATH = "/asyncapi/service.json"


def _subscribers_router(title: str) -> APIRouter:
    """FastStream's AsyncAPI document of this service's own subscribers, beside the contract-wide /asyncapi.json."""
    router = APIRouter(include_in_schema=False)

    @router.get(SERVICE_ASYNCAPI_PATH)
    async def subscribers_asyncapi(context: ContextDep) -> Response:
        if not isinstance(context.consumer, IdempotentConsumer):
            return problem_response(404, "Not found", "this service has no subscribers", kind="not-found")
        return Response(service_asyncapi(context.consumer, title), media_type="application/json")

    return router


def service_asyncapi(consumer: IdempotentConsumer, title: str) -> str:
    """The AsyncAPI 3.0 document (JSON) FastStream makes of a service's subscriber."""
    from faststream.specification import AsyncAPI

    document = AsyncAPI(consumer.broker, title=f"{title} - subscribers", version="1")
    return document.to_specification().to_json()


def _operational_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Dependencies are reachable",
        response_model=None,
        responses={503: {"description": "A dependency is not reachable (problem type not-ready, with `checks`)"}},
    )
    async def readyz(context: ContextDep) -> Any:
        checks: dict[str, bool] = {}
        try:
            checks["postgres"] = await asyncio.wait_for(context.pool.fetchval("SELECT true"), 2) is True
        except Exception:
            checks["postgres"] = False
        checks["kafka"] = context.kafka_probe is not None and await context.kafka_probe.ready()
        if context.consumer is not None:
            checks["consumer"] = context.consumer.last_error is None
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        return problem_response(503, "Not ready", "a dependency is not reachable", kind="not-ready", checks=checks)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class KafkaProbe:
    """Whether Kafka accepts this service's credentials: a real client handshake (SASL included) and a
    metadata request, not only a TCP connect. The answer is kept for a few seconds, so frequent
    readiness probes do not each open a connection."""

    def __init__(self, kafka: KafkaConnection, ttl_seconds: float = 10.0) -> None:
        self.kafka, self.ttl = kafka, ttl_seconds
        self._answer: tuple[float, bool] | None = None

    async def ready(self) -> bool:
        if self._answer is not None and time.monotonic() - self._answer[0] < self.ttl:
            return self._answer[1]
        admin = AIOKafkaAdminClient(**self.kafka.options(), client_id="zorgstroom-readiness", request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            ok = True
        except Exception as error:  # refused, wrong credentials, no broker: not ready, whatever the cause
            log.warning("readiness: Kafka refused or unreachable: %r", error)
            ok = False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        self._answer = (time.monotonic(), ok)
        return ok


def serve(definition: ServiceDefinition, *, factory: str | None = None) -> None:
    """Run one service with settings from the environment (`python -m zorgstroom_<service>`): in this process, or
    in ZS_HTTP_WORKERS processes on one port where the service names its app factory (`module:function`, called
    in each worker with no arguments)."""
    import uvicorn

    settings = ServiceSettings(service_name=definition.name)
    setup_logging(settings.service_name, settings.log_level)
    loop, http = server_implementations()
    options: dict[str, Any] = {"host": settings.http_host, "port": settings.http_port, "loop": loop, "http": http}
    if settings.http_workers > 1 and factory is not None:
        uvicorn.run(factory, factory=True, workers=settings.http_workers, log_config=None, access_log=False, **options)
        return
    uvicorn.run(create_app(definition, settings), log_config=None, access_log=False, **options)


def server_implementations() -> tuple[Literal["uvloop", "asyncio"], Literal["httptools", "h11"]]:
    """uvloop and httptools (C) where installed, else asyncio's loop and h11 (pure Python): named explicitly,
    so a missing wheel shows as a slower service, not as a failure to start."""
    loop: Literal["uvloop", "asyncio"] = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http: Literal["httptools", "h11"] = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if (loop, http) != ("uvloop", "httptools"):
        log.warning("serving on %s and %s: install uvloop and httptools for the documented throughput", loop, http)
    return loop, http
