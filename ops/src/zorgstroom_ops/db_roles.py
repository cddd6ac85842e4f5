"""`zorgstroom db-roles`: per service a migration role that owns its schema and a login role that owns nothing.

Run with the superuser's URL; safe to run again. For each service `<svc>` it makes `<svc>_migrator`
(owner of schema `<svc>` and of everything in it, including what a superuser created there before) and
`<svc>_app` (no privileges of its own: the service grants it DML on its schema, and only INSERT and
SELECT on audit_log, every time it starts; see zorgstroom_runtime.db.grant_service_role). Passwords
are generated once and kept in the pgpass file (0600), which psql and asyncpg read through PGPASSFILE,
so the service URLs carry no password.
"""

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import asyncpg
import typer

from zorgstroom_runtime.db import grant_service_role, quote_ident

# Relations a schema owner must own: tables, partitioned tables, views, materialised views, and
# sequences no column owns (those follow their table).
_RELATIONS_TO_HAND_OVER = """
SELECT c.oid::regclass::text AS name, c.relkind::text FROM pg_class c
WHERE c.relnamespace = $1::regnamespace AND c.relowner <> $2::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
"""
_FUNCTIONS_TO_HAND_OVER = """
SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = $1::regnamespace AND p.proowner <> $2::regrole
"""
_ALTER = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


@dataclass(frozen=True)
class ServiceRoles:
    """The two roles of one service's schema, and the URLs a service is started with."""

    schema: str
    host: str
    port: int
    database: str

    @property
    def migrator(self) -> str:
        return f"{self.schema}_migrator"

    @property
    def app(self) -> str:
        return f"{self.schema}_app"

    def url(self, role: str) -> str:
        return f"postgresql://{role}@{self.host}:{self.port}/{self.database}"

    def service_env(self) -> dict[str, str]:
        return {"ZS_DATABASE_URL": self.url(self.app), "ZS_MIGRATION_DATABASE_URL": self.url(self.migrator)}


class PgPass:
    """The pgpass file (host:port:database:user:password a line): read, and extended under umask 077."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def password(self, host: str, port: int, database: str, user: str) -> str | None:
        prefix = f"{host}:{port}:{database}:{user}:"
        return next((line[len(prefix) :] for line in self._lines() if line.startswith(prefix)), None)

    def ensure(self, host: str, port: int, database: str, user: str) -> str:
        """The user's password, generated and stored (hex: nothing to escape in pgpass or SQL) if new."""
        known = self.password(host, port, database, user)
        if known is not None:
            return known
        password = secrets.token_hex(24)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write(f"{host}:{port}:{database}:{user}:{password}\n")
        os.chmod(self.path, 0o600)
        return password


async def _login_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # A utility statement takes no parameters; the password is hex, so the literal needs no escaping.
    await conn.execute(
        f"{verb} ROLE {quote_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        f" PASSWORD '{password}'"
    )


async def hand_over_schema(conn: asyncpg.Connection, schema: str, owner: str) -> None:
    """The schema and everything in it owned by `owner`; nobody else may create in it."""
    s, o = quote_ident(schema), quote_ident(owner)
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {o}; ALTER SCHEMA {s} OWNER TO {o}")
    await conn.execute(f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC")
    for name, kind in await conn.fetch(_RELATIONS_TO_HAND_OVER, s, o):
        await conn.execute(f"ALTER {_ALTER[kind]} {name} OWNER TO {o}")
    for (function,) in await conn.fetch(_FUNCTIONS_TO_HAND_OVER, s, o):
        await conn.execute(f"ALTER FUNCTION {function} OWNER TO {o}")


async def provision(superuser_url: str, schemas: list[str], pgpass: PgPass) -> list[ServiceRoles]:
    """Both roles of every schema's service, their passwords in `pgpass`, each schema its migrator's."""
    parts = urlsplit(superuser_url)
    host, port, database = parts.hostname or "127.0.0.1", parts.port or 5432, parts.path.lstrip("/") or "postgres"
    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        provisioned = []
        for schema in schemas:
            roles = ServiceRoles(schema, host, port, database)
            for role in (roles.migrator, roles.app):
                await _login_role(conn, role, pgpass.ensure(host, port, database, role))
            await hand_over_schema(conn, schema, roles.migrator)
            async with conn.transaction():  # the app role's grants now too: a running service needs no restart
                await conn.execute(f"SET LOCAL ROLE {quote_ident(roles.migrator)}")
                await grant_service_role(conn, schema, roles.app)
            provisioned.append(roles)
        return provisioned
    finally:
        await conn.close()


def db_roles_command(
    database_url: Annotated[
        str | None, typer.Option(help="The superuser's URL (default: the local stack's, password from PGPASSFILE).")
    ] = None,
) -> None:
    """Create or update the migration role and the login role of every service (idempotent)."""
    from zorgstroom_ops.config import config
    from zorgstroom_ops.processes import SERVICES
    from zorgstroom_ops.stack import console

    found = asyncio.run(provision(database_url or config().database_url, list(SERVICES), PgPass(config().pgpass)))
    for roles in found:
        console.print(f"{roles.schema:<10} migrates as {roles.migrator}, serves as {roles.app}")
    console.print(f"passwords: {config().pgpass} (0600; point PGPASSFILE at it)")
