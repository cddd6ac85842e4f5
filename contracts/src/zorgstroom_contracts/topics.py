"""Topic names of the public contract; a region prefix is configuration, the names are not."""

from enum import StrEnum


class Topic(StrEnum):
    CLIENT_REGISTERED = "wmo.client-registered.v1"
    CLIENT_WAITLISTED = "wmo.client-waitlisted.v1"
    FACILITY_REGISTERED = "wmo.facility-registered.v1"
    PLACEMENT_MADE = "wmo.placement-made.v1"
    PLACEMENT_ENDED = "wmo.placement-ended.v1"
    OUTFLOW_READINESS_ASSESSED = "wmo.outflow-readiness-assessed.v1"
    HOUSING_UNIT_OFFERED = "wmo.housing-unit-offered.v1"
    HOUSING_OFFER_MADE = "wmo.housing-offer-made.v1"
    HOUSING_OFFER_ANSWERED = "wmo.housing-offer-answered.v1"
    OUTFLOW_COMPLETED = "wmo.outflow-completed.v1"
    RESPONSIBILITY_TRANSFERRED = "wmo.responsibility-transferred.v1"
    HOUSING_CONTINGENT_AGREED = "wmo.housing-contingent-agreed.v1"
    REGISTRATION_CHANGED = "wmo.registration-changed.v1"
    RESPONSIBILITY_TRANSFER_PROPOSALS = "wmo.responsibility-transfer-proposals.v1"
    CONSENT_RECORDED = "wmo.consent-recorded.v1"
    OUTFLOW_REFUSED = "wmo.outflow-refused.v1"


TOPICS: tuple[Topic, ...] = tuple(Topic)

# The one service that may write each topic (the topic table of docs/events.md); Kafka ACLs follow from it.
PRODUCER_OF: dict[Topic, str] = {
    Topic.CLIENT_REGISTERED: "intake",
    Topic.CLIENT_WAITLISTED: "placement",
    Topic.FACILITY_REGISTERED: "placement",
    Topic.PLACEMENT_MADE: "placement",
    Topic.PLACEMENT_ENDED: "placement",
    Topic.OUTFLOW_READINESS_ASSESSED: "placement",
    Topic.HOUSING_UNIT_OFFERED: "housing",
    Topic.HOUSING_OFFER_MADE: "housing",
    Topic.HOUSING_OFFER_ANSWERED: "housing",
    Topic.OUTFLOW_COMPLETED: "placement",
    Topic.RESPONSIBILITY_TRANSFERRED: "placement",
    Topic.HOUSING_CONTINGENT_AGREED: "housing",
    Topic.REGISTRATION_CHANGED: "placement",
    Topic.RESPONSIBILITY_TRANSFER_PROPOSALS: "placement",
    Topic.CONSENT_RECORDED: "placement",
    Topic.OUTFLOW_REFUSED: "placement",
}
PROVIDER_TOPICS_PRODUCER = "placement"
DLQ_SUFFIX = ".dlq"


def topic_name(topic: Topic | str, prefix: str = "") -> str:
    """The topic as it exists on the cluster: the region prefix (may be empty) plus the name."""
    return f"{prefix}{topic.value if isinstance(topic, Topic) else topic}"


def dlq_topic(name: str) -> str:
    """The dead-letter twin of a concrete topic name."""
    return f"{name}{DLQ_SUFFIX}"


def provider_topic(agb: str, prefix: str = "") -> str:
    """The topic on which one provider (by AGB code) receives every event about its clients."""
    return f"{prefix}wmo.provider.{agb}.v1"
