"""`zorgstroom`: the operator CLI. `up`, `down`, `status`, `simulate`, `report`, `demo`, `dead-letters`,
`provider-topic`, `rebuild`, `db-roles`, `migrate`, `audit`, `trace`, `realm`, `onboard`, `credentials` and
`national`; each command lives in its own module and is registered here, one way (`app.command()(fn)`; a
command with subcommands, like `onboard provider|corporation|municipality`, `credentials
issue|rotate|revoke|list` or `national generate`, as its module's Typer app)."""

import asyncio
import dataclasses
import os
from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from zorgstroom_ops import dead_letters, kafka_security, processes
from zorgstroom_ops.api_keys_command import credentials_app
from zorgstroom_ops.audit_command import audit
from zorgstroom_ops.config import config
from zorgstroom_ops.db_roles import db_roles_command, migrate_command
from zorgstroom_ops.demo_command import demo
from zorgstroom_ops.national_command import national_app
from zorgstroom_ops.onboard_command import onboard_app
from zorgstroom_ops.realm import realm_command
from zorgstroom_ops.rebuild_command import rebuild_command
from zorgstroom_ops.report_command import report
from zorgstroom_ops.simulate_command import simulate
from zorgstroom_ops.stack import console, down, secure_kafka, service_urls, up
from zorgstroom_ops.trace_command import trace
from zorgstroom_runtime.acl import REDRIVE_PRINCIPAL
from zorgstroom_runtime.kafka import KafkaConnection


def status() -> None:
    """Each service up or down, consumer lag per group, outbox backlog, dead letters, projection freshness."""
    from zorgstroom_ops import status as probe

    urls = service_urls()
    services = Table("service", "process", "readiness", "url", title="Services")
    pids = {s.name: s.running() for s in processes.plan(config().run, config().base_port)}
    for state in asyncio.run(probe.service_states(urls)):
        readiness = {True: "[green]ready[/green]", False: f"[red]{state.detail}[/red]", None: "[red]down[/red]"}
        services.add_row(state.name, "running" if pids[state.name] else "stopped", readiness[state.ready], state.url)
    keycloak = processes.ServiceProcess("keycloak", config().keycloak_port, config().run / "keycloak/keycloak.pid",
                                        config().run / "keycloak/logs/keycloak.log")  # fmt: skip
    idp = asyncio.run(probe.identity_provider_state(f"{config().keycloak}/realms/zorgstroom"))
    readiness = {True: "[green]ready[/green]", False: f"[red]{idp.detail}[/red]", None: "[red]down[/red]"}
    services.add_row(idp.name, "running" if keycloak.running() else "stopped", readiness[idp.ready], idp.url)
    console.print(services)
    database_url = os.environ.get("ZS_DATABASE_URL", config().database_url)
    try:
        outboxes = asyncio.run(probe.outbox_states(database_url, list(urls)))
        table = Table("service", "unpublished", "oldest (s)", "parked", title="Outbox")
        for outbox in outboxes:
            oldest = f"{outbox.oldest_seconds:.0f}" if outbox.oldest_seconds is not None else "-"
            parked = f"[red]{outbox.parked}[/red]" if outbox.parked else "0"
            table.add_row(outbox.service, str(outbox.backlog), oldest, parked)
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
        admin, _ = secure_kafka()
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


def dead_letters_command(
    replay_topic: Annotated[str | None, typer.Option("--replay", help="Send this .dlq topic's messages back.")] = None,
) -> None:
    """List the dead letters per topic and reason, or replay one `.dlq` topic once its cause is fixed.

    Both run as the redrive principal, which may read the `.dlq` twins and their topics and write only
    those topics; a replay sends only a dead letter's original, read from its twin's topic at the
    partition and offset the dead letter names, and only a valid event of that topic under its own key."""
    if replay_topic:
        try:
            dead_letters.redrive_target(replay_topic)
        except ValueError as error:
            console.print(str(error), style="red", markup=False)
            raise typer.Exit(2) from error
    redrive = _redrive_connection()
    if replay_topic:
        _show_redrive(asyncio.run(dead_letters.replay(redrive, replay_topic)), replay_topic)
        return
    found = asyncio.run(dead_letters.summarise(redrive))
    if not found:
        console.print("no dead letters")
    for topic in found:
        reasons = ", ".join(f"{reason or 'unknown'}: {n}" for reason, n in topic.reasons.most_common())
        console.print(f"{topic.topic}: {topic.total} ({reasons})")


def _show_redrive(done: dead_letters.Redrive, dlq_topic: str) -> None:
    console.print(f"replayed {done.sent} message(s) from {dlq_topic} to {done.target}")
    for refused in done.refused:  # a reason may quote a header: no rich markup from it
        console.print(f"refused: partition {refused.partition} offset {refused.offset}: {refused.reason}", markup=False)
    if done.refused:
        console.print(f"{len(done.refused)} refused message(s) stay in {dlq_topic} and are not retried")


def _redrive_connection() -> KafkaConnection:
    """Kafka as the redrive principal (the ACL plan applied first); without SASL there are no principals."""
    admin, users = secure_kafka()
    if not users:
        return admin
    if REDRIVE_PRINCIPAL not in users:  # a broker formatted before the redrive principal existed
        console.print("[red]no redrive user on this broker: restart Kafka (zorgstroom down, then up)[/red]")
        raise typer.Exit(1)
    return dataclasses.replace(admin, username=REDRIVE_PRINCIPAL, password=users[REDRIVE_PRINCIPAL])


def provider_topic_command(
    agb: str, count: Annotated[int, typer.Option(help="How many events to show at most.")] = 10
) -> None:
    """Read a provider's own topic from the start, as that provider's principal (what its system sees)."""
    from zorgstroom_ops.provider_view import read_provider_topic

    bootstrap = f"127.0.0.1:{config().kafka_port}"
    if config().sasl:
        password = kafka_security.read_users(config().run / "kafka")[f"provider-{agb}"]
        connection = KafkaConnection(bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", f"provider-{agb}", password)
    else:
        connection = KafkaConnection(bootstrap)
    for line in asyncio.run(read_provider_topic(connection, agb, count)):
        console.print(line)


app = typer.Typer(help="Run and inspect a Zorgstroom stack on this machine.", no_args_is_help=True)
for command, name in (
    (up, None),
    (down, None),
    (status, None),
    (simulate, None),
    (report, None),
    (demo, None),
    (dead_letters_command, "dead-letters"),
    (provider_topic_command, "provider-topic"),
    (rebuild_command, "rebuild"),
    (db_roles_command, "db-roles"),
    (migrate_command, "migrate"),
    (audit, None),
    (trace, None),
    (realm_command, "realm"),
):
    app.command(name)(command)
app.add_typer(onboard_app, name="onboard")
app.add_typer(credentials_app, name="credentials")
app.add_typer(national_app, name="national")
