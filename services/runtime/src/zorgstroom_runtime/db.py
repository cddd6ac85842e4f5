"""The database: one asyncpg pool per service, confined to the service's own schema."""

import asyncpg

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


async def create_pool(url: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog); creates the schema if needed."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema},
        init=_register_json_codecs,
    )
    return pool


async def _register_json_codecs(conn: asyncpg.Connection) -> None:
    import json

    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
