"""Limits on abuse, without infrastructure: rate limits per credential and per refused address (and that their
windows are let go), the body guard counting a streamed body, pages of a list whose cursor survives items coming
and going, and reports that wait their turn before they load anything."""

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from limits.storage import memory
from prometheus_client import REGISTRY
from pydantic import ValidationError

from zorgstroom_contracts.codes import TransferReason, Urgency
from zorgstroom_placement.domain.transfers import Transfer
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order
from zorgstroom_placement.entrypoints.http import _newest_first, _waiting_order
from zorgstroom_placement.service_layer.waiting_list import _listed
from zorgstroom_runtime import offload
from zorgstroom_runtime.auth import CredentialStore, CurrentPrincipal, OrganisationKind, Principal, token_digest
from zorgstroom_runtime.errors import InvalidField
from zorgstroom_runtime.pagination import PageRequest, page_of
from zorgstroom_runtime.problems import BodyGuard, Problem, install_problem_handlers
from zorgstroom_runtime.rate_limits import RateLimits, client_address
from zorgstroom_runtime.settings import ServiceSettings

TOKENS = {"almere": "a" * 43, "urk": "u" * 43}


def limited_app(per_credential: str, per_refused_address: str) -> FastAPI:
    app = FastAPI()
    app.state.credentials = CredentialStore(
        {
            token_digest(token): Principal(name, OrganisationKind.MUNICIPALITY, name, frozenset())
            for name, token in TOKENS.items()
        }
    )
    app.state.rate_limits = RateLimits.of("limits-test", per_credential, per_refused_address)
    install_problem_handlers(app)

    @app.get("/v1/who")
    async def who(principal: CurrentPrincipal) -> dict[str, str]:
        return {"name": principal.name}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://limits")


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def limited_count(scope: str) -> float:
    return REGISTRY.get_sample_value("zorgstroom_rate_limited_total", {"service": "limits-test", "scope": scope}) or 0


async def test_a_credential_over_its_limit_gets_429_with_retry_after_and_others_are_unaffected() -> None:
    before = limited_count("credential")
    async with client(limited_app("3/minute", "100/minute")) as http:
        answers = [await http.get("/v1/who", headers=bearer("almere")) for _ in range(4)]
        other = await http.get("/v1/who", headers=bearer("urk"))
        health = [await http.get("/healthz") for _ in range(10)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://zorgstroom.nl/problems/too-many-requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "3" and refused.headers["RateLimit-Remaining"] == "0"
    assert other.status_code == 200 and all(h.status_code == 200 for h in health)
    assert limited_count("credential") == before + 1


async def test_a_flood_of_bad_tokens_from_one_address_gets_429_in_place_of_401() -> None:
    before = limited_count("refused")
    async with client(limited_app("100/minute", "2/minute")) as http:
        bad = [await http.get("/v1/who", headers={"Authorization": f"Bearer wrong-{i}"}) for i in range(5)]
        none = await http.get("/v1/who")
        good = await http.get("/v1/who", headers=bearer("almere"))
    assert [b.status_code for b in bad] == [401, 401, 429, 429, 429]
    assert none.status_code == 429  # no token is a failed authentication too
    assert good.status_code == 200  # a valid credential is counted on its own window
    assert limited_count("refused") == before + 4


class Body:
    """A streamed request body in chunks, counting how many the app pulled."""

    def __init__(self, chunks: int, size: int) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def receive(self) -> dict[str, object]:
        self.pulled += 1
        more = self.pulled < self.chunks
        return {"type": "http.request", "body": b" " * self.size, "more_body": more}


async def test_a_chunked_body_over_the_limit_is_refused_413_without_reading_the_rest() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/things")
    async def things(thing: dict[str, object]) -> dict[str, object]:
        return thing

    guarded = BodyGuard(app, max_bytes=1000)
    body, sent = Body(chunks=100, size=300), []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/things",
        "raw_path": b"/v1/things",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("limits", 80),
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    }

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await guarded(scope, body.receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert b"content-too-large" in b"".join(m.get("body", b"") for m in sent)  # type: ignore[misc]
    assert body.pulled == 4  # 1,200 bytes passed the limit: the other 96 chunks were never read


def listing(ids: list[str]) -> list[tuple[str, str]]:
    return [(i, f"item {i}") for i in sorted(ids)]


def pages(items: list[tuple[str, str]], limit: int) -> Iterator[list[tuple[str, str]]]:
    after = None
    while True:
        page = page_of(items, PageRequest(limit, after), key=lambda item: (item[0],))
        yield page.items
        if page.next_after is None:
            return
        after = page.next_after


def test_pages_of_a_keyed_list_cover_it_once_and_the_last_says_so() -> None:
    items = listing([f"f{i:02d}" for i in range(7)])
    assert [[i for i, _ in p] for p in pages(items, 3)] == [
        ["f00", "f01", "f02"],
        ["f03", "f04", "f05"],
        ["f06"],
    ]
    whole = page_of(items, PageRequest())
    assert whole.items == items and whole.next_after is None  # a short list is answered whole, as before


def test_a_keyed_cursor_continues_after_its_item_even_when_that_item_left_the_list() -> None:
    first = page_of(listing(["a", "b", "c", "d", "e"]), PageRequest(2), key=lambda item: (item[0],))
    later = listing(["a", "c", "d", "e"])  # b was placed in between
    second = page_of(later, PageRequest(2, first.next_after), key=lambda item: (item[0],))
    assert [i for i, _ in second.items] == ["c", "d"]


def test_a_list_without_a_key_is_paged_by_position() -> None:
    items = list(range(5))
    first = page_of(items, PageRequest(2))
    assert first.items == [0, 1]
    assert page_of(items, PageRequest(2, first.next_after)).items == [2, 3]


@pytest.mark.parametrize("cursor", ["!!", "AAAA", "WzFd", "LTE"])  # not base64, not JSON, [1], -1
def test_a_cursor_this_list_did_not_give_is_refused_422(cursor: str) -> None:
    for key in (lambda item: (item,), None):
        with pytest.raises(InvalidField) as refused:
            page_of(["a", "b"], PageRequest(1, cursor), key=key)
        assert refused.value.field == "after"


def test_a_rate_limit_that_does_not_parse_stops_the_service_at_start() -> None:
    with pytest.raises(ValidationError, match="rate_limit_refused"):
        ServiceSettings(environment="test", rate_limit_refused="many")
    assert ServiceSettings(environment="test").rate_limit == "6000/minute"


def test_the_waiting_list_pages_in_priority_order_and_a_placed_client_moves_no_one_out_of_view() -> None:
    today = date(2026, 11, 30)
    clients = [
        WaitingClient(f"{i:064x}", "BW_24H", "0034", urgency, today - timedelta(days=i), intake_id=f"intake-{i}")
        for i, urgency in enumerate([Urgency.NORMAL, Urgency.EMERGENCY, Urgency.HIGH, Urgency.NORMAL, Urgency.HIGH])
    ]
    listed = [_listed(c, position, today) for position, c in enumerate(in_priority_order(clients), start=1)]
    first = page_of(listed, PageRequest(2), _waiting_order)
    placed = [c for c in listed if c["intake_id"] != first.items[-1]["intake_id"]]  # the last one shown is placed
    rest = page_of(placed, PageRequest(10, first.next_after), _waiting_order)
    assert [c["intake_id"] for c in first.items + rest.items] == [c["intake_id"] for c in listed]
    assert [c["urgency"] for c in listed[:3]] == ["emergency", "high", "high"]


class Clock:
    """time.time for the limits library's memory storage: its windows pass when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


def from_address(address: str) -> Request:
    return Request({"type": "http", "client": (address, 40000), "headers": []})


def test_the_windows_of_many_addresses_are_let_go_once_they_have_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood from many addresses must not leave one entry per address behind (the moving window did)."""
    clock = Clock()
    monkeypatch.setattr(memory, "time", clock)
    limits = RateLimits.of("limits-test", "100/minute", "5/minute")
    storage = limits.limiter.storage
    assert isinstance(storage, memory.MemoryStorage)
    for i in range(2000):
        limits.refused(from_address(f"10.0.{i // 250}.{i % 250}"))
    storage.timer.join()  # the library's sweep, started by the hits, has run
    clock.now += 3 * 60  # past both windows a sliding window counter keeps
    limits.refused(from_address("10.9.9.9"))  # a later request starts the next sweep
    storage.timer.join()
    held = storage.reset()  # the library's count of the windows it held
    assert held is not None and held <= 2  # the last address's, not 2,001


def test_a_caller_over_its_limit_is_logged_once_per_window_not_per_request(caplog: pytest.LogCaptureFixture) -> None:
    limits = RateLimits.of("limits-test", "100/minute", "2/minute")
    with caplog.at_level(logging.WARNING, logger="zorgstroom_runtime.rate_limits"):
        for _ in range(6):
            with contextlib.suppress(Problem):
                limits.refused(from_address("192.0.2.7"))
        with contextlib.suppress(Problem):
            for _ in range(3):
                limits.refused(from_address("192.0.2.8"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per address, at its first refusal
    assert "192.0.2.7" in warnings[0] and "192.0.2.8" in warnings[1]
    assert client_address(from_address("192.0.2.7")) == "192.0.2.7"


def test_a_keyed_page_follows_its_key_whatever_order_the_items_came_in() -> None:
    """A database collation may order "a1" before "B1", code points the other way: a cursor compared in
    another order than the list's would skip "B1"."""
    as_collated = [("a1", "x"), ("B1", "y"), ("b2", "z")]
    seen, after = [], None
    while True:
        page = page_of(as_collated, PageRequest(1, after), key=lambda item: (item[0],))
        seen += [i for i, _ in page.items]
        if (after := page.next_after) is None:
            break
    assert seen == ["B1", "a1", "b2"]


def proposed(transfer_id: str, minutes: int) -> Transfer:
    created = datetime(2026, 11, 30, 9, tzinfo=UTC) + timedelta(minutes=minutes)
    return Transfer(
        transfer_id,
        "c" * 64,
        ("i1",),
        "0034",
        "0050",
        True,
        TransferReason.OTHER,
        date(2026, 12, 1),
        created.date(),
        created_at=created,
    )


def test_a_transfer_that_leaves_the_status_filter_between_pages_moves_no_other_one_out_of_view() -> None:
    proposals = [proposed(f"t-{n}", minutes=n) for n in (4, 3, 2, 1)]  # as listed: newest first
    first = page_of(proposals, PageRequest(2), _newest_first)
    assert [t.transfer_id for t in first.items] == ["t-4", "t-3"]
    still_proposed = [t for t in proposals if t.transfer_id != "t-4"]  # t-4 was accepted in between
    rest = page_of(still_proposed, PageRequest(2, first.next_after), _newest_first)
    assert [t.transfer_id for t in rest.items] == ["t-2", "t-1"] and rest.next_after is None


async def test_reports_wait_their_turn_before_they_load_their_facts() -> None:
    """Queued reports must not each hold a copy of the facts: at most WORKERS are loaded at any time."""
    holding, most = 0, 0

    async def load() -> list[int]:
        nonlocal holding, most
        holding += 1
        most = max(most, holding)
        await asyncio.sleep(0.01)
        return list(range(1000))

    def compute(facts: list[int]) -> int:
        nonlocal holding
        total = sum(facts)
        holding -= 1  # the report is done with its facts
        return total

    totals = await asyncio.gather(*(offload.computed_from(load, compute) for _ in range(6)))
    assert totals == [499500] * 6
    assert most == offload.WORKERS
