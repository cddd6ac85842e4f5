"""`zorgstroom credentials issue|rotate|revoke|list ORG`: API keys for systems that cannot do OAuth 2.0.

A key (`zsk_<key id>_<secret>`) is printed once and never stored: the credentials store (schema `credentials`,
migrations in credentials_migrations/) keeps the SHA-256 of its secret, the organisation, name, roles and
expiry. Every issue, rotation and revocation is written to an append-only history, with the operating-system
user who ran it. The running services are told of each change at once (a trigger NOTIFYs them).
"""

import asyncio
import base64
import contextlib
import datetime
import getpass
import json
import os
import re
import secrets
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer

from zorgstroom_ops import credentials
from zorgstroom_ops.db_roles import grant_credentials_readers
from zorgstroom_ops.processes import SERVICES
from zorgstroom_runtime.api_keys import SCHEMA, KeyState, StoredKey, secret_digest, stored_key
from zorgstroom_runtime.auth import API_KEY_PREFIX, ROLES_OF_KIND, OrganisationKind
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.migrations import migrate

MIGRATIONS = Path(__file__).parent / "credentials_migrations"
DEFAULT_EXPIRY = datetime.timedelta(days=90)
DEFAULT_OVERLAP = datetime.timedelta(days=7)
# What a key gets unless --role says otherwise: what the kind's static credential gets in the demo's data.
DEFAULT_ROLES: dict[OrganisationKind, list[str]] = {
    OrganisationKind.MUNICIPALITY: credentials.MUNICIPALITY_ROLES,
    OrganisationKind.REGION: credentials.REGION_ROLES,
    OrganisationKind.PROVIDER: credentials.PROVIDER_ROLES,
    OrganisationKind.CORPORATION: credentials.CORPORATION_ROLES,
}
_ORGANISATION = re.compile(r"([a-z]+):([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
T = TypeVar("T")


class CredentialsError(ValueError):
    """A request the store refuses (an unknown organisation kind, a role beyond the kind, a key not of ORG)."""


@dataclass(frozen=True)
class Organisation:
    kind: OrganisationKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    key: str  # the whole key string: shown once, stored nowhere
    expires_at: datetime.datetime


def parse_organisation(text: str) -> Organisation:
    """`kind:id`, e.g. `provider:12345678`; a kind that may hold roles."""
    found = _ORGANISATION.fullmatch(text)
    kinds = ", ".join(kind.value for kind in DEFAULT_ROLES)
    if not found or found[1] not in {kind.value for kind in DEFAULT_ROLES}:
        raise CredentialsError(f"organisation {text!r}: expected kind:id with kind one of {kinds}")
    return Organisation(OrganisationKind(found[1]), found[2])


def parse_duration(text: str) -> datetime.timedelta:
    """`90d`, `12h`, `30m`, `45s`."""
    found = _DURATION.fullmatch(text.strip())
    if not found or int(found[1]) == 0:
        raise CredentialsError(f"duration {text!r}: expected a positive number and s, m, h or d, e.g. 90d")
    return datetime.timedelta(**{_UNITS[found[2]]: int(found[1])})


def roles_for(organisation: Organisation, roles: list[str] | None) -> list[str]:
    """The roles asked for (default: the kind's demo roles), refused when beyond what the kind may hold."""
    wanted = sorted(set(roles)) if roles else sorted(DEFAULT_ROLES[organisation.kind])
    allowed = {role.value for role in ROLES_OF_KIND[organisation.kind]}
    if excess := [role for role in wanted if role not in allowed]:
        raise CredentialsError(
            f"a {organisation.kind.value} may not hold {', '.join(excess)}: one or more of {', '.join(sorted(allowed))}"
        )
    return wanted


def new_key() -> tuple[str, str, bytes]:
    """(key id, the key string, the digest to store): a 60-bit public id, a 256-bit secret."""
    key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:12]
    secret = secrets.token_urlsafe(32)  # 32 random bytes, base64url: 43 characters
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secret}", secret_digest(secret)


def overlap_expiry(
    old_expiry: datetime.datetime, now: datetime.datetime, overlap: datetime.timedelta
) -> datetime.datetime:
    """A rotated key's new expiry: the overlap from now, never later than it would have expired anyway."""
    return min(old_expiry, now + overlap)


async def open_store(database_url: str) -> asyncpg.Pool:
    """The credentials store, migrated, its api_keys readable by every service's login role that exists."""
    pool = await create_pool(database_url, SCHEMA, max_size=2)
    try:
        await migrate(pool, SCHEMA, MIGRATIONS, runtime=False)
        async with pool.acquire() as conn:
            await grant_credentials_readers(conn, [f"{service}_app" for service in SERVICES])
    except BaseException:
        await pool.close()
        raise
    return pool


async def prepare_store(database_url: str) -> None:
    """Create or migrate the credentials store, and grant the services' login roles (`zorgstroom up`)."""
    await (await open_store(database_url)).close()


async def _insert_key(
    conn: asyncpg.Connection,
    organisation: Organisation,
    name: str | None,
    roles: list[str],
    expires_at: datetime.datetime,
) -> IssuedKey:
    key_id, key, digest = new_key()
    await conn.execute(
        "INSERT INTO api_keys (key_id, secret_sha256, organisation_kind, organisation_id, name, roles, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key_id,
        digest,
        organisation.kind.value,
        organisation.id,
        name or f"api-key-{key_id}",
        roles,
        expires_at,
    )
    return IssuedKey(key_id, key, expires_at)


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value)


async def _history(
    conn: asyncpg.Connection, action: str, organisation: Organisation, key_id: str, **detail: object
) -> None:
    await conn.execute(
        "INSERT INTO api_key_history (os_user, action, organisation, key_id, detail) VALUES ($1, $2, $3, $4, $5)",
        getpass.getuser(),
        action,
        str(organisation),
        key_id,
        json.loads(json.dumps(detail, default=_iso)),  # the pool's codec encodes it; datetimes as ISO 8601
    )


async def issue_key(
    database_url: str,
    organisation: str,
    *,
    name: str | None = None,
    roles: list[str] | None = None,
    expires_in: datetime.timedelta = DEFAULT_EXPIRY,
) -> IssuedKey:
    """A new key for `organisation` (`kind:id`); its roles default to the kind's demo roles."""
    org = parse_organisation(organisation)
    granted = roles_for(org, roles)
    pool = await open_store(database_url)
    try:
        async with pool.acquire() as conn, conn.transaction():
            now = await conn.fetchval("SELECT now()")
            issued = await _insert_key(conn, org, name, granted, now + expires_in)
            await _history(conn, "issue", org, issued.key_id, name=name, roles=granted, expires_at=issued.expires_at)
    finally:
        await pool.close()
    return issued


async def _key_of(conn: asyncpg.Connection, organisation: Organisation, key_id: str) -> StoredKey:
    row = await conn.fetchrow(
        "SELECT key_id, secret_sha256, organisation_kind, organisation_id, name, roles, created_at, expires_at,"
        " revoked_at, replaced_by FROM api_keys WHERE key_id = $1 AND organisation_kind = $2"
        " AND organisation_id = $3 FOR UPDATE",
        key_id,
        organisation.kind.value,
        organisation.id,
    )
    if row is None:
        raise CredentialsError(f"{organisation} has no key {key_id}")
    return stored_key(row)


async def rotate_key(
    database_url: str,
    organisation: str,
    key_id: str,
    *,
    overlap: datetime.timedelta = DEFAULT_OVERLAP,
    expires_in: datetime.timedelta = DEFAULT_EXPIRY,
) -> tuple[IssuedKey, datetime.datetime]:
    """A new key with the old one's name and roles; the old one stays valid for the overlap. Returns the new
    key and the old one's expiry."""
    org = parse_organisation(organisation)
    pool = await open_store(database_url)
    try:
        async with pool.acquire() as conn, conn.transaction():
            old, now = await _key_of(conn, org, key_id), await conn.fetchval("SELECT now()")
            if (state := old.state(now)) is not KeyState.ACTIVE:
                raise CredentialsError(f"key {key_id} is {state.value}: only an active key can be rotated")
            issued = await _insert_key(conn, org, old.name, list(old.roles), now + expires_in)
            old_expiry = overlap_expiry(old.expires_at, now, overlap)
            await conn.execute(
                "UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE key_id = $1",
                key_id,
                old_expiry,
                issued.key_id,
            )
            await _history(conn, "rotate", org, key_id, replaced_by=issued.key_id, old_expires_at=old_expiry)
            await _history(conn, "issue", org, issued.key_id, name=old.name, roles=list(old.roles),
                           expires_at=issued.expires_at, replaces=key_id)  # fmt: skip
    finally:
        await pool.close()
    return issued, old_expiry


async def revoke_keys(database_url: str, organisation: str, key_id: str | None) -> list[str]:
    """Revoke one key of the organisation, or (key_id None) every key of it not revoked yet; the ids revoked."""
    org = parse_organisation(organisation)
    pool = await open_store(database_url)
    try:
        async with pool.acquire() as conn, conn.transaction():
            if key_id is not None:
                await _key_of(conn, org, key_id)  # refuses a key of another organisation
            revoked = await conn.fetch(
                "UPDATE api_keys SET revoked_at = now() WHERE organisation_kind = $1 AND organisation_id = $2"
                " AND revoked_at IS NULL AND ($3::text IS NULL OR key_id = $3) RETURNING key_id",
                org.kind.value,
                org.id,
                key_id,
            )
            for row in revoked:
                await _history(conn, "revoke", org, row["key_id"])
    finally:
        await pool.close()
    return [row["key_id"] for row in revoked]


async def keys_of(database_url: str, organisation: str) -> tuple[list[StoredKey], datetime.datetime]:
    """Every key of the organisation, oldest first, and the database's now (to tell their states by)."""
    org = parse_organisation(organisation)
    pool = await open_store(database_url)
    try:
        rows = await pool.fetch(
            "SELECT key_id, secret_sha256, organisation_kind, organisation_id, name, roles, created_at, expires_at,"
            " revoked_at, replaced_by FROM api_keys WHERE organisation_kind = $1 AND organisation_id = $2"
            " ORDER BY created_at, key_id",
            org.kind.value,
            org.id,
        )
        now = await pool.fetchval("SELECT now()")
    finally:
        await pool.close()
    return [stored_key(row) for row in rows], now


# The CLI: `zorgstroom credentials ...`.

credentials_app = typer.Typer(
    help="API keys for systems that cannot do OAuth 2.0: issue, rotate, revoke, list (ORG is kind:id).",
    no_args_is_help=True,
)
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="ZS_CREDENTIALS_OWNER_URL",
        help="The credentials store's database, as a role that owns the schema credentials (default: the local"
        " stack's). Leave its password out: it is read from PGPASSFILE. Not ZS_CREDENTIALS_DATABASE_URL: that is"
        " the services' read-only role.",
    ),
]


def _database_url(given: str | None) -> str:
    from zorgstroom_ops.config import config

    return given or config().database_url


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except CredentialsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def new_key_file(output: Path | None) -> Iterator[int | None]:
    """A new 0600 file for the key (its descriptor), made before the key is issued: a file or link there already
    (perhaps another user's, who would read the key) refuses the command with nothing issued; removed again
    when the key is not issued after all."""
    if output is None:
        yield None
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        typer.echo(f"error: {output} exists: --output writes a new file only (remove it or name another)", err=True)
        raise typer.Exit(2) from None
    try:
        yield fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        output.unlink(missing_ok=True)
        raise


def _show_key(issued: IssuedKey, output: Path | None, key_file: int | None) -> None:
    """The key on stdout (alone, for a script to capture) or into its new file; the rest on stderr."""
    if output is None or key_file is None:
        print(issued.key)
    else:
        with os.fdopen(key_file, "w") as out:
            out.write(issued.key + "\n")
        typer.echo(f"key written to {output} (0600)", err=True)
    typer.echo(
        f"key id {issued.key_id}, expires {issued.expires_at:%Y-%m-%d %H:%M %Z}; it is not shown again", err=True
    )


Output = Annotated[Path | None, typer.Option(help="Write the key to this new file (0600) instead of stdout.")]


@credentials_app.command("issue")
def issue_command(
    organisation: Annotated[str, typer.Argument(metavar="ORG", help="kind:id, e.g. provider:12345678")],
    name: Annotated[str | None, typer.Option(help="The calling system's name (the audit's actor).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role (repeat); default: the kind's usual roles.")] = None,
    expires_in: Annotated[str, typer.Option(help="Lifetime: 90d, 12h, 30m.")] = "90d",
    output: Output = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a new key for ORG and print it, once."""

    async def work() -> IssuedKey:
        lifetime = parse_duration(expires_in)
        return await issue_key(_database_url(database_url), organisation, name=name, roles=role, expires_in=lifetime)

    with new_key_file(output) as key_file:
        _show_key(_run(work()), output, key_file)


@credentials_app.command("rotate")
def rotate_command(
    organisation: Annotated[str, typer.Argument(metavar="ORG")],
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID")],
    overlap: Annotated[str, typer.Option(help="How long the old key stays valid beside the new one.")] = "7d",
    expires_in: Annotated[str, typer.Option(help="The new key's lifetime.")] = "90d",
    output: Output = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a key replacing KEY_ID (same name and roles); KEY_ID stays valid for the overlap, then expires."""

    async def work() -> tuple[IssuedKey, datetime.datetime]:
        url, lap, life = _database_url(database_url), parse_duration(overlap), parse_duration(expires_in)
        return await rotate_key(url, organisation, key_id, overlap=lap, expires_in=life)

    with new_key_file(output) as key_file:
        issued, old_expiry = _run(work())
        _show_key(issued, output, key_file)
    typer.echo(f"key {key_id} stays valid until {old_expiry:%Y-%m-%d %H:%M %Z}", err=True)


@credentials_app.command("revoke")
def revoke_command(
    organisation: Annotated[str, typer.Argument(metavar="ORG")],
    key_id: Annotated[str | None, typer.Argument(metavar="[KEY_ID]")] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Every key of ORG.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke KEY_ID (or --all of ORG's keys): every running service refuses it within seconds."""
    if (key_id is None) == (not all_keys):
        typer.echo("error: name one KEY_ID or --all", err=True)
        raise typer.Exit(2)

    async def work() -> list[str]:
        return await revoke_keys(_database_url(database_url), organisation, key_id)

    revoked = _run(work())
    typer.echo(f"revoked: {', '.join(revoked)}" if revoked else "nothing to revoke: no key of it was valid")


@credentials_app.command("list")
def list_command(organisation: Annotated[str, typer.Argument(metavar="ORG")], database_url: DatabaseUrl = None) -> None:
    """ORG's keys and their state (never a secret)."""
    from rich.table import Table

    from zorgstroom_ops.stack import console

    async def work() -> tuple[list[StoredKey], datetime.datetime]:
        return await keys_of(_database_url(database_url), organisation)

    keys, now = _run(work())
    table = Table("key id", "name", "roles", "created", "expires", "state", title=f"API keys of {organisation}")
    for key in keys:
        state = key.state(now)
        shown = f"{state.value} (by {key.replaced_by})" if state is KeyState.OVERLAP else state.value
        table.add_row(key.key_id, key.name, " ".join(key.roles), f"{key.created_at:%Y-%m-%d %H:%M}",
                      f"{key.expires_at:%Y-%m-%d %H:%M}", shown)  # fmt: skip
    console.print(table if keys else f"{organisation} has no API keys", markup=False)
