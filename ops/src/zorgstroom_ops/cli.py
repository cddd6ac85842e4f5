"""`zorgstroom`: the operator CLI. `up`, `down`, `status`, `simulate`, `report`, `demo`, `dead-letters`,
`provider-topic`, `rebuild` and `trace`."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from zorgstroom_ops import credentials, dead_letters, kafka_security, processes
from zorgstroom_ops.config import config
from zorgstroom_ops.demo_data import DemoData, load_demo_data
from zorgstroom_ops.rebuild_command import rebuild_command
from zorgstroom_ops.simulate import DriveResult, SimulatedIntake, drive, year_of_intakes
from zorgstroom_ops.trace_command import trace
from zorgstroom_ops.traces import latest_intake_trace
from zorgstroom_ops.year import RegionYear, Urls
from zorgstroom_runtime.acl import provider_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics
from zorgstroom_runtime.region import Region, load_region

app = typer.Typer(help="Run and inspect a Zorgstroom stack on this machine.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 150)
RegionFile = Annotated[Path | None, typer.Option(help="The region's data file (default: Flevoland's).")]


def _region(region_file: Path | None) -> Region:
    return load_region(region_file or config().default_region, config().municipalities)


def _infra_env() -> dict[str, str]:
    return {
        **os.environ,
        "ZS_INSTANCE": "demo",
        "ZS_KAFKA_PORT": str(config().kafka_port),
        "ZS_PG_PORT": str(config().pg_port),
        "ZS_KAFKA_SASL": "1" if config().sasl else "0",
    }


def _deploy(script: str, action: str) -> None:
    subprocess.run([str(config().root / "deploy" / script), action], env=_infra_env(), check=True)


def _demo_data(region: Region) -> DemoData | None:
    """The region's illustrative providers, facilities and corporations, where the demo has them."""
    path = config().root / "data" / "demo" / f"{region.code}.toml"
    return load_demo_data(path) if path.exists() else None


def _secure_kafka(region_file: Path | None = None) -> tuple[KafkaConnection, dict[str, str]]:
    """The admin connection and every service's password; each of the demo's providers a SCRAM user of its
    own; the ACL plan (services and providers) applied once per change."""
    bootstrap = f"127.0.0.1:{config().kafka_port}"
    if not config().sasl:
        return KafkaConnection(bootstrap), {}
    demo = _demo_data(_region(region_file))
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


def _start_trace_backend() -> bool:
    """Jaeger when it can be had (it needs Go, and builds once); the stack runs without it too."""
    if os.environ.get("ZS_TRACES", "1") == "0":
        return False
    try:  # a first build takes minutes on two cores: the stack does not wait for it
        _deploy("jaeger.sh", "start-when-built")
        return True
    except subprocess.CalledProcessError:
        console.print("[yellow]no trace backend: services run without exporting traces[/yellow]")
        return False


def _start_metrics_backend() -> bool:
    """Prometheus scraping the services and evaluating deploy/prometheus/alerts.yml; the stack runs without it."""
    if os.environ.get("ZS_METRICS", "1") == "0":
        return False
    try:
        _deploy("prometheus.sh", "start")
        return True
    except subprocess.CalledProcessError:
        console.print("[yellow]no Prometheus: run deploy/install.sh for metrics and alerts[/yellow]")
        return False


def _service_env(region_file: Path, credentials_file: Path) -> dict[str, str]:
    secret_file = config().run / "client-ref-secret"
    if not secret_file.exists():  # kept across runs so the same person keeps the same client_ref
        config().run.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    return {
        "ZS_DATABASE_URL": f"postgresql://zorgstroom@127.0.0.1:{config().pg_port}/zorgstroom",
        "ZS_KAFKA_BOOTSTRAP": f"127.0.0.1:{config().kafka_port}",
        "ZS_REGION_FILE": str(region_file),
        "ZS_MUNICIPALITIES_FILE": str(config().root / "data/municipalities-nl.csv"),
        "ZS_CREDENTIALS_FILE": str(credentials_file),
        "ZS_CLIENT_REF_SECRET": secret_file.read_text().strip(),
    }


@app.command()
def up(region_file: RegionFile = None) -> None:
    """Start Kafka, PostgreSQL, create the topics, and start every service in the background."""
    region_file = region_file or config().default_region
    _deploy("postgres.sh", "start")
    _deploy("kafka.sh", "start")
    traces = _start_trace_backend()
    region = _region(region_file)
    demo = _demo_data(region)
    providers = [p.agb for p in demo.providers] if demo else []
    admin, users = _secure_kafka(region_file)
    created = asyncio.run(ensure_topics(admin, project_topics()))
    console.print(f"topics: {len(created)} created")
    credentials_file = config().run / "credentials.json"
    corporations = [c.id for c in demo.corporations] if demo else []
    wanted = {f"provider-{agb}" for agb in providers} | {f"corporation-{c}" for c in corporations}
    if not credentials_file.exists() or not wanted <= set(_tokens()):  # new, or issued by an older demo
        credentials.issue(region, config().run, providers=providers, corporations=corporations)
    env = _service_env(region_file, credentials_file)
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
        processes.start(service, env | (kafka_security.service_kafka_env(service.name, users) if users else {}))
    for service in services:
        processes.wait_ready(service)
        console.print(f"{service.name:<10} ready at {service.url}")
    _start_metrics_backend()  # deploy/prometheus.sh says where it is


@app.command()
def down() -> None:
    """Stop every service, Kafka and PostgreSQL of the demo."""
    for service in processes.plan(config().run, config().base_port):
        processes.stop(service)
    _deploy("prometheus.sh", "stop")
    _deploy("jaeger.sh", "stop")
    _deploy("kafka.sh", "stop")
    _deploy("postgres.sh", "stop")


@app.command()
def status() -> None:
    """Each service up or down, consumer lag per group, outbox backlog, dead letters, projection freshness."""
    from zorgstroom_ops import status as probe

    urls = {s.name: s.url for s in processes.plan(config().run, config().base_port)}
    services = Table("service", "process", "readiness", "url", title="Services")
    pids = {s.name: s.running() for s in processes.plan(config().run, config().base_port)}
    for state in asyncio.run(probe.service_states(urls)):
        readiness = {True: "[green]ready[/green]", False: f"[red]{state.detail}[/red]", None: "[red]down[/red]"}
        services.add_row(state.name, "running" if pids[state.name] else "stopped", readiness[state.ready], state.url)
    console.print(services)
    database_url = os.environ.get("ZS_DATABASE_URL", config().database_url)
    try:
        outboxes = asyncio.run(probe.outbox_states(database_url, list(urls)))
        table = Table("service", "unpublished", "oldest (s)", title="Outbox")
        for outbox in outboxes:
            oldest = f"{outbox.oldest_seconds:.0f}" if outbox.oldest_seconds is not None else "-"
            table.add_row(outbox.service, str(outbox.backlog), oldest)
        console.print(table)
        table = Table("projection", "last event", "age", "events applied", title="Projection freshness")
        now = probe.now()
        for fresh in asyncio.run(probe.freshness(database_url)):
            age = fresh.age_seconds(now)
            table.add_row(fresh.projection, f"{fresh.last_event_at:%Y-%m-%d %H:%M:%S}", f"{age:.0f} s",
                          str(fresh.events_applied))  # fmt: skip
        console.print(table)
    except (OSError, asyncpg.PostgresError) as error:
        console.print(f"[red]PostgreSQL not reachable on 127.0.0.1:{config().pg_port}: {error!r}[/red]")
    try:
        admin, _ = _secure_kafka()
        table = Table("consumer group", "topic", "lag", title="Consumer lag")
        for lag in asyncio.run(probe.consumer_lag(admin, list(kafka_security.DEFINITIONS.values()))):
            table.add_row(lag.group, lag.topic, f"[yellow]{lag.lag}[/yellow]" if lag.lag else "0")
        console.print(table)
        found = asyncio.run(probe.dead_letter_counts(admin))
        table = Table("dead-letter topic", "messages", "by error type", title="Dead letters")
        for topic in found:
            table.add_row(topic.topic, str(topic.total), ", ".join(f"{k}: {n}" for k, n in topic.reasons.most_common()))
        console.print(table if found else "dead letters: none")
    except Exception as error:  # Kafka down or unreachable: say so, the rest has been shown
        console.print(f"[red]Kafka not reachable on 127.0.0.1:{config().kafka_port}: {error!r}[/red]")


def _tokens() -> dict[str, str]:
    tokens: dict[str, str] = json.loads((config().run / "tokens.json").read_text())
    return tokens


@app.command()
def simulate(year: int = 2027, seed: int = 42, region_file: RegionFile = None) -> None:
    """Drive a simulated year through the real APIs: intakes, placements ended and assessed by providers,
    homes offered and answered by corporations; then wait until reporting shows the registrations."""
    region = _region(region_file)
    intakes = year_of_intakes(region, year, seed)
    urls = {s.name: s.url for s in processes.plan(config().run, config().base_port)}
    tokens = _tokens()
    result = DriveResult([], Counter(), Counter())

    async def post_intakes(batch: list[SimulatedIntake]) -> None:
        done = await drive(batch, urls["intake"], tokens)
        result.statuses.update(done.statuses)
        result.responsible.update(done.responsible)

    demo = _demo_data(region)
    with Progress(console=console, transient=True) as bar:
        if demo is None:
            task = bar.add_task(f"registering {len(intakes)} intakes of {year}", total=1)
            asyncio.run(post_intakes(intakes))
        else:
            task = bar.add_task(f"simulating {year} week by week ({len(intakes)} intakes)", total=52)
            driver = RegionYear(demo, Urls(urls["intake"], urls["placement"], urls["housing"]), tokens, year, seed)
            outcome = asyncio.run(driver.run(intakes, post_intakes, progress=lambda _: bar.advance(task)))
            console.print(
                "providers and corporations: " + ", ".join(f"{k}: {v}" for k, v in sorted(outcome.statuses.items()))
            )
    console.print(f"intake answered: {dict(result.statuses)}")
    if set(result.statuses) != {202}:
        raise typer.Exit(1)
    _wait_for_reporting(region, year, dict(result.responsible))


def _reporting_get(path: str) -> httpx.Response:
    reporting = processes.plan(config().run, config().base_port)[3].url
    region_token = next(v for k, v in _tokens().items() if k.startswith("region-"))
    return httpx.get(reporting + path, headers={"Authorization": f"Bearer {region_token}"}, timeout=10)


def _wait_for_reporting(region: Region, year: int, expected: dict[str, int], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flows = _reporting_get(f"/v1/region/flows?from={year}-01&to={year}-12").json()
        seen = {m["municipality"]: m["totals"]["registrations"] for m in flows["municipalities"]}
        if all(seen.get(code, 0) >= n for code, n in expected.items() if code in region.municipalities):
            return
        time.sleep(0.5)
    raise TimeoutError("reporting did not catch up with the intakes in time")


REPORT_COLUMNS = {
    "registrations": "registered",
    "inflow": "inflow",
    "outflow": "outflow (home)",
    "ended_other": "ended other",
    "relapses": "relapses",
    "waiting_at_end": "waiting 31-12",
    "ready_not_housed_at_end": "ready, not housed 31-12",
}


@app.command()
def report(year: int = 2027, region_file: RegionFile = None) -> None:
    """Print the year's flows per responsible municipality, from the reporting API."""
    region = _region(region_file)
    flows = _reporting_get(f"/v1/region/flows?from={year}-01&to={year}-12").json()
    table = Table(title=f"Flows per responsible municipality, {region.name} {year} (from the reporting API)")
    table.add_column("municipality")
    table.add_column("code")
    for label in REPORT_COLUMNS.values():
        table.add_column(label, justify="right")
    for m in flows["municipalities"]:
        table.add_row(m["name"], m["municipality"], *(str(m["totals"][c]) for c in REPORT_COLUMNS))
    table.add_row("region", region.code, *(str(flows["totals"][c]) for c in REPORT_COLUMNS), style="bold")
    console.print(table)
    ready = [
        _reporting_get(f"/v1/region/flows?from={year}-01&to={year}-{m:02d}").json()["totals"]["ready_not_housed_at_end"]
        for m in (3, 6, 9, 12)
    ]
    console.print(
        f"ready for outflow but not housed at the end of Mar, Jun, Sep, Dec: {ready} (homes are the bottleneck)"
    )


@app.command("dead-letters")
def dead_letters_command(
    replay_topic: Annotated[str | None, typer.Option("--replay", help="Send this .dlq topic's messages back.")] = None,
) -> None:
    """List the dead letters per topic and reason, or replay one `.dlq` topic once its cause is fixed."""
    admin, _ = _secure_kafka()
    if replay_topic:
        count = asyncio.run(dead_letters.replay(admin, replay_topic))
        console.print(f"replayed {count} message(s) from {replay_topic}")
        return
    found = asyncio.run(dead_letters.summarise(admin))
    if not found:
        console.print("no dead letters")
    for topic in found:
        reasons = ", ".join(f"{reason or 'unknown'}: {n}" for reason, n in topic.reasons.most_common())
        console.print(f"{topic.topic}: {topic.total} ({reasons})")


app.command("rebuild")(rebuild_command)
app.command()(trace)


@app.command("provider-topic")
def provider_topic_command(
    agb: str, count: Annotated[int, typer.Option(help="How many events to show at most.")] = 10
) -> None:
    """Read a provider's own topic from the start, as that provider's principal (what its system sees)."""
    from zorgstroom_ops.provider_view import read_provider_topic

    users = kafka_security.read_users(config().run / "kafka") if config().sasl else {}
    connection = (
        KafkaConnection(
            f"127.0.0.1:{config().kafka_port}",
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
            f"provider-{agb}",
            users[f"provider-{agb}"],
        )
        if config().sasl
        else KafkaConnection(f"127.0.0.1:{config().kafka_port}")
    )
    for line in asyncio.run(read_provider_topic(connection, agb, count)):
        console.print(line)


@app.command()
def demo(year: int = 2027, seed: int = 42, region_file: RegionFile = None) -> None:
    """Everything up, a simulated year through the real APIs, the report, and where to look."""
    up(region_file)
    simulate(year, seed, region_file)
    report(year, region_file)
    urls = {s.name: s.url for s in processes.plan(config().run, config().base_port)}
    console.print(
        f"reporting API: {urls['reporting']}/v1/region/flows?from={year}-01&to={year}-12 (CSV: add &format=csv)"
    )
    region_token = _tokens().get(f"region-{_region(region_file).code}", "")
    console.print(
        f"dashboard (Dutch, for region staff): {urls['reporting']}/  - paste the region staff token once:\n"
        f"  {region_token}\n"
        f"  (a municipality's own token, from {config().run / 'tokens.json'}, shows its numbers unmasked)"
    )
    console.print("API docs (Swagger UI, offline): " + ", ".join(f"{u}/docs" for u in urls.values()))
    console.print("OpenAPI: " + ", ".join(f"{u}/openapi.json" for u in urls.values()) + "; AsyncAPI: /asyncapi.json")
    console.print(f"metrics: {urls['intake']}/metrics; credentials for the demo: {config().run / 'tokens.json'}")
    if os.environ.get("ZS_METRICS", "1") != "0":
        console.print(
            f"Prometheus: {config().prometheus}"
            f"  (alert rules: {config().prometheus}/alerts; deploy/prometheus/alerts.yml)"
        )
    trace = latest_intake_trace(config().jaeger_query) if os.environ.get("ZS_TRACES", "1") != "0" else None
    if trace is not None and len(trace.services) == 1:
        console.print(
            "traces: this run replayed the year's intakes, which publish nothing new; "
            "for fresh traces: make down && rm -rf .cache/run/demo && make demo"
        )
    elif trace is not None:
        console.print(
            f"one intake, one trace: {trace.spans} spans across {', '.join(trace.services)}\n"
            f"  as a waterfall in this terminal: uv run zorgstroom trace {trace.trace_id}\n"
            f"  {trace.url}\n"
            f"  (Jaeger query API; all traces: {config().jaeger_query}/api/traces?service=zorgstroom-intake)"
        )
    elif os.environ.get("ZS_TRACES", "1") != "0":
        console.print(
            "traces: the trace backend is not up yet (its first build runs in the background; progress:\n"
            "  deploy/jaeger.sh wait-built). It starts by itself once built; then register an intake and run\n"
            "  uv run zorgstroom trace <intake id>  to see its span waterfall (intake, relay, placement, reporting)."
        )
    demo_data = _demo_data(_region(region_file))
    if demo_data is not None and config().sasl:
        agb = demo_data.providers[0].agb
        console.print(
            f"a provider's own topic: wmo.provider.{agb}.v1, SCRAM-SHA-512 user provider-{agb}"
            f" on 127.0.0.1:{config().kafka_port}"
            f" (password in {config().run / 'kafka' / 'users.txt'});"
            f" read it with: uv run zorgstroom provider-topic {agb}"
            " (docs/providers.md has the same with confluent-kafka and kcat)"
        )
    console.print("stop everything with: make down")
