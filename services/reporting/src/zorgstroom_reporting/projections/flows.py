"""The flows projection: registrations per responsible municipality (more event types follow)."""

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_runtime import metrics
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
    await _advance(uow, "flows", envelope)


async def _advance(uow: UnitOfWork, projection: str, envelope: Envelope) -> None:
    await uow.conn.execute(
        "INSERT INTO projection_position (projection, last_event_occurred_at, events_applied) VALUES ($1, $2, 1)"
        " ON CONFLICT (projection) DO UPDATE SET events_applied = projection_position.events_applied + 1,"
        " last_event_occurred_at ="
        " greatest(projection_position.last_event_occurred_at, excluded.last_event_occurred_at)",
        projection,
        envelope.occurred_at,
    )
    metrics.PROJECTION_FRESHNESS.labels(uow.outbox.producer).set(envelope.occurred_at.timestamp())
