"""Intake's composition root: its definition for the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from zorgstroom_intake.entrypoints.http import router
from zorgstroom_runtime.app import ServiceDefinition, create_app
from zorgstroom_runtime.settings import ServiceSettings

DEFINITION = ServiceDefinition(
    name="intake",
    title="Zorgstroom intake",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings)
