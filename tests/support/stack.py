"""A service of ours running in the test's event loop, isolated by topic prefix and schema."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.support.infra import ROOT, Infra
from zorgstroom_ops import credentials
from zorgstroom_ops.credentials import MUNICIPALITY_ROLES, PROVIDER_ROLES
from zorgstroom_runtime.kafka import ensure_topics, project_topics
from zorgstroom_runtime.settings import ServiceSettings

TEST_SECRET = "test-secret-" + "x" * 20

# name -> (organisation kind, organisation id, roles)
ORGANISATIONS = {
    "almere": ("municipality", "0034", MUNICIPALITY_ROLES),
    "lelystad": ("municipality", "0995", MUNICIPALITY_ROLES),
    "urk": ("municipality", "0184", MUNICIPALITY_ROLES),
    "dronten": ("municipality", "0303", MUNICIPALITY_ROLES),
    "noordoostpolder": ("municipality", "0171", MUNICIPALITY_ROLES),
    "zeewolde": ("municipality", "0050", MUNICIPALITY_ROLES),
    "region": ("region", "flevoland", ["reports:region", "waiting-list:read", "facilities:write", "clients:transfer"]),
    "corporation": ("corporation", "woonstad-illustratief", ["housing:write"]),
    "corporation-b": ("corporation", "thuis-illustratief", ["housing:write"]),
    "provider-a": ("provider", "11111111", PROVIDER_ROLES),
    "provider-b": ("provider", "22222222", PROVIDER_ROLES),
    "readonly": ("municipality", "0034", ["reports:own"]),
}


def write_credentials(directory: Path) -> tuple[Path, dict[str, str]]:
    return credentials.write(ORGANISATIONS, directory)


@dataclass
class Namespace:
    """One test's own topics and schemas on the shared Kafka and Postgres."""

    infra: Infra
    prefix: str
    suffix: str
    credentials_file: Path
    tokens: dict[str, str]

    def settings(self, service: str, **overrides: object) -> ServiceSettings:
        values: dict[str, object] = dict(
            service_name=service,
            environment="test",
            database_url=self.infra.database_url,
            db_schema=f"{service}_{self.suffix}",
            kafka_bootstrap=self.infra.kafka_bootstrap,
            topic_prefix=self.prefix,
            region_file=ROOT / "data/regions/flevoland.toml",
            municipalities_file=ROOT / "data/municipalities-nl.csv",
            credentials_file=self.credentials_file,
            relay_poll_seconds=0.2,
            consumer_max_attempts=2,
        )
        if service == "intake":  # the pseudonym key is intake's alone
            values["client_ref_secret"] = TEST_SECRET
        values.update(overrides)
        return ServiceSettings(**values)  # type: ignore[arg-type]

    def auth_of(self, municipality: str) -> dict[str, str]:
        """The credential of a municipality by its code: it reads its own numbers exactly (others: rounded to 5)."""
        name = next(n for n, (kind, org, _) in ORGANISATIONS.items() if kind == "municipality" and org == municipality)
        return self.auth(name)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def topic(self, base: str) -> str:
        return f"{self.prefix}{base}"


async def new_namespace(infra: Infra, directory: Path, *, kafka_bootstrap: str | None = "") -> Namespace:
    """A fresh prefix and schema suffix; topics are created on the shared broker unless told None."""
    suffix = uuid.uuid4().hex[:10]
    prefix = f"t{suffix}."
    if kafka_bootstrap is not None:
        await ensure_topics(kafka_bootstrap or infra.kafka_bootstrap, project_topics(prefix), partitions=2)
    credentials_file, tokens = write_credentials(directory)
    return Namespace(infra, prefix, suffix, credentials_file, tokens)


@contextlib.asynccontextmanager
async def running(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (database, migrations, relay, consumer) and talk to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield client
