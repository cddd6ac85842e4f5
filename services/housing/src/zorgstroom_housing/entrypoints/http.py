"""HTTP routes of housing: translate requests into service calls and answers into responses."""

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel

from zorgstroom_contracts.codes import OfferDeclineReason
from zorgstroom_housing.adapters.unit_of_work import units_of_work
from zorgstroom_housing.domain.model import Contingent, HousingUnit, OfferRow
from zorgstroom_housing.schemas import (
    ContingentPublic,
    ContingentPut,
    HousingUnitCreate,
    OfferAnswer,
    OfferDecline,
    OfferPublic,
    UnitPublic,
)
from zorgstroom_housing.service_layer import corporations, offers
from zorgstroom_runtime.apidocs import Responses
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.idempotency import ReplayableRoute
from zorgstroom_runtime.pagination import NextAfter, PageDep, page_of
from zorgstroom_runtime.telemetry import current_trace_id

router = APIRouter(prefix="/v1", tags=["housing"], route_class=ReplayableRoute)  # writes take an Idempotency-Key
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
OFFER_ANSWER: Responses = {
    404: {"description": "No such offer"},
    409: {"description": "The offer was answered before (problem type offer-answered, with its `offer_status`)"},
}


class OffersPage(BaseModel):
    offers: list[OfferPublic]
    next_after: NextAfter = None


class ContingentsPage(BaseModel):
    contingents: list[ContingentPublic]
    next_after: NextAfter = None


class UnitsPage(BaseModel):
    units: list[UnitPublic]
    next_after: NextAfter = None


def _public(offer: OfferRow) -> OfferPublic:
    """A corporation's view of an offer: the household and what it needs, never who the client is."""
    row = asdict(offer)
    return OfferPublic(**{name: row[name] for name in OfferPublic.model_fields})


def _contingent(c: Contingent) -> ContingentPublic:
    return ContingentPublic(**asdict(c), left=c.left)


def _unit(u: HousingUnit) -> UnitPublic:
    row = asdict(u)
    return UnitPublic(**{name: row[name] for name in UnitPublic.model_fields})


@router.post(
    "/housing-units",
    status_code=202,
    summary="A corporation offers a unit for outflow",
    responses={409: {"description": "The unit was offered before with other content (problem type unit-exists)"}},
)
async def offer_unit(
    unit: HousingUnitCreate, principal: CurrentPrincipal, context: ContextDep, response: Response
) -> dict[str, str]:
    event_id, new = await corporations.offer_unit(
        units_of_work(context), context.region, principal, unit, date.today(), current_trace_id()
    )
    if not new:
        response.headers["Idempotent-Replayed"] = "true"
    return {"unit_id": unit.unit_id, "event_id": event_id}


@router.put(
    "/contingents/{corporation_id}/{municipality}/{year}",
    summary="The agreed number of outflow homes",
    responses={409: {"description": "Below the homes already used or promised (problem type contingent-below-use)"}},
)
async def put_contingent(
    corporation_id: IdPath,
    municipality: Annotated[str, Path(pattern=r"^\d{4}$")],
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: ContingentPut,
    principal: CurrentPrincipal,
    context: ContextDep,
) -> ContingentPublic:
    key = (corporation_id, municipality, year)
    agreed = await corporations.set_contingent(
        units_of_work(context), context.region, principal, key, body.units, date.today(), current_trace_id()
    )
    return _contingent(agreed)


@router.post(
    "/offers/{offer_id}/accept",
    summary="The client accepts an offer (answered by the corporation)",
    responses=OFFER_ANSWER,
)
async def accept_offer(
    offer_id: IdPath,
    principal: CurrentPrincipal,
    context: ContextDep,
    body: Annotated[OfferAnswer | None, Body()] = None,
) -> OfferPublic:
    today = date.today()
    on = (body.answered_on if body else None) or today
    accepted = await offers.accept(
        units_of_work(context), context.region, principal, offer_id, on, today, current_trace_id()
    )
    return _public(accepted)


@router.post(
    "/offers/{offer_id}/decline", summary="The client declines an offer, with a reason", responses=OFFER_ANSWER
)
async def decline_offer(
    offer_id: IdPath, body: OfferDecline, principal: CurrentPrincipal, context: ContextDep
) -> OfferPublic:
    today = date.today()
    declined = await offers.decline(
        units_of_work(context),
        context.region,
        principal,
        offer_id,
        OfferDeclineReason(body.reason),
        body.answered_on or today,
        today,
        current_trace_id(),
    )
    return _public(declined)


@router.get("/corporations/{corporation_id}/offers", summary="A corporation's offers and their answers")
async def corporation_offers(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep, page: PageDep
) -> OffersPage:
    found = await offers.corporation_offers(units_of_work(context), principal, corporation_id)
    shown = page_of(found, page)  # oldest first, never removed: by position
    return OffersPage(offers=[_public(o) for o in shown.items], next_after=shown.next_after)


@router.get("/corporations/{corporation_id}/contingents", summary="A corporation's quotas and their use")
async def corporation_contingents(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep, page: PageDep
) -> ContingentsPage:
    found = await corporations.corporation_contingents(units_of_work(context), principal, corporation_id)
    shown = page_of(found, page, lambda c: (c.year, c.municipality))
    return ContingentsPage(contingents=[_contingent(c) for c in shown.items], next_after=shown.next_after)


@router.get("/corporations/{corporation_id}/units", summary="A corporation's units, and why one is not offered")
async def corporation_units(
    corporation_id: IdPath, principal: CurrentPrincipal, context: ContextDep, page: PageDep
) -> UnitsPage:
    found = await corporations.corporation_units(units_of_work(context), principal, corporation_id)
    shown = page_of(found, page, lambda u: (u.unit_id,))
    return UnitsPage(units=[_unit(u) for u in shown.items], next_after=shown.next_after)
