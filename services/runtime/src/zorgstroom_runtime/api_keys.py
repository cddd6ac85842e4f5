"""API keys (`zsk_<key id>_<secret>`) for systems that cannot do OAuth 2.0: checked in memory, kept fresh.

The keys live in the credentials store (schema `credentials`, written only by `zorgstroom credentials`). Each
service holds them in memory, so a request costs no database round trip, and reloads them when the store
notifies a change (LISTEN on `CHANNEL`) and every few seconds besides: a notification sent while the listening
connection is down is lost, and a reconnect reloads. Expiry is decided by the clock at each request, not at
the next reload; a revocation reaches every process within a notification (or, at worst, one poll).

A connection that goes silent (a firewall drops it, the store fails over) would otherwise hold a reload for
as long as the kernel retries: every query has a timeout, each reload a deadline, and a reload that misses it
reconnects. Fails closed: keys last loaded longer ago than STALE_POLLS polls are refused with 503 (`key store
unavailable`, Retry-After) rather than honoured while a revocation may be missed.
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import asyncpg

from zorgstroom_runtime.auth import (
    API_KEY_PREFIX,
    ROLES_OF_KIND,
    OrganisationKind,
    Principal,
    RefusedCaller,
    Role,
    Unauthenticated,
)
from zorgstroom_runtime.problems import Problem

log = logging.getLogger(__name__)

SCHEMA = "credentials"
CHANNEL = "zorgstroom_api_keys"
# What a Principal of an API key names as its issuer: idempotency binds a keyed write to (issuer, name), so a
# retry with the rotated key of the same organisation and name replays the first answer (see idempotency.py).
API_KEY_ISSUER = "zorgstroom:api-key"
KEY_ID_LENGTH = 12
APPLICATION_NAME = "zorgstroom-api-keys"  # the listening connection, as pg_stat_activity shows it
RECONNECT_SECONDS = 1.0
# Keys last loaded this many polls ago are refused (503): long enough for a reconnect or two, short enough
# that a missed revocation is not honoured for long. The poll is ZS_API_KEYS_POLL_SECONDS.
STALE_POLLS = 6
MIN_RELOAD_DEADLINE_SECONDS = 5.0  # a reload (and every query of it) that takes longer reconnects
STORE_RETRY_AFTER_SECONDS = 5
# The key id is base32 (lower case, no padding): no `_`, so it splits from the secret (base64url, which has `_`).
_KEY = re.compile(rf"{API_KEY_PREFIX}([a-z2-7]{{{KEY_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})")
# Keys long gone are not loaded: they answer `unknown key` like any other.
_LOAD = f"""
SELECT key_id, secret_sha256, organisation_kind, organisation_id, name, roles, created_at, expires_at, revoked_at,
       replaced_by
FROM {SCHEMA}.api_keys WHERE expires_at > now() - interval '30 days'
"""


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


def parse_key(token: str) -> ParsedKey | None:
    """The key id and secret of a well-formed key; None for anything else."""
    found = _KEY.fullmatch(token)
    return ParsedKey(found[1], found[2]) if found else None


def secret_digest(secret: str) -> bytes:
    """SHA-256 of the secret, as stored. The secret is 32 random bytes: OWASP's Password Storage Cheat Sheet asks
    for a slow, salted hash (Argon2id, bcrypt) because passwords are guessable; 2^256 possibilities are not, so a
    fast hash leaves an attacker who reads the store nothing to brute-force, and keeps every request cheap."""
    return hashlib.sha256(secret.encode()).digest()


class KeyState(StrEnum):
    ACTIVE = "active"
    OVERLAP = "overlap"  # rotated: still valid until its (shortened) expiry, beside the key that replaced it
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    secret_sha256: bytes
    organisation_kind: str
    organisation_id: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    replaced_by: str | None = None

    @property
    def organisation(self) -> str:
        return f"{self.organisation_kind}:{self.organisation_id}"

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:  # whatever this process's clock says of the store's
            return KeyState.REVOKED
        if self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.OVERLAP if self.replaced_by is not None else KeyState.ACTIVE

    def principal(self) -> Principal:
        """Who the key speaks for; roles outside its kind's set are dropped, whatever the store says."""
        kind = OrganisationKind(self.organisation_kind)
        known = {role.value: role for role in Role}
        roles = frozenset(known[r] for r in self.roles if r in known) & frozenset(ROLES_OF_KIND[kind])
        return Principal(self.name, kind, self.organisation_id, roles, issuer=API_KEY_ISSUER)


def stored_key(row: asyncpg.Record) -> StoredKey:
    return StoredKey(**{**dict(row), "roles": tuple(row["roles"])})


class ApiKeys:
    """The keys a service accepts, by key id (revoked and recently expired ones too, to say why they are refused).

    Keys given at construction count as loaded then; without any, none are loaded until the first `replace`,
    and a key is refused as `key store unavailable` (503) meanwhile, or once the last load is older than
    `max_age_seconds` (None: no bound; the refresher sets one)."""

    def __init__(
        self,
        keys: Iterable[StoredKey] | None = None,
        *,
        max_age_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age_seconds, self._clock = max_age_seconds, clock
        self._by_id: dict[str, StoredKey] = {}
        self._loaded_at: float | None = None
        if keys is not None:
            self.replace(keys)

    def replace(self, keys: Iterable[StoredKey]) -> None:
        self._by_id = {key.key_id: key for key in keys}  # one assignment: a request sees the old set or the new
        self._loaded_at = self._clock()

    def fresh(self) -> bool:
        """Loaded, and not longer ago than max_age_seconds."""
        if self._loaded_at is None:
            return False
        return self.max_age_seconds is None or self._clock() - self._loaded_at <= self.max_age_seconds

    def __len__(self) -> int:
        return len(self._by_id)

    def authenticate(self, token: str, now: datetime | None = None) -> Principal:
        """The key's Principal, or Unauthenticated with a reason that never repeats the key; a 503 Problem while
        the keys held are not fresh (a key revoked meanwhile would be honoured)."""
        if not self.fresh():
            raise Problem(
                503,
                "Service unavailable",
                "key store unavailable: API keys cannot be checked now; try again shortly",
                kind="key-store-unavailable",
                headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
            )
        parsed = parse_key(token)
        key = self._by_id.get(parsed.key_id) if parsed else None
        # The secret is checked before the state, so only its holder learns that a key was revoked or expired.
        if parsed is None or key is None or not hmac.compare_digest(secret_digest(parsed.secret), key.secret_sha256):
            raise Unauthenticated("unknown key")
        state = key.state(now or datetime.now(UTC))
        if state in (KeyState.REVOKED, KeyState.EXPIRED):
            raise Unauthenticated(f"key {state.value}", RefusedCaller(key.name, key.organisation))
        return key.principal()


class ApiKeyRefresher:
    """Keeps an ApiKeys current from the store at `url`: LISTEN for changes, and reload every `poll_seconds`."""

    def __init__(self, keys: ApiKeys, url: str, poll_seconds: float) -> None:
        self.keys, self.url, self.poll_seconds = keys, url, poll_seconds
        self.deadline_seconds = max(2 * poll_seconds, MIN_RELOAD_DEADLINE_SECONDS)
        keys.max_age_seconds = max(STALE_POLLS * poll_seconds, self.deadline_seconds + RECONNECT_SECONDS)
        self.first_load = asyncio.Event()
        self._changed = asyncio.Event()
        self._said: str | None = None  # the last condition logged: each is said once, not every poll

    async def run(self) -> None:
        while True:
            try:
                await self._listen_and_reload()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store unreachable: keep the keys known until they are stale
                message = (
                    f"API keys: the credentials store is not reachable ({error!r}): keeping the {len(self.keys)} known"
                    f" for at most {self.keys.max_age_seconds:g} s since their last load, then refusing keys (503)"
                )
                self._say("unreachable", message, logging.WARNING)
            self.first_load.set()
            # Reconnect soon (the listening connection was cut, the store restarted), not a whole poll later.
            await asyncio.sleep(min(self.poll_seconds, RECONNECT_SECONDS))

    async def _listen_and_reload(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.url,
            timeout=10,
            command_timeout=self.deadline_seconds,  # a silent connection fails a query instead of holding it
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            await conn.add_listener(CHANNEL, self._notified)  # before the first load: no change falls between
            conn.add_termination_listener(self._notified)  # a cut connection ends the wait: reconnect and reload
            while not conn.is_closed():
                self._changed.clear()
                # A hang (a silent connection) ends in TimeoutError: the caller reconnects.
                await asyncio.wait_for(self._reload(conn), self.deadline_seconds)
                self.first_load.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.poll_seconds)
        finally:
            with contextlib.suppress(Exception):  # a silent connection is aborted, not waited for
                await conn.close(timeout=RECONNECT_SECONDS)

    def _notified(self, *_: object) -> None:
        self._changed.set()

    async def _reload(self, conn: asyncpg.Connection) -> None:
        try:  # to_regclass too is refused without USAGE on the schema
            if await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.api_keys") is None:
                self.keys.replace(())
                message = "API keys: no credentials store (schema credentials) yet: static tokens and JWTs only"
                self._say("absent", message)
                return
            rows = await conn.fetch(_LOAD)
        except asyncpg.InsufficientPrivilegeError:
            self.keys.replace(())
            self._say(
                "forbidden",
                "API keys: this role may not read the credentials store: static tokens and JWTs only",
                logging.WARNING,
            )
            return
        self.keys.replace(stored_key(row) for row in rows)
        self._say("reading", f"API keys: reading the credentials store ({len(rows)} key(s))")

    def _say(self, condition: str, message: str, level: int = logging.INFO) -> None:
        """Log a change of condition once, not at every poll."""
        if condition != self._said:
            self._said = condition
            log.log(level, message)


async def start_refresher(
    keys: ApiKeys, url: str, poll_seconds: float, wait_seconds: float = 5.0
) -> asyncio.Task[None]:
    """The refresher's task, after its first load (or `wait_seconds`): a service that is ready knows its keys."""
    refresher = ApiKeyRefresher(keys, url, poll_seconds)
    task = asyncio.create_task(refresher.run(), name="api-keys-refresher")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(refresher.first_load.wait(), wait_seconds)
    return task
