"""How the demo's organisations authenticate their HTTP calls: an access token per organisation from the
identity provider by OAuth 2.0 client credentials (RFC 6749 section 4.4), renewed before it expires, or,
without a provider, the organisation's static token.

Both are `httpx.Auth`, given per request (`auth=callers[name]`), so the code that calls the services does
not know which kind of credential it holds. A small cache over httpx rather than a new dependency: one POST
to the token endpoint, an expiry to watch, one retry on a 401.
"""

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass

import httpx

RENEW_WHEN_LEFT_SECONDS = 60.0  # tokens live 300 s; a slow machine's request must not carry one that lapses
FETCH_TIMEOUT_SECONDS = 30.0

Callers = Mapping[str, httpx.Auth]  # the demo's credentials by name: municipality-0034, provider-<AGB>, ...


class TokenRefused(RuntimeError):
    """The identity provider gave no token (a wrong secret, an unknown client, the provider down)."""


class StaticBearer(httpx.Auth):
    """An organisation's static bearer token (tokens.json): the fallback without an identity provider."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float  # on the clock of ClientCredentials


class ClientCredentials(httpx.Auth):
    """One organisation's client at the identity provider: a token fetched on first use, renewed when less
    than RENEW_WHEN_LEFT_SECONDS of it is left, and once more when a service answers 401 (a token the
    provider revoked or a service's clock ahead). Concurrent requests share one fetch."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        secret: str,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url, self.client_id, self._secret = token_url, client_id, secret
        self._transport, self._clock = transport, clock
        self._token: _Token | None = None
        self._sync_lock = threading.Lock()
        self._async_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}  # a lock serves one loop only

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._sync_lock:
            token = self._fresh() or self._store(self._fetch_sync())
        response = yield _with(request, token)
        if response.status_code == 401:
            with self._sync_lock:
                token = self._renewed(token) or self._store(self._fetch_sync())
            yield _with(request, token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._async_lock():
            token = self._fresh() or self._store(await self._fetch_async())
        response = yield _with(request, token)
        if response.status_code == 401:
            async with self._async_lock():
                token = self._renewed(token) or self._store(await self._fetch_async())
            yield _with(request, token)

    def _fresh(self) -> str | None:
        token = self._token
        return token.value if token and token.expires_at - self._clock() > RENEW_WHEN_LEFT_SECONDS else None

    def _renewed(self, refused: str) -> str | None:
        """A token another request fetched since `refused` was sent, if there is one."""
        token = self._token
        return token.value if token and token.value != refused else None

    def _store(self, answer: httpx.Response) -> str:
        if answer.status_code != 200:
            raise TokenRefused(f"no token for {self.client_id} from {self.token_url}: {answer.status_code}")
        body = answer.json()
        self._token = _Token(str(body["access_token"]), self._clock() + float(body.get("expires_in", 0)))
        return self._token.value

    def _fetch_sync(self) -> httpx.Response:
        transport = self._transport if isinstance(self._transport, httpx.BaseTransport) else None
        with httpx.Client(transport=transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
            return client.post(self.token_url, data={"grant_type": "client_credentials"}, auth=self._basic())

    async def _fetch_async(self) -> httpx.Response:
        transport = self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
        async with httpx.AsyncClient(transport=transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
            return await client.post(self.token_url, data={"grant_type": "client_credentials"}, auth=self._basic())

    def _basic(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.client_id, self._secret)  # client_secret_basic, RFC 6749 section 2.3.1

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._async_locks if other.is_closed()]:
            del self._async_locks[stale]
        return self._async_locks.setdefault(loop, asyncio.Lock())


def _with(request: httpx.Request, token: str) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token}"
    return request


def static_callers(tokens: Mapping[str, str]) -> dict[str, httpx.Auth]:
    return {name: StaticBearer(token) for name, token in tokens.items()}


def client_credentials_callers(token_url: str, client_secrets: Mapping[str, str]) -> dict[str, httpx.Auth]:
    return {name: ClientCredentials(token_url, name, secret) for name, secret in client_secrets.items()}
