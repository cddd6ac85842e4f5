"""The attacker (issue 14, section 2): over a year of many small cells in two small municipalities, a viewer
who sees protected figures (region staff, another municipality) collects every answer it can get from
reporting's real HTTP app on real PostgreSQL (every report, every period from one month to the year, JSON and
CSV), tries the derivations the issue lists, then solves integer programs over everything it collected to
pin a base cell of 1-4. It pins none; the same attacker against the old method ("<5" beside exact totals)
pins many. The responsible municipality's own view is exact. Other attackers ask again: about the same
people month after month (waiting, in place, outflow homes), about a month that has not happened, about a
budget day after day, and about another municipality's clients through their own budget's settlement."""

import csv
import io
import itertools
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from tests.integration.test_reporting_numbers import reporting_app
from tests.support.infra import ROOT
from tests.support.stack import Namespace, running
from zorgstroom_reporting.domain.disclosure import flow_cell
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, monthly_tallies
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.solidarity import monthly_matrix
from zorgstroom_reporting.entrypoints import http
from zorgstroom_reporting.projections import kept
from zorgstroom_reporting.queries import places
from zorgstroom_reporting.queries.flows import load_facts
from zorgstroom_runtime.region import load_region

pytestmark = pytest.mark.timeout(1800)

URK, ZEEWOLDE, LELYSTAD, ALMERE = "0184", "0050", "0995", "0034"
SMALL = (URK, ZEEWOLDE)
FORMS = ("BW_24H", "MO_24H")
GROUP = {"BW": "BW_24H", "MO": "MO_24H"}
REASONS = ("19", "21")
PAIR = "MO_24H->BW_24H"
FACILITIES = {  # id -> (municipality, wijk, care form, capacity)
    "urk-bw": (URK, "WK018401", "BW_24H", 6),
    "urk-mo": (URK, "WK018401", "MO_24H", 4),
    "zw-bw": (ZEEWOLDE, "WK005001", "BW_24H", 5),
    "lel-mo": (LELYSTAD, "WK099501", "MO_24H", 8),
}
HOSTS = (URK, ZEEWOLDE, LELYSTAD)
STATUSES = ("accepted", "declined", "lapsed", "open")
YEAR_END = date(2027, 12, 31)
MONTHS = months_between(Month(2027, 1), Month(2027, 12))
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")

Cell = tuple[object, ...]


# --- the data set: 1-4 events per month per care form in Urk and Zeewolde --------------------------------


@dataclass
class DataSet:
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    serial: int = 0

    def next_id(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}{self.serial}"

    def add(self, table: str, *values: Any) -> None:
        self.rows[table].append(values)


TABLES = {
    "registrations": "intake_id, client_ref, registering_municipality, responsible_municipality, care_form,"
    " registered_on, event_id, occurred_at, consent_to_share",
    "placements": "placement_id, intake_id, client_ref, responsible_municipality, facility_id, facility_municipality,"
    " wijk, care_form, start_date, waited_days, end_date, end_reason, doorstroom_from, doorstroom_to",
    "outflows": "placement_id, client_ref, responsible_municipality, municipality, wijk, outflow_date, support_at_home",
    "transfers": "event_id, client_ref, from_municipality, to_municipality, reason, effective_on, transfer_id,"
    " intake_ids, accepted_on, to_in_region",
    "withdrawals": "intake_id, client_ref, responsible_municipality, care_form, reason, withdrawn_on",
    "facilities": "facility_id, provider_agb, municipality, wijk, care_form, capacity, occurred_at",
    "offers": "offer_id, corporation_id, municipality, wijk, quota_year, offered_on, status, answered_on, reason",
    "contingents": "corporation_id, municipality, quota_year, homes, occurred_at",
}
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _within(day: date) -> bool:
    return day <= YEAR_END


def _register(data: DataSet, ref: str, responsible: str, form: str, on: date) -> str:
    intake = data.next_id("i")
    data.add("registrations", intake, ref, responsible, responsible, form, on, uuid.uuid4(), NOW, True)
    return intake


def _place(data: DataSet, rng: random.Random, ref: str, intake: str, who: str, form: str, registered: date,
           start: date, **extra: Any) -> tuple[str, str]:  # fmt: skip
    facility = rng.choice([f for f, v in FACILITIES.items() if v[2] == form])
    host, wijk = FACILITIES[facility][0], FACILITIES[facility][1]
    pid = data.next_id("p")
    row = dict(end_date=None, end_reason=None, doorstroom_from=None, doorstroom_to=None) | extra
    data.add("placements", pid, intake, ref, who, facility, host, wijk, form, start, (start - registered).days,
             row["end_date"], row["end_reason"], row["doorstroom_from"], row["doorstroom_to"])  # fmt: skip
    return pid, facility


def _client(data: DataSet, rng: random.Random, who: str, form: str, registered: date) -> None:
    """One client's path: waits, is withdrawn, transferred, or placed; a placement ends (other reason),
    flows out to a home (sometimes relapsing), moves on from MO to BW (doorstroom), or stays open."""
    ref = uuid.uuid4().hex + uuid.uuid4().hex
    intake = _register(data, ref, who, form, registered)
    fate, later = rng.random(), registered + timedelta(days=rng.randint(3, 40))
    if not _within(later) or fate < 0.15:
        return  # still waiting
    if fate < 0.3:
        data.add("withdrawals", intake, ref, who, form, "duplicate", later)
        return
    if fate < 0.42:
        other = ZEEWOLDE if who == URK else URK
        data.add("transfers", uuid.uuid4(), ref, who, other, "moved", later, data.next_id("t"),
                 json.dumps([intake]), later, True)  # fmt: skip
        return
    end, outcome = later + timedelta(days=rng.randint(10, 60)), rng.random()
    if not _within(end) or outcome < 0.25:
        _place(data, rng, ref, intake, who, form, registered, later)
    elif outcome < 0.55:
        _place(data, rng, ref, intake, who, form, registered, later, end_date=end, end_reason=rng.choice(REASONS))
    elif outcome < 0.75 or form == "BW_24H":
        pid, _ = _place(data, rng, ref, intake, who, form, registered, later, end_date=end, end_reason="housed")
        data.add("outflows", pid, ref, who, who, f"WK{who}01", end, "none")
        again = end + timedelta(days=rng.randint(20, 200))
        if rng.random() < 0.4 and _within(again):
            _register(data, ref, who, form, again)  # a relapse
    else:  # MO, then BW the same day: the BW registration waits while the client is in shelter
        bw_intake = _register(data, ref, who, "BW_24H", later + timedelta(days=2))
        mo, _ = _place(data, rng, ref, intake, who, form, registered, later, end_date=end, doorstroom_to="BW_24H")
        _place(data, rng, ref, bw_intake, who, "BW_24H", later + timedelta(days=2), end, doorstroom_from=mo)


def data_set(seed: int = 14) -> DataSet:
    rng, data = random.Random(seed), DataSet()
    for f, (municipality, wijk, form, capacity) in FACILITIES.items():
        data.add("facilities", f, "11111111", municipality, wijk, form, capacity, NOW)
    for month in MONTHS:
        for who in SMALL:
            for form in FORMS:
                for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
                    _client(data, rng, who, form, month.first_day() + timedelta(days=rng.randint(0, 20)))
        for _ in range(rng.randint(0, 3)):
            offered = month.first_day() + timedelta(days=rng.randint(0, 25))
            status = rng.choice(STATUSES)
            data.add("offers", data.next_id("o"), "woonstad-illustratief", URK, "WK018402", 2027, offered, status,
                     None if status == "open" else offered + timedelta(days=5), None)  # fmt: skip
    data.add("contingents", "woonstad-illustratief", URK, 2027, 20, NOW)
    return data


async def seed(conn: asyncpg.Connection, data: DataSet) -> None:
    """The facts written past the projection, then its report aggregates derived from all of them, as a rebuild
    does (under the horizon's lock, which the service's start-up may hold at the same moment)."""
    async with conn.transaction():
        for table, columns in TABLES.items():
            marks = ", ".join(f"${i + 1}" for i in range(columns.count(",") + 1))
            await conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", data.rows[table])
        await conn.execute("LOCK TABLE report_horizon IN SHARE ROW EXCLUSIVE MODE")
        await kept.derive(conn, REGION, await kept.secret_of(conn), Month.of(date.today()))


# --- what the viewer collects, as figures: a set of base cells and the number shown for their sum ------------


def flow_cells(who: str, months: list[Month], column: str, forms: tuple[str, ...]) -> list[Cell]:
    """The base cells a flow figure of `who` covers (the documented grain), for the cells that can be non-zero."""
    cells: list[Cell] = []
    for m in months if column not in STATE_COLUMNS else months[-1:]:
        for f in forms:
            if column == "inflow":
                cells += [("inflow", who, str(m), f, h) for h in HOSTS]
            elif column == "ended_other":
                cells += [("ended_other", who, str(m), f, r) for r in REASONS]
            elif column == "doorstroom":
                cells += [("doorstroom", who, str(m), f, PAIR)] if f == "MO_24H" else []
            elif column in ("transfers_in", "transfers_out"):
                other = ZEEWOLDE if who == URK else URK
                pair = (other, who) if column == "transfers_in" else (who, other)
                cells.append(("transfer", str(m), f, *pair))
            else:
                cells.append((column, who, str(m), f, None))
    return cells


def figures_of_flows(who: str, months: list[Month], shown: dict[str, Any]) -> Iterator[tuple[list[Cell], Any]]:
    """Every count of one flow document (a month, or a period's totals) with the base cells it covers."""
    for column in COUNT_COLUMNS + STATE_COLUMNS:
        yield flow_cells(who, months, column, FORMS), shown[column]
        for group, form in GROUP.items():
            yield flow_cells(who, months, column, (form,)), shown["by_group"][group][column]
        for form in FORMS:
            yield flow_cells(who, months, column, (form,)), shown["by_care_form"][form][column]
    for reason, n in (shown["ended_other_by_reason"] or {}).items():
        yield [("ended_other", who, str(m), f, reason) for m in months for f in FORMS], n
    for pair, n in (shown["doorstroom_by_pair"] or {}).items():
        yield [("doorstroom", who, str(m), "MO_24H", pair) for m in months], n


@dataclass
class Collected:
    figures: dict[tuple[Cell, ...], set[Any]] = field(default_factory=dict)
    answers: int = 0
    measures: list[tuple[str, str, str, Any]] = field(default_factory=list)  # who, month, split, median

    def add(self, cells: list[Cell], value: Any) -> None:
        self.figures.setdefault(tuple(sorted(cells, key=str)), set()).add(value)


def periods() -> Iterator[tuple[Month, Month]]:
    for i, first in enumerate(MONTHS):
        for last in MONTHS[i:]:
            yield first, last


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str], got: Collected) -> Any:
    """One answer as JSON, and the same as CSV: the CSV holds numbers only, the same numbers."""
    answer = await client.get(path, headers=headers)
    assert answer.status_code == 200, (path, answer.text)
    as_csv = await client.get(path + ("&" if "?" in path else "?") + "format=csv", headers=headers)
    assert as_csv.status_code == 200 and "<5" not in as_csv.text
    got.answers += 2
    return answer.json(), list(csv.DictReader(io.StringIO(as_csv.text)))


async def collect(client: httpx.AsyncClient, headers: dict[str, str], region_staff: bool) -> Collected:
    got = Collected()
    for first, last in periods():
        span, query = months_between(first, last), f"?from={first}&to={last}"
        document, rows = await get(client, "/v1/region/flows" + query, headers, got)
        by_code = {m["municipality"]: m["totals"] for m in document["municipalities"]}
        for who in SMALL:
            for cells, value in figures_of_flows(who, span, by_code[who]):
                got.add(cells, value)
            line = next(r for r in rows if r["municipality"] == who)
            assert int(line["inflow"]) == by_code[who]["inflow"]  # CSV and JSON: one shown document
        for column in COUNT_COLUMNS + STATE_COLUMNS:
            got.add([c for who in SMALL for c in flow_cells(who, span, column, FORMS)], document["totals"][column])
        if not region_staff:
            continue
        for who in SMALL:
            document, _ = await get(client, f"/v1/municipalities/{who}/flows{query}", headers, got)
            for month, shown in zip(span, document["months"], strict=True):
                for cells, value in figures_of_flows(who, [month], shown):
                    got.add(cells, value)
                for split, row in [("total", shown), *shown["by_care_form"].items()]:
                    got.measures.append((who, str(month), split, row["waiting_days_median"]))
            for cells, value in figures_of_flows(who, span, document["totals"]):
                got.add(cells, value)
        await collect_matrix(client, headers, got, span, query)
        await collect_places(client, headers, got, span, query)
    return got


async def collect_matrix(client: httpx.AsyncClient, headers: dict[str, str], got: Collected, span: list[Month],
                         query: str) -> None:  # fmt: skip
    document, _ = await get(client, "/v1/region/matrix" + query, headers, got)
    listed = {(c["responsible"], c["facility_municipality"]): c["clients"] for c in document["cells"]}
    for who in SMALL:
        for host in HOSTS:
            cells = [(kind, who, str(m), f, host) for kind in ("inflow", "placement_doorstroom")
                     for m in span for f in FORMS]  # fmt: skip
            got.add(cells, listed.get((who, host), 0))
        assert all(c["client_days"] % 100 == 0 for c in document["cells"])


async def collect_places(client: httpx.AsyncClient, headers: dict[str, str], got: Collected, span: list[Month],
                         query: str) -> None:  # fmt: skip
    on = str(span[-1].last_day())
    document, _ = await get(client, "/v1/region/occupancy" + query, headers, got)
    for f in document["facilities"]:
        got.add([("occupied", f["facility_id"], on)], f["occupied"])
        assert f["capacity"] == FACILITIES[f["facility_id"]][3]  # capacity is public: exact
    for form in document["care_forms"]:
        ids = [k for k, v in FACILITIES.items() if v[2] == form["care_form"]]
        got.add([("occupied", i, on) for i in ids], form["occupied"])
    document, _ = await get(client, "/v1/region/housing" + query, headers, got)
    for row in document["offers"]:
        for status in STATUSES:
            got.add([("offers", "woonstad-illustratief", URK, 2027, str(m), status) for m in span], row[status])
        year = [("offers", "woonstad-illustratief", URK, 2027, str(m), "accepted") for m in MONTHS]
        got.add(year, row["quota"] - row["quota_left"])
    document, _ = await get(client, "/v1/region/wijken" + query, headers, got)
    for row in document["wijken"]:
        got.add([("outflow_homes", row["wijk"], on)], row["outflow_homes"])


# --- the truth, at the base cells ------------------------------------------------------------------------


async def truth_of(pool: asyncpg.Pool, data: DataSet) -> tuple[Counter[Cell], Counter[Cell]]:
    """The true base cells, and the number of clients behind each monthly waiting-days median."""
    facts = await load_facts(pool)
    truth: Counter[Cell] = Counter()
    behind: Counter[Cell] = Counter()
    for who in SMALL:
        own: Counter[Cell] = Counter()
        for month, tallies in monthly_tallies(facts, who, MONTHS[0], MONTHS[-1], REGION).items():
            own.update(flow_cell(who, month, t) for t in tallies if t.column in COUNT_COLUMNS + STATE_COLUMNS)
            for t in tallies:
                if t.column == "waiting_days":
                    behind.update([(who, str(month), "total"), (who, str(month), t.care_form)])
        truth.update({c: n for c, n in own.items() if c[0] != "transfer"})
        truth |= Counter({c: n for c, n in own.items() if c[0] == "transfer"})  # both sides name one cell
    for (who, host, month, form), cell in monthly_matrix(facts, MONTHS[0], MONTHS[-1], date.today()).items():
        truth[("placement_doorstroom", who, str(month), form, host)] += cell.placements - cell.inflow
    for month in MONTHS:
        on = month.last_day()
        for p in data.rows["placements"]:
            if p[8] <= on and (p[10] is None or p[10] > on):
                truth[("occupied", p[4], str(on))] += 1
        for w in await places.wijken(pool, REGION, on):
            truth[("outflow_homes", w["wijk"], str(on))] += w["outflow_homes"]
    for offer in data.rows["offers"]:
        truth[("offers", offer[1], offer[2], offer[4], str(Month.of(offer[5])), offer[6])] += 1
    return +truth, behind


# --- the attacker: integer programs over everything collected --------------------------------------------


@dataclass
class Attack:
    """Unknowns: the true base cells x (and, for the rounding method, each cell's shown multiple of 5, 5q)."""

    cells: list[Cell]
    rows: list[tuple[dict[int, float], float, float]] = field(default_factory=list)  # coefficients, low, high

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.cells)}

    @property
    def size(self) -> int:
        return 2 * len(self.cells)  # x, then q

    def x(self, cell: Cell) -> int:
        return self.index[cell]

    def q(self, cell: Cell) -> int:
        return len(self.cells) + self.index[cell]

    def solve(self, extra: list[tuple[dict[int, float], float, float]], cost: dict[int, float]) -> Any:
        matrix = np.zeros((len(self.rows) + len(extra), self.size))
        low, high = [], []
        for r, (coefficients, lo, hi) in enumerate(self.rows + extra):
            for i, a in coefficients.items():
                matrix[r, i] += a
            low.append(lo)
            high.append(hi)
        c = np.zeros(self.size)
        for i, a in cost.items():
            c[i] = a
        return milp(c, constraints=LinearConstraint(matrix, low, high), integrality=np.ones(self.size),
                    bounds=Bounds(0, 200), options={"time_limit": 60})  # fmt: skip

    def pinned(self, cell: Cell, true: int) -> bool:
        """Whether every explanation of what was collected gives this cell its true value."""
        below = self.solve([({self.x(cell): 1}, 0, true - 1)], {})
        if below.status == 0:
            return False
        above = self.solve([({self.x(cell): 1}, true + 1, 200)], {})
        assert below.status == 2 and above.status in (0, 2), (below.message, above.message)  # infeasible, not slow
        return bool(above.status == 2)


def rounding_attack(cells: list[Cell], got: Collected) -> Attack:
    """The documented method: each base cell x shows as 5q with |x - 5q| <= 4, and every figure is a sum of them."""
    attack = Attack(cells)
    for c in cells:
        attack.rows.append(({attack.x(c): 1, attack.q(c): -5}, -4, 4))
    for figure, values in got.figures.items():
        (value,) = values
        attack.rows.append(({attack.q(c): 5 for c in figure}, value, value))
    stock_and_flow(attack)
    return attack


def masking_attack(cells: list[Cell], got: Collected, truth: Counter[Cell]) -> Attack:
    """The old method on the same figures: the exact sum, or "<5" (1-4) for a sum of 1-4."""
    attack = Attack(cells)
    for figure in got.figures:
        exact = sum(truth[c] for c in figure)
        low, high = (1, 4) if 0 < exact < 5 else (exact, exact)
        attack.rows.append(({attack.x(c): 1 for c in figure}, low, high))
    stock_and_flow(attack)
    return attack


def stock_and_flow(attack: Attack) -> None:
    """What any viewer knows: waiting at the end of a month is the previous month's plus registrations, less
    withdrawals and placements started (first and doorstroom), give or take the transfers (which of them
    concerned a waiting client is not published); a doorstroom ends one placement and starts the next."""
    for who in SMALL:
        other = ZEEWOLDE if who == URK else URK
        for form in FORMS:
            for i, m in enumerate(MONTHS):
                row = {attack.x(("waiting_at_end", who, str(m), form, None)): 1.0}
                if i:
                    row[attack.x(("waiting_at_end", who, str(MONTHS[i - 1]), form, None))] = -1.0
                row[attack.x(("registrations", who, str(m), form, None))] = -1.0
                row[attack.x(("withdrawals", who, str(m), form, None))] = 1.0
                for host in HOSTS:
                    row[attack.x(("inflow", who, str(m), form, host))] = 1.0
                    row[attack.x(("placement_doorstroom", who, str(m), form, host))] = 1.0
                # the change not explained by the flows is the waiting clients among the transfers: -out..+in
                attack.rows.append((row | {attack.x(("transfer", str(m), form, other, who)): -1.0}, -np.inf, 0.0))
                attack.rows.append((row | {attack.x(("transfer", str(m), form, who, other)): 1.0}, 0.0, np.inf))
            for m in MONTHS:
                starts = {attack.x(("placement_doorstroom", who, str(m), "BW_24H", h)): 1.0 for h in HOSTS}
                starts[attack.x(("doorstroom", who, str(m), "MO_24H", PAIR))] = -1.0
                attack.rows.append((starts, 0.0, 0.0))


def grid() -> list[Cell]:
    """Every base cell the viewer knows may be non-zero: the documented grain over the two municipalities,
    the care forms, reasons and host municipalities of the data (the attacker is even told all else is 0)."""
    cells = set()
    for who in SMALL:
        for m in MONTHS:
            for column in COUNT_COLUMNS + STATE_COLUMNS:
                cells |= set(flow_cells(who, [m], column, FORMS))
            cells |= {("placement_doorstroom", who, str(m), f, h) for f in FORMS for h in HOSTS}
    cells |= {("occupied", f, str(m.last_day())) for f in FACILITIES for m in MONTHS}
    cells |= {("offers", "woonstad-illustratief", URK, 2027, str(m), s) for m in MONTHS for s in STATUSES}
    wijken = {wijk for _, wijk, _, _ in FACILITIES.values()} | {f"WK{who}01" for who in SMALL}
    cells |= {("outflow_homes", wijk, str(m.last_day())) for wijk in wijken for m in MONTHS}
    return sorted(cells, key=str)


@pytest.fixture
async def reporting(ns: Namespace) -> Any:
    async with running(reporting_app(ns.settings("reporting")), "reporting") as client:
        data = data_set()
        pool = await asyncpg.create_pool(
            ns.infra.database_url, min_size=1, max_size=2, server_settings={"search_path": f"reporting_{ns.suffix}"}
        )
        try:
            async with pool.acquire() as conn:
                await seed(conn, data)
            yield client, *await truth_of(pool, data)
        finally:
            await pool.close()


async def test_no_viewer_who_sees_protected_figures_can_work_out_a_small_cell(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    client, truth, behind = reporting
    cells = grid()
    small = [c for c in cells if 1 <= truth[c] <= 4]
    assert set(truth) <= set(cells), set(truth) - set(cells)
    for viewer, region_staff in (("region", True), ("almere", False)):
        got = await collect(client, ns.auth(viewer), region_staff)
        assert all(len(values) == 1 for values in got.figures.values())  # one answer per figure, in every query
        values = [v for (v,) in got.figures.values()]
        assert all(isinstance(v, int) and v % 5 == 0 for v in values)  # so every difference is a multiple of 5
        unknown = {c for figure in got.figures for c in figure} - set(cells)
        assert not unknown, unknown
        assert_derivations_fail(got, truth, region_staff)
        assert all(median is None for who, month, split, median in got.measures if behind[(who, month, split)] < 5)
        attack = rounding_attack(cells, got)
        truth_fits = attack.solve([({attack.x(c): 1}, truth[c], truth[c]) for c in cells], {})
        assert truth_fits.status == 0, truth_fits.message  # the attacker's model is the published method
        pinned = [c for c in small if attack.pinned(c, truth[c])]
        print(f"{viewer}: {got.answers} answers, {len(got.figures)} distinct figures, {len(small)} cells of 1-4, "
              f"{len(pinned)} pinned")  # fmt: skip
        assert pinned == []
        if region_staff:
            old = masking_attack(cells, got, truth)
            pinned_before = [c for c in small if old.pinned(c, truth[c])]
            print(f"old method: {len(pinned_before)} of {len(small)} pinned")
            assert pinned_before  # the attacker can succeed: against "<5" beside exact totals it does


@dataclass
class Derivations:
    """The issue's derivations, each of a figure from others the viewer got, tried on every cell of 1-4."""

    got: Collected
    truth: Counter[Cell]
    tried: list[tuple[int, int]] = field(default_factory=list)  # (derived, true)

    def shown(self, cells: list[Cell]) -> int:
        (value,) = self.got.figures[tuple(sorted(cells, key=str))]
        return int(value)

    def attempt(self, target: list[Cell], derived: int) -> None:
        true = sum(self.truth[c] for c in target)
        if 1 <= true <= 4:
            self.tried.append((derived, true))

    def differences(self, who: str, column: str) -> None:
        """Region minus the others; the year minus its other months; Jan..m minus Jan..m-1."""
        other, of = ZEEWOLDE if who == URK else URK, self.shown
        for i, m in enumerate(MONTHS):
            target = flow_cells(who, [m], column, FORMS)
            both = [c for w in SMALL for c in flow_cells(w, [m], column, FORMS)]
            self.attempt(target, of(both) - of(flow_cells(other, [m], column, FORMS)))
            if column in STATE_COLUMNS:
                continue
            months = sum(of(flow_cells(who, [n], column, FORMS)) for n in MONTHS if n != m)
            self.attempt(target, of(flow_cells(who, MONTHS, column, FORMS)) - months)
            if i:
                up_to = of(flow_cells(who, MONTHS[: i + 1], column, FORMS))
                self.attempt(target, up_to - of(flow_cells(who, MONTHS[:i], column, FORMS)))

    def stock_against_flows(self, who: str, form: str) -> None:
        """Waiting at the end of m from m+1's waiting, registrations, inflow and withdrawals."""
        for m, after in itertools.pairwise(MONTHS):
            of = {c: self.shown(flow_cells(who, [after], c, (form,))) for c in ("waiting_at_end", "registrations")}
            flows = sum(self.shown(flow_cells(who, [after], c, (form,))) for c in ("inflow", "withdrawals"))
            self.attempt(
                flow_cells(who, [m], "waiting_at_end", (form,)), of["waiting_at_end"] - of["registrations"] + flows
            )

    def matrix_against_inflow(self, who: str) -> None:
        """One host's first placements: the inflow less the other hosts' matrix cells."""
        for m in MONTHS:
            for host in HOSTS:
                others = sum(
                    self.shown([(k, who, str(m), f, h) for k in ("inflow", "placement_doorstroom") for f in FORMS])
                    for h in HOSTS
                    if h != host
                )
                derived = self.shown(flow_cells(who, [m], "inflow", FORMS)) - others
                self.attempt([("inflow", who, str(m), f, host) for f in FORMS], derived)

    def occupancy_against_care_forms(self) -> None:
        """A facility's occupancy: its care form's sum less the form's other facilities."""
        for m in MONTHS:
            on = str(m.last_day())
            for form in FORMS:
                ids = [k for k, v in FACILITIES.items() if v[2] == form]
                for facility in ids:
                    others = sum(self.shown([("occupied", i, on)]) for i in ids if i != facility)
                    self.attempt([("occupied", facility, on)], self.shown([("occupied", i, on) for i in ids]) - others)


def assert_derivations_fail(got: Collected, truth: Counter[Cell], region_staff: bool) -> None:
    derivations = Derivations(got, truth)
    for who in SMALL:
        for column in COUNT_COLUMNS + STATE_COLUMNS:
            derivations.differences(who, column)
        for form in FORMS:
            derivations.stock_against_flows(who, form)
        if region_staff:  # the matrix and occupancy are region staff's
            derivations.matrix_against_inflow(who)
    if region_staff:
        derivations.occupancy_against_care_forms()
    tried = derivations.tried
    assert tried and not [t for t in tried if t[0] == t[1]], f"{len(tried)} tried"
    print(f"{len(tried)} derivations of a true 1-4 tried, none recovered it")


async def test_the_responsible_municipality_sees_its_own_figures_exactly(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    client, truth, _ = reporting
    own = (await client.get("/v1/municipalities/0184/flows?from=2027-01&to=2027-12", headers=ns.auth("urk"))).json()
    assert own["disclosure"]["exact"] is True
    for m, shown in zip(MONTHS, own["months"], strict=True):
        for column in COUNT_COLUMNS + STATE_COLUMNS:
            for form in FORMS:
                assert shown["by_care_form"][form][column] == sum(
                    truth[c] for c in flow_cells(URK, [m], column, (form,))
                )
    region = (await client.get("/v1/region/flows?from=2027-01&to=2027-12", headers=ns.auth("urk"))).json()
    by_code = {m["municipality"]: m["totals"] for m in region["municipalities"]}
    assert by_code[URK]["registrations"] == sum(truth[c] for c in flow_cells(URK, MONTHS, "registrations", FORMS))
    assert by_code[ZEEWOLDE]["registrations"] % 5 == 0 and region["disclosure"]["exact_for"] == [URK]
    other = await client.get("/v1/municipalities/0050/flows?from=2027-01&to=2027-12", headers=ns.auth("urk"))
    assert other.status_code == 403


async def test_the_budget_shows_client_days_rounded_to_100_and_euros_of_those_days(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = reporting
    own = (await client.get("/v1/municipalities/0184/budget?year=2027", headers=ns.auth("urk"))).json()
    seen = (await client.get("/v1/municipalities/0184/budget?year=2027", headers=ns.auth("region"))).json()
    region = (await client.get("/v1/region/budget?year=2027", headers=ns.auth("region"))).json()
    assert own["disclosure"]["exact"] is True and seen["disclosure"]["exact"] is False
    assert any(n % 100 for n in own["client_days"].values())  # the exact days are not all round
    assert all(n % 100 == 0 for n in seen["client_days"].values())
    assert seen["cost_eur"] == round(sum(n * REGION.money.tariff(f) for f, n in seen["client_days"].items()), 2)
    urk = next(m for m in region["municipalities"] if m["municipality"] == URK)
    assert urk["cost_eur"] == seen["cost_eur"] and urk["client_days_BW_24H"] == seen["client_days"].get("BW_24H", 0)
    assert round(sum(m["settlement_eur"] for m in region["municipalities"]), 2) == 0  # still sums to zero


# --- the attacker who asks again: month after month of one stable population, day after day of a budget ------

DRONTEN, NOORDOOSTPOLDER = "0303", "0171"
STABLE = {ZEEWOLDE: 1, URK: 2, DRONTEN: 3, NOORDOOSTPOLDER: 4}  # municipality -> clients who wait, unchanged
IN_PLACE = {"stable-1": 1, "stable-2": 2, "stable-3": 3, "stable-4": 4}  # facility (Lelystad) -> clients in it
HOMES_WIJK, HOMES = "WK099502", 3  # outflow homes let in January 2025, in the wijk cap's window all that year
ASKED_ON = date(2027, 1, 15)
STABLE_MONTHS = months_between(Month(2025, 2), Month(2026, 12))


def stable_data() -> DataSet:
    data = DataSet()
    for who, k in STABLE.items():
        for _ in range(k):
            _register(data, uuid.uuid4().hex * 2, who, "BW_24H", date(2025, 1, 5))
    for facility, k in IN_PLACE.items():
        data.add("facilities", facility, "11111111", LELYSTAD, "WK099501", "MO_24H", 8, NOW)
        for _ in range(k):
            ref = uuid.uuid4().hex * 2
            intake = _register(data, ref, LELYSTAD, "MO_24H", date(2025, 1, 2))
            data.add("placements", data.next_id("p"), intake, ref, LELYSTAD, facility, LELYSTAD, "WK099501",
                     "MO_24H", date(2025, 1, 10), 8, None, None, None, None)  # fmt: skip
    for _ in range(HOMES):
        data.add("outflows", data.next_id("p"), uuid.uuid4().hex * 2, LELYSTAD, LELYSTAD, HOMES_WIJK,
                 date(2025, 1, 20), "none")  # fmt: skip
    return data


@pytest.fixture
async def asked_again(ns: Namespace) -> Any:
    app = reporting_app(ns.settings("reporting"), ASKED_ON)
    async with running(app, "reporting") as client:
        conn = await asyncpg.connect(ns.infra.database_url, server_settings={"search_path": f"reporting_{ns.suffix}"})
        try:
            await seed(conn, stable_data())
            yield app, client, conn
        finally:
            await conn.close()


async def test_asking_month_after_month_about_the_same_people_gives_one_figure(asked_again, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = asked_again
    waiting: dict[str, set[int]] = {who: set() for who in STABLE}
    occupied: dict[str, set[int]] = {f: set() for f in IN_PLACE}
    homes: set[int] = set()
    for month in STABLE_MONTHS:
        query = f"?from={month}&to={month}"
        for viewer in ("region", "almere"):
            region = (await client.get("/v1/region/flows" + query, headers=ns.auth(viewer))).json()
            for m in region["municipalities"]:
                if m["municipality"] in STABLE:
                    waiting[m["municipality"]].add(m["totals"]["waiting_at_end"])
        occupancy = (await client.get("/v1/region/occupancy" + query, headers=ns.auth("region"))).json()
        for f in occupancy["facilities"]:
            occupied[f["facility_id"]].add(f["occupied"])
            assert "clients" not in f  # who is in a place is what the figure is rounded on, never what it shows
        if month.year == 2025:  # the homes of January 2025 count in the wijk's window until January 2026
            wijken = (await client.get("/v1/region/wijken" + query, headers=ns.auth("region"))).json()
            homes.add(next((w["outflow_homes"] for w in wijken["wijken"] if w["wijk"] == HOMES_WIJK), 0))
            assert not any("outflow_clients" in w for w in wijken["wijken"])
    # 23 months (and two viewers) of the same 1-4 clients: one figure each, 0 or 5, so the average is 0 or 5 too
    for who, k in STABLE.items():
        assert len(waiting[who]) == 1 and waiting[who] <= {0, 5}, (who, k, waiting[who])
    for facility, k in IN_PLACE.items():
        assert len(occupied[facility]) == 1 and occupied[facility] <= {0, 5}, (facility, k, occupied[facility])
    assert len(homes) == 1 and homes <= {0, 5}, homes


async def test_a_month_that_has_not_happened_is_not_reported(asked_again, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    """A month ahead would only show today's people again, as often as asked: ask once, ask no more."""
    _, client, _ = asked_again  # the clock says 15 January 2027: January may be asked about, February not
    asked = (
        ("region", "/v1/region/flows"),
        ("region", "/v1/region/occupancy"),
        ("zeewolde", "/v1/municipalities/0050/flows"),
    )
    for viewer, path in asked:
        assert (await client.get(path + "?from=2027-01&to=2027-01", headers=ns.auth(viewer))).status_code == 200
        for query, field_name in (("?from=2027-01&to=2027-02", "to"), ("?from=2030-01&to=2030-12", "from")):
            answer = await client.get(path + query, headers=ns.auth(viewer))
            assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field_name


BUDGET_DAY = date(2027, 6, 15)
MO_TARIFF = REGION.money.tariff("MO_24H")
SETTLED = ("cost_borne_eur", "balance_eur", "settlement_eur")


def shelter() -> DataSet:
    data = DataSet()
    data.add("facilities", "lel-mo", "11111111", LELYSTAD, "WK099501", "MO_24H", 8, NOW)
    return data


def clock(day: date) -> Callable[[], date]:
    return lambda: day


async def urk_in_shelter(conn: asyncpg.Connection, k: int) -> None:
    """Urk's k-th client in Lelystad's shelter since 10 January 2027, still there."""
    data = DataSet(serial=1000 + k)
    ref = uuid.uuid4().hex * 2
    intake = _register(data, ref, URK, "MO_24H", date(2027, 1, 4))
    data.add("placements", f"urk-mo-{k}", intake, ref, URK, "lel-mo", LELYSTAD, "WK099501", "MO_24H",
             date(2027, 1, 10), 6, None, None, None, None)  # fmt: skip
    await seed(conn, data)


async def budgets(client: httpx.AsyncClient, ns: Namespace) -> dict[str, Any]:
    """What Almere (the centre, bearing all MO cost) and Lelystad read of their own budgets, and region staff's
    rows of the region's budget."""
    own = {
        who: (await client.get(f"/v1/municipalities/{code}/budget?year=2027", headers=ns.auth(who))).json()
        for who, code in (("almere", ALMERE), ("lelystad", LELYSTAD))
    }
    region = (await client.get("/v1/region/budget?year=2027", headers=ns.auth("region"))).json()
    return own | {"rows": {m["municipality"]: m for m in region["municipalities"]}}


async def test_a_municipality_reading_its_own_budget_learns_nothing_of_anothers_clients(
    asked_again, ns: Namespace
) -> None:  # type: ignore[no-untyped-def]
    app, client, conn = asked_again
    app.dependency_overrides[http.today] = clock(BUDGET_DAY)
    await seed(conn, shelter())
    seen: list[dict[str, Any]] = []
    for k in range(5):  # Urk has 0, 1, 2, 3, 4 clients in shelter
        if k:
            await urk_in_shelter(conn, k)
        seen.append(await budgets(client, ns))
    nights = (date(2028, 1, 1) - date(2027, 1, 10)).days  # one client's year in shelter, which the attacker knows
    for k, got in enumerate(seen):
        for who, code in (("almere", ALMERE), ("lelystad", LELYSTAD)):
            # What it pays or receives is the figure everyone sees, from rounded days, not from the exact ones
            assert {c: got[who][c] for c in SETTLED} == {c: got["rows"][code][c] for c in SETTLED}, (k, who)
        assert got["almere"]["disclosure"]["exact"] is True  # its own days and cost stay exact; its settlement:
        assert got["almere"]["disclosure"]["settlement"] == "random rounding to base 5, as every viewer sees it"
    # The attacker's estimate of Urk's clients from Almere's own cost borne (it bears all MO cost) is no count
    estimates = [(got["almere"]["cost_borne_eur"] - seen[0]["almere"]["cost_borne_eur"]) / (MO_TARIFF * nights)
                 for got in seen]  # fmt: skip
    print(f"the centre's estimates of Urk's 0-4 clients in shelter: {[round(e, 2) for e in estimates]}")
    assert [round(e, 2) for e in estimates] != [0, 1, 2, 3, 4]


async def test_asking_for_a_budget_every_day_gives_one_answer_a_month(asked_again, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    app, client, conn = asked_again
    await seed(conn, shelter())
    for k in range(1, 4):
        await urk_in_shelter(conn, k)  # three clients, in shelter since 10 January: 3 more nights every night
    answers: dict[int, set[tuple[Any, ...]]] = {6: set(), 7: set()}
    urk_days: dict[int, set[str]] = {6: set(), 7: set()}
    shown: list[tuple[int, int]] = []
    for month in (6, 7):
        for day in range(1, 31):
            app.dependency_overrides[http.today] = clock(date(2027, month, day))
            got = await budgets(client, ns)
            urk = (await client.get("/v1/municipalities/0184/budget?year=2027", headers=ns.auth("region"))).json()
            answers[month].add((*(got["lelystad"][c] for c in SETTLED), *(got["almere"][c] for c in SETTLED)))
            urk_days[month].add(json.dumps([urk["client_days_realised"], urk["client_days_projected"]]))
            matrix = (await client.get(f"/v1/region/matrix?from=2027-01&to=2027-{month:02d}",
                                       headers=ns.auth("region"))).json()  # fmt: skip
            (cell,) = [c for c in matrix["cells"] if c["responsible"] == URK] or [{"client_days": 0}]
            left = (date(2028, 1, 1) - date(2027, month, 1)).days  # nights from the month's first day
            # the days are the matrix's closed months, and 0 or 5 clients in shelter for the rest of the year
            shown.append((urk["client_days_realised"].get("MO_24H", 0) - cell["client_days"],
                          urk["client_days_projected"].get("MO_24H", 0) % (5 * left)))  # fmt: skip
    # Watching the rounded days grow by 3 a night would give the 3 away: within a month nothing moves
    assert all(len(a) == 1 for a in answers.values()), answers
    assert all(len(d) == 1 for d in urk_days.values()), urk_days
    assert set(shown) == {(0, 0)}
