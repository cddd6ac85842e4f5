"""How far the projections are: the newest event applied, for freshness on /metrics."""

from zorgstroom_contracts import Envelope
from zorgstroom_runtime import metrics
from zorgstroom_runtime.outbox import UnitOfWork


async def advance(uow: UnitOfWork, projection: str, envelope: Envelope) -> None:
    await uow.conn.execute(
        "INSERT INTO projection_position (projection, last_event_occurred_at, events_applied) VALUES ($1, $2, 1)"
        " ON CONFLICT (projection) DO UPDATE SET events_applied = projection_position.events_applied + 1,"
        " last_event_occurred_at ="
        " greatest(projection_position.last_event_occurred_at, excluded.last_event_occurred_at)",
        projection,
        envelope.occurred_at,
    )
    metrics.PROJECTION_FRESHNESS.labels(uow.outbox.producer).set(envelope.occurred_at.timestamp())
