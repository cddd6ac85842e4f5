"""Small numbers (policy): every figure a viewer other than the responsible municipality sees is built from
base cells rounded at random, without bias, to a base, consistently across reports; pure, no I/O.

A base cell is a count at its finest published grain, e.g. (municipality, month, care form, column, detail).
Each is rounded once, with a coin of its own: x = 5q + r shows as 5q, or 5q + 5 when u < r/5. For an event
count (registrations in a month) u comes from an HMAC of the cell's identity under reporting's own key. For a
stock (who waits or is in place at a month's end, a facility's occupancy, a wijk's outflow homes) and for
client-days, u comes from the clients in the cell instead of its date (the cell-key method of statistical
offices): each client has a secret key in [0, 1) and the coin is the sum of the keys of the cell's clients
mod 1. The same people then give the same answer in every month and on every day, so asking about month
after month of a stable population gives one value, not a fresh coin to average. Every shown aggregate
(group, total, period, region, breakdown, marginal) is the sum of the rounded cells it covers, so the
published tables add up, and the published table is itself an explanation of everything shown: no cell of
1-4 can be worked out from them. Measures (medians, p90) are shown only when enough clients are behind them.
Client-days are shown only for closed months; the open month and the rest of the year are a projection from
the rounded number of clients in place on its first day.
"""

import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

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


@lru_cache(maxsize=8)
def _keyed(secret: bytes) -> "hmac.HMAC":
    """The HMAC keyed once: a copy per cell skips the key's setup (a rebuild rounds millions of cells)."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def _key(secret: bytes, identity: tuple[object, ...]) -> int:
    """64 secret bits fixed by the secret and an identity."""
    message = "\x1f".join("" if part is None else str(part) for part in identity).encode()
    mac = _keyed(secret).copy()
    mac.update(message)
    return int.from_bytes(mac.digest()[:8], "big")


@lru_cache(maxsize=1 << 16)
def _client_key(secret: bytes, client_ref: str) -> int:
    return _key(secret, ("client", client_ref))


def coin(secret: bytes, identity: Iterable[object]) -> float:
    """A number in [0, 1) fixed by the secret and a base cell's identity."""
    return _key(secret, tuple(identity)) / 2**64


def cell_key(secret: bytes, identity: Iterable[object], clients: Iterable[str]) -> float:
    """A number in [0, 1) fixed by the secret, a cell's identity without its date, and the clients in it: the
    cell's own key plus each client's key, mod 1. One more or one fewer client gives an unrelated coin."""
    total = _key(secret, tuple(identity)) + sum(_client_key(secret, c) for c in clients)
    return (total % 2**64) / 2**64


def _cell_coin(secret: bytes, identity: tuple[object, ...], client_keys: int) -> float:
    """cell_key's coin from the sum of the clients' keys (kept beside a stock cell, reporting's aggregates)."""
    return ((_key(secret, identity) + client_keys) % 2**64) / 2**64


# A multiple of the base shows as it is whatever the coin: those cells (most of them 0) skip the HMAC.
def shown_count(secret: bytes, identity: tuple[object, ...], value: int) -> int:
    """An event count's base cell as a protected viewer sees it (Rounding.count)."""
    return value if value % BASE == 0 else round_cell(value, coin(secret, identity))


def shown_stock(secret: bytes, identity: tuple[object, ...], value: int, client_keys: int) -> int:
    """A stock's base cell as a protected viewer sees it (Rounding.stock), from the sum of its clients' keys."""
    return value if value % BASE == 0 else round_cell(value, _cell_coin(secret, identity, client_keys))


def shown_days(secret: bytes, identity: tuple[object, ...], value: int, client_keys: int) -> int:
    """A cell's client-days as a protected viewer sees them (Rounding.days), from the sum of its stays' keys."""
    if value % DAYS_BASE == 0:
        return value
    return round_cell(value, _cell_coin(secret, ("days", *identity), client_keys), DAYS_BASE)


@dataclass(frozen=True)
class Rounding:
    """How figures are shown to one viewer: exact (its own), or base cells rounded under `secret`."""

    secret: bytes
    exact: bool = False

    def count(self, identity: tuple[object, ...], value: int) -> int:
        return value if self.exact else round_cell(value, coin(self.secret, identity))

    def stock(self, identity: tuple[object, ...], clients: Sequence[str]) -> int:
        """How many `clients` a stock cell holds, rounded on the clients rather than the day (`identity` names
        no date), so the same people show the same figure on every day they are there."""
        value = len(clients)
        return value if self.exact else round_cell(value, cell_key(self.secret, identity, clients))

    def days(self, identity: tuple[object, ...], value: int, clients: Sequence[str]) -> int:
        """Nights of `clients` in a cell whose `identity` names no date, rounded to DAYS_BASE."""
        if self.exact:
            return value
        return round_cell(value, cell_key(self.secret, ("days", *identity), clients), DAYS_BASE)

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
            f"may be 1-{2 * BASE - 1}; a median or p90 of fewer than {threshold} clients is null; client-days "
            f"are rounded to {DAYS_BASE} and shown for closed months only",
        }


def flow_cell(municipality: str, month: Month, tally: Tally) -> tuple[object, ...]:
    """The identity of the base cell a tally counts in. Both sides of a transfer name one cell, and so do an
    inflow and the matrix's first placements: the published figures keep the identities the true ones have."""
    if tally.column == "transfers_in":
        return ("transfer", str(month), tally.care_form, tally.detail, municipality)
    if tally.column == "transfers_out":
        return ("transfer", str(month), tally.care_form, municipality, tally.detail)
    return (tally.column, municipality, str(month), tally.care_form, tally.detail)


def stock_cell(municipality: str, tally: Tally) -> tuple[object, ...]:
    """The identity of a stock's base cell without its month: its clients fix the coin, not its date."""
    return (tally.column, municipality, tally.care_form, tally.detail)


def _with_measures(row: Row, measured: Row) -> Row:
    return row | {c: measured[c] for c in MEASURE_COLUMNS}


def _rounded(tallies: list[Tally], municipality: str, month: Month, rounding: Rounding) -> list[Tally]:
    """One tally for each unit a base cell of the month shows after rounding."""
    events: Counter[tuple[str, str | None, str | None]] = Counter(
        (t.column, t.care_form, t.detail) for t in tallies if t.column in COUNT_COLUMNS
    )
    stocks: dict[tuple[str, str | None, str | None], list[str]] = defaultdict(list)
    for t in tallies:
        if t.column in STATE_COLUMNS:
            stocks[(t.column, t.care_form, t.detail)].append(t.who or "")
    first, shown = month.first_day(), []
    for (column, form, detail), n in events.items():
        tally = Tally(column, first, form, detail=detail)
        shown += [tally] * rounding.count(flow_cell(municipality, month, tally), n)
    for (column, form, detail), clients in stocks.items():
        tally = Tally(column, first, form, detail=detail)
        shown += [tally] * rounding.stock(stock_cell(municipality, tally), clients)
    return shown


def protect_month(
    tallies: list[Tally], municipality: str, month: Month, rounding: Rounding, region: Region, threshold: int
) -> Flows:
    """One month's figures as a viewer sees them: each base cell rounded, every count the sum of those
    cells, and each measure of the true tallies only when `threshold` clients or more are behind it."""
    if rounding.exact:
        return split(tallies, region)
    shown = split(_rounded(tallies, municipality, month, rounding), region)
    measured = split(tallies, region, min_clients=threshold)
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


def _shown_days(key: MonthCell, cell: Cell, rounding: Rounding) -> int:
    """A month's client-days of one matrix cell, rounded on the clients who stayed (not on the month)."""
    responsible, facility, _, form = key
    return rounding.days(("matrix", responsible, facility, form), cell.client_days, cell.stayed)


def protect_matrix(cells: dict[MonthCell, Cell], rounding: Rounding, open_month: Month) -> dict[tuple[str, str], Cell]:
    """The matrix of a period from its monthly base cells: first placements round in the very cell of the flow
    report's inflow, so the matrix and inflow keep their identity; client-days round to DAYS_BASE and count
    only for months before `open_month` (the current one): an open month's days grow by the number of clients
    every night, and watching a rounded figure grow gives that number away. A pair whose figures all round
    to 0 is left out, as a pair without placements is."""
    matrix: dict[tuple[str, str], Cell] = {}
    for key, cell in cells.items():
        responsible, facility, month, form = key
        shown = matrix.setdefault((responsible, facility), Cell())
        first = rounding.count(("inflow", responsible, str(month), form, facility), cell.inflow)
        onward = rounding.count(
            ("placement_doorstroom", responsible, str(month), form, facility), cell.placements - cell.inflow
        )
        shown.placements += first + onward
        shown.inflow += first
        shown.client_days += _shown_days(key, cell, rounding) if month < open_month else 0
    return {k: c for k, c in sorted(matrix.items()) if c.placements or c.client_days}


def protect_days(
    cells: dict[MonthCell, Cell], in_place: dict[tuple[str, str], list[str]], year: int, cut: date, rounding: Rounding
) -> dict[str, ClientDays]:
    """Each municipality's nights of `year` per care form as a protected viewer sees them, as of `cut` (the first
    day of the current month): realised, the sum of the matrix's rounded day cells of the months before `cut`;
    projected, the rounded number of clients in place the night before `cut` (`in_place`, per municipality and
    care form) times the nights from `cut` to the year's end. No figure moves between two first days of a
    month, and none is worked out from an exact number of clients."""
    realised: dict[str, Counter[str]] = defaultdict(Counter)
    for key, cell in cells.items():
        responsible, _, month, form = key
        if form is not None and month.year == year and month.first_day() < cut:
            realised[responsible][form] += _shown_days(key, cell, rounding)
    nights = max(0, (date(year + 1, 1, 1) - max(cut, date(year, 1, 1))).days)
    projected: dict[str, Counter[str]] = defaultdict(Counter)
    for (municipality, form), clients in in_place.items():
        if nights:
            projected[municipality][form] += rounding.stock(("in_place", municipality, form), clients) * nights
    return {
        m: ClientDays(dict(sorted(realised[m].items())), dict(sorted(projected[m].items())))
        for m in sorted(set(realised) | set(projected))
    }
