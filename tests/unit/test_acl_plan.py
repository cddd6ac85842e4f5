"""The ACL plan follows the contract: producers write their topics, consumers read what they handle."""

from zorgstroom_contracts import TOPICS
from zorgstroom_ops.kafka_security import stack_grants
from zorgstroom_runtime.acl import provider_grants, redrive_grants, service_grants


def test_intake_may_only_write_client_registered_and_read_its_configuration() -> None:
    grant, describe = service_grants("intake", [], "fl.")
    assert grant.principal == "intake" and grant.role == "producer"
    assert grant.topics == ("fl.wmo.client-registered.v1",)
    assert "--idempotent" in grant.command_args()
    assert describe.topics == ("fl.wmo.client-registered.v1",)  # to check at start that it keeps history
    assert describe.command_args()[3:5] == ["--operation", "DescribeConfigs"]


def test_reporting_reads_what_it_handles_and_dead_letters_into_the_twins() -> None:
    grants = {g.role: g for g in service_grants("reporting", ["ClientRegistered", "PlacementMade"])}
    assert grants["consumer"].topics == ("wmo.client-registered.v1", "wmo.placement-made.v1")
    assert grants["consumer"].group == "reporting"
    assert grants["producer"].topics == ("wmo.client-registered.v1.dlq", "wmo.placement-made.v1.dlq")


def test_placement_writes_every_providers_topic_by_prefix() -> None:
    prefixed = [g for g in service_grants("placement", ["ClientRegistered"]) if g.prefixed]
    assert [(g.topics, g.role) for g in prefixed] == [(("wmo.provider.",), "producer")]
    assert "--resource-pattern-type" in prefixed[0].command_args()


def test_a_provider_reads_only_its_own_topic_in_its_own_groups() -> None:
    topic, group = provider_grants("12345678", "fl.")
    assert topic.topics == ("fl.wmo.provider.12345678.v1",) and not topic.prefixed
    assert group.group == "fl.provider-12345678" and group.prefixed
    assert group.command_args() == [
        "--add", "--allow-principal", "User:provider-12345678", "--operation", "Read",
        "--resource-pattern-type", "prefixed", "--group", "fl.provider-12345678",
    ]  # fmt: skip


def test_the_redrive_reads_dead_letters_and_their_originals_and_writes_only_the_topics_they_belong_to() -> None:
    reads, writes, group = redrive_grants("fl.")
    assert {g.principal for g in (reads, writes, group)} == {"redrive"}
    # A dead letter is a pointer: the redrive reads its original in the topic the twin belongs to.
    assert set(reads.topics) == {f"fl.{t.value}.dlq" for t in TOPICS} | {f"fl.{t.value}" for t in TOPICS}
    assert set(writes.topics) == {f"fl.{t.value}" for t in TOPICS}
    assert reads.command_args()[3:7] == ["--operation", "Read", "--operation", "Describe"]
    assert writes.command_args()[3:7] == ["--operation", "Write", "--operation", "Describe"]
    # Not a producer: no Create, no IdempotentWrite on the cluster, no prefixed topics.
    assert not {"--producer", "--idempotent", "--cluster", "--resource-pattern-type"} & set(writes.command_args())
    assert group.command_args() == [
        "--add", "--allow-principal", "User:redrive", "--operation", "Read",
        "--resource-pattern-type", "prefixed", "--group", "zorgstroom-dlq-replay.fl.",
    ]  # fmt: skip


def test_the_stack_plan_includes_the_redrive() -> None:
    assert [g for g in stack_grants("fl.") if g.principal == "redrive"] == redrive_grants("fl.")
