"""The demo's callers get their access tokens by client credentials, keep them while they have more than a
minute left, renew them before they lapse, and once more when a service answers 401."""

import asyncio
import base64
from dataclasses import dataclass, field

import httpx
import pytest

from zorgstroom_ops.client_credentials import ClientCredentials, StaticBearer, TokenRefused

TOKEN_URL = "http://idp/realms/zorgstroom/protocol/openid-connect/token"
SERVICE = "http://intake/v1/intakes/x"


@dataclass
class World:
    """An identity provider that issues numbered tokens living 300 s, and a service that accepts the ones
    not in `refused`."""

    now: float = 1000.0
    issued: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # the bearer of each request the service received
    refused: set[str] = field(default_factory=set)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            basic = base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
            if basic != "municipality-0034:secret" or b"grant_type=client_credentials" not in request.content:
                return httpx.Response(401, json={"error": "unauthorized_client"})
            self.issued.append(f"token-{len(self.issued) + 1}")
            return httpx.Response(200, json={"access_token": self.issued[-1], "expires_in": 300})
        token = request.headers["Authorization"].removeprefix("Bearer ")
        self.seen.append(token)
        return httpx.Response(401 if token in self.refused else 200, json={})

    def credentials(self, secret: str = "secret") -> ClientCredentials:
        transport = httpx.MockTransport(self.handle)
        return ClientCredentials(TOKEN_URL, "municipality-0034", secret, transport=transport, clock=lambda: self.now)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


async def test_a_token_serves_every_request_while_more_than_a_minute_of_it_is_left() -> None:
    world = World()
    auth = world.credentials()
    async with world.client() as client:
        for _ in range(3):
            assert (await client.get(SERVICE, auth=auth)).status_code == 200
            world.now += 70  # 210 s after its issue, 90 s are left
    assert world.issued == ["token-1"] and world.seen == ["token-1"] * 3


async def test_a_token_with_less_than_a_minute_left_is_renewed_before_the_request() -> None:
    world = World()
    auth = world.credentials()
    async with world.client() as client:
        await client.get(SERVICE, auth=auth)
        world.now += 241  # 59 s left: a slow request could arrive after it lapsed
        await client.get(SERVICE, auth=auth)
    assert world.seen == ["token-1", "token-2"]


async def test_a_401_renews_the_token_once_and_sends_the_request_again() -> None:
    world = World(refused={"token-1"})
    auth = world.credentials()
    async with world.client() as client:
        answer = await client.get(SERVICE, auth=auth)
    assert answer.status_code == 200 and world.seen == ["token-1", "token-2"]


async def test_a_second_401_is_the_answer_not_a_reason_to_try_for_ever() -> None:
    world = World(refused={"token-1", "token-2", "token-3"})
    auth = world.credentials()
    async with world.client() as client:
        answer = await client.get(SERVICE, auth=auth)
    assert answer.status_code == 401 and world.seen == ["token-1", "token-2"]


async def test_concurrent_requests_share_one_token_fetch() -> None:
    world = World()
    auth = world.credentials()
    async with world.client() as client:
        answers = await asyncio.gather(*(client.get(SERVICE, auth=auth) for _ in range(16)))
    assert {a.status_code for a in answers} == {200} and world.issued == ["token-1"]


def test_a_token_serves_plain_synchronous_calls_too_in_later_event_loops() -> None:
    world = World()
    auth = world.credentials()

    async def one_call() -> int:
        async with world.client() as client:
            return (await client.get(SERVICE, auth=auth)).status_code

    assert asyncio.run(one_call()) == 200
    assert asyncio.run(one_call()) == 200  # a lock of the first loop must not be used in the second
    with httpx.Client(transport=httpx.MockTransport(world.handle)) as client:
        assert client.get(SERVICE, auth=auth).status_code == 200
    assert world.issued == ["token-1"] and world.seen == ["token-1"] * 3


async def test_a_wrong_secret_gets_no_token_and_sends_nothing_to_the_service() -> None:
    world = World()
    async with world.client() as client:
        with pytest.raises(TokenRefused, match="municipality-0034"):
            await client.get(SERVICE, auth=world.credentials("wrong"))
    assert world.seen == []


async def test_a_static_token_is_sent_as_it_is() -> None:
    world = World()
    async with world.client() as client:
        await client.get(SERVICE, auth=StaticBearer("static-0034"))
    assert world.seen == ["static-0034"]
