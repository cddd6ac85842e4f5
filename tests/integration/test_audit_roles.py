"""The audit log nobody can rewrite, against real PostgreSQL: a service's login role owns nothing, may add
audit rows but never change, delete or truncate them, and cannot switch the triggers off; its owner cannot
truncate it either; the native cluster asks every connection for a password."""

import os
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

from tests.support import builders
from tests.support.infra import ROOT
from tests.support.stack import Namespace, running
from zorgstroom_intake.bootstrap import build
from zorgstroom_ops.db_roles import PgPass, ServiceRoles, provision


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
