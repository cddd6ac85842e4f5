"""Places and outflow homes per wijk against their caps, occupancy, offers and quota use: read from
reporting's own tables."""

from collections import Counter
from datetime import date
from typing import Any

import asyncpg

from zorgstroom_contracts.region import Region, within_months_after


async def wijken(pool: asyncpg.Pool, region: Region, until: date) -> list[dict[str, Any]]:
    """Every wijk with facility places or outflow homes: places now, and homes moved into within the cap's
    rolling window up to `until` (docs/domain.md, rule 13: a home frees its slot when the window passes)."""
    places = await pool.fetch(
        "SELECT wijk, sum(capacity)::int AS places FROM facilities WHERE wijk IS NOT NULL GROUP BY wijk"
    )
    moved_in = await pool.fetch(
        "SELECT wijk, outflow_date FROM outflows WHERE wijk IS NOT NULL AND outflow_date <= $1", until
    )
    window = region.housing.wijk_outflow_window_months
    homes = Counter(r["wijk"] for r in moved_in if within_months_after(r["outflow_date"], until, window))
    by_wijk: dict[str, dict[str, int]] = {}
    for r in places:
        by_wijk.setdefault(r["wijk"], {})["places"] = r["places"]
    for wijk, n in homes.items():
        by_wijk.setdefault(wijk, {})["outflow_homes"] = n
    return [
        {
            "wijk": wijk,
            "municipality": wijk[2:6],
            "places": counts.get("places", 0),
            "place_cap": region.placement.wijk_place_cap(wijk),
            "outflow_homes": counts.get("outflow_homes", 0),
            "outflow_home_cap": region.housing.wijk_outflow_cap(wijk),
        }
        for wijk, counts in sorted(by_wijk.items())
        if region.in_region(wijk[2:6])
    ]


async def occupancy(pool: asyncpg.Pool, on: date) -> list[dict[str, Any]]:
    """Every facility (its latest capacity) and how many of its places were taken at the end of `on`."""
    rows = await pool.fetch(
        "SELECT f.facility_id, f.provider_agb, f.municipality, f.wijk, f.care_form, f.capacity,"
        " count(p.placement_id)::int AS occupied FROM facilities f LEFT JOIN placements p"
        " ON p.facility_id = f.facility_id AND p.start_date <= $1 AND (p.end_date IS NULL OR p.end_date > $1)"
        " GROUP BY f.facility_id ORDER BY f.care_form, f.facility_id",
        on,
    )
    return [dict(r) for r in rows]


async def offers(pool: asyncpg.Pool, first: date, after: date) -> list[dict[str, Any]]:
    """Per corporation, municipality and quota year: the quota agreed (null when none was published),
    offers made in the period by outcome, and what is left of the quota after every acceptance of that
    quota year (not only those of the period). Quota
    years that fall in the period are listed even before their first offer."""
    rows = await pool.fetch(
        "WITH o AS (SELECT corporation_id, municipality, quota_year, count(*)::int AS offers_made,"
        " count(*) FILTER (WHERE status = 'accepted')::int AS accepted,"
        " count(*) FILTER (WHERE status = 'declined')::int AS declined,"
        " count(*) FILTER (WHERE status = 'lapsed')::int AS lapsed,"
        " count(*) FILTER (WHERE status = 'open')::int AS open"
        " FROM offers WHERE offered_on >= $1 AND offered_on < $2 GROUP BY 1, 2, 3),"
        " c AS (SELECT corporation_id, municipality, quota_year, homes FROM contingents"
        " WHERE quota_year BETWEEN extract(year FROM $1::date) AND extract(year FROM $2::date - 1)),"
        # what is left of a quota counts every acceptance of its year, whenever in the year it was offered
        " used AS (SELECT corporation_id, municipality, quota_year, count(*)::int AS accepted FROM offers"
        " WHERE status = 'accepted' GROUP BY 1, 2, 3)"
        " SELECT corporation_id, municipality, quota_year, c.homes AS quota,"
        " coalesce(o.offers_made, 0) AS offers_made, coalesce(o.accepted, 0) AS accepted,"
        " coalesce(o.declined, 0) AS declined, coalesce(o.lapsed, 0) AS lapsed, coalesce(o.open, 0) AS open,"
        " c.homes - coalesce(used.accepted, 0) AS quota_left"
        " FROM o FULL JOIN c USING (corporation_id, municipality, quota_year)"
        " LEFT JOIN used USING (corporation_id, municipality, quota_year) ORDER BY 1, 2, 3",
        first,
        after,
    )
    return [dict(r) for r in rows]
