"""Housing's composition root."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_housing.entrypoints.http import router
from zorgstroom_housing.service import on_outflow_readiness_assessed
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="housing",
    title="Zorgstroom housing",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers={"OutflowReadinessAssessed": on_outflow_readiness_assessed},
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
