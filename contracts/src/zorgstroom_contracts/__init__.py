"""Zorgstroom event contracts: the one source of truth for what travels on the topics. Pure: no I/O."""

from zorgstroom_contracts.envelope import Envelope
from zorgstroom_contracts.events import EVENT_TYPES, EventSpec, spec_for
from zorgstroom_contracts.topics import TOPICS, Topic, dlq_topic, provider_topic, topic_name

__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "Envelope",
    "EventSpec",
    "Topic",
    "dlq_topic",
    "provider_topic",
    "spec_for",
    "topic_name",
]
