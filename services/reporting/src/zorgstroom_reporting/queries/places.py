"""Places and outflow homes per wijk against their caps, occupancy, offers and quota use: read from
reporting's own tables."""

from collections import defaultdict
from datetime import date
from typing import Any

import asyncpg

from zorgstroom_contracts.region import Region, within_months_after


async def wijken(pool: asyncpg.Pool, region: Region, until: date) -> list[dict[str, Any]]:
    """Every wijk with facility places or outflow homes: places now, and homes moved into within the cap's
    rolling window up to `until` (docs/domain.md, rule 13: a home frees its slot when the window passes), with
    `outflow_clients`, who moved into them (to round on; never shown)."""
    places = await pool.fetch(
        "SELECT wijk, sum(capacity)::int AS places FROM facilities WHERE wijk IS NOT NULL GROUP BY wijk"
    )
    moved_in = await pool.fetch(
        "SELECT wijk, outflow_date, client_ref FROM outflows WHERE wijk IS NOT NULL AND outflow_date <= $1", until
    )
    window = region.housing.wijk_outflow_window_months
    homes: dict[str, list[str]] = defaultdict(list)
    for r in moved_in:
        if within_months_after(r["outflow_date"], until, window):
            homes[r["wijk"]].append(r["client_ref"])
    by_wijk: dict[str, dict[str, Any]] = {}
    for r in places:
        by_wijk.setdefault(r["wijk"], {})["places"] = r["places"]
    for wijk, clients in homes.items():
        by_wijk.setdefault(wijk, {}).update(outflow_homes=len(clients), outflow_clients=sorted(clients))
    return [
        {
            "wijk": wijk,
            "municipality": wijk[2:6],
            "places": counts.get("places", 0),
            "place_cap": region.placement.wijk_place_cap(wijk),
            "outflow_homes": counts.get("outflow_homes", 0),
            "outflow_home_cap": region.housing.wijk_outflow_cap(wijk),
            "outflow_clients": counts.get("outflow_clients", []),
        }
        for wijk, counts in sorted(by_wijk.items())
        if region.in_region(wijk[2:6])
    ]


async def occupancy(pool: asyncpg.Pool, on: date) -> list[dict[str, Any]]:
    """Every facility (its latest capacity) and how many of its places were taken at the end of `on`, with
    `clients`, who took them (to round on; never shown)."""
    rows = await pool.fetch(
        "SELECT f.facility_id, f.provider_agb, f.municipality, f.wijk, f.care_form, f.capacity,"
        " count(p.placement_id)::int AS occupied,"
        " coalesce(array_agg(p.client_ref) FILTER (WHERE p.placement_id IS NOT NULL), '{}') AS clients"
        " FROM facilities f LEFT JOIN placements p"
        " ON p.facility_id = f.facility_id AND p.start_date <= $1 AND (p.end_date IS NULL OR p.end_date > $1)"
        " GROUP BY f.facility_id ORDER BY f.care_form, f.facility_id",
        on,
    )
    return [dict(r) for r in rows]


async def offer_counts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Offers per corporation, municipality, quota year, month offered and status: the base cells of the
    housing report (domain/offers.py sums them per period and against the quota)."""
    rows = await pool.fetch(
        "SELECT corporation_id, municipality, quota_year, to_char(offered_on, 'YYYY-MM') AS month, status,"
        " count(*)::int AS n FROM offers GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    )
    return [dict(r) for r in rows]


async def quotas(pool: asyncpg.Pool, first_year: int, last_year: int) -> dict[tuple[str, str, int], int]:
    """The homes agreed per corporation, municipality and quota year (a published agreement)."""
    rows = await pool.fetch(
        "SELECT corporation_id, municipality, quota_year, homes FROM contingents WHERE quota_year BETWEEN $1 AND $2",
        first_year,
        last_year,
    )
    return {(r["corporation_id"], r["municipality"], r["quota_year"]): r["homes"] for r in rows}
