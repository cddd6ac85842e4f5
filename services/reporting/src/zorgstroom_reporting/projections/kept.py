"""Reporting's aggregates (domain/aggregates.py) kept in PostgreSQL: deltas per batch, the monthly rollover of the
horizon, and the derivation of all of them in one pass (a rebuild, or the first start after the upgrade).

A batch's clients are locked (an advisory lock each, in sorted order) so that two writers of one client (two
instances, a rebuild's two connections) never compute a delta from facts the other is changing. Every table
is written with one statement per batch, rows sorted by key, so that concurrent writers lock in one order.
Rows whose counts reach zero are deleted: the tables hold the same rows live and after a rebuild. Each base
cell keeps its rounded value beside its exact one, worked out after the delta while its row lock is held, so
that a period's protected figures are SQL sums; yearly sums of both are kept by the same deltas (from the rounded
values as they were and as they are), so ten years read ten rows per cell. The horizon is one row: the month
states are kept up to. A batch holds it (shared) first, then claims its events in the ledger, then locks its
clients: every writer takes them in that order.
"""

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import asyncpg

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.aggregates import (
    Contributions,
    MatrixKey,
    by_client,
    contributions,
    shown_cell,
    shown_matrix,
)
from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS
from zorgstroom_reporting.domain.kept import measures_of
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.queries.flows import load_clients

TABLES = (
    "flow_cells",
    "flow_cells_yearly",
    "flow_days",
    "flow_measures",
    "matrix_cells",
    "matrix_yearly",
    "responsible_named",
    "report_horizon",
)
CHUNK = 2000  # clients loaded at a time when everything is derived

# Clients whose cells change when the horizon passes (domain/aggregates.py, open_after): what a rollover recomputes.
_OPEN_CLIENTS = """
SELECT r.client_ref FROM registrations r WHERE NOT EXISTS
    (SELECT 1 FROM placements p WHERE p.intake_id = r.intake_id AND p.start_date IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.intake_id = r.intake_id)
UNION SELECT client_ref FROM placements WHERE start_date IS NOT NULL AND (end_date IS NULL OR end_date >= $2)
UNION SELECT client_ref FROM registrations WHERE registered_on > $1
UNION SELECT client_ref FROM placements WHERE start_date > $1 OR end_date > $1
UNION SELECT client_ref FROM outflows WHERE outflow_date > $1
UNION SELECT client_ref FROM withdrawals WHERE withdrawn_on > $1
UNION SELECT client_ref FROM transfers WHERE effective_on > $1
UNION SELECT client_ref FROM consents WHERE recorded_on > $1
UNION SELECT p.client_ref FROM assessments a JOIN placements p USING (placement_id) WHERE a.assessed_on > $1
"""
_ALL_CLIENTS = """
SELECT client_ref FROM registrations UNION SELECT client_ref FROM placements UNION SELECT client_ref FROM outflows
UNION SELECT client_ref FROM transfers UNION SELECT client_ref FROM withdrawals UNION SELECT client_ref FROM consents
ORDER BY 1
"""


async def secret_of(conn: asyncpg.Connection) -> bytes:
    secret = await conn.fetchval("SELECT secret FROM disclosure_key")
    if secret is None:
        raise RuntimeError("reporting's disclosure key is missing (migration 0009_disclosure_key)")
    return bytes(secret)


def _month(day: date) -> Month:
    return Month.of(day)


class Keeper:
    """The aggregates of one transaction: the region's rules, the rounding key and the horizon it holds."""

    def __init__(self, conn: asyncpg.Connection, region: Region, secret: bytes, horizon: Month) -> None:
        self.conn, self.region, self.secret, self.horizon = conn, region, secret, horizon

    @classmethod
    async def open(cls, conn: asyncpg.Connection, region: Region, current: Month) -> "Keeper":
        """Holds the horizon row (shared) for the transaction, after rolling it over to `current` if the calendar
        passed it, or deriving every aggregate if there is none yet (the first start after the upgrade)."""
        secret = await secret_of(conn)
        stored = await conn.fetchval("SELECT month FROM report_horizon")
        if stored is None or _month(stored) < current:
            await advance(conn, region, secret, current)
        horizon = _month(await conn.fetchval("SELECT month FROM report_horizon FOR SHARE"))
        return cls(conn, region, secret, horizon)

    async def lock(self, clients: Sequence[str]) -> None:
        await self.conn.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || c, 0)))"
            " FROM unnest($1::text[]) AS c",
            sorted(clients),
        )

    async def of(self, clients: Sequence[str], horizon: Month | None = None) -> Contributions:
        loaded = await load_clients(self.conn, list(clients))
        return await asyncio.to_thread(summed, loaded, self.region, horizon or self.horizon, self.secret)

    async def apply(self, delta: Contributions) -> None:
        await _cells(self.conn, delta, self.secret)
        await _days(self.conn, delta, self.region)
        await _matrix(self.conn, delta, self.secret)
        await _named(self.conn, delta)


def summed(facts: Facts, region: Region, horizon: Month, secret: bytes) -> Contributions:
    """The contributions of the clients of `facts`, summed: run in a worker thread (asyncio.to_thread), so that
    a batch of many clients, a rollover or a whole derivation leaves the event loop free for health checks and
    reports between its slices of the interpreter."""
    total = Contributions()
    for one in by_client(facts).values():
        total.add(contributions(one, region, horizon, secret))
    return total


async def advance(conn: asyncpg.Connection, region: Region, secret: bytes, current: Month) -> None:
    """Roll the horizon over to `current` (under its row lock): the clients still open are recomputed from the old
    horizon to the new one. Without a horizon row every aggregate is derived from the facts."""
    await conn.execute("LOCK TABLE report_horizon IN SHARE ROW EXCLUSIVE MODE")  # one rollover at a time
    stored = await conn.fetchval("SELECT month FROM report_horizon FOR UPDATE")
    if stored is None:
        await derive(conn, region, secret, current)
        return
    old = _month(stored)
    if old >= current:
        return  # another transaction rolled it over meanwhile
    clients = sorted(r[0] for r in await conn.fetch(_OPEN_CLIENTS, old.last_day(), old.first_day()))
    keeper = Keeper(conn, region, secret, old)
    for start in range(0, len(clients), CHUNK):
        chunk = clients[start : start + CHUNK]
        await keeper.lock(chunk)
        await keeper.apply((await keeper.of(chunk, current)).minus(await keeper.of(chunk, old)))
    await conn.execute("UPDATE report_horizon SET month = $1", current.first_day())


# The keys of the kept tables, as (column, SQL type): what a row that came to zero is deleted by.
_CELL_KEY = (("municipality", "text"), ("month", "date"), ("col", "text"), ("care_form", "text"), ("detail", "text"))
_YEARLY_CELL_KEY = (("municipality", "text"), ("year", "int"), *_CELL_KEY[2:])
_DAYS_KEY = (*_CELL_KEY[:4], ("days", "int"))
_MATRIX_KEY = (("responsible", "text"), ("facility_municipality", "text"), ("month", "date"), ("care_form", "text"))
_MATRIX_YEARLY_KEY = (*_MATRIX_KEY[:2], ("year", "int"))


async def _delete(conn: asyncpg.Connection, table: str, key: Sequence[tuple[str, str]], rows: list[Any]) -> None:
    """The rows of `table` whose key is one of `rows` (cells whose counts came to zero), in one statement."""
    if not rows:
        return
    columns = ", ".join(f"t.{name}" for name, _ in key)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(key, start=1))
    aliases = [f"k{i}" for i in range(len(key))]
    await conn.execute(
        f"DELETE FROM {table} t USING unnest({arrays}) AS u({', '.join(aliases)})"
        f" WHERE ({columns}) = ({', '.join('u.' + a for a in aliases)})",
        *_columns(rows),
    )


def _sorted(counter: dict[Any, int]) -> list[tuple[Any, int]]:
    return sorted(counter.items())


async def _cells(conn: asyncpg.Connection, delta: Contributions, secret: bytes) -> None:
    keys = sorted(set(delta.cells) | set(delta.keys))
    if not keys:
        return
    changed = await conn.fetch(
        "INSERT INTO flow_cells (municipality, month, col, care_form, detail, n, client_keys, shown)"
        " SELECT *, 0 FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::int[],"
        " $7::numeric[]) ON CONFLICT (municipality, month, col, care_form, detail) DO UPDATE SET"
        " n = flow_cells.n + excluded.n, client_keys = flow_cells.client_keys + excluded.client_keys"
        " RETURNING municipality, month, col, care_form, detail, n, client_keys, shown",  # shown: as it was
        *_columns([(m, mo, c, f, d, delta.cells[k], delta.keys[k]) for k in keys for (m, mo, c, f, d) in [k]]),
    )
    shown, gone = [], []
    yearly: Counter[tuple[str, int, str, str, str]] = Counter()
    yearly_shown: Counter[tuple[str, int, str, str, str]] = Counter()
    for r in changed:
        key = (r[0], r[1], r[2], r[3], r[4])
        now = 0 if r["n"] == 0 else shown_cell(secret, key, r["n"], int(r["client_keys"]))
        if r["n"] == 0:
            gone.append(key)
        else:
            shown.append((*key, now))
        if r[2] in COUNT_COLUMNS:
            by_year = (r[0], r[1].year, r[2], r[3], r[4] if r[2] in BREAKDOWNS else "")
            yearly[by_year] += delta.cells[key]
            yearly_shown[by_year] += now - r["shown"]
    await _yearly_cells(conn, yearly, yearly_shown)
    if shown:
        await conn.execute(
            "UPDATE flow_cells t SET shown = u.s FROM unnest($1::text[], $2::date[], $3::text[], $4::text[],"
            " $5::text[], $6::int[]) AS u(m, mo, c, f, d, s) WHERE (t.municipality, t.month, t.col, t.care_form,"
            " t.detail) = (u.m, u.mo, u.c, u.f, u.d)",
            *_columns(shown),
        )
    await _delete(conn, "flow_cells", _CELL_KEY, gone)


async def _yearly_cells(conn: asyncpg.Connection, n: Counter[Any], shown: Counter[Any]) -> None:
    keys = sorted(k for k in set(n) | set(shown) if n[k] or shown[k])
    if not keys:
        return
    changed = await conn.fetch(
        "INSERT INTO flow_cells_yearly (municipality, year, col, care_form, detail, n, shown) SELECT * FROM"
        " unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[]) ON CONFLICT"
        " (municipality, year, col, care_form, detail) DO UPDATE SET n = flow_cells_yearly.n + excluded.n,"
        " shown = flow_cells_yearly.shown + excluded.shown RETURNING municipality, year, col, care_form, detail, n",
        *_columns([(*k, n[k], shown[k]) for k in keys]),
    )
    gone = [tuple(r[:5]) for r in changed if r["n"] == 0]
    await _delete(conn, "flow_cells_yearly", _YEARLY_CELL_KEY, gone)


async def _days(conn: asyncpg.Connection, delta: Contributions, region: Region) -> None:
    if not delta.days:
        return
    rows = [(m, mo, c, f, d, n) for (m, mo, c, f, d), n in _sorted(delta.days)]
    touched = sorted({r[:3] for r in rows})
    # One writer at a time per histogram (municipality, month, column), however different their clients: the
    # measures below are worked out from the whole histogram as it stands after this transaction's change, so no
    # other transaction may change it until this one commits. Taken in sorted order, after every flow_cells row
    # lock and before any flow_days one, as every writer does: no two wait for each other in a circle.
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended('flow_days:' || current_schema() || ':' || m || ':'"
        " || mo::text || ':' || c, 0))) FROM unnest($1::text[], $2::date[], $3::text[]) AS u(m, mo, c)",
        *_columns(touched),
    )
    changed = await conn.fetch(
        "INSERT INTO flow_days (municipality, month, col, care_form, days, n) SELECT * FROM unnest($1::text[],"
        " $2::date[], $3::text[], $4::text[], $5::int[], $6::int[]) ON CONFLICT (municipality, month, col,"
        " care_form, days) DO UPDATE SET n = flow_days.n + excluded.n RETURNING municipality, month, col, care_form,"
        " days, n",
        *_columns(rows),
    )
    gone = [tuple(r[:5]) for r in changed if r["n"] == 0]
    await _delete(conn, "flow_days", _DAYS_KEY, gone)
    histograms: dict[tuple[str, date, str], list[tuple[str, int, int]]] = {t: [] for t in touched}
    for r in await conn.fetch(
        "SELECT t.municipality, t.month, t.col, t.care_form, t.days, t.n FROM flow_days t JOIN unnest($1::text[],"
        " $2::date[], $3::text[]) AS u(m, mo, c) ON (t.municipality, t.month, t.col) = (u.m, u.mo, u.c)",
        *_columns(touched),
    ):
        histograms[(r[0], r[1], r[2])].append((r[3], r[4], r[5]))
    measures = [
        (*key, scope, m.n, m.median, m.p90)
        for key, histogram in histograms.items()
        for scope, m in sorted(measures_of(histogram, region).items())
    ]
    await _delete(conn, "flow_measures", _DAYS_KEY[:3], touched)
    if measures:
        await conn.execute(
            "INSERT INTO flow_measures (municipality, month, col, scope, n, median, p90) SELECT * FROM"
            " unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::int[], $6::float8[], $7::float8[])",
            *_columns(measures),
        )


async def _matrix(conn: asyncpg.Connection, delta: Contributions, secret: bytes) -> None:
    if not delta.matrix:
        return
    parts = _matrix_parts(delta.matrix)
    rows = [
        (r, f, mo, form, p["placements"], p["inflow"], p["client_days"], p["stayed_keys"])
        for (r, f, mo, form), p in sorted(parts.items())
    ]
    changed = await conn.fetch(
        "INSERT INTO matrix_cells (responsible, facility_municipality, month, care_form, placements, inflow,"
        " client_days, stayed_keys, shown_first, shown_onward, shown_days) SELECT *, 0, 0, 0 FROM unnest($1::text[],"
        " $2::text[], $3::date[], $4::text[], $5::int[], $6::int[], $7::int[], $8::numeric[]) ON CONFLICT"
        " (responsible, facility_municipality, month, care_form) DO UPDATE SET"
        " placements = matrix_cells.placements + excluded.placements, inflow = matrix_cells.inflow + excluded.inflow,"
        " client_days = matrix_cells.client_days + excluded.client_days,"
        " stayed_keys = matrix_cells.stayed_keys + excluded.stayed_keys"
        " RETURNING responsible, facility_municipality, month, care_form, placements, inflow, client_days, stayed_keys,"
        " shown_first, shown_onward, shown_days",  # the shown ones as they were
        *_columns(rows),
    )
    shown, gone = [], []
    yearly: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in changed:
        key = (r[0], r[1], r[2], r[3])
        now = (0, 0, 0)
        if r["placements"] == 0 and r["client_days"] == 0 and r["stayed_keys"] == 0:
            gone.append(key)
        else:
            now = shown_matrix(secret, key, r[4], r[5], r[6], int(r[7]))
            shown.append((*key, *now))
        change = yearly[(r[0], r[1], r[2].year)]
        for i, was in enumerate((r["shown_first"], r["shown_onward"], r["shown_days"])):
            change[i] += now[i] - was
    await _yearly_matrix(conn, yearly)
    if shown:
        await conn.execute(
            "UPDATE matrix_cells t SET shown_first = u.a, shown_onward = u.b, shown_days = u.c FROM unnest($1::text[],"
            " $2::text[], $3::date[], $4::text[], $5::int[], $6::int[], $7::int[]) AS u(r, f, mo, cf, a, b, c)"
            " WHERE (t.responsible, t.facility_municipality, t.month, t.care_form) = (u.r, u.f, u.mo, u.cf)",
            *_columns(shown),
        )
    await _delete(conn, "matrix_cells", _MATRIX_KEY, gone)


async def _yearly_matrix(conn: asyncpg.Connection, change: dict[tuple[str, str, int], list[int]]) -> None:
    rows = [(*k, *v) for k, v in sorted(change.items()) if any(v)]
    if not rows:
        return
    changed = await conn.fetch(
        "INSERT INTO matrix_yearly (responsible, facility_municipality, year, shown_first, shown_onward, shown_days)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[]) ON CONFLICT"
        " (responsible, facility_municipality, year) DO UPDATE SET"
        " shown_first = matrix_yearly.shown_first + excluded.shown_first,"
        " shown_onward = matrix_yearly.shown_onward + excluded.shown_onward,"
        " shown_days = matrix_yearly.shown_days + excluded.shown_days"
        " RETURNING responsible, facility_municipality, year, shown_first, shown_onward, shown_days",
        *_columns(rows),
    )
    gone = [tuple(r[:3]) for r in changed if not (r[3] or r[4] or r[5])]
    await _delete(conn, "matrix_yearly", _MATRIX_YEARLY_KEY, gone)


async def _named(conn: asyncpg.Connection, delta: Contributions) -> None:
    if not delta.named:
        return
    await conn.execute(
        "INSERT INTO responsible_named (municipality, facts) SELECT * FROM unnest($1::text[], $2::int[])"
        " ON CONFLICT (municipality) DO UPDATE SET facts = responsible_named.facts + excluded.facts",
        *_columns(_sorted(delta.named)),
    )
    await conn.execute("DELETE FROM responsible_named WHERE facts = 0")


def _matrix_parts(matrix: dict[MatrixKey, int]) -> dict[tuple[str, str, date, str], dict[str, int]]:
    parts: dict[tuple[str, str, date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (responsible, facility, month, form, part), n in matrix.items():
        parts[(responsible, facility, month, form)][part] += n
    return parts


def _columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def derive(
    conn: asyncpg.Connection,
    region: Region,
    secret: bytes,
    horizon: Month,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> float:
    """Every aggregate from the facts in one pass, in the caller's transaction (the tables are emptied first): the
    clients in chunks, their contributions summed in memory and copied to staging tables whenever they grow large,
    then summed per key by PostgreSQL and rounded here, a few municipalities at a time, and copied in. Returns the
    seconds it took."""
    started = time.perf_counter()
    for table in TABLES:
        await conn.execute(f"DELETE FROM {table}")
    await conn.execute(_STAGING)
    clients = [r[0] for r in await conn.fetch(_ALL_CLIENTS)]
    total = Contributions()
    for start in range(0, len(clients), CHUNK):
        loaded = await load_clients(conn, clients[start : start + CHUNK])
        total.add(await asyncio.to_thread(summed, loaded, region, horizon, secret))
        if len(total.cells) + len(total.days) + len(total.matrix) > FLUSH_AT:
            await _stage(conn, total)
            total = Contributions()
        progress(min(start + CHUNK, len(clients)), len(clients))
    await _stage(conn, total)
    await conn.execute(
        "CREATE INDEX ON staged_cells (municipality); CREATE INDEX ON staged_days (municipality);"
        " CREATE INDEX ON staged_matrix (responsible)"
    )
    municipalities = [r[0] for r in await conn.fetch(_STAGED_MUNICIPALITIES)]
    for start in range(0, len(municipalities), 20):
        await _copy(conn, municipalities[start : start + 20], region, secret)
    await conn.execute(
        "INSERT INTO responsible_named SELECT municipality, sum(facts) FROM staged_named GROUP BY 1"
        " HAVING sum(facts) <> 0"
    )
    await conn.execute(_YEARLY_CELLS, list(COUNT_COLUMNS), list(BREAKDOWNS))
    await conn.execute(_YEARLY_MATRIX)
    await conn.execute("INSERT INTO report_horizon (month) VALUES ($1)", horizon.first_day())
    await conn.execute("DROP TABLE staged_cells, staged_days, staged_matrix, staged_named")
    return time.perf_counter() - started


_YEARLY_CELLS = """
INSERT INTO flow_cells_yearly SELECT municipality, extract(year FROM month)::int, col, care_form,
    CASE WHEN col = ANY($2::text[]) THEN detail ELSE '' END, sum(n), sum(shown) FROM flow_cells
    WHERE col = ANY($1::text[]) GROUP BY 1, 2, 3, 4, 5
"""
# The columns whose detail a period report shows (its breakdowns); the yearly sums keep no other detail.
BREAKDOWNS = ("ended_other", "doorstroom")
_YEARLY_MATRIX = """
INSERT INTO matrix_yearly SELECT responsible, facility_municipality, extract(year FROM month)::int, sum(shown_first),
    sum(shown_onward), sum(shown_days) FROM matrix_cells GROUP BY 1, 2, 3
    HAVING sum(shown_first) <> 0 OR sum(shown_onward) <> 0 OR sum(shown_days) <> 0
"""
FLUSH_AT = 300_000  # keys summed in memory before they go to the staging tables (a few hundred MB at most)
_STAGING = """
CREATE TEMP TABLE staged_cells (municipality text, month date, col text, care_form text, detail text, n int,
    client_keys numeric);
CREATE TEMP TABLE staged_days (municipality text, month date, col text, care_form text, days int, n int);
CREATE TEMP TABLE staged_matrix (responsible text, facility_municipality text, month date, care_form text,
    placements int, inflow int, client_days int, stayed_keys numeric);
CREATE TEMP TABLE staged_named (municipality text, facts int);
"""
_STAGED_MUNICIPALITIES = """
SELECT municipality FROM staged_cells UNION SELECT municipality FROM staged_days
UNION SELECT responsible FROM staged_matrix ORDER BY 1
"""


async def _stage(conn: asyncpg.Connection, total: Contributions) -> None:
    await conn.copy_records_to_table(
        "staged_cells", records=[(*k, n, total.keys.get(k, 0)) for k, n in total.cells.items()]
    )
    await conn.copy_records_to_table("staged_days", records=[(*k, n) for k, n in total.days.items()])
    await conn.copy_records_to_table(
        "staged_matrix",
        records=[
            (r, f, mo, form, p["placements"], p["inflow"], p["client_days"], p["stayed_keys"])
            for (r, f, mo, form), p in _matrix_parts(total.matrix).items()
        ],
    )
    await conn.copy_records_to_table("staged_named", records=list(total.named.items()))


async def _copy(conn: asyncpg.Connection, municipalities: list[str], region: Region, secret: bytes) -> None:
    """Some municipalities' kept cells: summed per key by PostgreSQL, rounded in a worker thread (seconds of
    HMACs at national scale, which the event loop must not wait on), copied in."""
    staged_cells = await conn.fetch(
        "SELECT municipality, month, col, care_form, detail, sum(n)::int, sum(client_keys) FROM staged_cells"
        " WHERE municipality = ANY($1) GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0",
        municipalities,
    )
    staged_days = await conn.fetch(
        "SELECT municipality, month, col, care_form, days, sum(n)::int FROM staged_days"
        " WHERE municipality = ANY($1) GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0",
        municipalities,
    )
    staged_matrix = await conn.fetch(
        "SELECT responsible, facility_municipality, month, care_form, sum(placements)::int, sum(inflow)::int,"
        " sum(client_days)::int, sum(stayed_keys) FROM staged_matrix WHERE responsible = ANY($1)"
        " GROUP BY 1, 2, 3, 4 HAVING sum(placements) <> 0 OR sum(client_days) <> 0 OR sum(stayed_keys) <> 0",
        municipalities,
    )
    cells, days, measures, matrix = await asyncio.to_thread(
        _kept_records, staged_cells, staged_days, staged_matrix, region, secret
    )
    await conn.copy_records_to_table("flow_cells", records=cells)
    await conn.copy_records_to_table("flow_days", records=days)
    await conn.copy_records_to_table("flow_measures", records=measures)
    await conn.copy_records_to_table("matrix_cells", records=matrix)


def _kept_records(
    staged_cells: list[asyncpg.Record],
    staged_days: list[asyncpg.Record],
    staged_matrix: list[asyncpg.Record],
    region: Region,
    secret: bytes,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of the kept tables from the staged sums: each cell with its rounded value, the days with the
    measures worked out from them, the matrix cells with theirs."""
    cells = []
    for r in staged_cells:
        key, n, keys = tuple(r[:5]), r[5], int(r[6])
        cells.append((*key, n, keys, shown_cell(secret, key, n, keys)))
    histograms: dict[tuple[str, date, str], list[tuple[str, int, int]]] = defaultdict(list)
    days = []
    for r in staged_days:
        days.append(tuple(r))
        histograms[(r[0], r[1], r[2])].append((r[3], r[4], r[5]))
    measures = [
        (*key, scope, found.n, found.median, found.p90)
        for key, histogram in histograms.items()
        for scope, found in measures_of(histogram, region).items()
    ]
    matrix = []
    for r in staged_matrix:
        counted = (r[4], r[5], r[6], int(r[7]))
        matrix.append((*r[:4], *counted, *shown_matrix(secret, (r[0], r[1], r[2], r[3]), *counted)))
    return cells, days, measures, matrix
