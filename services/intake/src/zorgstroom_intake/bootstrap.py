"""Intake's composition root: its routes, migrations and the events it learns from, for the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake.entrypoints.events import on_placement_ended
from zorgstroom_intake.entrypoints.http import router
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.consumer import On
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="intake",
    title="Zorgstroom intake",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers=[On(PlacementEnded, on_placement_ended)],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
