"""`zorgstroom db-roles`: per service a migration role that owns its schema and a login role that owns nothing.

Run with the superuser's URL; safe to run again. For each service `<svc>` it makes `<svc>_migrator`
(owner of schema `<svc>` and of everything in it, including what a superuser created there before) and
`<svc>_app` (no privileges of its own: `zorgstroom migrate` grants it DML on its schema, and only
SELECT and INSERT of some columns on audit_log; see zorgstroom_runtime.db.grant_service_role).
Passwords are generated once and kept in the operator's pgpass file (0600), which psql and asyncpg
read through PGPASSFILE; PostgreSQL is sent only their SCRAM verifiers, never the passwords. A running
service gets a pgpass file of its own holding only its login role's line (`service_pgpass`).
"""

import asyncio
import base64
import fcntl
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import asyncpg
import typer

from zorgstroom_runtime.api_keys import SCHEMA as CREDENTIALS_SCHEMA
from zorgstroom_runtime.db import create_pool, grant_service_role, quote_ident
from zorgstroom_runtime.migrations import migrate

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

    def service_env(self, pgpass_file: Path) -> dict[str, str]:
        """A running service's database: its login role only (the migrator's URL is `zorgstroom migrate`'s)."""
        return {"ZS_DATABASE_URL": self.url(self.app), "PGPASSFILE": str(pgpass_file)}


class PgPass:
    """The pgpass file (host:port:database:user:password a line): read, and extended under umask 077.

    Every change holds an exclusive flock on `<file>.lock`, as deploy/postgres.sh does when it rewrites
    the file: neither loses the other's lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def password(self, host: str, port: int, database: str, user: str) -> str | None:
        prefix = f"{host}:{port}:{database}:{user}:"
        return next((line[len(prefix) :] for line in self._lines() if line.startswith(prefix)), None)

    def ensure(self, host: str, port: int, database: str, user: str) -> str:
        """The user's password, generated and stored (hex: nothing to escape in pgpass or SQL) if new."""
        with self.locked():
            known = self.password(host, port, database, user)
            if known is not None:
                return known
            password = secrets.token_hex(24)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as out:
                out.write(f"{host}:{port}:{database}:{user}:{password}\n")
            os.chmod(self.path, 0o600)
            return password


def service_pgpass(roles: ServiceRoles, shared: PgPass, path: Path) -> Path:
    """A pgpass file (0600) with the service's login role's line alone: a compromised service finds no
    other role's password in it, not the migrator's nor the superuser's."""
    password = shared.password(roles.host, roles.port, roles.database, roles.app)
    if password is None:
        raise RuntimeError(f"no password for {roles.app} in {shared.path}: run `zorgstroom db-roles`")
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{roles.host}:{roles.port}:{roles.database}:{roles.app}:{password}\n")
    os.replace(fresh, path)
    return path


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 and 7677, PostgreSQL's format).

    Sent instead of the password, so a failing CREATE or ALTER ROLE (which log_min_error_statement
    writes to the server log) shows no password. Passwords here are hex: SASLprep leaves them as they are.
    """
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


async def _login_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # A utility statement takes no parameters; a verifier is base64 and `$`, `:`: no quote to escape.
    await conn.execute(
        f"{verb} ROLE {quote_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        f" PASSWORD '{scram_verifier(password)}'"
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
    conn = await asyncpg.connect(superuser_url)
    try:
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        provisioned = []
        for roles in local_roles(superuser_url, schemas):
            for role in (roles.migrator, roles.app):
                await _login_role(conn, role, pgpass.ensure(roles.host, roles.port, roles.database, role))
            await hand_over_schema(conn, roles.schema, roles.migrator)
            async with conn.transaction():  # the app role's grants now too: a running service needs no restart
                await conn.execute(f"SET LOCAL ROLE {quote_ident(roles.migrator)}")
                await grant_service_role(conn, roles.schema, roles.app)
            provisioned.append(roles)
        await grant_credentials_readers(conn, [roles.app for roles in provisioned])
        return provisioned
    finally:
        await conn.close()


async def grant_credentials_readers(conn: asyncpg.Connection, roles: list[str]) -> None:
    """SELECT on the credentials store's keys (not its history) for each of `roles` that exists, once the store
    exists (`zorgstroom credentials` creates it). Run as its owner or a superuser; the services only read it."""
    if await conn.fetchval("SELECT to_regclass($1)", f"{CREDENTIALS_SCHEMA}.api_keys") is None:
        return
    s = quote_ident(CREDENTIALS_SCHEMA)
    for role in roles:
        if await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role):
            r = quote_ident(role)
            await conn.execute(f"GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON {s}.api_keys TO {r}")


async def migrate_schema(migrator_url: str, schema: str, migrations: Path, app_role: str) -> list[str]:
    """Migrate one service's schema as its owner, then grant its login role what it may do (idempotent)."""
    pool = await create_pool(migrator_url, schema, max_size=1)
    try:
        applied = await migrate(pool, schema, migrations)
        async with pool.acquire() as conn:
            await grant_service_role(conn, schema, app_role)
    finally:
        await pool.close()
    return applied


async def migrate_stack(roles: list[ServiceRoles]) -> dict[str, list[str]]:
    """`zorgstroom migrate` on the local stack: each schema as its migrator (password from PGPASSFILE)."""
    from zorgstroom_ops.kafka_security import DEFINITIONS

    return {
        r.schema: await migrate_schema(r.url(r.migrator), r.schema, DEFINITIONS[r.schema].migrations, r.app)
        for r in roles
    }


def migrate_command(
    service: Annotated[str | None, typer.Option(help="One service (default: all four).")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="The service's migration role's URL (default: the local stack's <schema>_migrator)."),
    ] = None,
    schema: Annotated[
        str | None, typer.Option(help="The service's schema, its ZS_DB_SCHEMA (default: its name).")
    ] = None,
    app_role: Annotated[str | None, typer.Option(help="The login role to grant (default: <schema>_app).")] = None,
) -> None:
    """Apply a service's migrations as its schema's owner and grant its login role; run before the services."""
    from zorgstroom_ops.config import config
    from zorgstroom_ops.kafka_security import DEFINITIONS
    from zorgstroom_ops.stack import console

    if (database_url or schema or app_role) and service is None:
        raise typer.BadParameter("--database-url, --schema and --app-role need --service")
    if service is not None and service not in DEFINITIONS:
        raise typer.BadParameter(f"unknown service {service}: one of {', '.join(DEFINITIONS)}")
    for name in [service] if service else list(DEFINITIONS):
        (roles,) = local_roles(config().database_url, [schema or name])
        url, app = database_url or roles.url(roles.migrator), app_role or roles.app
        applied = asyncio.run(migrate_schema(url, roles.schema, DEFINITIONS[name].migrations, app))
        console.print(f"{roles.schema:<10} {len(applied)} migration(s) applied, {app} granted")


def local_roles(superuser_url: str, schemas: list[str]) -> list[ServiceRoles]:
    """The roles of each schema on the cluster and database the URL names."""
    parts = urlsplit(superuser_url)
    host, port, database = parts.hostname or "127.0.0.1", parts.port or 5432, parts.path.lstrip("/") or "postgres"
    return [ServiceRoles(schema, host, port, database) for schema in schemas]


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
