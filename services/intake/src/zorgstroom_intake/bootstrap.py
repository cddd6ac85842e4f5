"""Intake's composition root: its routes, migrations and the events it learns from, for the shared runtime."""

import dataclasses
from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake.entrypoints.events import on_placement_ended
from zorgstroom_intake.entrypoints.http import MissingClientRefSecret, bench_router, client_ref_key, router
from zorgstroom_runtime.app import ServiceDefinition, create_app, serve
from zorgstroom_runtime.consumer import On
from zorgstroom_runtime.settings import ServiceSettings
from zorgstroom_runtime.telemetry import setup_logging

DEFINITION = ServiceDefinition(
    name="intake",
    title="Zorgstroom intake",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    handlers=[On(PlacementEnded, on_placement_ended)],
)


def definition(settings: ServiceSettings) -> ServiceDefinition:
    """Intake's definition; with the benchmark's bare endpoint only under ZS_ENVIRONMENT=test (never production)."""
    if settings.environment == "test" and settings.bench_bare_endpoint:
        return dataclasses.replace(DEFINITION, routers=[*DEFINITION.routers, bench_router])
    return DEFINITION


def build(settings: ServiceSettings | None = None) -> FastAPI:
    """Intake's app; refuses (MissingClientRefSecret) without the client_ref key, as the other services need none."""
    settings = settings or ServiceSettings(service_name=DEFINITION.name)
    client_ref_key(settings)  # at start-up, not at the first intake
    return create_app(definition(settings), settings)


def worker() -> FastAPI:
    """The app of one of several intake processes on one port (ZS_HTTP_WORKERS): its logging, then `build`."""
    settings = ServiceSettings(service_name=DEFINITION.name)
    setup_logging(settings.service_name, settings.log_level)
    return build(settings)


def main() -> None:
    """`python -m zorgstroom_intake`: check intake's own settings, then serve it like every service."""
    try:
        settings = ServiceSettings(service_name=DEFINITION.name)
        client_ref_key(settings)
    except (MissingClientRefSecret, ValidationError) as refused:  # one clear line, not a traceback
        raise SystemExit(f"intake refuses to start: {refused}") from None
    serve(definition(settings), factory=f"{__name__}:worker")
