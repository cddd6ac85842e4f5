"""Consent to share with housing corporations (docs/domain.md, rule 14): the municipality responsible for the
client today records it given or withdrawn, as an event. Placement works inside the Wmo chain of care and
does not match on consent, so it keeps none: the event is the record, and housing acts on it."""

from datetime import date

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ConsentRecorded
from zorgstroom_contracts.region import Region
from zorgstroom_placement.ports import PlacementUnitOfWork, UnitsOfWork
from zorgstroom_placement.service_layer.access import check_not_ahead, is_municipality
from zorgstroom_placement.service_layer.transfers import apply_due_transfers
from zorgstroom_runtime.auth import Principal, Role
from zorgstroom_runtime.errors import Forbidden, NotFound


async def _responsible_today(uow: PlacementUnitOfWork, principal: Principal, client_ref: str) -> str:
    """The caller, when it is responsible for the client's current episode (waiting or placed now)."""
    episode = await uow.waiting_list.episode_of(client_ref)
    if not episode:
        raise NotFound("this client has no registration waiting or placed", kind="client-not-found")
    if not any(is_municipality(principal, r.responsible_municipality) for r in episode):
        raise Forbidden("only the municipality responsible for the client records consent")
    return principal.organisation_id


async def record_consent(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    client_ref: str,
    consent_to_share: bool,
    recorded_on: date | None,
    today: date,
    correlation_id: str | None = None,
) -> tuple[ConsentRecorded, Envelope]:
    """Given or withdrawn, dated (today by default, never beyond the region's margin); the latest dated fact
    counts downstream, so a later withdrawal withdraws an open corporation offer in housing."""
    principal.require(Role.INTAKE_REGISTER)
    day = recorded_on or today
    check_not_ahead("recorded_on", day, today, region)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)  # responsibility as it stands today
        municipality = await _responsible_today(uow, principal, client_ref)
        event = ConsentRecorded(
            client_ref=client_ref,
            responsible_municipality=municipality,
            consent_to_share=consent_to_share,
            recorded_on=day,
        )
        envelope = await uow.emit(event)
        await uow.audit_as(
            principal, "client.consent", client_ref=client_ref, subject=f"consent={str(consent_to_share).lower()}"
        )
    return event, envelope
