"""API keys against real PostgreSQL and two running intake processes: issued, refused, rotated, revoked.

The keys are issued with the ops command's own functions into the credentials store of the stack's database;
the processes poll it only every minute here, so a key that takes effect within seconds did so by NOTIFY."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.support.builders import intake_body
from tests.support.infra import Infra
from tests.support.kafka import delete_topics
from tests.support.keycloak import SERVICE_BASE_PORT
from tests.support.processes import env_of_service, start_process_stack
from zorgstroom_ops import processes
from zorgstroom_ops.api_keys_command import issue_key, revoke_keys, rotate_key
from zorgstroom_ops.db_roles import grant_credentials_readers
from zorgstroom_runtime.api_keys import APPLICATION_NAME, ApiKeyRefresher, ApiKeys
from zorgstroom_runtime.auth import Unauthenticated
from zorgstroom_runtime.kafka import project_topics
from zorgstroom_runtime.problems import Problem

DEADLINE = 15.0  # seconds a change may take to reach every process (the poll is a minute)


@dataclass
class Intakes:
    urls: list[str]  # two processes of intake on one database
    database_url: str  # where the credentials store lives: the service's own database


@pytest.fixture(scope="module")
async def intakes(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Intakes]:
    run_dir = tmp_path_factory.mktemp("api-keys")
    stack = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        run_dir,
        SERVICE_BASE_PORT,
        name="keys",
        services=("intake",),
        extra_env={"ZS_API_KEYS_POLL_SECONDS": "60"},
    )
    second = processes.ServiceProcess(
        "intake", SERVICE_BASE_PORT + 1, run_dir / "intake-2.pid", run_dir / "intake-2.log"
    )
    try:
        processes.start(second, env_of_service("intake", stack.env))
        processes.wait_ready(second)
        yield Intakes([stack.services["intake"].url, second.url], stack.env["ZS_DATABASE_URL"])
    finally:
        processes.stop(second)
        stack.stop()
        await delete_topics(infra.kafka_bootstrap, project_topics(stack.prefix), prefix=stack.prefix)


async def register(
    http: httpx.AsyncClient, url: str, key: str, idempotency_key: str | None = None, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.post(
        f"{url}/v1/intakes",
        json=body or intake_body(registering_municipality="0034"),
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key or f"keys-{uuid.uuid4()}"},
    )


async def seconds_until(check: Callable[[], Awaitable[bool]], what: str) -> float:
    """How long until `check` holds, within DEADLINE (printed: the measure of how fast a change spreads)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < DEADLINE, f"{what}: not within {DEADLINE} s"
        await asyncio.sleep(0.1)
    took = time.monotonic() - started
    print(f"{what}: {took:.2f} s")
    return took


async def holds(condition: bool) -> bool:
    return condition


async def answered_everywhere(http: httpx.AsyncClient, urls: list[str], key: str, status: int) -> bool:
    answers = [await register(http, url, key) for url in urls]
    return all(answer.status_code == status for answer in answers)


async def test_an_issued_key_registers_an_intake_and_a_wrong_secret_is_refused(intakes: Intakes) -> None:
    issued = await issue_key(intakes.database_url, "municipality:0034", name="almere-zaaksysteem")
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 202), "a new key accepted")
        accepted = await register(http, intakes.urls[0], issued.key)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["responsible_municipality"] in {"0034", "0995"}

        wrong = issued.key[:-6] + ("AAAAAA" if not issued.key.endswith("AAAAAA") else "BBBBBB")
        for url in intakes.urls:
            refused = await register(http, url, wrong)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["detail"] == "unknown key"
            assert issued.key[4:] not in refused.text and wrong[4:] not in refused.text


async def test_an_expired_key_is_refused_by_the_clock(intakes: Intakes) -> None:
    issued = await issue_key(intakes.database_url, "municipality:0034", expires_in=timedelta(seconds=4))
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(
            lambda: answered_everywhere(http, intakes.urls, issued.key, 202), "a short-lived key accepted"
        )
        # No change is notified at its expiry, and the next poll is a minute away: only the clock refuses it.
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 401), "an expired key refused")
        assert (await register(http, intakes.urls[1], issued.key)).json()["detail"] == "key expired"


async def test_a_rotated_key_and_its_successor_both_work_during_the_overlap_and_replay_alike(
    intakes: Intakes,
) -> None:
    old = await issue_key(intakes.database_url, "municipality:0034", name="almere-rotating")
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, old.key, 202), "the old key accepted")
        body = intake_body(registering_municipality="0034")
        first = await register(http, intakes.urls[0], old.key, "keys-rotation-0001", body)
        assert first.status_code == 202, first.text

        new, old_expiry = await rotate_key(
            intakes.database_url, "municipality:0034", old.key_id, overlap=timedelta(hours=1)
        )
        assert old_expiry <= old.expires_at and new.key != old.key
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, new.key, 202), "the new key accepted")
        assert await answered_everywhere(http, intakes.urls, old.key, 202)  # the overlap

        # A retry after the rotation, with the new key of the same organisation and name: the first answer.
        retry = await register(http, intakes.urls[1], new.key, "keys-rotation-0001", body)
        assert retry.status_code == 202 and retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json() == first.json()


async def test_a_revoked_key_is_refused_by_every_running_process_within_seconds(intakes: Intakes) -> None:
    issued = await issue_key(intakes.database_url, "municipality:0034", name="almere-revoked")
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 202), "the key accepted")
        assert await revoke_keys(intakes.database_url, "municipality:0034", issued.key_id) == [issued.key_id]
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 401), "a revocation everywhere")
        for url in intakes.urls:
            assert (await register(http, url, issued.key)).json()["detail"] == "key revoked"


async def test_a_revocation_sent_while_the_listeners_are_cut_off_is_seen_on_reconnect(intakes: Intakes) -> None:
    issued = await issue_key(intakes.database_url, "municipality:0034", name="almere-cut-off")
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 202), "the key accepted")
        admin = await asyncpg.connect(intakes.database_url)
        try:
            cut = await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert cut == len(intakes.urls)
        # Its notification finds nobody listening: the processes learn of it by reloading when they reconnect.
        await revoke_keys(intakes.database_url, "municipality:0034", issued.key_id)
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 401), "a revocation missed")


async def test_a_providers_key_may_not_register_an_intake(intakes: Intakes) -> None:
    issued = await issue_key(intakes.database_url, "provider:12345678")
    async with httpx.AsyncClient(timeout=30) as http:
        await seconds_until(lambda: answered_everywhere(http, intakes.urls, issued.key, 403), "a provider's key known")
        refused = await register(http, intakes.urls[0], issued.key)
        assert refused.status_code == 403 and "intake:register" in refused.json()["detail"]


@pytest.fixture
async def fresh_database(infra: Infra) -> AsyncIterator[str]:
    name = f"keys_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield infra.database_url.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_services_login_role_may_read_the_keys_and_nothing_else_of_the_store(fresh_database: str) -> None:
    role, password = f"keys_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    owner = await asyncpg.connect(fresh_database)
    try:
        await owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await grant_credentials_readers(owner, [role, "no_such_role"])  # no store yet: nothing to grant, no error
        issued = await issue_key(fresh_database, "corporation:woonstad", name="woonstad-verhuur")
        await grant_credentials_readers(owner, [role, "no_such_role"])
        parts = fresh_database.split("://", 1)[1].split("@", 1)[1]
        reader_url = f"postgresql://{role}:{password}@{parts}"

        keys = ApiKeys()
        refresher = asyncio.create_task(ApiKeyRefresher(keys, reader_url, poll_seconds=60).run())
        try:
            await seconds_until(lambda: holds(len(keys) == 1), "the reader loaded the key")
            assert keys.authenticate(issued.key).name == "woonstad-verhuur"
        finally:
            refresher.cancel()
        reader = await asyncpg.connect(reader_url)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute("DELETE FROM credentials.api_keys")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.fetch("SELECT * FROM credentials.api_key_history")
        finally:
            await reader.close()
    finally:
        await owner.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
        await owner.close()


async def test_without_a_store_a_service_knows_no_keys_and_says_so_once(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zorgstroom_runtime.api_keys")
    keys = ApiKeys()
    refresher = asyncio.create_task(ApiKeyRefresher(keys, fresh_database, poll_seconds=0.1).run())
    try:
        await asyncio.sleep(1)
        said = [r.message for r in caplog.records if "no credentials store" in r.message]
        assert len(keys) == 0 and len(said) == 1, said
        issued = await issue_key(fresh_database, "region:flevoland")  # creates the store
        await seconds_until(lambda: holds(len(keys) == 1), "the first key, once the store exists")
        assert keys.authenticate(issued.key).organisation == "region:flevoland"
    finally:
        refresher.cancel()


class SilentLink:
    """A TCP proxy to PostgreSQL whose connections can go silent: what it reads it drops, and it closes nothing
    (a firewall or NAT that forgot the flow, a failed-over address). `silence()` silences the connections open
    now; with `new_ones=True` every later one too."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._live: list[list[bool]] = []  # each connection's one flag: still forwarding?
        self._silence_new = False
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def silence(self, *, new_ones: bool = False) -> None:
        for flag in self._live:
            flag[0] = False
        self._silence_new = new_ones

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        flag = [not self._silence_new]
        self._live.append(flag)
        await asyncio.gather(self._pipe(client_r, server_w, flag), self._pipe(server_r, client_w, flag))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flag: list[bool]) -> None:
        while data := await reader.read(65536):
            if flag[0]:
                writer.write(data)
                await writer.drain()
        if flag[0]:
            writer.close()


async def test_a_silent_store_connection_is_replaced_and_keys_long_unreloaded_are_refused(fresh_database: str) -> None:
    role, password = f"keys_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    owner = await asyncpg.connect(fresh_database)
    store = urlsplit(fresh_database)
    link = SilentLink(store.hostname or "127.0.0.1", store.port or 5432)
    try:
        await owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        first = await issue_key(fresh_database, "provider:12345678", name="silent-first")
        await grant_credentials_readers(owner, [role])
        proxied = f"postgresql://{role}:{password}@127.0.0.1:{await link.start()}{store.path}"
        keys = ApiKeys()
        refresher = asyncio.create_task(ApiKeyRefresher(keys, proxied, poll_seconds=0.5).run())
        try:
            await seconds_until(lambda: holds(len(keys) == 1 and keys.fresh()), "the key loaded")
            # The listening connection goes silent; a new one would get through. Nothing closes: only a
            # deadline on the reload notices, and a reconnect sees the revocation.
            link.silence()
            await revoke_keys(fresh_database, "provider:12345678", first.key_id)
            await seconds_until(lambda: refused_as(keys, first.key, "key revoked"), "a revocation past a silent link")

            second = await issue_key(fresh_database, "provider:12345678", name="silent-second")
            await seconds_until(lambda: holds(len(keys) == 2), "the second key loaded")
            link.silence(new_ones=True)  # the store unreachable for good: after some polls, keys are refused
            took = await seconds_until(lambda: unavailable(keys, second.key), "keys refused once stale")
            assert took <= 10
        finally:
            refresher.cancel()
    finally:
        link.close()
        await owner.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
        await owner.close()


async def refused_as(keys: ApiKeys, key: str, reason: str) -> bool:
    try:
        keys.authenticate(key)
    except (Unauthenticated, Problem) as refused:
        return str(refused) == reason
    return False


async def unavailable(keys: ApiKeys, key: str) -> bool:
    try:
        keys.authenticate(key)
    except Problem as refused:
        return refused.status == 503 and refused.headers is not None and "Retry-After" in refused.headers
    return False


async def test_a_role_without_usage_on_the_store_is_said_once_and_knows_no_keys(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zorgstroom_runtime.api_keys")
    role, password = f"keys_stranger_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    owner = await asyncpg.connect(fresh_database)
    try:
        await owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        issued = await issue_key(fresh_database, "region:flevoland")  # the store, which the role may not enter
        stranger_url = f"postgresql://{role}:{password}@{fresh_database.split('@', 1)[1]}"
        keys = ApiKeys()
        refresher = asyncio.create_task(ApiKeyRefresher(keys, stranger_url, poll_seconds=0.1).run())
        try:
            await seconds_until(lambda: holds(keys.fresh()), "the store read, as far as the role may")
            await asyncio.sleep(0.5)
            said = [r.message for r in caplog.records if r.name == "zorgstroom_runtime.api_keys"]
            assert said == ["API keys: this role may not read the credentials store: static tokens and JWTs only"]
            assert await refused_as(keys, issued.key, "unknown key")
        finally:
            refresher.cancel()
    finally:
        await owner.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
        await owner.close()
