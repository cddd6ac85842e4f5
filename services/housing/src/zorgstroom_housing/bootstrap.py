"""Housing's composition root: routes, migrations, the events it learns from, and the lapse scheduler."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_housing.entrypoints.events import HANDLERS
from zorgstroom_housing.entrypoints.http import router
from zorgstroom_housing.entrypoints.scheduler import lapse_offers_job
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="housing",
    title="Zorgstroom housing",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers=HANDLERS,
    jobs=[lapse_offers_job],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
