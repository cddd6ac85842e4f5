"""Placement's service layer: registered clients join the waiting list; the list is read in order."""

from datetime import date

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import CareForm
from zorgstroom_contracts.events import ClientRegistered, ClientWaitlisted
from zorgstroom_placement.adapters import repository
from zorgstroom_placement.domain.waiting_list import in_priority_order
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.outbox import UnitOfWork
from zorgstroom_runtime.problems import Problem


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    if await repository.add_to_waiting_list(uow.conn, event):
        await uow.emit(
            ClientWaitlisted(
                client_ref=event.client_ref,
                care_form=event.care_form,
                responsible_municipality=event.responsible_municipality,
                urgency=event.urgency,
                waiting_since=event.registered_on,
            )
        )


async def read_waiting_list(
    context: ServiceContext, principal: Principal, care_form: CareForm | None, municipality: str | None
) -> list[dict[str, object]]:
    principal.require(Role.WAITING_LIST_READ)
    if principal.organisation_kind is OrganisationKind.MUNICIPALITY:
        if municipality not in (None, principal.organisation_id):
            raise Problem(403, "Forbidden", "a municipality reads only its own clients on the waiting list")
        municipality = principal.organisation_id
    elif principal.organisation_kind is not OrganisationKind.REGION:
        raise Problem(403, "Forbidden", "the waiting list is for municipalities and region staff")
    clients = await repository.waiting_clients(
        context.pool, care_form=care_form.value if care_form else None, municipality=municipality
    )
    async with context.unit_of_work() as uow:  # client-level data: the read is logged
        await uow.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action="waiting_list.read",
            subject=f"care_form={care_form.value if care_form else '*'} municipality={municipality or '*'}",
        )
    today = date.today()
    return [
        {
            "position": i,
            "client_ref": c.client_ref,
            "care_form": c.care_form.value,
            "responsible_municipality": c.responsible_municipality,
            "urgency": c.urgency.value,
            "waiting_since": c.waiting_since.isoformat(),
            "waiting_days": c.waiting_days(today),
        }
        for i, c in enumerate(in_priority_order(clients), start=1)
    ]
