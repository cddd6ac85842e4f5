"""Housing's composition root: routes, migrations, the events it learns from, and the lapse scheduler."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_contracts.events import (
    ClientRegistered,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_housing.entrypoints.http import router
from zorgstroom_housing.service import (
    lapse_offers_job,
    on_client_registered,
    on_outflow_readiness_assessed,
    on_placement_ended,
    on_placement_made,
    on_responsibility_transferred,
)
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.consumer import On
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="housing",
    title="Zorgstroom housing",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers=[
        On(ClientRegistered, on_client_registered),
        On(PlacementMade, on_placement_made),
        On(PlacementEnded, on_placement_ended),
        On(OutflowReadinessAssessed, on_outflow_readiness_assessed),
        On(ResponsibilityTransferred, on_responsibility_transferred),
    ],
    jobs=[lapse_offers_job],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
