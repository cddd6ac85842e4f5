"""The runtime's Idempotency-Key: what makes two requests the same, which routes take a key, and to whom an
answer is replayed."""

import pytest
from fastapi import APIRouter, FastAPI, Request

from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden
from zorgstroom_runtime.idempotency import ReplayableRoute, credential_of, request_hash, still_authorised


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


def _almere(*roles: Role) -> Principal:
    return Principal("almere-case-system", OrganisationKind.MUNICIPALITY, "0034", frozenset(roles))


def test_an_answer_is_replayed_to_a_credential_that_kept_its_roles_or_gained_one() -> None:
    then = [Role.CLIENTS_TRANSFER.value]
    still_authorised(_almere(Role.CLIENTS_TRANSFER), then)
    still_authorised(_almere(Role.CLIENTS_TRANSFER, Role.INTAKE_READ), then)


def test_an_answer_is_not_replayed_to_a_credential_that_lost_a_role_or_to_a_key_without_roles() -> None:
    with pytest.raises(Forbidden, match="clients:transfer"):
        still_authorised(_almere(Role.INTAKE_READ), [Role.CLIENTS_TRANSFER.value, Role.INTAKE_READ.value])
    with pytest.raises(Forbidden):
        still_authorised(_almere(Role.CLIENTS_TRANSFER), None)


def test_the_credential_is_its_token_not_its_name() -> None:
    def request(authorization: str) -> Request:
        return Request({"type": "http", "headers": [(b"authorization", authorization.encode())]})

    assert credential_of(request("Bearer one")) == credential_of(request("bearer one"))
    assert credential_of(request("Bearer one")) != credential_of(request("Bearer two"))
