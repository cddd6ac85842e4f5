"""The local stack: Kafka, PostgreSQL, the identity provider (Keycloak), the trace and metrics backends and the
four services as processes on this machine (`zorgstroom up` and `down`), and what the other commands need of
it: the console, the region, the demo's credentials and the admin connection to Kafka."""

import asyncio
import functools
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from zorgstroom_ops import credentials, db_roles, kafka_security, processes
from zorgstroom_ops.api_keys_command import prepare_store
from zorgstroom_ops.client_credentials import Callers, client_credentials_callers, static_callers
from zorgstroom_ops.config import config
from zorgstroom_ops.demo_data import DemoData, load_demo_data
from zorgstroom_runtime.acl import provider_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics
from zorgstroom_runtime.region import Region, load_region

console = Console(width=None if sys.stdout.isatty() else 150)
RegionFile = Annotated[Path | None, typer.Option(help="The region's data file (default: Flevoland's).")]


def region_of(region_file: Path | None) -> Region:
    return load_region(region_file or config().default_region, config().municipalities)


def demo_data(region: Region) -> DemoData | None:
    """The region's illustrative providers, facilities and corporations, where the demo has them."""
    path = config().root / "data" / "demo" / f"{region.code}.toml"
    return load_demo_data(path) if path.exists() else None


def tokens() -> dict[str, str]:
    found: dict[str, str] = json.loads((config().run / "tokens.json").read_text())
    return found


def keycloak_wanted() -> bool:
    """The demo runs its identity provider unless ZS_KEYCLOAK=0 (static tokens alone then)."""
    return os.environ.get("ZS_KEYCLOAK", "1") != "0"


def keycloak_issuer() -> str | None:
    """The demo realm's issuer when Keycloak answers for it with its discovery document, else None."""
    from zorgstroom_ops import realm  # realm's own command reads this module: imported when used

    issuer = realm.issuer_of(config().keycloak)
    try:
        answer = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=3)
    except httpx.HTTPError:
        return None
    return issuer if answer.status_code == 200 else None


@functools.cache
def callers() -> Callers:
    """How the demo's organisations authenticate: OAuth 2.0 client credentials at the demo's Keycloak (each
    organisation its own client, client-secrets.json), or their static tokens (tokens.json) without it.
    Kept for the command's life, so each organisation's token is fetched once and renewed, not per call."""
    client_secrets = config().run / "client-secrets.json"
    issuer = keycloak_issuer() if keycloak_wanted() and client_secrets.exists() else None
    if issuer is None:
        console.print(f"callers: the organisations' static tokens ({config().run / 'tokens.json'})")
        return static_callers(tokens())
    console.print(f"callers: OAuth 2.0 client credentials, an access token per organisation from {issuer}")
    secrets_by_client: dict[str, str] = json.loads(client_secrets.read_text())
    return client_credentials_callers(f"{issuer}/protocol/openid-connect/token", secrets_by_client)


def service_urls() -> dict[str, str]:
    return {s.name: s.url for s in processes.plan(config().run, config().base_port)}


def _infra_env() -> dict[str, str]:
    return {
        **os.environ,
        "ZS_INSTANCE": "demo",
        "ZS_KAFKA_PORT": str(config().kafka_port),
        "ZS_PG_PORT": str(config().pg_port),
        "ZS_KAFKA_SASL": "1" if config().sasl else "0",
        "ZS_KEYCLOAK_PORT": str(config().keycloak_port),
    }


def _deploy(script: str, action: str) -> None:
    subprocess.run([str(config().root / "deploy" / script), action], env=_infra_env(), check=True)


def secure_kafka(region_file: Path | None = None) -> tuple[KafkaConnection, dict[str, str]]:
    """The admin connection and every service's password; each of the demo's providers a SCRAM user of its
    own; the ACL plan (services and providers) applied once per change."""
    bootstrap = f"127.0.0.1:{config().kafka_port}"
    if not config().sasl:
        return KafkaConnection(bootstrap), {}
    demo = demo_data(region_of(region_file))
    providers = [p.agb for p in demo.providers] if demo else []
    users = kafka_security.read_users(config().run / "kafka")
    for agb in providers:
        if f"provider-{agb}" not in users:
            subprocess.run(
                [str(config().root / "deploy" / "kafka.sh"), "add-user", f"provider-{agb}"],
                env=_infra_env(),
                check=True,
            )
    users = kafka_security.read_users(config().run / "kafka")
    grants = kafka_security.stack_grants() + [g for agb in providers for g in provider_grants(agb)]
    applied = kafka_security.apply_grants(
        grants, config().root, _infra_env(), marker=config().run / "kafka" / "acls.applied"
    )
    if applied:
        console.print(f"kafka: {applied} ACL grants applied (each service may touch only its topics)")
    return KafkaConnection(bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", "admin", users["admin"]), users


def _start_optional(switch: str, script: str, action: str, without: str) -> bool:
    """A backend the stack runs without too: off when `switch` is 0, and a warning when it cannot start."""
    if os.environ.get(switch, "1") == "0":
        return False
    try:
        _deploy(script, action)
        return True
    except subprocess.CalledProcessError:
        console.print(f"[yellow]{without}[/yellow]")
        return False


def _start_trace_backend() -> bool:
    """Jaeger when it can be had (it needs Go, and builds once); a first build takes minutes on two cores, so
    the stack does not wait for it."""
    return _start_optional(
        "ZS_TRACES", "jaeger.sh", "start-when-built", "no trace backend: services run without exporting traces"
    )


def _start_metrics_backend() -> bool:
    """Prometheus scraping the services and evaluating deploy/prometheus/alerts.yml."""
    return _start_optional(
        "ZS_METRICS", "prometheus.sh", "start", "no Prometheus: run deploy/install.sh for metrics and alerts"
    )


def _start_identity_provider(region: Region, demo: DemoData | None) -> Path | None:
    """Keycloak with the realm of the region's organisations; the issuers file that makes the services trust
    it, or None when it is switched off (ZS_KEYCLOAK=0) or cannot start: the static tokens then serve alone."""
    if not keycloak_wanted():
        return None
    from zorgstroom_ops import realm  # realm's own command reads this module: imported when used

    dashboard = service_urls()["reporting"] + "/"
    issuers = realm.write_identity(region, demo, config().run, config().keycloak, dashboard)
    if not _start_optional("ZS_KEYCLOAK", "keycloak.sh", "start", "no identity provider: static tokens only"):
        return None
    return issuers


def _client_ref_secret() -> str:
    """The demo's client_ref key, kept across runs so the same person keeps the same client_ref."""
    secret_file = config().run / "client-ref-secret"
    if not secret_file.exists():
        config().run.mkdir(parents=True, exist_ok=True)
        # Created 0600 in one step: never readable by others, not even between a write and a chmod.
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return secret_file.read_text().strip()


def _service_env(region_file: Path, credentials_file: Path) -> dict[str, str]:
    """What every service of the demo is given (the client_ref key is not: see _own_env)."""
    return {
        "ZS_ENVIRONMENT": "development",  # the services default to production; the demo chooses development
        "ZS_KAFKA_BOOTSTRAP": f"127.0.0.1:{config().kafka_port}",
        "ZS_REGION_FILE": str(region_file),
        "ZS_MUNICIPALITIES_FILE": str(config().root / "data/municipalities-nl.csv"),
        "ZS_CREDENTIALS_FILE": str(credentials_file),
    }


def database_roles() -> dict[str, dict[str, str]]:
    """Each service's database: its roles made (zorgstroom db-roles), its schema migrated by its migrator
    (zorgstroom migrate), and then only its login role, with a pgpass file holding that role's line alone."""
    shared = db_roles.PgPass(config().pgpass)
    provisioned = asyncio.run(db_roles.provision(config().database_url, list(processes.SERVICES), shared))
    asyncio.run(prepare_store(config().database_url))  # API keys: the store the services read (and are granted)
    for schema, applied in asyncio.run(db_roles.migrate_stack(provisioned)).items():
        if applied:
            console.print(f"{schema}: {len(applied)} migration(s) applied")
    return {
        roles.schema: roles.service_env(db_roles.service_pgpass(roles, shared, config().run / f"{roles.schema}.pgpass"))
        for roles in provisioned
    }


def _own_env(service: str, users: dict[str, str] | None, databases: dict[str, dict[str, str]]) -> dict[str, str]:
    """One service's own variables: its Kafka principal and login role, for intake alone the client_ref key."""
    own = kafka_security.service_kafka_env(service, users) if users else {}
    own |= databases[service]
    if service == "intake":
        own["ZS_CLIENT_REF_SECRET"] = _client_ref_secret()
    return own


def up(region_file: RegionFile = None) -> None:
    """Start Kafka, PostgreSQL, the identity provider, create the topics, and start every service in the
    background."""
    region_file = region_file or config().default_region
    _deploy("postgres.sh", "start")
    databases = database_roles()
    _deploy("kafka.sh", "start")
    traces = _start_trace_backend()
    region = region_of(region_file)
    demo = demo_data(region)
    providers = [p.agb for p in demo.providers] if demo else []
    admin, users = secure_kafka(region_file)
    created = asyncio.run(ensure_topics(admin, project_topics()))
    console.print(f"topics: {len(created)} created")
    credentials_file = config().run / "credentials.json"
    corporations = [c.id for c in demo.corporations] if demo else []
    wanted = {f"provider-{agb}" for agb in providers} | {f"corporation-{c}" for c in corporations}
    if not credentials_file.exists() or not wanted <= set(tokens()):  # new, or issued by an older demo
        credentials.issue(region, config().run, providers=providers, corporations=corporations)
    env = _service_env(region_file, credentials_file)
    issuers = _start_identity_provider(region, demo)
    if issuers is not None:
        env["ZS_AUTH_ISSUERS_FILE"] = str(issuers)
        # The dashboard logs people in at the same realm (its client zorgstroom-dashboard, the default id).
        from zorgstroom_ops.realm import issuer_of  # realm's own command reads this module: imported when used

        env["ZS_DASHBOARD_OIDC_ISSUER"] = issuer_of(config().keycloak)
    # A simulated year runs in about a minute: an unanswered offer lapses after seconds, not 14 days.
    env["ZS_OFFER_LAPSE_AFTER_SECONDS"] = os.environ.get("ZS_OFFER_LAPSE_AFTER_SECONDS", "4")
    if traces:
        # The simulated year is a burst of ~20k spans: the SDK's default queue (2,048) would drop some.
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": config().jaeger_otlp,
            "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
    services = processes.plan(config().run, config().base_port)
    for service in services:
        processes.start(service, env | _own_env(service.name, users, databases))
    for service in services:
        processes.wait_ready(service)
        console.print(f"{service.name:<10} ready at {service.url}")
    _start_metrics_backend()  # deploy/prometheus.sh says where it is


def down() -> None:
    """Stop every service, the identity provider, Kafka and PostgreSQL of the demo."""
    for service in processes.plan(config().run, config().base_port):
        processes.stop(service)
    _deploy("keycloak.sh", "stop")
    _deploy("prometheus.sh", "stop")
    _deploy("jaeger.sh", "stop")
    _deploy("kafka.sh", "stop")
    _deploy("postgres.sh", "stop")
