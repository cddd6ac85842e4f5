"""The runtime's Idempotency-Key: what makes two requests the same, and which routes take a key."""

from fastapi import APIRouter, FastAPI

from zorgstroom_runtime.idempotency import ReplayableRoute, request_hash


def test_the_same_json_in_another_key_order_or_spacing_is_the_same_request() -> None:
    one = request_hash("POST", "/v1/offers/o-1/decline", "", b'{"reason": "too_far", "answered_on": null}')
    other = request_hash("POST", "/v1/offers/o-1/decline", "", b'{"answered_on":null,"reason":"too_far"}')
    assert one == other


def test_another_body_path_method_or_query_is_another_request() -> None:
    base = ("POST", "/v1/offers/o-1/decline", "", b'{"reason": "too_far"}')
    others = [
        ("POST", "/v1/offers/o-1/decline", "", b'{"reason": "too_small"}'),
        ("POST", "/v1/offers/o-2/decline", "", b'{"reason": "too_far"}'),
        ("PUT", "/v1/offers/o-1/decline", "", b'{"reason": "too_far"}'),
        ("POST", "/v1/offers/o-1/decline", "x=1", b'{"reason": "too_far"}'),
        ("POST", "/v1/offers/o-1/decline", "", b""),
    ]
    assert len({request_hash(*base), *(request_hash(*o) for o in others)}) == 1 + len(others)


def test_a_body_that_is_not_json_is_compared_byte_for_byte() -> None:
    assert request_hash("POST", "/p", "", b"not json") != request_hash("POST", "/p", "", b"not  json")


def test_writes_document_an_optional_idempotency_key_and_reads_do_not() -> None:
    router = APIRouter(route_class=ReplayableRoute)

    @router.get("/things")
    async def read() -> dict[str, str]:
        return {}

    @router.put("/things/{thing_id}")
    async def write(thing_id: str) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    paths = app.openapi()["paths"]

    def headers(operation: dict) -> list[tuple[str, bool]]:  # type: ignore[type-arg]
        return [(p["name"], p["required"]) for p in operation.get("parameters", []) if p["in"] == "header"]

    assert ("Idempotency-Key", False) in headers(paths["/things/{thing_id}"]["put"])
    assert headers(paths["/things"]["get"]) == []
