"""Placement's composition root."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_contracts.events import ClientRegistered, HousingOfferAccepted
from zorgstroom_placement.entrypoints.events import on_client_registered, on_housing_offer_accepted
from zorgstroom_placement.entrypoints.http import router
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.consumer import On
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="placement",
    title="Zorgstroom placement",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers=[On(ClientRegistered, on_client_registered), On(HousingOfferAccepted, on_housing_offer_accepted)],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
