"""Ordered SQL migrations with a recorded version and checksum, applied under an advisory lock.

Each service has a folder of `NNNN_name.sql` files; the runtime's own folder (outbox, processed
events, audit) is applied first. A migration that was applied and then edited is refused.
"""

import hashlib
from pathlib import Path

import asyncpg

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(pool: asyncpg.Pool, schema: str, *folders: Path) -> list[str]:
    """Apply what is missing, in order; returns the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute(f"SELECT pg_advisory_lock(hashtext('migrate:{schema}'))")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            known = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
            for folder in (RUNTIME_MIGRATIONS, *folders):
                for file in sorted(folder.glob("*.sql")):
                    name = f"{folder.parent.name}/{file.name}"
                    sql = file.read_text()
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if name in known:
                        if known[name] != checksum:
                            raise RuntimeError(f"migration {name} was changed after it was applied")
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum
                        )
                    applied_now.append(name)
        finally:
            await conn.execute(f"SELECT pg_advisory_unlock(hashtext('migrate:{schema}'))")
    return applied_now
