"""The ACL plan follows the contract: producers write their topics, consumers read what they handle."""

from zorgstroom_runtime.acl import provider_grants, service_grants


def test_intake_may_only_write_client_registered() -> None:
    (grant,) = service_grants("intake", [], "fl.")
    assert grant.principal == "intake" and grant.role == "producer"
    assert grant.topics == ("fl.wmo.client-registered.v1",)
    assert "--idempotent" in grant.command_args()


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
