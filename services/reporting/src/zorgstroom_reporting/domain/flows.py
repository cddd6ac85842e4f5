"""Monthly flows of one municipality from the facts of the flow (DOMAIN.md "What the region wants to see").

Events count in the month of their business date; `*_at_end` are states on the last day of a month.
The responsible municipality of a fact is the one recorded on it, unless a transfer took effect on or
before the day that counts (DOMAIN.md rule 9: reports follow the new municipality from that date).
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from zorgstroom_reporting.queries.months import Month, months_between

COUNT_COLUMNS = ("registrations", "inflow", "outflow", "ended_other", "relapses", "transfers_in", "transfers_out")
STATE_COLUMNS = ("waiting_at_end", "ready_not_housed_at_end")
MEASURE_COLUMNS = ("waiting_days_median", "waiting_days_p90", "stay_days_median", "ready_not_housed_days_median")
FLOW_COLUMNS = COUNT_COLUMNS + STATE_COLUMNS + MEASURE_COLUMNS


@dataclass(frozen=True)
class Registration:
    intake_id: str
    client_ref: str
    responsible: str
    registered_on: date


@dataclass(frozen=True)
class PlacementFact:
    placement_id: str
    intake_id: str | None
    client_ref: str
    responsible: str
    facility_municipality: str | None
    start_date: date | None  # None while only the ending has arrived
    waited_days: int | None
    end_date: date | None
    end_reason: str | None
    care_form: str | None = None


@dataclass(frozen=True)
class Outflow:
    placement_id: str
    client_ref: str
    responsible: str
    outflow_date: date


@dataclass(frozen=True)
class Assessment:
    placement_id: str
    assessed_on: date
    ready: bool


@dataclass(frozen=True)
class Transfer:
    client_ref: str
    to_municipality: str
    effective_on: date
    from_municipality: str = ""


@dataclass
class Facts:
    registrations: list[Registration] = field(default_factory=list)
    placements: list[PlacementFact] = field(default_factory=list)
    outflows: list[Outflow] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)


@dataclass(frozen=True)
class FlowPolicy:
    relapse_months: int = 12  # policy (DOMAIN.md rule 8)


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _p90(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, -(-9 * len(ordered) // 10) - 1))])  # nearest rank


def _months_back(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, 28))


class Responsibility:
    """Who is responsible for a client on a day: the recorded municipality, until a transfer takes effect."""

    def __init__(self, transfers: Iterable[Transfer]) -> None:
        self._by_client: dict[str, list[Transfer]] = defaultdict(list)
        for t in sorted(transfers, key=lambda t: t.effective_on):
            self._by_client[t.client_ref].append(t)

    def changes_after(self, client_ref: str, day: date) -> list[date]:
        """The dates after `day` on which this client's responsible municipality changes."""
        return [t.effective_on for t in self._by_client.get(client_ref, ()) if t.effective_on > day]

    def on(self, client_ref: str, recorded: str, day: date) -> str:
        responsible = recorded
        for transfer in self._by_client.get(client_ref, ()):
            if transfer.effective_on <= day:
                responsible = transfer.to_municipality
        return responsible


def monthly_flows(
    facts: Facts, municipality: str, start: Month, end: Month, policy: FlowPolicy = FlowPolicy()
) -> dict[Month, dict[str, float | int | None]]:
    """Every column of the flow report for each month of the period."""
    who = Responsibility(facts.transfers)
    out_by_placement = {o.placement_id: o for o in facts.outflows}
    started_by_intake = {p.intake_id: p.start_date for p in facts.placements if p.intake_id and p.start_date}
    outflow_days_by_client: dict[str, list[date]] = defaultdict(list)
    for o in facts.outflows:
        outflow_days_by_client[o.client_ref].append(o.outflow_date)
    assessments_by_placement: dict[str, list[Assessment]] = defaultdict(list)
    for a in sorted(facts.assessments, key=lambda a: a.assessed_on):
        assessments_by_placement[a.placement_id].append(a)

    result: dict[Month, dict[str, float | int | None]] = {}
    for month in months_between(start, end):
        first, last = month.first_day(), month.next().first_day()
        month_end = date.fromordinal(last.toordinal() - 1)

        def ours(client_ref: str, recorded: str, day: date) -> bool:
            return who.on(client_ref, recorded, day) == municipality

        registrations = [
            r
            for r in facts.registrations
            if first <= r.registered_on < last and ours(r.client_ref, r.responsible, r.registered_on)
        ]
        started = [
            p
            for p in facts.placements
            if p.start_date and first <= p.start_date < last and ours(p.client_ref, p.responsible, p.start_date)
        ]
        ended = [
            p
            for p in facts.placements
            if p.end_date and first <= p.end_date < last and ours(p.client_ref, p.responsible, p.end_date)
        ]
        outflows = [
            o
            for o in facts.outflows
            if first <= o.outflow_date < last and ours(o.client_ref, o.responsible, o.outflow_date)
        ]
        relapses = [
            r
            for r in registrations
            if any(
                _months_back(r.registered_on, policy.relapse_months) <= d < r.registered_on
                for d in outflow_days_by_client.get(r.client_ref, ())
            )
        ]
        waiting = [
            r
            for r in facts.registrations
            if r.registered_on <= month_end
            and ours(r.client_ref, r.responsible, month_end)
            and not _placed_by(started_by_intake.get(r.intake_id), month_end)
        ]
        ready_days = []
        for p in facts.placements:
            open_at_end = p.start_date and p.start_date <= month_end and (p.end_date is None or p.end_date > month_end)
            if not open_at_end or not ours(p.client_ref, p.responsible, month_end):
                continue
            ready_since = _ready_since(assessments_by_placement.get(p.placement_id, []), month_end)
            if ready_since is not None:
                ready_days.append((month_end - ready_since).days)
        transfers = [t for t in facts.transfers if first <= t.effective_on < last]
        result[month] = {
            "registrations": len(registrations),
            "inflow": len(started),
            "outflow": len(outflows),
            "ended_other": len([p for p in ended if p.placement_id not in out_by_placement]),
            "relapses": len(relapses),
            "transfers_in": len([t for t in transfers if t.to_municipality == municipality]),
            "transfers_out": len([t for t in transfers if t.from_municipality == municipality]),
            "waiting_at_end": len(waiting),
            "ready_not_housed_at_end": len(ready_days),
            "waiting_days_median": _median([p.waited_days for p in started if p.waited_days is not None]),
            "waiting_days_p90": _p90([p.waited_days for p in started if p.waited_days is not None]),
            "stay_days_median": _median(
                [(p.end_date - p.start_date).days for p in ended if p.start_date and p.end_date]
            ),
            "ready_not_housed_days_median": _median(ready_days),
        }
    return result


def other_endings_by_reason(facts: Facts, municipality: str, start: Month, end: Month) -> dict[Month, dict[str, int]]:
    """Placements of the municipality's clients that ended without an outflow home, per month and WMO588
    reason code (the `ended_other` column, broken down)."""
    who = Responsibility(facts.transfers)
    housed = {o.placement_id for o in facts.outflows}
    result: dict[Month, dict[str, int]] = {}
    for month in months_between(start, end):
        first, last = month.first_day(), month.next().first_day()
        reasons = Counter(
            p.end_reason or "unknown"
            for p in facts.placements
            if p.end_date
            and first <= p.end_date < last
            and p.placement_id not in housed
            and who.on(p.client_ref, p.responsible, p.end_date) == municipality
        )
        result[month] = dict(sorted(reasons.items()))
    return result


def _placed_by(start: date | None, day: date) -> bool:
    return start is not None and start <= day


def _ready_since(assessments: list[Assessment], day: date) -> date | None:
    """The first day of the unbroken run of ready assessments that holds on `day`; None if not ready then."""
    since = None
    for a in assessments:
        if a.assessed_on > day:
            break
        since = (since or a.assessed_on) if a.ready else None
    return since


def totals(months: dict[Month, dict[str, float | int | None]]) -> dict[str, int]:
    """Counts add up over the period; states are those at its end."""
    if not months:
        return dict.fromkeys(COUNT_COLUMNS + STATE_COLUMNS, 0)
    last = months[max(months)]
    summed = {c: int(sum(m[c] or 0 for m in months.values())) for c in COUNT_COLUMNS}
    return summed | {c: int(last[c] or 0) for c in STATE_COLUMNS}


def region_matrix(facts: Facts, start: Month, end: Month) -> dict[tuple[str, str], int]:
    """Placements started in the period: responsible municipality x municipality of the facility."""
    who = Responsibility(facts.transfers)
    first, last = start.first_day(), end.next().first_day()
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for p in facts.placements:
        if p.start_date and first <= p.start_date < last and p.facility_municipality:
            cells[(who.on(p.client_ref, p.responsible, p.start_date), p.facility_municipality)] += 1
    return dict(cells)
