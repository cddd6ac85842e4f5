"""The audit log nobody can rewrite, against real PostgreSQL: a service's login role owns nothing, may add
audit rows but never change, delete, truncate, backdate or renumber them, and cannot switch the triggers
off; its owner cannot truncate it either; in production a service refuses to run as a role that could, and
on a schema `zorgstroom migrate` has not brought up to date; the native cluster asks every connection for a
password, and is never sent one in a role's definition."""

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from tests.support import builders
from tests.support.infra import ROOT
from tests.support.stack import Namespace, running
from zorgstroom_intake.bootstrap import DEFINITION as INTAKE
from zorgstroom_intake.bootstrap import build
from zorgstroom_ops.cli import app as zorgstroom
from zorgstroom_ops.db_roles import PgPass, ServiceRoles, _login_role, migrate_schema, provision
from zorgstroom_runtime.db import UnfitDatabase, grant_service_role, open_service_database
from zorgstroom_runtime.settings import ServiceSettings


@dataclass
class Provisioned:
    intake: ServiceRoles
    placement: ServiceRoles
    pgpass: PgPass

    def url(self, roles: ServiceRoles, role: str) -> str:
        password = self.pgpass.password(roles.host, roles.port, roles.database, role)
        return f"postgresql://{role}:{password}@{roles.host}:{roles.port}/{roles.database}"


@pytest.fixture
async def provisioned(ns: Namespace, tmp_path: Path) -> AsyncIterator[Provisioned]:
    """`zorgstroom db-roles` for two services of this test (placement's schema made by a superuser before)."""
    intake, placement = f"intake_{ns.suffix}", f"placement_{ns.suffix}"
    admin = await asyncpg.connect(ns.infra.database_url)
    await admin.execute(f'CREATE SCHEMA "{placement}"; CREATE TABLE "{placement}".facilities (id text)')
    pgpass = PgPass(tmp_path / "pgpass")
    try:
        found = await provision(ns.infra.database_url, [intake, placement], pgpass)
        await provision(ns.infra.database_url, [intake, placement], pgpass)  # twice: nothing changes, nothing fails
        yield Provisioned(found[0], found[1], pgpass)
    finally:  # roles are the cluster's, not the schema's: dropped again
        await admin.execute(f'DROP SCHEMA IF EXISTS "{intake}", "{placement}" CASCADE')
        for schema in (intake, placement):
            for role in (f"{schema}_migrator", f"{schema}_app"):
                if await admin.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role):
                    await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        await admin.close()


@pytest.fixture
async def intake_as_its_role(ns: Namespace, provisioned: Provisioned) -> asyncpg.Connection:
    """The intake service started with its two roles, one intake registered; then its login role's connection."""
    roles = provisioned.intake
    settings = ns.settings(
        "intake",
        database_url=provisioned.url(roles, roles.app),
        migration_database_url=provisioned.url(roles, roles.migrator),
    )
    body = builders.intake_body(registered_on=(date.today() - timedelta(days=3)).isoformat())
    async with running(build(settings), "intake") as intake:
        answer = await intake.post(
            "/v1/intakes", json=body, headers=ns.auth("almere") | {"Idempotency-Key": str(uuid.uuid4())}
        )
        assert answer.status_code == 202, answer.text
    conn = await asyncpg.connect(provisioned.url(roles, roles.app), server_settings={"search_path": roles.schema})
    yield conn
    await conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "SET session_replication_role = replica",
        "CREATE TABLE mine (id int)",
    ],
)
async def test_the_service_role_cannot_rewrite_the_audit_log(
    intake_as_its_role: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await intake_as_its_role.execute(statement)
    assert await intake_as_its_role.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'almere'") == 1


async def test_the_service_role_adds_audit_rows_and_does_its_work(intake_as_its_role: asyncpg.Connection) -> None:
    await intake_as_its_role.execute("INSERT INTO audit_log (actor, on_behalf_of, action) VALUES ('t', '', 'x')")
    assert await intake_as_its_role.fetchval("SELECT count(*) FROM audit_log") == 2
    assert await intake_as_its_role.fetchval("SELECT count(*) FROM outbox") >= 1  # the registration's event


async def test_the_service_role_cannot_read_another_services_schema(
    intake_as_its_role: asyncpg.Connection, provisioned: Provisioned
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await intake_as_its_role.fetch(f'SELECT * FROM "{provisioned.placement.schema}".facilities')


async def test_the_owner_cannot_truncate_the_audit_log(
    intake_as_its_role: asyncpg.Connection, provisioned: Provisioned
) -> None:
    roles = provisioned.intake
    owner = await asyncpg.connect(provisioned.url(roles, roles.migrator))
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute(f'TRUNCATE "{roles.schema}".audit_log')
    finally:
        await owner.close()


async def test_a_schema_a_superuser_made_before_is_handed_to_its_migration_role(
    ns: Namespace, provisioned: Provisioned
) -> None:
    conn = await asyncpg.connect(ns.infra.database_url)
    try:
        schema = provisioned.placement.schema
        owners = await conn.fetch(
            "SELECT n.nspowner::regrole::text AS schema_owner, c.relowner::regrole::text AS table_owner"
            " FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE n.nspname = $1",
            schema,
        )
    finally:
        await conn.close()
    assert {tuple(o) for o in owners} == {(provisioned.placement.migrator, provisioned.placement.migrator)}


def test_the_native_cluster_refuses_a_connection_without_the_password() -> None:
    """Its own instance (ZS_TEST_SCRAM_PG_PORT): a fresh cluster, a password only in the pgpass file.

    Not under pytest's tmp_path: a concurrent pytest session may prune that folder while the cluster runs.
    """
    port = os.environ.get("ZS_TEST_SCRAM_PG_PORT", "15482")
    cache = Path(tempfile.mkdtemp(prefix="zs-scram-"))
    pgpass = cache / "run" / "pgpass"
    env = {**os.environ, "ZS_CACHE": str(cache), "ZS_INSTANCE": "scram", "ZS_PG_PORT": port}
    env |= {"ZS_PG_FSYNC": "off", "PGPASSFILE": str(pgpass)}
    try:
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "start"], env=env, check=True, timeout=120)
        psql = ["psql", "-X", "-w", "-h", "127.0.0.1", "-p", port, "-U", "zorgstroom", "-d", "zorgstroom", "-tAc"]
        without = subprocess.run(
            [*psql, "SELECT 1"], env=env | {"PGPASSFILE": str(cache / "none")}, capture_output=True, text=True
        )
        assert without.returncode != 0 and "no password supplied" in without.stderr
        wrong = subprocess.run(
            [*psql, "SELECT 1"], env=env | {"PGPASSWORD": "guess", "PGPASSFILE": ""}, capture_output=True, text=True
        )
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        with_it = subprocess.run([*psql, "SELECT current_user"], env=env, capture_output=True, text=True, check=True)
        assert with_it.stdout.strip() == "zorgstroom"
        assert oct(pgpass.stat().st_mode & 0o777) == "0o600"
        hba = (cache / "run/scram/postgres/data/pg_hba.conf").read_text()
        assert "host all all 127.0.0.1/32 scram-sha-256" in " ".join(hba.split()) and " trust" not in hba
    finally:
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "stop"], env=env, check=False, timeout=120)
        shutil.rmtree(cache, ignore_errors=True)


async def test_the_service_role_cannot_backdate_an_audit_row_nor_choose_its_id(
    intake_as_its_role: asyncpg.Connection,
) -> None:
    for forged in (
        "INSERT INTO audit_log (at, actor, on_behalf_of, action) VALUES ('2020-01-01', 'forger', '', 'intake.read')",
        "INSERT INTO audit_log (id, actor, on_behalf_of, action) VALUES (999999, 'forger', '', 'intake.read')",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await intake_as_its_role.execute(forged)
    assert await intake_as_its_role.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'forger'") == 0
    added = await intake_as_its_role.fetchrow(
        "INSERT INTO audit_log (actor, on_behalf_of, action) VALUES ('t', '', 'x') RETURNING id, now() - at AS age"
    )
    assert added["age"] == timedelta(0)  # stamped by the server, in this statement's transaction


async def test_two_processes_granting_at_once_both_succeed(provisioned: Provisioned) -> None:
    roles = provisioned.intake
    owner_url = provisioned.url(roles, roles.migrator)
    await migrate_schema(owner_url, roles.schema, INTAKE.migrations, roles.app)
    owners = [await asyncpg.connect(owner_url) for _ in range(4)]
    try:
        for _ in range(10):  # each round the grants have work to do: a privilege was taken away by hand
            await owners[0].execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{roles.schema}" FROM "{roles.app}"')
            await asyncio.gather(*(grant_service_role(owner, roles.schema, roles.app) for owner in owners))
    finally:
        for owner in owners:
            await owner.close()
    served = await asyncpg.connect(provisioned.url(roles, roles.app), server_settings={"search_path": roles.schema})
    try:
        await served.execute("INSERT INTO audit_log (actor, on_behalf_of, action) VALUES ('t', '', 'x')")
    finally:
        await served.close()


@pytest.fixture
async def owners_member(ns: Namespace, provisioned: Provisioned) -> AsyncIterator[str]:
    """A login role granted the intake migrator's role: it may act as the schema's owner."""
    role, password = f"member_{ns.suffix}", secrets.token_hex(16)
    admin = await asyncpg.connect(ns.infra.database_url)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD \'{password}\' IN ROLE "{provisioned.intake.migrator}"')
    try:
        yield f"postgresql://{role}:{password}@{provisioned.intake.host}:{provisioned.intake.port}/{provisioned.intake.database}"
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        await admin.close()


async def test_the_grants_refuse_a_login_role_that_may_act_as_the_owner(
    provisioned: Provisioned, owners_member: str
) -> None:
    roles = provisioned.intake
    owner = await asyncpg.connect(provisioned.url(roles, roles.migrator))
    try:
        with pytest.raises(UnfitDatabase, match="member of the role owning"):
            await grant_service_role(owner, roles.schema, owners_member.split("//")[1].split(":")[0])
    finally:
        await owner.close()


def in_production(ns: Namespace, roles: ServiceRoles, database_url: str) -> ServiceSettings:
    return ns.settings(
        "intake", environment="production", kafka_security_protocol="SASL_SSL", database_url=database_url,
        db_schema=roles.schema, kafka_replication_factor=3, kafka_min_insync_replicas=2,
    )  # fmt: skip


@pytest.mark.parametrize("who", ["superuser", "migrator", "member of the migrator's role"])
async def test_in_production_a_service_refuses_a_role_that_could_switch_the_audit_triggers_off(
    ns: Namespace, provisioned: Provisioned, owners_member: str, who: str
) -> None:
    roles = provisioned.intake
    await migrate_schema(provisioned.url(roles, roles.migrator), roles.schema, INTAKE.migrations, roles.app)
    url = {
        "superuser": ns.infra.database_url,
        "migrator": provisioned.url(roles, roles.migrator),
        "member of the migrator's role": owners_member,
    }[who]
    with pytest.raises(UnfitDatabase, match="a superuser, its owner or a role that may become one"):
        await open_service_database(in_production(ns, roles, url), INTAKE.migrations)


async def test_in_production_a_service_refuses_a_schema_not_migrated_and_says_how(
    ns: Namespace, provisioned: Provisioned
) -> None:
    roles = provisioned.intake
    with pytest.raises(UnfitDatabase, match="run `zorgstroom migrate`"):
        await open_service_database(in_production(ns, roles, provisioned.url(roles, roles.app)), INTAKE.migrations)


async def test_zorgstroom_migrate_lets_a_service_start_in_production_as_its_login_role(
    ns: Namespace, provisioned: Provisioned
) -> None:
    roles = provisioned.intake
    arguments = ["migrate", "--service", "intake", "--schema", roles.schema, "--app-role", roles.app,
                 "--database-url", provisioned.url(roles, roles.migrator)]  # fmt: skip
    done = await asyncio.to_thread(CliRunner().invoke, zorgstroom, arguments)
    assert done.exit_code == 0, done.output
    pool = await open_service_database(in_production(ns, roles, provisioned.url(roles, roles.app)), INTAKE.migrations)
    try:
        assert await pool.fetchval("SELECT current_user") == roles.app
        await pool.execute("INSERT INTO audit_log (actor, on_behalf_of, action) VALUES ('t', '', 'x')")
    finally:
        await pool.close()


async def test_a_role_is_given_a_scram_verifier_never_its_password(ns: Namespace) -> None:
    """A failed CREATE or ALTER ROLE is written to the server's log: it must not hold the password."""
    role, password = f"scram_{ns.suffix}", secrets.token_hex(24)
    admin = await asyncpg.connect(ns.infra.database_url)
    sent: list[str] = []
    admin.add_query_logger(lambda record: sent.append(record.query))
    try:
        await _login_role(admin, role, password)
        await _login_role(admin, role, password)  # again: ALTER ROLE
        assert len(sent) >= 2 and not [statement for statement in sent if password in statement]
        host, port = ns.infra.database_url.split("@")[1].split("/")[0].split(":")
        login = await asyncpg.connect(f"postgresql://{role}:{password}@{host}:{port}/postgres")
        assert await login.fetchval("SELECT current_user") == role
        await login.close()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def test_a_cluster_converted_from_trust_never_logs_the_superusers_password() -> None:
    """deploy/postgres.sh converting an old trust cluster sends a SCRAM verifier: even a server that logs
    every statement (as a failed one always is) never writes the password down."""
    port = os.environ.get("ZS_TEST_SCRAM_PG_PORT", "15482")
    cache = Path(tempfile.mkdtemp(prefix="zs-scram-"))
    env = {**os.environ, "ZS_CACHE": str(cache), "ZS_INSTANCE": "scram", "ZS_PG_PORT": port}
    env |= {"ZS_PG_FSYNC": "off", "PGPASSFILE": str(cache / "run" / "pgpass")}
    postgres = cache / "run/scram/postgres"
    psql = ["psql", "-X", "-w", "-h", "127.0.0.1", "-p", port, "-U", "zorgstroom", "-d", "zorgstroom", "-tAc"]
    try:
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "start"], env=env, check=True, timeout=120)
        subprocess.run([*psql, "ALTER SYSTEM SET log_statement = 'all'"], env=env, check=True, capture_output=True)
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "stop"], env=env, check=True, timeout=120)
        hba = postgres / "data/pg_hba.conf"  # as an older version of the script made it
        hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "start"], env=env, check=True, timeout=120)
        with_it = subprocess.run([*psql, "SELECT current_user"], env=env, capture_output=True, text=True, check=True)
        assert with_it.stdout.strip() == "zorgstroom"
        log = (postgres / "postgres.log").read_text()
        assert (postgres / "superuser-password").read_text().strip() not in log
        assert "ALTER ROLE" in log and "SCRAM-SHA-256$" in log  # it was logged: its verifier only
    finally:
        subprocess.run([str(ROOT / "deploy/postgres.sh"), "stop"], env=env, check=False, timeout=120)
        shutil.rmtree(cache, ignore_errors=True)


async def test_an_audit_column_a_later_migration_adds_is_granted_once_it_exists(
    ns: Namespace, provisioned: Provisioned, intake_as_its_role: asyncpg.Connection
) -> None:
    """An upgrade provisions the roles before the new migrations run: a column not there yet must not stop it."""
    roles = provisioned.intake
    admin = await asyncpg.connect(ns.infra.database_url)
    try:  # the log as it was before the migration that added `person`
        await admin.execute(f'ALTER TABLE "{roles.schema}".audit_log DROP COLUMN person')
        await grant_service_role(admin, roles.schema, roles.app)  # provisioning before the migrations
        await admin.execute(f'ALTER TABLE "{roles.schema}".audit_log ADD COLUMN person text')  # the migration
        await grant_service_role(admin, roles.schema, roles.app)  # and again after them
    finally:
        await admin.close()
    await intake_as_its_role.execute(
        "INSERT INTO audit_log (actor, on_behalf_of, person, action) VALUES ('t', '', 'anna.jansen', 'x')"
    )
    assert await intake_as_its_role.fetchval("SELECT person FROM audit_log WHERE actor = 't'") == "anna.jansen"
