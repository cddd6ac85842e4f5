"""HTTP routes of placement."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from zorgstroom_contracts.codes import CareForm
from zorgstroom_placement import service
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["waiting list"])


@router.get("/waiting-list", summary="The regional waiting list in priority order")
async def waiting_list(
    principal: CurrentPrincipal,
    context: ContextDep,
    care_form: CareForm | None = None,
    municipality: Annotated[str | None, Query(pattern=r"^\d{4}$")] = None,
) -> dict[str, Any]:
    clients = await service.read_waiting_list(context, principal, care_form, municipality)
    return {"care_form": care_form, "municipality": municipality, "clients": clients}
