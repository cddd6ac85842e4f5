"""HTTP routes of housing."""

from typing import Annotated

from fastapi import APIRouter, Path

from zorgstroom_housing import service
from zorgstroom_housing.schemas import ContingentPublic, ContingentPut, HousingUnitCreate
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.telemetry import current_trace_id

router = APIRouter(prefix="/v1", tags=["housing"])


@router.post("/housing-units", status_code=202, summary="A corporation offers a unit for outflow")
async def offer_unit(unit: HousingUnitCreate, principal: CurrentPrincipal, context: ContextDep) -> dict[str, str]:
    event_id = await service.offer_unit(context, principal, unit, current_trace_id())
    return {"unit_id": unit.unit_id, "event_id": event_id}


@router.put("/contingents/{corporation_id}/{municipality}/{year}", summary="The agreed number of outflow homes")
async def put_contingent(
    corporation_id: str,
    municipality: Annotated[str, Path(pattern=r"^\d{4}$")],
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: ContingentPut,
    principal: CurrentPrincipal,
    context: ContextDep,
) -> ContingentPublic:
    return await service.set_contingent(context, principal, corporation_id, municipality, year, body.units)
