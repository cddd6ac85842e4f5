"""Outflow readiness by the region's policy (docs/domain.md, rule 5) and the 422 that names a ZRM domain."""

from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_contracts.region import PlacementPolicy
from zorgstroom_placement.domain.readiness import missing_or_invalid_domains, needs_support_at_home, outflow_ready

ALL_FOURS = dict.fromkeys(ZrmDomain, 4)
POLICY = PlacementPolicy()


def test_a_client_with_the_domains_independent_living_needs_who_wants_to_move_is_ready() -> None:
    assert outflow_ready(ALL_FOURS, True, POLICY)


def test_a_client_who_does_not_want_to_move_is_not_ready() -> None:
    assert not outflow_ready(ALL_FOURS, False, POLICY)


def test_an_acute_domain_blocks_readiness_even_where_independent_living_does_not_need_it() -> None:
    assert not outflow_ready(ALL_FOURS | {ZrmDomain.JUSTICE: 1}, True, POLICY)


def test_the_threshold_is_the_regions() -> None:
    scores = ALL_FOURS | {ZrmDomain.HOUSING: 3}
    assert outflow_ready(scores, True, PlacementPolicy(readiness_threshold=3))
    assert not outflow_ready(scores, True, PlacementPolicy(readiness_threshold=4))


def test_a_required_domain_without_a_score_blocks_readiness() -> None:
    scores: dict[ZrmDomain, int] = {d: s for d, s in ALL_FOURS.items() if d is not ZrmDomain.FINANCES}
    assert not outflow_ready(scores, True, POLICY)


def test_the_required_domains_are_the_regions() -> None:
    scores = ALL_FOURS | {ZrmDomain.WORK_EDUCATION: 2}
    assert outflow_ready(scores, True, POLICY)
    assert not outflow_ready(scores, True, PlacementPolicy(readiness_required_domains=(ZrmDomain.WORK_EDUCATION,)))


def test_support_at_home_comes_with_a_move_when_a_domain_scores_below_the_policy() -> None:
    assert not needs_support_at_home(ALL_FOURS, PlacementPolicy(support_at_home_below=4))
    assert needs_support_at_home(ALL_FOURS | {ZrmDomain.FINANCES: 3}, PlacementPolicy(support_at_home_below=4))


def test_missing_unknown_and_out_of_range_domains_are_named() -> None:
    scores = {d.value: 4 for d in ZrmDomain if d is not ZrmDomain.JUSTICE} | {"housing": 6, "mood": 3}
    assert missing_or_invalid_domains(scores) == ["housing", "justice", "mood"]
    assert missing_or_invalid_domains({d.value: 5 for d in ZrmDomain}) == []
    assert missing_or_invalid_domains({d.value: 1 for d in ZrmDomain} | {"finances": 0}) == ["finances"]
