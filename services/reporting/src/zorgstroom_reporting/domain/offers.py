"""The housing report from its base cells: offers per corporation, municipality, quota year, month and
status, summed over the period, and what is left of each quota after every acceptance of its year; pure."""

from collections import Counter
from collections.abc import Callable
from typing import Any

from zorgstroom_reporting.domain.months import Month

# voided: accepted, but placement refused the outflow (the placement had ended first); it uses no quota.
OUTCOMES = ("accepted", "declined", "lapsed", "open", "voided")
Key = tuple[str, str, int]  # corporation, municipality, quota year


def housing_rows(
    cells: list[dict[str, Any]],
    quotas: dict[Key, int],
    first: Month,
    last: Month,
    count: Callable[[tuple[object, ...], int], int],
) -> list[dict[str, Any]]:
    """One row per corporation, municipality and quota year with offers in the period or a quota of a year in
    it. `count` shows a base cell (rounded for a protected viewer); every figure is a sum of shown cells."""
    made: dict[Key, Counter[str]] = {}
    used: Counter[Key] = Counter()
    for c in cells:
        key: Key = (c["corporation_id"], c["municipality"], c["quota_year"])
        n = count(("offers", *key, c["month"], c["status"]), c["n"])
        if c["status"] == "accepted":
            used[key] += n
        if str(first) <= c["month"] <= str(last):
            made.setdefault(key, Counter())[c["status"]] += n
    rows = []
    for key in sorted(set(made) | set(quotas)):
        outcomes, quota = made.get(key, Counter()), quotas.get(key)
        if not outcomes.total() and key not in quotas:
            continue  # offers that all round to 0 show as no row, as a pair without offers does
        rows.append(
            {"corporation_id": key[0], "municipality": key[1], "quota_year": key[2], "quota": quota}
            | {"offers_made": outcomes.total()}
            | {o: outcomes[o] for o in OUTCOMES}
            | {"quota_left": None if quota is None else quota - used[key]}
        )
    return rows
