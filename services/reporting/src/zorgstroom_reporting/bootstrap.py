"""Reporting's composition root: routes, migrations and the projection it feeds from the topics."""

import logging
from datetime import date
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.entrypoints import dashboard
from zorgstroom_reporting.entrypoints.http import router
from zorgstroom_reporting.projections.writer import ReportingProjection
from zorgstroom_reporting.queries.kept import ensure_horizon
from zorgstroom_runtime.app import ServiceContext, ServiceDefinition, create_app
from zorgstroom_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
PROJECTION = ReportingProjection()


async def keep_reports_for_region(context: ServiceContext) -> None:
    """The projection keeps the report aggregates under the rules of the region the service reports on; on the
    first start after the upgrade that brought them, they are derived from the facts here, at start-up, rather
    than inside the first report or batch that needs them (both wait for it on the horizon's lock)."""
    PROJECTION.bind(context.region)
    try:
        await ensure_horizon(context.pool, context.region, Month.of(date.today()))
    except (OSError, asyncpg.PostgresError) as error:  # the first batch or report that needs it does it then
        log.warning("report aggregates not brought up to this month at start-up: %r", error)


DEFINITION = ServiceDefinition(
    name="reporting",
    title="Zorgstroom reporting",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, dashboard.router],
    projection=PROJECTION,
    publishes=False,
    jobs=[keep_reports_for_region],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
