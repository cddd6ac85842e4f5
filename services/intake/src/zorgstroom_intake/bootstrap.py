"""Intake's composition root: its routes, migrations and the events it learns from, for the shared runtime."""

from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake.entrypoints.events import on_placement_ended
from zorgstroom_intake.entrypoints.http import MissingClientRefSecret, client_ref_key, router
from zorgstroom_runtime.app import ServiceDefinition, create_app, serve
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
    """Intake's app; refuses (MissingClientRefSecret) without the client_ref key, as the other services need none."""
    settings = settings or ServiceSettings(service_name=DEFINITION.name)
    client_ref_key(settings)  # at start-up, not at the first intake
    return create_app(DEFINITION, settings)


def main() -> None:
    """`python -m zorgstroom_intake`: check intake's own settings, then serve it like every service."""
    try:
        client_ref_key(ServiceSettings(service_name=DEFINITION.name))
    except (MissingClientRefSecret, ValidationError) as refused:  # one clear line, not a traceback
        raise SystemExit(f"intake refuses to start: {refused}") from None
    serve(DEFINITION)
