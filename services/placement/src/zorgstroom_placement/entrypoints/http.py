"""HTTP routes of placement: translate requests into service calls and answers into responses."""

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from zorgstroom_contracts.codes import CareForm
from zorgstroom_placement import service
from zorgstroom_placement.adapters.repository import Facility
from zorgstroom_placement.schemas import (
    AssessmentCreate,
    AssessmentRecorded,
    FacilityPublic,
    FacilityPut,
    PlacementEnd,
    PlacementEndedPublic,
    PlacementPublic,
    TransferCreate,
    TransferPublic,
)
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.telemetry import current_trace_id

router = APIRouter(prefix="/v1")
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
MunicipalityQuery = Annotated[str | None, Query(pattern=r"^\d{4}$")]


def _public(f: Facility) -> FacilityPublic:
    return FacilityPublic(**asdict(f), free_places=f.free_places)


@router.get("/waiting-list", tags=["waiting list"], summary="The regional waiting list in priority order")
async def waiting_list(
    principal: CurrentPrincipal,
    context: ContextDep,
    care_form: CareForm | None = None,
    municipality: MunicipalityQuery = None,
) -> dict[str, Any]:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        clients = await service.read_waiting_list(uow, principal, care_form, municipality, date.today())
    return {"care_form": care_form, "municipality": municipality, "clients": clients}


@router.put(
    "/facilities/{facility_id}",
    tags=["facilities"],
    summary="Register or change a facility (or a BW_HOME team)",
    responses={201: {"description": "Registered"}, 409: {"description": "Over the wijk cap or below occupancy"}},
)
async def put_facility(
    facility_id: IdPath, body: FacilityPut, principal: CurrentPrincipal, context: ContextDep, response: Response
) -> FacilityPublic:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        facility, created = await service.put_facility(uow, context.region, principal, facility_id, body)
    if created:
        response.status_code = 201
    response.headers["Location"] = f"/v1/facilities/{facility_id}"
    return _public(facility)


@router.get("/facilities", tags=["facilities"], summary="Facilities with occupancy and free places")
async def list_facilities(
    principal: CurrentPrincipal,
    context: ContextDep,
    care_form: CareForm | None = None,
    municipality: MunicipalityQuery = None,
) -> dict[str, list[FacilityPublic]]:
    async with context.unit_of_work() as uow:
        found = await service.list_facilities(uow, principal, care_form, municipality)
    return {"facilities": [_public(f) for f in found]}


@router.post(
    "/placements/{placement_id}/assessments",
    status_code=201,
    tags=["placements"],
    summary="ZRM scores and the client's voice: outflow readiness",
)
async def assess(
    placement_id: IdPath, body: AssessmentCreate, principal: CurrentPrincipal, context: ContextDep
) -> AssessmentRecorded:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        event, envelope = await service.assess(uow, context.region, principal, placement_id, body)
    return AssessmentRecorded(
        placement_id=placement_id,
        ready=event.ready,
        support_at_home=bool(event.support_at_home),
        event_id=str(envelope.event_id),
    )


@router.post("/placements/{placement_id}/end", tags=["placements"], summary="End a placement (WMO588 reason)")
async def end_placement(
    placement_id: IdPath, body: PlacementEnd, principal: CurrentPrincipal, context: ContextDep
) -> PlacementEndedPublic:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        event, envelope = await service.end(uow, principal, placement_id, body)
    return PlacementEndedPublic(
        placement_id=placement_id, reason=event.reason, end_date=event.end_date, event_id=str(envelope.event_id)
    )


@router.get(
    "/providers/{provider_agb}/placements",
    tags=["placements"],
    summary="A provider's open placements (its own clients only)",
)
async def provider_placements(
    provider_agb: Annotated[str, Path(pattern=r"^\d{8}$")], principal: CurrentPrincipal, context: ContextDep
) -> dict[str, list[PlacementPublic]]:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        found = await service.provider_placements(uow, principal, provider_agb)
    return {
        "placements": [
            PlacementPublic(
                placement_id=p.placement_id,
                client_ref=p.client_ref,
                facility_id=p.facility_id,
                care_form=p.care_form,
                responsible_municipality=p.responsible_municipality,
                start_date=p.start_date,
                ready=p.ready,
                support_at_home=p.support_at_home,
            )
            for p in found
        ]
    }


@router.post(
    "/clients/{client_ref}/transfer",
    tags=["clients"],
    summary="Transfer responsibility for a client to another municipality, with a reason",
)
async def transfer(
    client_ref: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    body: TransferCreate,
    principal: CurrentPrincipal,
    context: ContextDep,
) -> TransferPublic:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        event, envelope = await service.transfer(uow, context.region, principal, client_ref, body)
    return TransferPublic(
        client_ref=client_ref,
        from_municipality=event.from_municipality,
        to_municipality=event.to_municipality,
        effective_on=event.effective_on,
        event_id=str(envelope.event_id),
    )
