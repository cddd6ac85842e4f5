"""Outflow readiness and support at home (DOMAIN.md rule 5, policy): pure, with the thresholds as data."""

from collections.abc import Mapping
from dataclasses import dataclass

from zorgstroom_contracts.codes import ZrmDomain

ILLUSTRATIVE_REQUIRED_DOMAINS = frozenset(
    {
        ZrmDomain.FINANCES,
        ZrmDomain.HOUSING,
        ZrmDomain.MENTAL_HEALTH,
        ZrmDomain.ADDICTION,
        ZrmDomain.SELF_CARE,
        ZrmDomain.DAILY_ACTIVITIES,
    }
)


@dataclass(frozen=True)
class ReadinessPolicy:
    """The defaults are illustrative; a region sets its own in its data file."""

    threshold: int = 3
    required_domains: frozenset[ZrmDomain] = ILLUSTRATIVE_REQUIRED_DOMAINS


@dataclass(frozen=True)
class SupportPolicy:
    below: int = 4  # a move comes with support at home (BW_HOME) when any domain scores below this


def is_ready_for_outflow(scores: Mapping[ZrmDomain, int], client_wants_to_move: bool, policy: ReadinessPolicy) -> bool:
    """No domain acute (1), the domains independent living needs at the threshold, and the client's wish."""
    if not client_wants_to_move or any(score <= 1 for score in scores.values()):
        return False
    return all(scores.get(domain, 0) >= policy.threshold for domain in policy.required_domains)


def needs_support_at_home(scores: Mapping[ZrmDomain, int], policy: SupportPolicy) -> bool:
    """Support at home (BW_HOME) comes with the move when any domain is still below the region's level."""
    return any(score < policy.below for score in scores.values())


def missing_or_invalid_domains(scores: Mapping[str, int]) -> list[str]:
    """The ZRM domains that are missing or scored outside 1..5, and keys that are no ZRM domain."""
    known = {d.value for d in ZrmDomain}
    wrong = [d.value for d in ZrmDomain if not (isinstance(scores.get(d.value), int) and 1 <= scores[d.value] <= 5)]
    return wrong + sorted(k for k in scores if k not in known)
