"""The database: one asyncpg pool per service, on the service's own schema, as a role that owns nothing.

The schema belongs to a migration role; the service's login role is granted only what its work needs
(`grant_service_role`): it may add audit rows and read them, never change, delete or truncate them, nor
choose their id or time.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from zorgstroom_runtime.migrations import migrate, migration_lock, pending
from zorgstroom_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
)

# Tables the login role may read but not change: the audit log only grows, the migration record is the owner's.
APPEND_ONLY = ("audit_log",)
READ_ONLY = ("schema_migrations", "disclosure_key")
# The audit columns the login role may fill. `id` comes from the sequence and `at` is now(): a role that
# may not name them can neither backdate a row nor take ids ahead of the sequence (which would make the
# service's own audited writes fail on a duplicate key).
AUDIT_INSERT_COLUMNS = (
    "actor",
    "on_behalf_of",
    "person",
    "action",
    "client_ref",
    "subject",
    "outcome",
    "correlation_id",
)


class UnfitDatabase(RuntimeError):
    """The service refuses to start on this database: see the message for what to do."""


def quote_ident(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def ensure_schema(url: str, schema: str) -> None:
    """Create the schema (owned by the connecting role) unless it exists."""
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", schema)
        if not exists:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    finally:
        await conn.close()


class ServiceConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped here
    """A pooled connection that says when it holds session state (`holds_session_state`).

    asyncpg resets every connection it takes back into the pool with a round trip (UNLISTEN, RESET ALL, advisory
    unlock) unless the pool is given a reset of its own. The units of work hold nothing past their transaction
    (SET LOCAL and transaction-scoped advisory locks only), so that round trip, one a request, is spent only on
    a connection marked as holding more (the relay's LISTEN and SETs, migrate's session lock). An open or failed
    transaction is rolled back on release either way (asyncpg does that before calling the pool's reset).
    """

    _session_state = False

    def holds_session_state(self) -> None:
        """Mark this connection as holding session state (a SET, LISTEN, a session advisory lock, a cursor
        WITH HOLD): it is reset in full when it goes back into the pool."""
        self._session_state = True


def holds_session_state(conn: asyncpg.Connection | Any) -> None:
    """Mark a pooled connection (or its pool proxy) as holding session state; a connection of another pool is
    reset in full by asyncpg on release anyway."""
    mark = getattr(conn, "holds_session_state", None)
    if mark is not None:
        mark()


async def _reset_if_session_state(conn: asyncpg.Connection) -> None:
    if getattr(conn, "_session_state", True):
        await conn.execute(conn.get_reset_query())
        conn._session_state = False


async def create_pool(url: str, schema: str, *, max_size: int = 10, create_schema: bool = True) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog); creates the schema if asked and needed."""
    if create_schema:
        await ensure_schema(url, schema)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        connection_class=ServiceConnection,
        reset=_reset_if_session_state,
        # Keepalives from the server's side: a connection whose client host vanished is closed in about
        # 25 s instead of TCP's two hours, and with it what that session held.
        server_settings={
            "search_path": schema,
            "tcp_keepalives_idle": "10",
            "tcp_keepalives_interval": "5",
            "tcp_keepalives_count": "3",
        },
        init=_register_json_codecs,
    )
    return pool


async def grant_service_role(conn: asyncpg.Connection, schema: str, role: str) -> None:
    """What the service's login role may do in its schema, applied afresh (idempotent, in one transaction).

    Run by the schema's owner after every migration (`zorgstroom migrate`), so tables a later migration
    adds are covered and a privilege granted by hand is taken back. No TRUNCATE, REFERENCES or TRIGGER
    anywhere; on the audit log only SELECT, and INSERT of AUDIT_INSERT_COLUMNS. Not being the owner, the
    role cannot disable the audit triggers or drop them; a role that is a superuser or may act as the
    owner is refused, as it could.
    """
    s, r = quote_ident(schema), quote_ident(role)
    async with conn.transaction():
        # migrate's lock: two processes granting on one relation at once fail with "tuple concurrently updated".
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", migration_lock(schema))
        if await conn.fetchval(_PRIVILEGED, role, schema):
            raise UnfitDatabase(
                f"{role} is a superuser, may create roles or bypass row security, or is a member of the role"
                f" owning schema {schema}"
            )
        if await _privileges(conn, s, r) == await _wanted_privileges(conn, s):
            return  # nothing to change: no catalog row is rewritten
        await conn.execute(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r};"
            f" REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r};"
            f" REVOKE ALL ON SCHEMA {s} FROM {r};"
            f" GRANT USAGE ON SCHEMA {s} TO {r};"
            f" GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};"
            f" GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}"
        )
        for table in (*APPEND_ONLY, *READ_ONLY):
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{s}.{quote_ident(table)}")
            if exists:
                t = f"{s}.{quote_ident(table)}"
                await conn.execute(f"REVOKE ALL ON {t} FROM {r}; GRANT SELECT ON {t} TO {r}")
                if table in APPEND_ONLY:
                    columns = ", ".join(await _audit_columns(conn, f"{s}.{quote_ident(table)}"))
                    await conn.execute(f"GRANT INSERT ({columns}) ON {t} TO {r}")


_PRIVILEGED = """
SELECT r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR pg_has_role(r.oid, n.nspowner, 'MEMBER')
FROM pg_roles r, pg_namespace n WHERE r.rolname = $1 AND n.nspname = $2
"""
# (relation, column, privilege) the role holds in the schema; ('', '', privilege) on the schema itself.
_PRIVILEGES = """
SELECT c.relname::text, '', a.privilege_type || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = $1::regnamespace AND a.grantee = $2::regrole
UNION ALL
SELECT c.relname::text, t.attname::text,
    a.privilege_type || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, aclexplode(t.attacl) a
WHERE c.relnamespace = $1::regnamespace AND a.grantee = $2::regrole AND NOT t.attisdropped
UNION ALL
SELECT '', '', a.privilege_type || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.oid = $1::regnamespace AND a.grantee = $2::regrole
"""


async def _privileges(conn: asyncpg.Connection, schema: str, role: str) -> set[tuple[str, str, str]]:
    return {(rel, column, privilege) for rel, column, privilege in await conn.fetch(_PRIVILEGES, schema, role)}


async def _wanted_privileges(conn: asyncpg.Connection, schema: str) -> set[tuple[str, str, str]]:
    """What grant_service_role gives, relation by relation (GRANT ON ALL TABLES covers views and the like)."""
    wanted = {("", "", "USAGE")}
    kinds = "SELECT relname::text, relkind::text FROM pg_class WHERE relnamespace = $1::regnamespace"
    for name, kind in await conn.fetch(f"{kinds} AND relkind IN ('r', 'p', 'v', 'm', 'f', 'S')", schema):
        if kind == "S":
            wanted |= {(name, "", "USAGE"), (name, "", "SELECT")}
        elif name in APPEND_ONLY:
            columns = await _audit_columns(conn, f"{schema}.{quote_ident(name)}")  # schema: quoted already
            wanted |= {(name, "", "SELECT")} | {(name, column, "INSERT") for column in columns}
        elif name in READ_ONLY:
            wanted.add((name, "", "SELECT"))
        else:
            wanted |= {(name, "", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")}
    return wanted


async def _audit_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """The AUDIT_INSERT_COLUMNS the table has yet: roles are provisioned before the migrations that add a
    column run (an upgrade), and granted again after them."""
    present = await conn.fetch(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
        table,
    )
    names = {row[0] for row in present}
    return [column for column in AUDIT_INSERT_COLUMNS if column in names]


async def _retrying(connect: Callable[[], Awaitable[asyncpg.Pool]], attempts: int = 60) -> asyncpg.Pool:
    for attempt in range(attempts):
        try:
            return await connect()
        except (OSError, asyncpg.PostgresError) as error:
            if attempt == attempts - 1:
                raise
            log.info("waiting for PostgreSQL: %r", error)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def open_service_database(settings: ServiceSettings, migrations: Path) -> asyncpg.Pool:
    """The service's pool on its schema, migrated: by `zorgstroom migrate` before it starts, or, in
    development and test, by the service itself when it connects as the schema's owner (or is given
    ZS_MIGRATION_DATABASE_URL, which production refuses).

    Outside development and test it refuses a superuser, the schema's owner or a member of the owner's
    role (any of them could switch the audit log's triggers off), and a schema whose migrations are behind.
    """
    schema, development = settings.schema_name, settings.environment != "production"
    if settings.migration_database_url is not None:
        return await _migrate_as_owner_serve_as_login_role(settings, settings.migration_database_url, migrations)
    pool = await _retrying(
        lambda: create_pool(settings.database_url, schema, max_size=settings.db_pool_max, create_schema=development)
    )
    try:
        superuser, owner = await pool.fetchrow(_CONNECTED_AS, schema)
        if development and (superuser or owner):
            await migrate(pool, schema, migrations)
            await pool.expire_connections()  # migrate held a session lock on one: no connection keeps anything of it
        elif superuser or owner:
            raise UnfitDatabase(
                f"connected to schema {schema} as a superuser, its owner or a role that may become one: give"
                " ZS_DATABASE_URL the service's own login role (zorgstroom db-roles makes one) and migrate with"
                " `zorgstroom migrate`"
            )
        else:
            async with pool.acquire() as conn:
                behind = await pending(conn, migrations)
            if behind:
                raise UnfitDatabase(f"schema {schema} lacks migrations {', '.join(behind)}: run `zorgstroom migrate`")
    except BaseException:
        await pool.close()
        raise
    return pool


# Whether the connected role is a superuser, and whether it may act as the schema's owner (or make itself one:
# a role with CREATEROLE can grant itself membership of the owner on PostgreSQL 15 and earlier).
_CONNECTED_AS = """
SELECT r.rolsuper, coalesce(pg_has_role(current_user, n.nspowner, 'MEMBER'), false)
    OR r.rolcreaterole OR r.rolbypassrls
FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = $1 WHERE r.rolname = current_user
"""


async def _migrate_as_owner_serve_as_login_role(
    settings: ServiceSettings, owner_url: str, migrations: Path
) -> asyncpg.Pool:
    """Development and test with two roles: migrate as the owner, grant, then serve as the login role."""
    schema = settings.schema_name
    owner = await _retrying(lambda: create_pool(owner_url, schema, max_size=2))
    try:
        await migrate(owner, schema, migrations)
        pool = await _retrying(
            lambda: create_pool(settings.database_url, schema, max_size=settings.db_pool_max, create_schema=False)
        )
        async with owner.acquire() as conn:
            await grant_service_role(conn, schema, await pool.fetchval("SELECT current_user"))
    finally:
        await owner.close()
    return pool


async def _register_json_codecs(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
