"""What one client adds to the report cells reporting keeps (per municipality, month, column, care form): pure.

Every figure of a flow report and of the matrix is a sum over clients: a client's tallies depend on that
client's facts only (responsibility with its transfers, relapses, states at a month's end). So the kept cells are
the sums of `contributions` over clients, and a batch of events changes them by new minus old contributions of
the clients it touches. The rules are flows.py's `_Ledger` and solidarity.py's, applied to one client's facts.

States (who waits or is ready at a month's end) are kept up to `horizon`, the current month; a client whose story
has ended (nothing waiting or in place after its last fact) has none after the month of its last fact. The
matrix keeps client-days of closed months only (before `horizon`), so they do not depend on the day asked.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.disclosure import _client_key, flow_cell, shown_count, shown_days, shown_stock
from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, Tally, _Ledger
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.responsibility import Responsibility

# The measures' days kept as histograms: a median or p90 is worked out from them.
DAYS_COLUMNS = ("waiting_days", "stay_days", "waiting_at_end", "ready_not_housed_at_end")
COUNTED = frozenset(COUNT_COLUMNS + STATE_COLUMNS)
STOCKS = frozenset(STATE_COLUMNS)
MATRIX_PARTS = ("placements", "inflow", "client_days", "stayed_keys")

# A month in a key is its first day (a date hashes and compares in C: millions of keys in a rebuild).
CellKey = tuple[str, date, str, str, str]  # municipality, month, column, care form ("" none), detail ("" none)
DaysKey = tuple[str, date, str, str, int]  # municipality, month, column, care form, days
MatrixKey = tuple[str, str, date, str, str]  # responsible, facility municipality, month, care form, part


@dataclass
class Contributions:
    """Sums over some clients: tallies per base cell, per stock cell the sum of its clients' keys (the coin of a
    stock is additive, domain/disclosure.py), the measures' days, the matrix's parts, and how often a
    municipality is named as responsible (the report lists those outside the region)."""

    cells: Counter[CellKey] = field(default_factory=Counter)
    keys: Counter[CellKey] = field(default_factory=Counter)
    days: Counter[DaysKey] = field(default_factory=Counter)
    matrix: Counter[MatrixKey] = field(default_factory=Counter)
    named: Counter[str] = field(default_factory=Counter)

    def add(self, other: "Contributions") -> None:
        for part in ("cells", "keys", "days", "matrix", "named"):
            getattr(self, part).update(getattr(other, part))

    def minus(self, old: "Contributions") -> "Contributions":
        """What turns `old` into these: signed, without the parts that stay the same."""
        delta = Contributions()
        for part in ("cells", "keys", "days", "matrix", "named"):
            changed: Counter[object] = Counter(getattr(self, part))
            changed.subtract(getattr(old, part))
            getattr(delta, part).update({k: v for k, v in changed.items() if v})
        return delta

    def is_empty(self) -> bool:
        return not (self.cells or self.keys or self.days or self.matrix or self.named)


def _dates(facts: Facts) -> list[date]:
    found = [r.registered_on for r in facts.registrations] + [w.withdrawn_on for w in facts.withdrawals]
    found += [d for p in facts.placements for d in (p.start_date, p.end_date) if d is not None]
    found += [o.outflow_date for o in facts.outflows] + [a.assessed_on for a in facts.assessments]
    found += [t.effective_on for t in facts.transfers] + [c.recorded_on for c in facts.consents]
    return found


def responsible_named(facts: Facts) -> list[str]:
    """The municipalities a report of these facts can concern: responsible on a fact, or a transfer's side."""
    named = [r.responsible for r in facts.registrations] + [p.responsible for p in facts.placements]
    named += [o.responsible for o in facts.outflows] + [w.responsible for w in facts.withdrawals]
    named += [t.to_municipality for t in facts.transfers] + [t.from_municipality for t in facts.transfers]
    return sorted(set(named))


def _listed(facts: Facts) -> Counter[str]:
    """The facts that make a municipality one the region report lists as responsible (registrations,
    placements, transfers to it, withdrawals)."""
    named = Counter(r.responsible for r in facts.registrations)
    named.update(p.responsible for p in facts.placements)
    named.update(t.to_municipality for t in facts.transfers)
    named.update(w.responsible for w in facts.withdrawals)
    return named


def state_months(ledger: _Ledger, first: date, last: date, horizon: Month) -> list[Month]:
    """The months whose end states can hold this client: from its first fact up to the month of its last, or
    up to `horizon` while it is still waiting or in place after its last fact (states stay the same after it)."""
    start, end = Month.of(first), Month.of(last)
    if end >= horizon or ledger.states(end.last_day()):
        end = horizon
    return months_between(start, end)


def _tally(out: Contributions, municipality: str, month: date, t: Tally, secret: bytes) -> None:
    form, detail = t.care_form or "", t.detail or ""
    if t.column in COUNTED:
        key = (municipality, month, t.column, form, detail)
        out.cells[key] += 1
        if t.column in STOCKS:
            out.keys[key] += _client_key(secret, t.who or "")
    if t.column in DAYS_COLUMNS and t.days is not None:
        out.days[(municipality, month, t.column, form, t.days)] += 1


def _flows(facts: Facts, region: Region, horizon: Month, secret: bytes, out: Contributions) -> None:
    dates = _dates(facts)
    if not dates:
        return
    first, last = min(dates), max(dates)
    for municipality in responsible_named(facts):
        ledger = _Ledger(facts, municipality, region.reporting.relapse_months)
        for t in ledger.dated:
            _tally(out, municipality, t.on.replace(day=1), t, secret)
        for month in state_months(ledger, first, last, horizon):
            first_day = month.first_day()
            for t in ledger.states(month.last_day()):
                _tally(out, municipality, first_day, t, secret)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _matrix(facts: Facts, horizon: Month, secret: bytes, out: Contributions) -> None:
    """solidarity.monthly_matrix for one client: placements started in any month; client-days of closed months."""
    who = Responsibility(facts.transfers, facts.registrations)
    closed_until = horizon.first_day()
    for p in facts.placements:
        if not p.facility_municipality or p.start_date is None:
            continue
        form, facility, month = p.care_form or "", p.facility_municipality, p.start_date.replace(day=1)
        at_start = who.on(p.client_ref, p.intake_id, p.responsible, p.start_date)
        out.matrix[(at_start, facility, month, form, "placements")] += 1
        out.matrix[(at_start, facility, month, form, "inflow")] += p.doorstroom_from is None
        stayed = _client_key(secret, p.client_ref)
        until = min(p.end_date, closed_until) if p.end_date else closed_until
        while month < until:
            after = _next_month(month)
            if facts.transfers:
                runs = list(who.runs(p, month, after))
            else:  # the one municipality recorded on it: the nights of the month, without asking per run
                nights = (min(p.end_date or after, after) - max(p.start_date, month)).days
                runs = [(p.responsible, nights)] if nights > 0 else []
            for municipality, nights in runs:
                out.matrix[(municipality, facility, month, form, "client_days")] += nights
                out.matrix[(municipality, facility, month, form, "stayed_keys")] += stayed
            month = after


def open_after(facts: Facts, horizon: Month) -> bool:
    """Whether a client's kept cells change when the horizon passes `horizon`: a registration neither placed nor
    withdrawn (it waits on), a placement not ended before the horizon's month (its nights of that month count
    once it has closed), or a fact dated after it. A rollover recomputes these clients only (projections/kept.py
    asks the same in SQL)."""
    placed = {p.intake_id for p in facts.placements if p.start_date is not None}
    withdrawn = {w.intake_id for w in facts.withdrawals}
    if any(r.intake_id not in placed and r.intake_id not in withdrawn for r in facts.registrations):
        return True
    first, last = horizon.first_day(), horizon.last_day()
    if any(p.start_date is not None and (p.end_date is None or p.end_date >= first) for p in facts.placements):
        return True
    return any(d > last for d in _dates(facts))


def contributions(facts: Facts, region: Region, horizon: Month, secret: bytes) -> Contributions:
    """What the facts of ONE client add to every kept cell, with states up to `horizon`."""
    out = Contributions()
    out.named.update(_listed(facts))
    _flows(facts, region, horizon, secret, out)
    _matrix(facts, horizon, secret, out)
    out.matrix = Counter({k: v for k, v in out.matrix.items() if v})
    return out


def by_client(facts: Facts) -> dict[str, Facts]:
    """The facts split per client (assessments follow their placement's client)."""
    split: dict[str, Facts] = {}

    def of(client_ref: str) -> Facts:
        return split.setdefault(client_ref, Facts())

    client_of = {p.placement_id: p.client_ref for p in facts.placements}
    for r in facts.registrations:
        of(r.client_ref).registrations.append(r)
    for p in facts.placements:
        of(p.client_ref).placements.append(p)
    for o in facts.outflows:
        of(o.client_ref).outflows.append(o)
    for a in facts.assessments:
        if a.placement_id in client_of:
            of(client_of[a.placement_id]).assessments.append(a)
    for t in facts.transfers:
        of(t.client_ref).transfers.append(t)
    for w in facts.withdrawals:
        of(w.client_ref).withdrawals.append(w)
    for c in facts.consents:
        of(c.client_ref).consents.append(c)
    return split


def summed(clients: Iterable[Facts], region: Region, horizon: Month, secret: bytes) -> Contributions:
    total = Contributions()
    for facts in clients:
        total.add(contributions(facts, region, horizon, secret))
    return total


def shown_cell(secret: bytes, key: CellKey, n: int, client_keys: int) -> int:
    """A kept base cell as a protected viewer sees it: an event count rounded on its identity, a stock on the
    sum of its clients' keys (domain/disclosure.py, `_rounded`)."""
    municipality, month, column, form, detail = key
    if column in STOCKS:
        return shown_stock(secret, (column, municipality, form, detail), n, client_keys)
    tally = Tally(column, month, form or None, detail=detail or None)
    return shown_count(secret, flow_cell(municipality, Month.of(month), tally), n)


def shown_matrix(
    secret: bytes, key: tuple[str, str, date, str], placements: int, inflow: int, client_days: int, stayed_keys: int
) -> tuple[int, int, int]:
    """A kept matrix cell as a protected viewer sees it: first placements (in the inflow's cell), onward
    placements (doorstroom), and client-days rounded on who stayed (disclosure.protect_matrix)."""
    responsible, facility, first_day, form = key
    month = str(Month.of(first_day))
    first = shown_count(secret, ("inflow", responsible, month, form, facility), inflow)
    onward = shown_count(secret, ("placement_doorstroom", responsible, month, form, facility), placements - inflow)
    days = shown_days(secret, ("matrix", responsible, facility, form), client_days, stayed_keys)
    return first, onward, days
