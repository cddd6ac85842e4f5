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


def _channel_id(topic: Topic) -> str:
    return topic.name.lower().replace("_", "-")


def _message(event_type: str) -> dict[str, Any]:
    spec = EVENT_TYPES[event_type]
    envelope = Envelope.model_json_schema()
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
            "messages": {name: _message(name) for name in EVENT_TYPES},
            "schemas": {name: schema_of(spec) for name, spec in EVENT_TYPES.items()},
        },
    }
