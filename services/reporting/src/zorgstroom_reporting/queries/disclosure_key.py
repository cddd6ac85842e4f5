"""Reporting's rounding key, made by its migration (0009) and kept in its own schema: read, never written."""

import asyncpg


async def disclosure_secret(pool: asyncpg.Pool) -> bytes:
    secret = await pool.fetchval("SELECT secret FROM disclosure_key")
    if secret is None:  # only if someone emptied the table: no report is better than an unprotected one
        raise RuntimeError("reporting's disclosure key is missing (migration 0009_disclosure_key)")
    return bytes(secret)
