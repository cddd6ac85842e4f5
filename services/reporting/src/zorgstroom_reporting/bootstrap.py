"""Reporting's composition root: routes, migrations and the projection it feeds from the topics."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_reporting.entrypoints import dashboard
from zorgstroom_reporting.entrypoints.http import router
from zorgstroom_reporting.projections.writer import ReportingProjection
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="reporting",
    title="Zorgstroom reporting",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, dashboard.router],
    projection=ReportingProjection(),
    publishes=False,
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
