"""Kafka ACLs that follow from the contract: each service writes only the topics it produces and
reads only the topics of the events it handles; each provider reads only its own topic; the dead-letter
redrive reads the `.dlq` twins and the topics they belong to, and writes only into those topics.

Pure: the plan is data (arguments for Kafka's AclCommand); deploy/kafka.sh applies it.
"""

from dataclasses import dataclass

from zorgstroom_contracts import EVENT_TYPES, TOPICS, dlq_topic, provider_topic, topic_name
from zorgstroom_contracts.topics import PRODUCER_OF, PROVIDER_TOPICS_PRODUCER

REDRIVE_PRINCIPAL = "redrive"
# `zorgstroom dead-letters --replay` commits its progress in one group per `.dlq` topic under this name.
REDRIVE_GROUP = "zorgstroom-dlq-replay"
# The roles that name their operations; "producer" and "consumer" are AclCommand's own conveniences.
OPERATIONS = {
    "group": ["--operation", "Read"],
    "writer": ["--operation", "Write", "--operation", "Describe"],
    "reader": ["--operation", "Read", "--operation", "Describe"],
    "describer": ["--operation", "DescribeConfigs"],  # a service checks at start that its topics keep history
}


@dataclass(frozen=True)
class AclGrant:
    """One AclCommand invocation: a principal, a role (what it may do) and its resources."""

    principal: str
    # "producer": Write, Describe, Create, and IdempotentWrite on the cluster; "consumer": Read and
    # Describe on the topics and Read on the group; "group": Read on the group only; "writer" and
    # "reader": Write or Read, and Describe, on the topics and nothing else (an idempotent producer
    # needs no cluster grant since Kafka 3.0: Write on a topic lets it ask for a producer id).
    role: str
    topics: tuple[str, ...]
    group: str | None = None
    prefixed: bool = False

    def command_args(self) -> list[str]:
        args = ["--add", "--allow-principal", f"User:{self.principal}"]
        args += OPERATIONS.get(self.role, [f"--{self.role}"])
        if self.role == "producer":
            args.append("--idempotent")  # aiokafka's idempotent producer asks for IdempotentWrite
        if self.prefixed:
            args += ["--resource-pattern-type", "prefixed"]
        for topic in self.topics:
            args += ["--topic", topic]
        if self.group:
            args += ["--group", self.group]
        return args


def service_grants(service: str, handled_event_types: list[str], prefix: str = "") -> list[AclGrant]:
    consumed = sorted({topic_name(EVENT_TYPES[e].topic, prefix) for e in handled_event_types})
    produced = sorted(topic_name(t, prefix) for t, producer in PRODUCER_OF.items() if producer == service)
    writes = tuple(produced + [dlq_topic(t) for t in consumed])  # a consumer dead-letters what it reads
    grants = [AclGrant(service, "producer", writes)] if writes else []
    if consumed:
        grants.append(AclGrant(service, "consumer", tuple(consumed), group=f"{prefix}{service}"))
    if writes or consumed:
        grants.append(AclGrant(service, "describer", tuple(sorted({*writes, *consumed}))))
    if service == PROVIDER_TOPICS_PRODUCER:
        grants.append(AclGrant(service, "producer", (f"{prefix}wmo.provider.",), prefixed=True))
    return grants


def service_topics(service: str, handled_event_types: list[str], prefix: str = "") -> list[str]:
    """Every topic a service reads or writes by name (its provider topics, by prefix, are left out)."""
    grants = service_grants(service, handled_event_types, prefix)
    return sorted({t for g in grants if not g.prefixed for t in g.topics})


def provider_grants(agb: str, prefix: str = "") -> list[AclGrant]:
    """A provider reads its own topic, in consumer groups named after itself."""
    principal, group = f"provider-{agb}", f"{prefix}provider-{agb}"
    return [
        AclGrant(principal, "consumer", (provider_topic(agb, prefix),), group=group),
        AclGrant(principal, "group", (), group=group, prefixed=True),
    ]


def redrive_grants(prefix: str = "") -> list[AclGrant]:
    """The redrive principal reads the `.dlq` twins and the topics they belong to, and writes those topics:
    no provider's topic, no `.dlq` topic, nothing on the cluster, no topic creation. It reads a twin's
    topic because a dead letter is only a pointer to its original there (ops dead_letters.py)."""
    sources = tuple(topic_name(t, prefix) for t in TOPICS)
    return [
        AclGrant(REDRIVE_PRINCIPAL, "reader", tuple(dlq_topic(t) for t in sources) + sources),
        AclGrant(REDRIVE_PRINCIPAL, "writer", sources),
        AclGrant(REDRIVE_PRINCIPAL, "group", (), group=f"{REDRIVE_GROUP}.{prefix}", prefixed=True),
    ]
