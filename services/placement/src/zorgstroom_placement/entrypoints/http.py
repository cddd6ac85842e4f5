"""HTTP routes of placement: translate requests into use cases and answers into responses."""

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from zorgstroom_placement.adapters.unit_of_work import units_of_work
from zorgstroom_placement.domain.facilities import Facility
from zorgstroom_placement.domain.transfers import Transfer, TransferStatus
from zorgstroom_placement.domain.waiting_list import URGENCY_RANK
from zorgstroom_placement.schemas import (
    AssessmentCreate,
    AssessmentRecorded,
    ConsentPut,
    ConsentRecordedPublic,
    FacilityPublic,
    FacilityPut,
    PlacementEnd,
    PlacementEndedPublic,
    PlacementPublic,
    RegistrationPublic,
    RegistrationUpdate,
    RegistrationWithdraw,
    TransferAccept,
    TransferCreate,
    TransferDecline,
    TransferPublic,
)
from zorgstroom_placement.service_layer import consent, facilities, placements, transfers, waiting_list
from zorgstroom_runtime.apidocs import Responses
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal, OrganisationKind, Principal
from zorgstroom_runtime.errors import Forbidden
from zorgstroom_runtime.idempotency import ReplayableRoute
from zorgstroom_runtime.pagination import NextAfter, PageDep, page_of
from zorgstroom_runtime.region import Region
from zorgstroom_runtime.telemetry import current_trace_id

router = APIRouter(prefix="/v1", route_class=ReplayableRoute)  # every write takes an Idempotency-Key
ClientRefPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
MunicipalityQuery = Annotated[str | None, Query(pattern=r"^\d{4}$")]
CareFormQuery = Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{1,39}$", description="A care form code.")]
# What a route answers of its own, beside the errors every route documents (zorgstroom_runtime.apidocs).
REGISTRATION: Responses = {
    404: {"description": "No such registration on the waiting list"},
    409: {"description": "The registration is no longer waiting (problem type registration-not-waiting)"},
}
PLACEMENT: Responses = {
    404: {"description": "No such placement"},
    409: {"description": "The placement has ended (problem type placement-ended)"},
}
TRANSFER_ANSWER: Responses = {
    404: {"description": "No such transfer"},
    409: {"description": "Answered before (transfer-answered), or its date has passed (transfer-expired)"},
}
CLIENT_NOT_FOUND: Responses = {404: {"description": "The client has no registration waiting or placed"}}
# The receiving municipality answers a proposed transfer; region staff answer for one outside the region.
TRANSFER_ANSWERERS = (OrganisationKind.MUNICIPALITY, OrganisationKind.REGION)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _only(principal: Principal, region: Region, *kinds: OrganisationKind, refusal: str) -> None:
    """A route's first gate, before anything is looked up: a kind of caller that may never do this gets 403,
    whether the id it names exists or not (a 404 would tell it which ids do). Staff of another region are such
    a caller everywhere."""
    if principal.organisation_kind not in kinds:
        raise Forbidden(refusal)
    if principal.organisation_kind is OrganisationKind.REGION and not principal.is_region_staff_of(region.code):
        raise Forbidden(f"credential {principal.name!r} is not staff of region {region.code}")


def _public(f: Facility, with_occupancy: bool = True) -> FacilityPublic:
    if not with_occupancy:
        return FacilityPublic(**asdict(f) | {"occupied": None}, free_places=None)
    return FacilityPublic(**asdict(f), free_places=f.free_places)


class FacilitiesPage(BaseModel):
    facilities: list[FacilityPublic]
    next_after: NextAfter = None


class PlacementsPage(BaseModel):
    placements: list[PlacementPublic]
    next_after: NextAfter = None


class TransfersPage(BaseModel):
    transfers: list[TransferPublic]
    next_after: NextAfter = None


def _waiting_order(listed: dict[str, Any]) -> tuple[str | int, ...]:
    """The waiting list's priority key (domain.waiting_list.priority_key) of a listed client: its page cursor."""
    rank = URGENCY_RANK[listed["urgency"]]
    return (rank, listed["waiting_since"], listed["intake_id"], listed["client_ref"])


def _transfer(t: Transfer) -> TransferPublic:
    return TransferPublic(**{k: v for k, v in asdict(t).items() if k not in ("applied", "created_at")})


def _newest_first(t: Transfer) -> tuple[str | int, ...]:
    """The list of transfers' order (newest first, then transfer_id) as an ascending key: its page cursor, so a
    transfer that leaves a `status=` filter between two pages moves no other one out of view."""
    assert t.created_at is not None  # read from the database
    return (-((t.created_at - _EPOCH) // timedelta(microseconds=1)), t.transfer_id)


@router.get("/waiting-list", tags=["waiting list"], summary="The regional waiting list in priority order")
async def waiting_list_read(
    principal: CurrentPrincipal,
    context: ContextDep,
    page: PageDep,
    care_form: CareFormQuery = None,
    municipality: MunicipalityQuery = None,
) -> dict[str, Any]:
    clients = await waiting_list.read_waiting_list(
        units_of_work(context), context.region, principal, care_form, municipality, date.today(), current_trace_id()
    )
    shown = page_of(clients, page, _waiting_order)
    return {
        "care_form": care_form,
        "municipality": municipality,
        "clients": shown.items,
        "next_after": shown.next_after,
    }


@router.patch(
    "/registrations/{intake_id}",
    tags=["waiting list"],
    summary="Update a waiting registration (the responsible municipality)",
    responses=REGISTRATION,
)
async def update_registration(
    intake_id: IdPath, body: RegistrationUpdate, principal: CurrentPrincipal, context: ContextDep
) -> RegistrationPublic:
    registration = await waiting_list.update_registration(
        units_of_work(context), context.region, principal, intake_id, body, date.today(), current_trace_id()
    )
    return RegistrationPublic.model_validate(registration)


@router.post(
    "/registrations/{intake_id}/withdraw",
    tags=["waiting list"],
    summary="Withdraw a waiting registration with a reason (the responsible municipality)",
    responses=REGISTRATION,
)
async def withdraw_registration(
    intake_id: IdPath, body: RegistrationWithdraw, principal: CurrentPrincipal, context: ContextDep
) -> RegistrationPublic:
    registration = await waiting_list.withdraw_registration(
        units_of_work(context),
        context.region,
        principal,
        intake_id,
        body.reason,
        body.withdrawn_on,
        date.today(),
        current_trace_id(),
    )
    return RegistrationPublic.model_validate(registration)


@router.put(
    "/facilities/{facility_id}",
    tags=["facilities"],
    summary="Register or change a facility (or an ambulant team)",
    responses={201: {"description": "Registered"}, 409: {"description": "Over the wijk cap or below occupancy"}},
)
async def put_facility(
    facility_id: IdPath, body: FacilityPut, principal: CurrentPrincipal, context: ContextDep, response: Response
) -> FacilityPublic:
    facility, created = await facilities.put_facility(
        units_of_work(context), context.region, principal, facility_id, body, date.today(), current_trace_id()
    )
    if created:
        response.status_code = 201
    response.headers["Location"] = f"/v1/facilities/{facility_id}"
    return _public(facility)


@router.get(
    "/facilities",
    tags=["facilities"],
    summary="Facilities with capacity; occupancy and free places for region staff and the owning provider",
)
async def list_facilities(
    principal: CurrentPrincipal,
    context: ContextDep,
    page: PageDep,
    care_form: CareFormQuery = None,
    municipality: MunicipalityQuery = None,
) -> FacilitiesPage:
    found = await facilities.list_facilities(units_of_work(context), context.region, principal, care_form, municipality)
    shown = page_of(found, page, lambda f: (f.facility_id,))
    listed = [_public(f, facilities.sees_occupancy(principal, context.region, f)) for f in shown.items]
    return FacilitiesPage(facilities=listed, next_after=shown.next_after)


@router.post(
    "/placements/{placement_id}/assessments",
    status_code=201,
    tags=["placements"],
    summary="ZRM scores and the client's voice: outflow readiness",
    responses=PLACEMENT,
)
async def assess(
    placement_id: IdPath, body: AssessmentCreate, principal: CurrentPrincipal, context: ContextDep
) -> AssessmentRecorded:
    _only(principal, context.region, OrganisationKind.PROVIDER, refusal="only the provider of a placement assesses it")
    event, envelope = await placements.assess(
        units_of_work(context), context.region, principal, placement_id, body, date.today(), current_trace_id()
    )
    return AssessmentRecorded(
        placement_id=placement_id,
        ready=event.ready,
        support_at_home=bool(event.support_at_home),
        event_id=str(envelope.event_id),
    )


@router.post(
    "/placements/{placement_id}/end",
    tags=["placements"],
    summary="End a placement (WMO588 reason)",
    responses=PLACEMENT,
)
async def end_placement(
    placement_id: IdPath, body: PlacementEnd, principal: CurrentPrincipal, context: ContextDep
) -> PlacementEndedPublic:
    event, envelope = await placements.end(
        units_of_work(context), context.region, principal, placement_id, body, date.today(), current_trace_id()
    )
    return PlacementEndedPublic(
        placement_id=placement_id, reason=event.reason, end_date=event.end_date, event_id=str(envelope.event_id)
    )


@router.get(
    "/providers/{provider_agb}/placements",
    tags=["placements"],
    summary="A provider's open placements (its own clients only)",
)
async def provider_placements(
    provider_agb: Annotated[str, Path(pattern=r"^\d{8}$")],
    principal: CurrentPrincipal,
    context: ContextDep,
    page: PageDep,
) -> PlacementsPage:
    found = await placements.provider_placements(
        units_of_work(context), context.region, principal, provider_agb, date.today()
    )
    shown = page_of(found, page, lambda p: (p.start_date.isoformat(), p.placement_id))  # the adapter's order
    return PlacementsPage(
        placements=[
            PlacementPublic(**{k: v for k, v in asdict(p).items() if k in PlacementPublic.model_fields})
            for p in shown.items
        ],
        next_after=shown.next_after,
    )


@router.post(
    "/clients/{client_ref}/transfer",
    status_code=202,
    tags=["transfers"],
    summary="Propose that another municipality takes over a client's episode, with a reason",
    responses=CLIENT_NOT_FOUND | {409: {"description": "A transfer of this episode awaits (transfer-pending)"}},
)
async def propose_transfer(
    client_ref: ClientRefPath,
    body: TransferCreate,
    principal: CurrentPrincipal,
    context: ContextDep,
) -> TransferPublic:
    _only(
        principal,
        context.region,
        OrganisationKind.MUNICIPALITY,
        refusal="only the responsible municipality proposes a transfer",
    )
    transfer = await transfers.propose(
        units_of_work(context),
        context.region,
        principal,
        client_ref,
        body.to_municipality,
        body.reason,
        body.effective_on,
        date.today(),
        current_trace_id(),
    )
    return _transfer(transfer)


@router.put(
    "/clients/{client_ref}/consent",
    tags=["clients"],
    summary="Record the client's consent to share with housing corporations, given or withdrawn",
    responses=CLIENT_NOT_FOUND,
)
async def record_consent(
    client_ref: ClientRefPath, body: ConsentPut, principal: CurrentPrincipal, context: ContextDep
) -> ConsentRecordedPublic:
    event, envelope = await consent.record_consent(
        units_of_work(context),
        context.region,
        principal,
        client_ref,
        body.consent_to_share,
        body.recorded_on,
        date.today(),
        current_trace_id(),
    )
    return ConsentRecordedPublic(
        client_ref=client_ref,
        consent_to_share=event.consent_to_share,
        recorded_on=event.recorded_on,
        event_id=str(envelope.event_id),
    )


@router.post(
    "/transfers/{transfer_id}/accept",
    tags=["transfers"],
    summary="Accept a proposed transfer (the receiving municipality)",
    responses=TRANSFER_ANSWER,
)
async def accept_transfer(
    transfer_id: IdPath, principal: CurrentPrincipal, context: ContextDep, body: TransferAccept | None = None
) -> TransferPublic:
    _only(
        principal,
        context.region,
        *TRANSFER_ANSWERERS,
        refusal="only the receiving municipality answers a proposed transfer",
    )
    transfer = await transfers.accept(
        units_of_work(context),
        context.region,
        principal,
        transfer_id,
        body.accepted_on if body else None,
        date.today(),
        current_trace_id(),
    )
    return _transfer(transfer)


@router.post(
    "/transfers/{transfer_id}/decline",
    tags=["transfers"],
    summary="Decline a proposed transfer with a reason (the receiving municipality)",
    responses=TRANSFER_ANSWER,
)
async def decline_transfer(
    transfer_id: IdPath, body: TransferDecline, principal: CurrentPrincipal, context: ContextDep
) -> TransferPublic:
    _only(
        principal,
        context.region,
        *TRANSFER_ANSWERERS,
        refusal="only the receiving municipality answers a proposed transfer",
    )
    transfer = await transfers.decline(
        units_of_work(context), context.region, principal, transfer_id, body.reason, date.today(), current_trace_id()
    )
    return _transfer(transfer)


@router.get("/transfers", tags=["transfers"], summary="The caller's proposed transfers, in and out")
async def list_transfers(
    principal: CurrentPrincipal, context: ContextDep, page: PageDep, status: TransferStatus | None = None
) -> TransfersPage:
    found = await transfers.list_transfers(units_of_work(context), context.region, principal, status, date.today())
    shown = page_of(found, page, _newest_first)
    return TransfersPage(transfers=[_transfer(t) for t in shown.items], next_after=shown.next_after)
