"""Outflow readiness and support at home (docs/domain.md, rule 5): pure, with the region's PlacementPolicy."""

from collections.abc import Mapping

from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_contracts.region import PlacementPolicy


def outflow_ready(scores: Mapping[ZrmDomain, int], client_wants_to_move: bool, policy: PlacementPolicy) -> bool:
    """No domain acute (1), the domains independent living needs at the threshold, and the client's wish."""
    if not client_wants_to_move or any(score <= 1 for score in scores.values()):
        return False
    return all(scores.get(domain, 0) >= policy.readiness_threshold for domain in policy.readiness_required_domains)


def needs_support_at_home(scores: Mapping[ZrmDomain, int], policy: PlacementPolicy) -> bool:
    """Support at home (BW_HOME) comes with the move when any domain is still below the region's level."""
    return any(score < policy.support_at_home_below for score in scores.values())


def missing_or_invalid_domains(scores: Mapping[str, int]) -> list[str]:
    """The ZRM domains that are missing or scored outside 1..5, and keys that are no ZRM domain."""
    known = {d.value for d in ZrmDomain}
    wrong = [d.value for d in ZrmDomain if not (isinstance(scores.get(d.value), int) and 1 <= scores[d.value] <= 5)]
    return wrong + sorted(k for k in scores if k not in known)
