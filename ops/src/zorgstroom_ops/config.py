"""Where the operator CLI finds the stack: read from the environment when a command runs, not at import.

Importing the CLI (as the tests and other tools do) reads nothing; `config()` reads the environment
once, on first use, so a test or a script may set `ZS_*` variables before it calls a command.
"""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OpsConfig:
    root: Path  # the checkout: data/, deploy/
    cache: Path  # downloaded jars, built binaries, the demo's run directory
    kafka_port: int
    pg_port: int
    base_port: int  # the first service's HTTP port; the others follow
    sasl: bool  # the demo's Kafka authenticates and authorises
    jaeger_query_port: int
    jaeger_otlp_port: int
    prometheus_port: int
    keycloak_port: int = 18080  # the demo's identity provider (deploy/keycloak.sh)

    @property
    def run(self) -> Path:
        return self.cache / "run" / "demo"

    @property
    def default_region(self) -> Path:
        return self.root / "data/regions/flevoland.toml"

    @property
    def municipalities(self) -> Path:
        return self.root / "data/municipalities-nl.csv"

    @property
    def pgpass(self) -> Path:
        """The passwords of every local cluster's superuser (deploy/postgres.sh) and service roles (db-roles)."""
        return self.cache / "run" / "pgpass"

    @property
    def database_url(self) -> str:
        return f"postgresql://zorgstroom@127.0.0.1:{self.pg_port}/zorgstroom"

    @property
    def jaeger_query(self) -> str:
        return f"http://127.0.0.1:{self.jaeger_query_port}"

    @property
    def jaeger_otlp(self) -> str:
        return f"http://127.0.0.1:{self.jaeger_otlp_port}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def keycloak(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "OpsConfig":
        root = Path(env.get("ZS_ROOT", Path.cwd()))
        return cls(
            root=root,
            cache=Path(env.get("ZS_CACHE", root / ".cache")),
            kafka_port=int(env.get("ZS_KAFKA_PORT", 19092)),
            pg_port=int(env.get("ZS_PG_PORT", 15432)),
            base_port=8101,
            sasl=env.get("ZS_KAFKA_SASL", "1") == "1",
            jaeger_query_port=int(env.get("ZS_JAEGER_QUERY_PORT", 16686)),
            jaeger_otlp_port=int(env.get("ZS_JAEGER_OTLP_PORT", 4318)),
            prometheus_port=int(env.get("ZS_PROMETHEUS_PORT", 9090)),
            keycloak_port=int(env.get("ZS_KEYCLOAK_PORT", 18080)),
        )


@functools.cache
def config() -> OpsConfig:
    """The environment's configuration, read on first use; PGPASSFILE defaults to the stack's pgpass file,
    so every connection of the CLI, and of the services it starts, finds its password there."""
    found = OpsConfig.from_environment(os.environ)
    if not os.environ.get("PGPASSFILE"):
        os.environ["PGPASSFILE"] = str(found.pgpass)
    return found
