"""The AsyncAPI 3.0 document of the topics: what a provider or another region integrates against."""

from typing import Any

from zorgstroom_contracts.compat import schema_of
from zorgstroom_contracts.envelope import Envelope
from zorgstroom_contracts.events import EVENT_TYPES
from zorgstroom_contracts.topics import TOPICS, Topic

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traceparent": {"type": "string", "description": "W3C trace context of the request that caused the event."},
        "tracestate": {"type": "string"},
        "event-type": {"type": "string", "description": "Equal to the envelope's event_type."},
        "schema-version": {"type": "string", "description": "Equal to the envelope's schema_version."},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _hoisted(schema: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` moved into `shared` (components/schemas) and its refs pointed there.

    A `#/$defs/...` ref inside an embedded schema resolves against the AsyncAPI document's root, where
    there are no `$defs`; the official parser rejects it. The `$id` goes too, for the same reason: it
    would make `#` mean the standalone schema; it stays as `x-schema-id`, naming the published file.
    """

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: f"#/components/schemas/{value.removeprefix('#/$defs/')}"
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    schema = dict(schema)
    for name, definition in schema.pop("$defs", {}).items():
        definition = rewrite(definition)
        if shared.setdefault(name, definition) != definition:
            raise ValueError(f"two event schemas define {name!r} differently; rename one of the models")
    if "$id" in schema:
        schema["x-schema-id"] = schema.pop("$id")
    return rewrite(schema)  # type: ignore[no-any-return]


def _channel_id(topic: Topic) -> str:
    return topic.name.lower().replace("_", "-")


def _message(event_type: str, shared: dict[str, Any]) -> dict[str, Any]:
    spec = EVENT_TYPES[event_type]
    envelope = _hoisted(Envelope.model_json_schema(), shared)
    envelope["properties"]["data"] = {"$ref": f"#/components/schemas/{event_type}"}
    envelope["properties"]["event_type"] = {"const": event_type}
    envelope["properties"]["schema_version"] = {"const": spec.schema_version}
    return {
        "name": event_type,
        "title": event_type,
        "summary": (spec.model.__doc__ or event_type).strip().splitlines()[0],
        "contentType": "application/json",
        "headers": HEADERS_SCHEMA,
        "payload": envelope,
        "bindings": {"kafka": {"key": {"type": "string", "description": f"the event's {spec.key_field}"}}},
    }


def asyncapi_document(version: str = "1") -> dict[str, Any]:
    """Channels per topic (plus each provider's own), a message per event type, and its data schema."""
    channels: dict[str, Any] = {}
    for topic in TOPICS:
        types = [name for name, spec in EVENT_TYPES.items() if spec.topic is topic]
        channels[_channel_id(topic)] = {
            "address": topic.value,
            "description": "Topic names take the region's prefix; a `.dlq` twin holds dead letters.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in types},
        }
    channels["provider"] = {
        "address": "wmo.provider.{agb}.v1",
        "description": "Every event about clients in the facilities of one provider (by AGB code).",
        "parameters": {"agb": {"description": "The provider's AGB code, eight digits."}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in EVENT_TYPES},
    }
    shared: dict[str, Any] = {}
    schemas = {name: _hoisted(schema_of(spec), shared) for name, spec in EVENT_TYPES.items()}
    messages = {name: _message(name, shared) for name in EVENT_TYPES}
    clashes = set(shared) & set(schemas)
    if clashes:
        raise ValueError(f"a model is named like an event type: {sorted(clashes)}")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Zorgstroom events",
            "version": version,
            "description": "Sheltered housing (BW) and shelter (MO) flows of a region of Dutch municipalities. "
            "Within a .v1 topic changes are additive only; consumers ignore fields they do not know.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": {
            f"receive-{channel}": {"action": "receive", "channel": {"$ref": f"#/channels/{channel}"}}
            for channel in channels
        },
        "components": {
            "messages": messages,
            "schemas": schemas | dict(sorted(shared.items())),
        },
    }
