"""Ordered SQL migrations with a recorded version and checksum, applied under an advisory lock.

Each service has a folder of `NNNN_name.sql` files; the runtime's own folder (outbox, processed
events, audit) is applied first. A migration that was applied and then edited is refused.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Migration:
    name: str  # `<package folder>/<file>`, as recorded in schema_migrations
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migration_lock(schema: str) -> str:
    """The advisory lock's key: taken by migrate and by the grants, so no two run on a schema at once."""
    return f"migrate:{schema}"


def migrations_of(*folders: Path, runtime: bool = True) -> list[Migration]:
    """The runtime's migrations, then each folder's, in order; `runtime=False` for a schema that is no
    service's own (the credentials store), which has no outbox or audit log."""
    return [
        Migration(f"{folder.parent.name}/{file.name}", file.read_text())
        for folder in ((RUNTIME_MIGRATIONS,) if runtime else ()) + folders
        for file in sorted(folder.glob("*.sql"))
    ]


def _applied(migration: Migration, known: dict[str, str]) -> bool:
    if migration.name in known and known[migration.name] != migration.checksum:
        raise RuntimeError(f"migration {migration.name} was changed after it was applied")
    return migration.name in known


async def pending(conn: asyncpg.Connection, *folders: Path) -> list[str]:
    """The migrations not yet applied to the connection's schema (read only; refuses an edited one)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return [m.name for m in migrations_of(*folders)]
    known = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
    return [m.name for m in migrations_of(*folders) if not _applied(m, known)]


async def migrate(pool: asyncpg.Pool, schema: str, *folders: Path, runtime: bool = True) -> list[str]:
    """Apply what is missing, in order; returns the names applied now."""
    from zorgstroom_runtime.db import holds_session_state  # db builds on this module

    applied_now: list[str] = []
    async with pool.acquire() as conn:
        holds_session_state(conn)  # a session lock (released below) and whatever a migration SETs: reset on release
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", migration_lock(schema))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            known = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
            for migration in migrations_of(*folders, runtime=runtime):
                if _applied(migration, known):
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", migration_lock(schema))
    return applied_now
