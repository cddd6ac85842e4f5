"""The database: one asyncpg pool per service, on the service's own schema, as a role that owns nothing.

The schema belongs to a migration role; the service's login role is granted only what its work needs
(`grant_service_role`): it may add audit rows and read them, never change, delete or truncate them.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from zorgstroom_runtime.migrations import migrate
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
READ_ONLY = ("schema_migrations",)


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


async def create_pool(url: str, schema: str, *, max_size: int = 10, create_schema: bool = True) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog); creates the schema if asked and needed."""
    if create_schema:
        await ensure_schema(url, schema)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
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

    Run by the schema's owner after every migration, so tables a later migration adds are covered and a
    privilege granted by hand is taken back. No TRUNCATE, REFERENCES or TRIGGER anywhere; on the audit log
    only INSERT and SELECT. Not being the owner, the role cannot disable the audit triggers or drop them.
    """
    s, r = quote_ident(schema), quote_ident(role)
    async with conn.transaction():
        if await conn.fetchval("SELECT current_user = $1", role):
            raise RuntimeError(f"the migration role and the service's login role are the same ({role})")
        await conn.execute(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r};"
            f" REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r};"
            f" GRANT USAGE ON SCHEMA {s} TO {r};"
            f" GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};"
            f" GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}"
        )
        for table in (*APPEND_ONLY, *READ_ONLY):
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{s}.{quote_ident(table)}")
            if exists:
                await conn.execute(f"REVOKE ALL ON {s}.{quote_ident(table)} FROM {r}")
                allowed = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT"
                await conn.execute(f"GRANT {allowed} ON {s}.{quote_ident(table)} TO {r}")


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
    """Migrate as the schema's owner; serve as the login role, granted afresh what it may do.

    Without ZS_MIGRATION_DATABASE_URL (tests, development) one role does both, as the owner.
    """
    schema, separate = settings.schema_name, settings.migration_database_url is not None
    owner_url = settings.migration_database_url or settings.database_url
    size = 2 if separate else settings.db_pool_max
    owner = await _retrying(lambda: create_pool(owner_url, schema, max_size=size))
    await migrate(owner, schema, migrations)
    if not separate:
        return owner
    try:
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
