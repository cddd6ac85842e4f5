"""OpenTelemetry and logging, set up once per process: W3C context in, on and out of Kafka headers."""

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import AttributeValue
from pythonjsonlogger.json import JsonFormatter

Headers = list[tuple[str, bytes]]
_provider: TracerProvider | None = None

# A client_ref is an HMAC-SHA256 in hex: 64 hex digits (trace ids have 32, span ids 16).
CLIENT_REF = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
CLIENT_REF_PLACEHOLDER = "{client_ref}"
# The record key of a client's events is its client_ref (FastStream's consumer and producer spans).
DROPPED_ATTRIBUTES = frozenset({"messaging.kafka.message.key"})


def redact_client_refs(text: str) -> str:
    """`/v1/clients/3f…9a/transfer` -> `/v1/clients/{client_ref}/transfer`, the route template's own words."""
    return CLIENT_REF.sub(CLIENT_REF_PLACEHOLDER, text)


def _redacted(value: AttributeValue) -> AttributeValue:
    if isinstance(value, str):
        return redact_client_refs(value)
    if isinstance(value, bytes):  # a record key survives the SDK as bytes
        return redact_client_refs(value.decode("utf-8", "replace")).encode()
    if isinstance(value, tuple | list) and value and isinstance(value[0], str):
        return tuple(redact_client_refs(v) for v in value)
    return value


def _redacted_attributes(attributes: Mapping[str, AttributeValue] | None) -> BoundedAttributes:
    kept = {key: _redacted(value) for key, value in (attributes or {}).items() if key not in DROPPED_ATTRIBUTES}
    redacted = BoundedAttributes(maxlen=None, attributes=kept, immutable=True)
    redacted.dropped = getattr(attributes, "dropped", 0)
    return redacted


class ClientRefRedactor(SpanProcessor):
    """Keeps client_ref out of every exported span: the FastAPI and FastStream instrumentations record
    the raw path (`http.target`, `http.url`, `url.path`: /v1/clients/{client_ref}/transfer) and the
    Kafka record key, which would make the trace backend an index of pseudonyms.

    It must be the first processor of the provider: processors see the same ended span in the order
    they were added, so the exporters after it receive the redacted one. It works on the ended span
    because the ASGI middleware sets its request attributes again after the span has started.
    """

    def on_end(self, span: ReadableSpan) -> None:
        # ReadableSpan has no public setter: its fields are replaced before any exporter reads them. Most spans
        # have nothing to redact, and are left as they are (a span ends several times a request).
        if _may_hold_client_ref(span.attributes):
            span._attributes = _redacted_attributes(span.attributes)
        if len(span.name) >= CLIENT_REF_LENGTH:
            span._name = redact_client_refs(span.name)
        if span.events:
            span._events = tuple(
                Event(event.name, _redacted_attributes(event.attributes), event.timestamp) for event in span.events
            )


CLIENT_REF_LENGTH = 64


def _may_hold_client_ref(attributes: Mapping[str, AttributeValue] | None) -> bool:
    """Whether redaction could change these attributes: a key it drops, a string long enough to hold a
    client_ref that holds one, or a value of another kind that may (bytes, sequences: the full path)."""
    for key, value in (attributes or {}).items():
        if key in DROPPED_ATTRIBUTES:
            return True
        if isinstance(value, str):
            if len(value) >= CLIENT_REF_LENGTH and CLIENT_REF.search(value):
                return True
        elif not isinstance(value, bool | int | float):
            return True
    return False


def setup_telemetry(service_name: str, *, extra_processors: Iterable[SpanProcessor] = ()) -> None:
    """Tracer provider (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set) and asyncpg instrumentation.

    Once per process: several services in one test process share the first provider, and later
    calls only add their extra processors to it.
    """
    global _provider
    if _provider is not None:
        for processor in extra_processors:
            _provider.add_span_processor(processor)
        return
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(ClientRefRedactor())  # first: every exporter sees the redacted span
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(_batch_processor(OTLPSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider = provider


# Under load (a thousand intakes a second, a few spans each) the SDK's defaults (512 spans an export, 2,048
# queued) export several times a second and drop spans past the queue; these batch more and hold seconds' worth,
# bounded so that a trace backend that is down costs a process a few MB of spans (8,192 of a few hundred bytes
# each; past that, spans are dropped and the SDK says so). The standard OTEL_BSP_* variables still decide where
# set (the SDK reads them when given None).
BATCH_DEFAULTS = {
    "OTEL_BSP_MAX_QUEUE_SIZE": 8192,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 4096,
    "OTEL_BSP_SCHEDULE_DELAY": 2000,
}


def _batch_setting(variable: str) -> int | None:
    return None if variable in os.environ else BATCH_DEFAULTS[variable]


def _batch_processor(exporter: SpanExporter) -> BatchSpanProcessor:
    return BatchSpanProcessor(
        exporter,
        max_queue_size=_batch_setting("OTEL_BSP_MAX_QUEUE_SIZE"),
        max_export_batch_size=_batch_setting("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
        schedule_delay_millis=_batch_setting("OTEL_BSP_SCHEDULE_DELAY"),
    )


@contextlib.contextmanager
def no_statement_spans() -> Iterator[None]:
    """No span for the database statements run inside (the asyncpg instrumentation is suppressed); spans started
    by hand still are. For a background loop's own bookkeeping (the relay's lease, reads and marks, several a
    batch): each would be a trace of one span, of no request, while its metrics say the same."""
    with suppress_instrumentation():
        yield


def tracer(name: str = "zorgstroom") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_carrier() -> dict[str, str]:
    """The W3C traceparent/tracestate of the current span, to store beside an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_carrier(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(carrier))


def context_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    carrier = {k: v.decode("latin-1") for k, v in (headers or ()) if k in ("traceparent", "tracestate")}
    return propagate.extract(carrier)


def trace_headers() -> Headers:
    return [(k, v.encode("latin-1")) for k, v in current_trace_carrier().items()]


class _TraceIdFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        record.service = self.service
        return True


def setup_logging(service_name: str, level: str = "INFO") -> None:
    """Structured JSON logs on stderr, each line carrying the trace id of the current span."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(trace_id)s %(span_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceIdFilter(service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel("WARNING")


def current_trace_id() -> str | None:
    """The current trace id, used as correlation id of what a request writes."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def tag_current_span(key: str, value: str) -> None:
    """An attribute on the current span, to find its trace by (never personal data)."""
    trace.get_current_span().set_attribute(key, value)
