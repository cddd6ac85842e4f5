"""Small numbers (policy): every figure a viewer other than the responsible municipality sees is built from
base cells rounded at random, without bias, to a base, consistently across reports; pure, no I/O.

A base cell is a count at its finest published grain, e.g. (municipality, month, care form, column, detail).
Each is rounded once, with a coin of its own: x = 5q + r shows as 5q, or 5q + 5 when u < r/5, where u comes
from an HMAC of the cell's identity under reporting's own key, so the same cell gives the same answer in
every query and format (asking again teaches nothing). Every shown aggregate (group, total, period, region,
breakdown, marginal) is the sum of the rounded cells it covers, so the published tables add up, and the
published table is itself an explanation of everything shown: no cell of 1-4 can be worked out from them.
Measures (medians, p90) are shown only when enough clients are behind them.
"""

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, MEASURE_COLUMNS, STATE_COLUMNS, Flows, Row, Tally, split
from zorgstroom_reporting.domain.money import ClientDays
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.solidarity import Cell, MonthCell

BASE = 5
# One client's nights in a year can reach 365, so no base hides a stay entirely; a base of 100 nights hides
# whether a small municipality's care form holds one client or none for the first three months of a stay,
# and turns one client's exact length of stay into a coin flip between two multiples of 100.
DAYS_BASE = 100
METHOD = f"random rounding to base {BASE}"


def round_cell(value: int, u: float, base: int = BASE) -> int:
    """`value` rounded to a multiple of `base`: down, or up with a probability of remainder/base (the
    expectation is the value itself), using `u` in [0, 1) as the coin. Multiples of the base stay as they are."""
    quotient, remainder = divmod(value, base)
    return base * quotient + (base if u < remainder / base else 0)


def coin(secret: bytes, identity: Iterable[object]) -> float:
    """A number in [0, 1) fixed by the secret and a base cell's identity."""
    message = "\x1f".join("" if part is None else str(part) for part in identity).encode()
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big") / 2**64


@dataclass(frozen=True)
class Rounding:
    """How figures are shown to one viewer: exact (its own), or base cells rounded under `secret`."""

    secret: bytes
    exact: bool = False

    def count(self, identity: tuple[object, ...], value: int) -> int:
        return value if self.exact else round_cell(value, coin(self.secret, identity))

    def days(self, identity: tuple[object, ...], value: int) -> int:
        return value if self.exact else round_cell(value, coin(self.secret, ("days", *identity)), DAYS_BASE)

    def label(self, threshold: int) -> dict[str, object]:
        """What the response says about how its figures were protected."""
        if self.exact:
            return {"method": "exact", "exact": True}
        return {
            "method": METHOD,
            "exact": False,
            "client_days_base": DAYS_BASE,
            "measures_shown_from_clients": threshold,
            "note": f"each count is its base cells rounded to {BASE} at random; a 0 may be 0-{BASE - 1}, a {BASE} "
            f"may be 1-{2 * BASE - 1}; a median or p90 of fewer than {threshold} clients is null",
        }


def flow_cell(municipality: str, month: Month, tally: Tally) -> tuple[object, ...]:
    """The identity of the base cell a tally counts in. Both sides of a transfer name one cell, and so do an
    inflow and the matrix's first placements: the published figures keep the identities the true ones have."""
    if tally.column == "transfers_in":
        return ("transfer", str(month), tally.care_form, tally.detail, municipality)
    if tally.column == "transfers_out":
        return ("transfer", str(month), tally.care_form, municipality, tally.detail)
    return (tally.column, municipality, str(month), tally.care_form, tally.detail)


COUNTED = frozenset(COUNT_COLUMNS + STATE_COLUMNS)


def _with_measures(row: Row, measured: Row) -> Row:
    return row | {c: measured[c] for c in MEASURE_COLUMNS}


def protect_month(
    tallies: list[Tally], municipality: str, month: Month, rounding: Rounding, region: Region, threshold: int
) -> Flows:
    """One month's figures as a viewer sees them: each base cell rounded, every count the sum of those
    cells, and each measure of the true tallies only when `threshold` clients or more are behind it."""
    if rounding.exact:
        return split(tallies, region)
    cells: Counter[tuple[str, str | None, str | None]] = Counter(
        (t.column, t.care_form, t.detail) for t in tallies if t.column in COUNTED
    )
    first = month.first_day()
    rounded = [
        Tally(column, first, form, detail=detail)
        for (column, form, detail), n in cells.items()
        for _ in range(rounding.count(flow_cell(municipality, month, Tally(column, first, form, detail=detail)), n))
    ]
    shown, measured = split(rounded, region), split(tallies, region, min_clients=threshold)
    return replace(
        shown,
        total=_with_measures(shown.total, measured.total),
        by_group={g: _with_measures(r, measured.by_group[g]) for g, r in shown.by_group.items()},
        by_care_form={c: _with_measures(r, measured.by_care_form[c]) for c, r in shown.by_care_form.items()},
    )


def protect_flows(
    months: dict[Month, list[Tally]], municipality: str, rounding: Rounding, region: Region, threshold: int
) -> dict[Month, Flows]:
    """Every month of a flow report as a viewer sees it (a period's totals are the sums of these)."""
    return {m: protect_month(t, municipality, m, rounding, region, threshold) for m, t in months.items()}


def protect_matrix(cells: dict[MonthCell, Cell], rounding: Rounding) -> dict[tuple[str, str], Cell]:
    """The matrix of a period from its monthly base cells: first placements round in the very cell of the flow
    report's inflow, so the matrix and inflow keep their identity; client-days round to DAYS_BASE. A pair
    whose figures all round to 0 is left out, as a pair without placements is."""
    matrix: dict[tuple[str, str], Cell] = {}
    for (responsible, facility, month, form), cell in cells.items():
        shown = matrix.setdefault((responsible, facility), Cell())
        first = rounding.count(("inflow", responsible, str(month), form, facility), cell.inflow)
        onward = rounding.count(
            ("placement_doorstroom", responsible, str(month), form, facility), cell.placements - cell.inflow
        )
        shown.placements += first + onward
        shown.inflow += first
        shown.client_days += rounding.days(("matrix", responsible, facility, str(month), form), cell.client_days)
    return {k: c for k, c in sorted(matrix.items()) if c.placements or c.client_days}


def protect_days(municipality: str, year: int, days: ClientDays, rounding: Rounding) -> ClientDays:
    """A municipality's nights of a year per care form, realised and projected, each rounded to DAYS_BASE."""

    def rounded(kind: str, nights: dict[str, int]) -> dict[str, int]:
        return {form: rounding.days((kind, municipality, year, form), n) for form, n in nights.items()}

    return ClientDays(rounded("realised", days.realised), rounded("projected", days.projected))
