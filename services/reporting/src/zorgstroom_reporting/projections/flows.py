"""The flow projections: one fact row per business fact, idempotent and tolerant of any arrival order.

Each handler writes in the consumer's transaction, which also records the event id, so a second
delivery changes nothing. Facts from different topics may arrive in any order: rows are upserted so
that an ending before its placement, or an outflow before its assessment, still ends in the same rows.
"""

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    ClientRegistered,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_reporting.projections.position import advance
from zorgstroom_runtime.outbox import UnitOfWork


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    await uow.conn.execute(
        "INSERT INTO registrations (intake_id, client_ref, registering_municipality, responsible_municipality,"
        " care_form, registered_on, event_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (intake_id) DO NOTHING",
        event.intake_id,
        event.client_ref,
        event.registering_municipality,
        event.responsible_municipality,
        event.care_form.value,
        event.registered_on,
        envelope.event_id,
        envelope.occurred_at,
    )
    await advance(uow, "flows", envelope)


async def on_placement_made(uow: UnitOfWork, envelope: Envelope, event: PlacementMade) -> None:
    await uow.conn.execute(
        "INSERT INTO placements (placement_id, intake_id, client_ref, responsible_municipality, facility_id,"
        " facility_municipality, wijk, care_form, start_date, waited_days) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
        " ON CONFLICT (placement_id) DO UPDATE SET intake_id = excluded.intake_id,"
        " responsible_municipality = excluded.responsible_municipality,"
        " facility_municipality = excluded.facility_municipality, wijk = excluded.wijk,"
        " care_form = excluded.care_form, start_date = excluded.start_date, waited_days = excluded.waited_days",
        event.placement_id,
        event.intake_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        event.facility_municipality,
        event.wijk,
        event.care_form.value,
        event.start_date,
        event.waited_days,
    )
    await advance(uow, "flows", envelope)


async def on_placement_ended(uow: UnitOfWork, envelope: Envelope, event: PlacementEnded) -> None:
    await uow.conn.execute(
        "INSERT INTO placements (placement_id, client_ref, responsible_municipality, facility_id, end_date,"
        " end_reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (placement_id) DO UPDATE SET"
        " end_date = excluded.end_date, end_reason = excluded.end_reason",
        event.placement_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        event.end_date,
        event.reason.value,
    )
    await advance(uow, "flows", envelope)


async def on_outflow_completed(uow: UnitOfWork, envelope: Envelope, event: OutflowCompleted) -> None:
    await uow.conn.execute(
        "INSERT INTO outflows (placement_id, client_ref, responsible_municipality, municipality, wijk, outflow_date,"
        " support_at_home) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (placement_id) DO NOTHING",
        event.placement_id,
        event.client_ref,
        event.responsible_municipality,
        event.municipality,
        event.wijk,
        event.outflow_date,
        event.support_at_home,
    )
    await advance(uow, "flows", envelope)


async def on_outflow_readiness_assessed(uow: UnitOfWork, envelope: Envelope, event: OutflowReadinessAssessed) -> None:
    await uow.conn.execute(
        "INSERT INTO assessments (event_id, placement_id, client_ref, assessed_on, ready, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        envelope.event_id,
        event.placement_id,
        event.client_ref,
        event.assessed_on,
        event.ready,
        envelope.occurred_at,
    )
    await advance(uow, "flows", envelope)


async def on_responsibility_transferred(uow: UnitOfWork, envelope: Envelope, event: ResponsibilityTransferred) -> None:
    await uow.conn.execute(
        "INSERT INTO transfers (event_id, client_ref, from_municipality, to_municipality, reason, effective_on)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        envelope.event_id,
        event.client_ref,
        event.from_municipality,
        event.to_municipality,
        event.reason.value,
        event.effective_on,
    )
    await advance(uow, "flows", envelope)
