"""Reporting's projection: a batch of events folded into rows, written with one statement per table.

The ledger `projection_events` records every event id applied, in the same transaction as the rows, so
a redelivered event changes nothing; the rows themselves are upserts that give the same result in any
order of arrival. The statements below are the only SQL that writes reporting's tables; a live batch
(runtime.batch.BatchConsumer) and a rebuild (runtime.rebuild) both go through `ReportingProjection.apply`.
"""

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from pydantic_settings import BaseSettings, SettingsConfigDict

from zorgstroom_contracts import spec_for
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    RegistrationWithdrawn,
    ResponsibilityTransferred,
)
from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.projections import kept
from zorgstroom_reporting.projections.rows import MAPPERS, Rows, fold
from zorgstroom_runtime.batch import Delivery, claim_new
from zorgstroom_runtime.region import load_region
from zorgstroom_runtime.settings import ServiceSettings

LEDGER = "projection_events"
# The events that change a client's facts, and so the report aggregates (facilities, offers and quotas do not).
FLOW_EVENTS = frozenset(
    {
        ClientRegistered,
        PlacementMade,
        PlacementEnded,
        OutflowCompleted,
        OutflowReadinessAssessed,
        ResponsibilityTransferred,
        RegistrationWithdrawn,
        ConsentRecorded,
    }
)

_WRITES: list[tuple[str, str]] = [
    (
        "registrations",
        "INSERT INTO registrations (intake_id, client_ref, registering_municipality, responsible_municipality,"
        " care_form, registered_on, event_id, occurred_at, consent_to_share)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],"
        " $7::uuid[], $8::timestamptz[], $9::bool[]) ON CONFLICT (intake_id) DO NOTHING",
    ),
    (
        # A start and an end of one placement in one row: the start's columns are taken where the row
        # says the start (start_date), the end's where it says the end (end_date), the rest kept; both say
        # intake_id and care_form, and the start's word wins where it has one.
        "placements",
        "INSERT INTO placements (placement_id, intake_id, client_ref, responsible_municipality, facility_id,"
        " facility_municipality, wijk, care_form, start_date, waited_days, doorstroom_from, end_date, end_reason,"
        " doorstroom_to) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::date[], $10::int[], $11::text[], $12::date[], $13::text[],"
        " $14::text[]) ON CONFLICT (placement_id) DO UPDATE SET"
        + ",".join(
            f" {c} = CASE WHEN excluded.start_date IS NULL THEN coalesce(placements.{c}, excluded.{c})"
            f" ELSE coalesce(excluded.{c}, placements.{c}) END"
            for c in ("intake_id", "care_form")
        )
        + ","
        + ",".join(
            f" {c} = CASE WHEN excluded.start_date IS NULL THEN placements.{c} ELSE excluded.{c} END"
            for c in (
                "responsible_municipality",
                "facility_municipality",
                "wijk",
                "start_date",
                "waited_days",
                "doorstroom_from",
            )
        )
        + ", end_date = coalesce(excluded.end_date, placements.end_date),"
        + ",".join(
            f" {c} = CASE WHEN excluded.end_date IS NULL THEN placements.{c} ELSE excluded.{c} END"
            for c in ("end_reason", "doorstroom_to")
        ),
    ),
    (
        "outflows",
        "INSERT INTO outflows (placement_id, client_ref, responsible_municipality, municipality, wijk,"
        " outflow_date, support_at_home) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::date[], $7::text[]) ON CONFLICT (placement_id) DO NOTHING",
    ),
    (
        "assessments",
        "INSERT INTO assessments (event_id, placement_id, client_ref, assessed_on, ready, occurred_at, topic_offset)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::bool[], $6::timestamptz[],"
        " $7::bigint[])"
        " ON CONFLICT (event_id) DO NOTHING",
    ),
    (
        "transfers",
        "INSERT INTO transfers (event_id, client_ref, from_municipality, to_municipality, reason, effective_on,"
        " transfer_id, intake_ids, accepted_on, to_in_region) SELECT * FROM unnest($1::uuid[], $2::text[],"
        " $3::text[], $4::text[], $5::text[], $6::date[], $7::text[], $8::text[], $9::date[], $10::bool[])"
        " ON CONFLICT (event_id) DO NOTHING",
    ),
    (
        "withdrawals",
        "INSERT INTO withdrawals (intake_id, client_ref, responsible_municipality, care_form, reason, withdrawn_on)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[])"
        " ON CONFLICT (intake_id) DO NOTHING",
    ),
    (
        "consents",
        "INSERT INTO consents (event_id, client_ref, consent_to_share, recorded_on, occurred_at, topic_offset)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::date[], $5::timestamptz[], $6::bigint[])"
        " ON CONFLICT (event_id) DO NOTHING",
    ),
    (
        # The newer change wins by (version, offset), never by the producers' clocks (rows.order_of_change).
        "facilities",
        "INSERT INTO facilities (facility_id, provider_agb, municipality, wijk, care_form, capacity, occurred_at,"
        " version, topic_offset) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::int[], $7::timestamptz[], $8::int[], $9::bigint[]) ON CONFLICT (facility_id) DO UPDATE SET"
        " provider_agb = excluded.provider_agb, municipality = excluded.municipality, wijk = excluded.wijk,"
        " care_form = excluded.care_form, capacity = excluded.capacity, occurred_at = excluded.occurred_at,"
        " version = excluded.version, topic_offset = excluded.topic_offset"
        " WHERE (facilities.version, facilities.topic_offset) < (excluded.version, excluded.topic_offset)",
    ),
    (
        # An offer and its answer in one row, in either order: as for placements. A voided acceptance (placement
        # refused the outflow) stays voided whether the acceptance comes before or after the refusal.
        "offers",
        "INSERT INTO offers (offer_id, corporation_id, municipality, wijk, quota_year, offered_on, status,"
        " answered_on, reason) SELECT o, c, m, w, q, d, coalesce(s, 'open'), a, r FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::text[], $5::int[], $6::date[], $7::text[], $8::date[], $9::text[])"
        " AS u(o, c, m, w, q, d, s, a, r) ON CONFLICT (offer_id) DO UPDATE SET"
        + ",".join(
            f" {c} = CASE WHEN excluded.offered_on IS NULL THEN offers.{c} ELSE excluded.{c} END"
            for c in ("corporation_id", "municipality", "wijk", "quota_year", "offered_on")
        )
        + ","
        + ",".join(
            f" {c} = CASE WHEN excluded.answered_on IS NULL OR offers.status = 'voided' THEN offers.{c}"
            f" ELSE excluded.{c} END"
            for c in ("status", "answered_on", "reason")
        ),
    ),
    (
        "contingents",
        "INSERT INTO contingents (corporation_id, municipality, quota_year, homes, occurred_at, version, topic_offset)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::int[],"
        " $7::bigint[]) ON CONFLICT (corporation_id, municipality, quota_year) DO UPDATE SET homes = excluded.homes,"
        " occurred_at = excluded.occurred_at, version = excluded.version, topic_offset = excluded.topic_offset"
        " WHERE (contingents.version, contingents.topic_offset) < (excluded.version, excluded.topic_offset)",
    ),
]

_POSITION = (
    "INSERT INTO projection_position (projection, last_event_occurred_at, events_applied)"
    " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) ON CONFLICT (projection) DO UPDATE SET"
    " events_applied = projection_position.events_applied + excluded.events_applied,"
    " last_event_occurred_at = greatest(projection_position.last_event_occurred_at, excluded.last_event_occurred_at)"
)


def _columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def write(conn: asyncpg.Connection, rows: Rows) -> None:
    """One statement per table (and kind of fact) that the batch touches.

    Tables in a fixed order and rows sorted by key: two batches written at once (a rebuild writes on
    two connections) take their row locks in the same order, so one may wait for the other but they
    never deadlock.
    """
    for name, sql in _WRITES:
        batch: dict[Any, tuple[object, ...]] = getattr(rows, name)
        if batch:
            await conn.execute(sql, *_columns([batch[key] for key in sorted(batch)]))
    if rows.positions:
        names = sorted(rows.positions)
        await conn.execute(
            _POSITION, names, [rows.positions[n][1] for n in names], [rows.positions[n][0] for n in names]
        )


class _RegionFiles(BaseSettings):
    """Only the region's files, read as the service reads them (ZS_ variables and .env): a CLI rebuild derives the
    aggregates under the region the service reports on, without the rest of the service's settings."""

    model_config = SettingsConfigDict(env_prefix="ZS_", env_file=".env", extra="ignore")

    region_file: Path = ServiceSettings.model_fields["region_file"].default
    municipalities_file: Path = ServiceSettings.model_fields["municipalities_file"].default


class ReportingProjection:
    """Every projection of reporting, fed by the events of MAPPERS (runtime.batch.Projection), and the report
    aggregates kept from the facts (projections/kept.py): a batch's clients' contributions before and after
    its rows are written, the difference applied. `region` is the one the service reports on (bound when the
    service starts: bootstrap.py); `today` is the clock that rolls the horizon over."""

    name: str = "reporting"
    event_types: frozenset[str] = frozenset(spec_for(cls).event_type for cls in MAPPERS)
    # The ledger first: a rebuild's switch locks the live tables in this order, and the live writer
    # touches the ledger first too (claim_new), so the two never wait for each other in a circle. The
    # aggregates' horizon comes before it: a batch holds it (shared) before anything else.
    tables: Sequence[str] = (
        "report_horizon",
        LEDGER,
        "registrations",
        "placements",
        "outflows",
        "assessments",
        "transfers",
        "withdrawals",
        "consents",
        "facilities",
        "offers",
        "contingents",
        "projection_position",
        *(t for t in kept.TABLES if t != "report_horizon"),
    )

    def __init__(
        self, region: Region | None = None, today: Callable[[], date] = date.today, *, deltas: bool = True
    ) -> None:
        self._region, self.today, self.deltas = region, today, deltas
        self.derive_seconds = 0.0  # the last rebuild's derivation of the aggregates

    def bind(self, region: Region) -> None:
        self._region = region

    @property
    def region(self) -> Region:
        if self._region is None:  # a rebuild run by the operator's CLI: the region of the service's settings
            files = _RegionFiles()
            self._region = load_region(files.region_file, files.municipalities_file)
        return self._region

    def for_bulk_replay(self) -> "ReportingProjection":
        """The same projection without deltas, for a rebuild's bulk phase: `rebuilt` derives the aggregates after it
        in one pass (a registration read years before its placement would otherwise add and remove years of states)."""
        return ReportingProjection(self._region, self.today, deltas=False)

    async def rebuilt(self, conn: asyncpg.Connection) -> None:
        """Every aggregate derived from the rebuilt facts, before the switch (runtime.rebuild)."""
        async with conn.transaction():
            self.derive_seconds = await kept.derive(
                conn, self.region, await kept.secret_of(conn), Month.of(self.today())
            )

    async def apply(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> Sequence[Delivery]:
        """The horizon (shared) first, as a rebuild's switch locks it first; then the ledger, so that a redelivered
        batch costs nothing more; then the fresh events' clients, each under an advisory lock taken in sorted order
        (after the ledger in every writer, so no two wait for each other in a circle)."""
        keeps = self.deltas and any(type(d.event) in FLOW_EVENTS for d in deliveries)
        keeper = await kept.Keeper.open(conn, self.region, Month.of(self.today())) if keeps else None
        fresh = await claim_new(conn, LEDGER, deliveries)
        if not fresh:
            return fresh
        rows = fold([(d.envelope, d.event) for d in fresh], [d.record.offset for d in fresh])
        if keeper is None:  # a bulk replay (its aggregates are derived after it), or no event of a client's facts
            await write(conn, rows)
            return fresh
        clients = sorted({d.event.client_ref for d in fresh if type(d.event) in FLOW_EVENTS})  # type: ignore[attr-defined]
        await keeper.lock(clients)
        before = await keeper.of(clients)
        await write(conn, rows)
        await keeper.apply((await keeper.of(clients)).minus(before))
        return fresh
