"""Transfers of responsibility per episode (docs/domain.md, rule 9): proposed by the responsible
municipality, accepted or declined by the receiving one, applied to the episode from its effective date.

When it applies: an accepted transfer whose effective date has come is applied at once; one dated ahead
is applied by the first unit of work on or after that date that reads or changes responsibility (every
use case of placement starts with `apply_due_transfers`), so no service reads a stale responsible
municipality and nothing needs a timer.
"""

from dataclasses import replace
from datetime import date
from uuid import uuid4

from zorgstroom_contracts.codes import TransferDeclineReason, TransferReason
from zorgstroom_contracts.region import Region
from zorgstroom_placement.domain.transfers import (
    Transfer,
    TransferStatus,
    declined_event,
    proposed_event,
    takes_effect,
    transferred_event,
)
from zorgstroom_placement.ports import PlacementUnitOfWork, UnitsOfWork
from zorgstroom_placement.service_layer.access import check_not_ahead, is_municipality, is_region_staff
from zorgstroom_placement.service_layer.matching import take_turns
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound


async def apply_due_transfers(uow: PlacementUnitOfWork, region: Region, today: date) -> bool:
    """Hand each episode whose accepted transfer takes effect by `today` to its new municipality; whether any."""
    due = await uow.transfers.due(today)  # accepted, not yet applied, effective by today
    for transfer in due:
        await _apply(uow, region, transfer)
    return bool(due)


async def _apply(uow: PlacementUnitOfWork, region: Region, transfer: Transfer) -> None:
    # The episode's rows are the matchers' rows too: take every care form's turn first, in the matchers'
    # order (a transfer is rare, and with all turns held no later turn of this unit can come out of order).
    await take_turns(uow, region, region.care_forms)
    await uow.waiting_list.hand_over(
        transfer.intake_ids, transfer.to_municipality, leaves_region=not transfer.to_in_region
    )
    await uow.placements.hand_over(transfer.intake_ids, transfer.to_municipality)
    await uow.transfers.save(replace(transfer, applied=True))


async def propose(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    client_ref: str,
    to_municipality: str,
    reason: TransferReason,
    effective_on: date,
    today: date,
    correlation_id: str | None = None,
) -> Transfer:
    """The responsible municipality proposes, with a reason, that another takes over the client's episode:
    the registrations that are waiting or placed now. Nothing changes until the receiver accepts."""
    principal.require(Role.CLIENTS_TRANSFER)
    if not region.known(to_municipality):
        raise InvalidField("to_municipality", f"{to_municipality} is not a CBS municipality code")
    if not region.dates.in_transfer_window(effective_on, today):
        first, last = region.dates.transfer_window(today)
        raise InvalidField("effective_on", f"a transfer takes effect between {first} and {last}")
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        intake_ids = await _episode(uow, principal, client_ref)
        if to_municipality == principal.organisation_id:
            raise InvalidField("to_municipality", "the client's responsible municipality already")
        if await uow.transfers.pending_for(intake_ids):
            raise Conflict("a transfer of this episode awaits an answer or its date", kind="transfer-pending")
        latest = await uow.transfers.latest_accepted_effective_on(intake_ids)
        if latest is not None and effective_on < latest:  # the services would disagree on who came last
            raise InvalidField("effective_on", f"a transfer of this episode already took effect on {latest}")
        transfer = Transfer(
            transfer_id=uuid4().hex,
            client_ref=client_ref,
            intake_ids=intake_ids,
            from_municipality=principal.organisation_id,
            to_municipality=to_municipality,
            to_in_region=region.in_region(to_municipality),
            reason=reason,
            effective_on=effective_on,
            proposed_on=today,
        )
        await uow.transfers.add(transfer)
        await uow.emit(proposed_event(transfer))
        await uow.audit_as(
            principal,
            "client.transfer.propose",
            client_ref=client_ref,
            subject=f"{transfer.transfer_id} {transfer.from_municipality}->{to_municipality} reason={reason}",
        )
    return transfer


async def _episode(uow: PlacementUnitOfWork, principal: Principal, client_ref: str) -> tuple[str, ...]:
    """The caller's part of the client's current episode: the registrations waiting or placed now."""
    episode = await uow.waiting_list.episode_of(client_ref)
    if not episode:
        raise NotFound("this client has no registration waiting or placed", kind="client-not-found")
    own = tuple(r.intake_id for r in episode if is_municipality(principal, r.responsible_municipality))
    if not own:
        raise Forbidden("only the responsible municipality proposes a transfer")
    return own


def _check_receiver(principal: Principal, region: Region, transfer: Transfer) -> None:
    """The receiving municipality answers; region staff answer for a receiver outside the region."""
    if principal.organisation_kind is OrganisationKind.MUNICIPALITY:
        principal.require(Role.CLIENTS_TRANSFER)
        if principal.organisation_id == transfer.to_municipality:
            return
    elif is_region_staff(principal, region) and not transfer.to_in_region:
        principal.require(Role.CLIENTS_TRANSFER)
        return
    raise Forbidden("only the receiving municipality answers a proposed transfer")


async def _open_proposal(uow: PlacementUnitOfWork, principal: Principal, region: Region, transfer_id: str) -> Transfer:
    transfer = await uow.transfers.get_for_update(transfer_id)
    if transfer is None:
        raise NotFound(f"transfer {transfer_id} is not known", kind="transfer-not-found")
    _check_receiver(principal, region, transfer)
    if transfer.status is not TransferStatus.PROPOSED:
        raise Conflict(
            f"transfer {transfer_id} was {transfer.status.value} on {transfer.answered_on}",
            kind="transfer-answered",
            transfer_status=transfer.status.value,
        )
    return transfer


def _check_still_acceptable(transfer: Transfer, accepted_on: date, today: date, region: Region) -> None:
    """Rule 9: accepted late, an effective date that has left the window would rewrite closed months."""
    if accepted_on < transfer.proposed_on:
        raise InvalidField("accepted_on", f"the transfer was proposed on {transfer.proposed_on}")
    if not region.dates.in_transfer_window(transfer.effective_on, today):
        first, last = region.dates.transfer_window(today)
        raise Conflict(
            f"transfer {transfer.transfer_id} takes effect on {transfer.effective_on}, outside {first}..{last}",
            kind="transfer-expired",
            effective_on=transfer.effective_on.isoformat(),
        )


async def accept(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    transfer_id: str,
    accepted_on: date | None,
    today: date,
    correlation_id: str | None = None,
) -> Transfer:
    """Accepted, the transfer holds from its effective date for its episode only (applied now if due)."""
    day = accepted_on or today
    check_not_ahead("accepted_on", day, today, region)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        await take_turns(uow, region, region.care_forms)  # before the transfer's row, as apply_due_transfers does
        transfer = await _open_proposal(uow, principal, region, transfer_id)
        _check_still_acceptable(transfer, day, today, region)
        transfer = transfer.accepted(day)
        await uow.transfers.save(transfer)
        await uow.emit(transferred_event(transfer))
        await uow.audit_as(principal, "client.transfer.accept", client_ref=transfer.client_ref, subject=transfer_id)
        if takes_effect(transfer, today):
            await _apply(uow, region, transfer)
            transfer = replace(transfer, applied=True)
    return transfer


async def decline(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    transfer_id: str,
    reason: TransferDeclineReason,
    today: date,
    correlation_id: str | None = None,
) -> Transfer:
    """Declined with a reason: nothing changes; the proposing municipality stays responsible."""
    async with units(correlation_id=correlation_id) as uow:
        transfer = (await _open_proposal(uow, principal, region, transfer_id)).declined(today, reason)
        await uow.transfers.save(transfer)
        await uow.emit(declined_event(transfer))
        await uow.audit_as(
            principal, "client.transfer.decline", client_ref=transfer.client_ref, subject=f"{transfer_id} {reason}"
        )
    return transfer


async def list_transfers(
    units: UnitsOfWork, region: Region, principal: Principal, status: TransferStatus | None, today: date
) -> list[Transfer]:
    """A municipality sees the proposals it made or received; region staff see the region's."""
    if principal.organisation_kind is OrganisationKind.MUNICIPALITY:
        principal.require(Role.CLIENTS_TRANSFER)
        municipality: str | None = principal.organisation_id
    elif is_region_staff(principal, region):
        principal.require(Role.WAITING_LIST_READ)
        municipality = None
    else:
        raise Forbidden("transfers are for municipalities and region staff")
    async with units() as uow:
        await apply_due_transfers(uow, region, today)
        found = await uow.transfers.involving(municipality, status)
        await uow.audit_as(principal, "transfers.read", subject=f"status={status or '*'}")
    return found
