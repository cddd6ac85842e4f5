"""Regional solidarity: whose clients are placed in which municipality's facilities, as placements started
and as client-days (docs/domain.md, goal 2: "the solidarity matrix in client-days")."""

from dataclasses import dataclass, field
from datetime import date

from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.responsibility import Responsibility


@dataclass
class Cell:
    placements: int = 0  # started in the period
    client_days: int = 0  # nights in a place in the period; an open stay's up to the day before `until`
    inflow: int = 0  # of the placements, those that are not a doorstroom (the flow report's inflow)
    stayed: list[str] = field(default_factory=list)  # the clients behind the client-days, one per stay


# (responsible municipality, facility municipality, month, care form): the grain the matrix is published from
MonthCell = tuple[str, str, Month, str | None]


def monthly_matrix(facts: Facts, start: Month, end: Month, until: date) -> dict[MonthCell, Cell]:
    """The matrix per month and care form: the base cells a protected matrix is rounded from."""
    who = Responsibility(facts.transfers, facts.registrations)
    cells: dict[MonthCell, Cell] = {}
    for p in facts.placements:
        if not p.facility_municipality or p.start_date is None:
            continue
        for month in months_between(start, end):
            first, after = month.first_day(), month.next().first_day()
            if first <= p.start_date < after:
                at_start = who.on(p.client_ref, p.intake_id, p.responsible, p.start_date)
                cell = cells.setdefault((at_start, p.facility_municipality, month, p.care_form), Cell())
                cell.placements += 1
                cell.inflow += p.doorstroom_from is None
            counted_to = after if p.end_date else min(after, until)
            for municipality, nights in who.runs(p, first, counted_to):
                stay = cells.setdefault((municipality, p.facility_municipality, month, p.care_form), Cell())
                stay.client_days += nights
                stay.stayed.append(p.client_ref)
    return cells


def region_matrix(facts: Facts, start: Month, end: Month, until: date) -> dict[tuple[str, str], Cell]:
    """Per responsible municipality (in the region or elsewhere) x facility municipality. Client-days of an
    open stay count only the nights before `until`: the matrix shows what happened, not a projection."""
    who = Responsibility(facts.transfers, facts.registrations)
    first, after = start.first_day(), end.next().first_day()
    cells: dict[tuple[str, str], Cell] = {}
    for p in facts.placements:
        if not p.facility_municipality or p.start_date is None:
            continue
        if first <= p.start_date < after:
            at_start = who.on(p.client_ref, p.intake_id, p.responsible, p.start_date)
            cells.setdefault((at_start, p.facility_municipality), Cell()).placements += 1
        counted_to = after if p.end_date else min(after, until)  # an open stay: the nights passed so far
        for municipality, nights in who.runs(p, first, counted_to):
            cells.setdefault((municipality, p.facility_municipality), Cell()).client_days += nights
    return dict(sorted(cells.items()))
