"""Business dates within the region's bounds (docs/domain.md, rules 9 and 15)."""

from datetime import date

from zorgstroom_contracts.region import DatePolicy


def beyond_latest_allowed(day: date, today: date, policy: DatePolicy) -> bool:
    """A registration, ending, update or withdrawal dated after today plus the region's margin is refused."""
    return day > policy.latest_allowed(today)


def within_transfer_window(effective_on: date, today: date, policy: DatePolicy) -> bool:
    """A transfer takes effect neither so long ago that it rewrites closed months nor too far ahead."""
    first, last = policy.transfer_window(today)
    return first <= effective_on <= last
