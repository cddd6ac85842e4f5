"""HTTP routes of housing: translate requests into service calls and answers into responses."""

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response

from zorgstroom_housing import service
from zorgstroom_housing.adapters.repository import OfferRow
from zorgstroom_housing.schemas import (
    ContingentPublic,
    ContingentPut,
    HousingUnitCreate,
    OfferAnswer,
    OfferDecline,
    OfferPublic,
    UnitPublic,
)
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.telemetry import current_trace_id

router = APIRouter(prefix="/v1", tags=["housing"])
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


def _public(offer: OfferRow) -> OfferPublic:
    """A corporation's view of an offer: the household and what it needs, never who the client is."""
    row = asdict(offer)
    return OfferPublic(**{name: row[name] for name in OfferPublic.model_fields})


@router.post("/housing-units", status_code=202, summary="A corporation offers a unit for outflow")
async def offer_unit(
    unit: HousingUnitCreate, principal: CurrentPrincipal, context: ContextDep, response: Response
) -> dict[str, str]:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        event_id, new = await service.offer_unit(uow, principal, unit, date.today())
    if not new:
        response.headers["Idempotent-Replayed"] = "true"
    return {"unit_id": unit.unit_id, "event_id": event_id}


@router.put("/contingents/{corporation_id}/{municipality}/{year}", summary="The agreed number of outflow homes")
async def put_contingent(
    corporation_id: IdPath,
    municipality: Annotated[str, Path(pattern=r"^\d{4}$")],
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: ContingentPut,
    principal: CurrentPrincipal,
    context: ContextDep,
) -> ContingentPublic:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        return await service.set_contingent(uow, principal, corporation_id, municipality, year, body.units)


@router.post("/offers/{offer_id}/accept", summary="The client accepts an offer (answered by the corporation)")
async def accept_offer(
    offer_id: IdPath,
    principal: CurrentPrincipal,
    context: ContextDep,
    body: Annotated[OfferAnswer | None, Body()] = None,
) -> OfferPublic:
    on = (body.answered_on if body else None) or date.today()
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        return _public(await service.accept(uow, principal, offer_id, on))


@router.post("/offers/{offer_id}/decline", summary="The client declines an offer, with a reason")
async def decline_offer(
    offer_id: IdPath, body: OfferDecline, principal: CurrentPrincipal, context: ContextDep
) -> OfferPublic:
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        return _public(await service.decline(uow, principal, offer_id, body, date.today()))


@router.get("/corporations/{corporation_id}/offers", summary="A corporation's offers and their answers")
async def corporation_offers(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep
) -> dict[str, list[OfferPublic]]:
    async with context.unit_of_work() as uow:
        offers = await service.corporation_offers(uow, principal, corporation_id)
    return {"offers": [_public(o) for o in offers]}


@router.get("/corporations/{corporation_id}/contingents", summary="A corporation's quotas and their use")
async def corporation_contingents(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep
) -> dict[str, list[ContingentPublic]]:
    async with context.unit_of_work() as uow:
        return {"contingents": await service.corporation_contingents(uow, principal, corporation_id)}


@router.get("/corporations/{corporation_id}/units", summary="A corporation's units, and why one is not offered")
async def corporation_units(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep
) -> dict[str, list[UnitPublic]]:
    async with context.unit_of_work() as uow:
        rows = await service.corporation_units(uow, principal, corporation_id)
    return {"units": [UnitPublic(**dict(r)) for r in rows]}
