"""The flow reports' figures from the kept cells (domain/aggregates.py): the same `Flows` that flows.py and
disclosure.py build from tallies, for a month or a period; pure, no I/O."""

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, Flows, Row, _p90
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.solidarity import Cell

SHOWN = COUNT_COLUMNS + STATE_COLUMNS
TOTAL = "total"
# Each measure of a report row: the kept days column it is worked out from, and how.
MEASURES = (
    ("waiting_days_median", "waiting_days", "median"),
    ("waiting_days_p90", "waiting_days", "p90"),
    ("waiting_now_days_median", "waiting_at_end", "median"),
    ("waiting_now_days_p90", "waiting_at_end", "p90"),
    ("stay_days_median", "stay_days", "median"),
    ("ready_not_housed_days_median", "ready_not_housed_at_end", "median"),
)


@dataclass(frozen=True)
class KeptCell:
    """A base cell as kept: its tallies (`n`) and the rounded value a protected viewer sees (`shown`)."""

    column: str
    care_form: str  # "" when unknown
    detail: str
    n: int
    shown: int


@dataclass(frozen=True)
class Measure:
    """The days of one column in one scope (the total, a group, a care form): how many, median and p90."""

    n: int
    median: float | None
    p90: float | None


def scopes(region: Region, care_form: str) -> list[str]:
    """The rows a tally of this care form counts in: the total, its group's and its own (if the region has it)."""
    if not care_form or not region.has_care_form(care_form):
        return [TOTAL]
    return [TOTAL, f"group:{region.care_form(care_form).group.value}", f"form:{care_form}"]


def measures_of(histogram: Iterable[tuple[str, int, int]], region: Region) -> dict[str, Measure]:
    """Per scope, the measure of some days kept as (care form, days, how many)."""
    days: dict[str, list[int]] = {}
    for form, length, n in histogram:
        for scope in scopes(region, form):
            days.setdefault(scope, []).extend([length] * n)
    return {
        scope: Measure(len(found), float(statistics.median(found)), _p90(found))
        for scope, found in days.items()
        if found
    }


def _row(counts: Counter[str], measures: dict[tuple[str, str], Measure] | None, scope: str, min_clients: int) -> Row:
    row: Row = {c: counts[c] for c in SHOWN}
    if measures is None:  # a period's row: counts and states only (flows.totals)
        return row
    for name, column, how in MEASURES:
        found = measures.get((column, scope))
        ok = found is not None and found.n >= min_clients
        row[name] = (found.median if how == "median" else found.p90) if ok and found else None
    return row


def _details(cells: list[KeptCell], column: str, exact: bool) -> dict[str, int]:
    counted: Counter[str] = Counter()
    for c in cells:
        if c.column == column:
            counted[c.detail or "unknown"] += c.n if exact else c.shown
    return dict(sorted((k, v) for k, v in counted.items() if v > 0))


def flows_of(
    cells: list[KeptCell],
    region: Region,
    exact: bool,
    measures: dict[tuple[str, str], Measure] | None = None,
    threshold: int = 0,
) -> Flows:
    """A month's figures (with `measures`, keyed by (days column, scope)) or a period's (without: its counts
    summed and its states at its last month, as `cells` give them) as the viewer sees them."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    scopes_of: dict[str, list[str]] = {}
    for c in cells:
        if c.care_form not in scopes_of:
            scopes_of[c.care_form] = scopes(region, c.care_form)
        for scope in scopes_of[c.care_form]:
            counts[scope][c.column] += c.n if exact else c.shown
    min_clients = 0 if exact else threshold

    def row(scope: str) -> Row:
        return _row(counts.get(scope, Counter()), measures, scope, min_clients)

    return Flows(
        total=row(TOTAL),
        by_group={g: row(f"group:{g}") for g in ("BW", "MO")},
        by_care_form={c: row(f"form:{c}") for c in region.care_forms},
        ended_other_by_reason=_details(cells, "ended_other", exact),
        doorstroom_by_pair=_details(cells, "doorstroom", exact),
    )


@dataclass(frozen=True)
class KeptMatrixCell:
    """A month's kept matrix cell (responsible x facility municipality x care form) as a protected viewer sees
    it: first placements, onward placements (doorstroom) and client-days, each rounded."""

    responsible: str
    facility: str
    month: Month
    first: int
    onward: int
    client_days: int


def matrix_of(cells: Iterable[KeptMatrixCell], open_month: Month) -> dict[tuple[str, str], Cell]:
    """The protected matrix of a period from its monthly cells (disclosure.protect_matrix): client-days of
    closed months only; a pair whose figures all round to 0 is left out."""
    matrix: dict[tuple[str, str], Cell] = {}
    for c in cells:
        shown = matrix.setdefault((c.responsible, c.facility), Cell())
        shown.placements += c.first + c.onward
        shown.inflow += c.first
        shown.client_days += c.client_days if c.month < open_month else 0
    return {k: c for k, c in sorted(matrix.items()) if c.placements or c.client_days}
