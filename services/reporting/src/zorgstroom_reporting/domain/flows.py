"""Monthly flows of one municipality from the facts of the flow (docs/domain.md, "What the region wants
to see"), in total, per care-form group (BW, MO) and per care form.

Each fact becomes a tally: counted in one column, on its business date, under its care form. Events count
in the month of that date; `*_at_end` are states on the last day of a month. The responsible municipality
of a fact is the one recorded on it unless a transfer of its episode took effect on or before the day that
counts. Doorstroom (rule 10) is counted apart from inflow, outflow and other endings.
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.consent import consents_on
from zorgstroom_reporting.domain.facts import Assessment, Consent, Facts, Registration, Transfer
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.relapse import relapses
from zorgstroom_reporting.domain.responsibility import Responsibility

COUNT_COLUMNS = (
    "registrations", "inflow", "doorstroom", "outflow", "ended_other", "relapses", "withdrawals",
    "transfers_in", "transfers_out",
)  # fmt: skip
# Ready clients without consent to share (rule 14) wait for no home: counted apart, never as ready-not-housed.
STATE_COLUMNS = ("waiting_at_end", "ready_not_housed_at_end", "ready_no_consent_at_end")
MEASURE_COLUMNS = (
    "waiting_days_median", "waiting_days_p90", "waiting_now_days_median", "waiting_now_days_p90",
    "stay_days_median", "ready_not_housed_days_median",
)  # fmt: skip

Row = dict[str, float | int | None]


@dataclass(frozen=True)
class Tally:
    """One fact of a municipality's report: its column, the day it counts, its care form, and for a measure
    the days; `detail` is the WMO588 reason of an other ending, the care-form pair of a doorstroom, the
    facility's municipality of an inflow, or the other municipality of a transfer: the grain that reports
    which split these counts share (the matrix, the other side of a transfer) count them at."""

    column: str
    on: date
    care_form: str | None
    days: int | None = None
    detail: str | None = None
    who: str | None = None  # a state's client: a stock is rounded on who is in it (domain/disclosure.py)


@dataclass
class Flows:
    """One month's (or a period's) figures: in total, per group and care form, and two breakdowns."""

    total: Row
    by_group: dict[str, Row] = field(default_factory=dict)
    by_care_form: dict[str, Row] = field(default_factory=dict)
    ended_other_by_reason: dict[str, int] = field(default_factory=dict)
    doorstroom_by_pair: dict[str, int] = field(default_factory=dict)


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _p90(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, -(-9 * len(ordered) // 10) - 1))])  # nearest rank


def _ready_since(assessments: list[Assessment], day: date) -> date | None:
    """The first day of the unbroken run of ready assessments that holds on `day`; None if not ready then."""
    since = None
    for a in assessments:
        if a.assessed_on > day:
            break
        since = (since or a.assessed_on) if a.ready else None
    return since


class _Ledger:
    """The facts of one municipality's report as tallies, with what the states at a month's end need."""

    def __init__(self, facts: Facts, municipality: str, relapse_months: int) -> None:
        self.facts, self.municipality = facts, municipality
        self.who = Responsibility(facts.transfers, facts.registrations)
        self.started_by_intake = {p.intake_id: p.start_date for p in facts.placements if p.intake_id and p.start_date}
        self.withdrawn_on = {w.intake_id: w.withdrawn_on for w in facts.withdrawals}
        self.registered: dict[str, list[Registration]] = defaultdict(list)
        for r in sorted(facts.registrations, key=lambda r: (r.registered_on, r.intake_id)):
            self.registered[r.client_ref].append(r)
        self.consents: dict[str, list[Consent]] = defaultdict(list)
        for c in facts.consents:
            self.consents[c.client_ref].append(c)
        self.assessments: dict[str, list[Assessment]] = defaultdict(list)
        for a in sorted(facts.assessments, key=lambda a: a.order):
            self.assessments[a.placement_id].append(a)
        self.dated = self._dated(relapse_months)

    def ours(self, client_ref: str, intake_id: str | None, recorded: str, day: date) -> bool:
        return self.who.on(client_ref, intake_id, recorded, day) == self.municipality

    def _dated(self, relapse_months: int) -> list[Tally]:
        f, ours = self.facts, self.ours
        tallies = [Tally("registrations", r.registered_on, r.care_form) for r in f.registrations
                   if ours(r.client_ref, r.intake_id, r.responsible, r.registered_on)]  # fmt: skip
        tallies += [Tally("withdrawals", w.withdrawn_on, w.care_form) for w in f.withdrawals
                    if ours(w.client_ref, w.intake_id, w.responsible, w.withdrawn_on)]  # fmt: skip
        housed = {o.placement_id for o in f.outflows}
        placements = {p.placement_id: p for p in f.placements}
        for p in f.placements:
            if p.start_date and ours(p.client_ref, p.intake_id, p.responsible, p.start_date):
                if p.doorstroom_from is None:
                    tallies.append(Tally("inflow", p.start_date, p.care_form, detail=p.facility_municipality))
                tallies.append(Tally("waiting_days", p.start_date, p.care_form, days=p.waited_days))
            if p.end_date and ours(p.client_ref, p.intake_id, p.responsible, p.end_date):
                if p.doorstroom_to:
                    pair = f"{p.care_form or 'unknown'}->{p.doorstroom_to}"
                    tallies.append(Tally("doorstroom", p.end_date, p.care_form, detail=pair))
                elif p.placement_id not in housed:
                    tallies.append(Tally("ended_other", p.end_date, p.care_form, detail=p.end_reason or "unknown"))
                stay = (p.end_date - p.start_date).days if p.start_date else None
                tallies.append(Tally("stay_days", p.end_date, p.care_form, days=stay))
        for o in f.outflows:
            placement = placements.get(o.placement_id)
            intake, form = (placement.intake_id, placement.care_form) if placement else (None, None)
            if ours(o.client_ref, intake, o.responsible, o.outflow_date):
                tallies.append(Tally("outflow", o.outflow_date, form))
        tallies += [Tally("relapses", r.registration.registered_on, r.registration.care_form)
                    for r in relapses(f, relapse_months, self.who) if r.municipality == self.municipality]  # fmt: skip
        for t in f.transfers:
            form = self._episode_care_form(t)
            if t.to_municipality == self.municipality:
                tallies.append(Tally("transfers_in", t.effective_on, form, detail=t.from_municipality))
            if t.from_municipality == self.municipality:
                tallies.append(Tally("transfers_out", t.effective_on, form, detail=t.to_municipality))
        return tallies

    def _episode_care_form(self, t: Transfer) -> str | None:
        """A transfer counts under the care form of the first registration of its episode."""
        episode = [r.care_form for r in self.registered.get(t.client_ref, ()) if self.who.applies(t, r.intake_id)]
        return episode[0] if episode else None

    def states(self, day: date) -> list[Tally]:
        """Who waits, and who is ready but not housed (apart: ready without consent to share), at the end of
        `day`, with for how long."""
        tallies = []
        for r in self.facts.registrations:
            placed, withdrawn = self.started_by_intake.get(r.intake_id), self.withdrawn_on.get(r.intake_id)
            if (
                r.registered_on <= day
                and (placed is None or placed > day)
                and (withdrawn is None or withdrawn > day)
                and not self.who.left_region(r.client_ref, r.intake_id, day)
                and self.ours(r.client_ref, r.intake_id, r.responsible, day)
            ):
                tallies.append(
                    Tally("waiting_at_end", day, r.care_form, days=(day - r.registered_on).days, who=r.client_ref)
                )
        for p in self.facts.placements:
            open_at_end = p.start_date and p.start_date <= day and (p.end_date is None or p.end_date > day)
            if not open_at_end or not self.ours(p.client_ref, p.intake_id, p.responsible, day):
                continue
            ready_since = _ready_since(self.assessments.get(p.placement_id, []), day)
            if ready_since is None:
                continue
            shares = consents_on(self.registered.get(p.client_ref, ()), self.consents.get(p.client_ref, ()), day)
            column = "ready_not_housed_at_end" if shares else "ready_no_consent_at_end"
            tallies.append(Tally(column, day, p.care_form, days=(day - ready_since).days, who=p.client_ref))
        return tallies


def _row(tallies: list[Tally], min_clients: int = 0) -> Row:
    """The counts of some tallies, and their measures where at least `min_clients` clients are behind them."""
    counted = Counter(t.column for t in tallies)

    def days(column: str) -> list[int]:
        found = [t.days for t in tallies if t.column == column and t.days is not None]
        return found if len(found) >= min_clients else []

    return {c: counted[c] for c in COUNT_COLUMNS + STATE_COLUMNS} | {
        "waiting_days_median": _median(days("waiting_days")),
        "waiting_days_p90": _p90(days("waiting_days")),
        "waiting_now_days_median": _median(days("waiting_at_end")),
        "waiting_now_days_p90": _p90(days("waiting_at_end")),
        "stay_days_median": _median(days("stay_days")),
        "ready_not_housed_days_median": _median(days("ready_not_housed_at_end")),
    }


def _details(tallies: list[Tally], column: str) -> dict[str, int]:
    return dict(sorted(Counter(t.detail or "unknown" for t in tallies if t.column == column).items()))


def split(tallies: list[Tally], region: Region, min_clients: int = 0) -> Flows:
    """The figures of some tallies: in total, per care-form group and per care form of the region. A fact
    whose care form is unknown (an ending that arrived before its placement) counts in the total only.
    A measure of fewer than `min_clients` clients is None."""
    in_group: Callable[[str | None, str], bool] = lambda form, group: (  # noqa: E731
        form is not None and region.has_care_form(form) and region.care_form(form).group == group
    )
    return Flows(
        total=_row(tallies, min_clients),
        by_group={g: _row([t for t in tallies if in_group(t.care_form, g)], min_clients) for g in ("BW", "MO")},
        by_care_form={c: _row([t for t in tallies if t.care_form == c], min_clients) for c in region.care_forms},
        ended_other_by_reason=_details(tallies, "ended_other"),
        doorstroom_by_pair=_details(tallies, "doorstroom"),
    )


def monthly_tallies(
    facts: Facts, municipality: str, start: Month, end: Month, region: Region
) -> dict[Month, list[Tally]]:
    """The tallies of each month of the period: the facts dated in it and the states at its end."""
    ledger = _Ledger(facts, municipality, region.reporting.relapse_months)
    result = {}
    for month in months_between(start, end):
        first, last = month.first_day(), month.last_day()
        result[month] = [t for t in ledger.dated if first <= t.on <= last] + ledger.states(last)
    return result


def monthly_flows(facts: Facts, municipality: str, start: Month, end: Month, region: Region) -> dict[Month, Flows]:
    """Every figure of the flow report for each month of the period."""
    return {m: split(t, region) for m, t in monthly_tallies(facts, municipality, start, end, region).items()}


def _sum(rows: list[Row]) -> Row:
    """Counts add up over the period; states are those at its end; measures are monthly only."""
    if not rows:
        return {c: 0 for c in COUNT_COLUMNS + STATE_COLUMNS}
    summed: Row = {c: int(sum(r[c] or 0 for r in rows)) for c in COUNT_COLUMNS}
    return summed | {c: int(rows[-1][c] or 0) for c in STATE_COLUMNS}


def totals(months: dict[Month, Flows]) -> Flows:
    ordered = [months[m] for m in sorted(months)]

    def summed(pick: Callable[[Flows], dict[str, int]]) -> dict[str, int]:
        counter: Counter[str] = Counter()
        for f in ordered:
            counter.update(pick(f))
        return dict(sorted(counter.items()))

    keys = ordered[0] if ordered else Flows(total={})
    return Flows(
        total=_sum([f.total for f in ordered]),
        by_group={g: _sum([f.by_group[g] for f in ordered]) for g in keys.by_group},
        by_care_form={c: _sum([f.by_care_form[c] for f in ordered]) for c in keys.by_care_form},
        ended_other_by_reason=summed(lambda f: f.ended_other_by_reason),
        doorstroom_by_pair=summed(lambda f: f.doorstroom_by_pair),
    )
