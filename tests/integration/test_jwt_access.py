"""Placement over HTTP with JWT access tokens of an identity provider whose keys it fetches over HTTP:
a token with the role is served, one without it refused 403, an expired one 401, and the refusals audited
with who the token claimed to be; a token acts only with its kind's roles and its own region; a retry with
the same Idempotency-Key after the token was renewed gets the first answer."""

import json
import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.builders import FACILITY
from tests.support.identity import issuers_file, token
from tests.support.stack import Namespace, running
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting


async def test_placement_serves_a_signed_token_by_its_roles_and_audits_its_refusals(
    ns: Namespace, identity_provider: str, tmp_path: Path
) -> None:
    settings = ns.settings("placement", auth_issuers_file=issuers_file(tmp_path, identity_provider))
    async with running(build_placement(settings), "placement") as placement:
        allowed = await placement.get("/v1/waiting-list", headers=token(identity_provider, ["waiting-list:read"]))
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["clients"] == []

        lacking = await placement.get("/v1/waiting-list", headers=token(identity_provider, ["reports:region"]))
        assert lacking.status_code == 403, lacking.text

        expired = await placement.get("/v1/waiting-list", headers=token(identity_provider, ["waiting-list:read"], -120))
        assert expired.status_code == 401
        assert expired.json()["detail"] == "the access token has expired"

        static = await placement.get("/v1/waiting-list", headers=ns.auth("region"))
        assert static.status_code == 200  # the static tokens still work beside the access tokens

        trail = await placement.get(
            "/v1/audit", params={"action": "GET /v1/waiting-list"}, headers=token(identity_provider, ["audit:read"])
        )
        assert trail.status_code == 200, trail.text
        refusals = [(e["actor"], e["on_behalf_of"], e["person"], e["outcome"]) for e in trail.json()["entries"]]
        assert refusals == [
            ("region-flevoland", "region:flevoland", "rita.regio", "refused: 401"),  # its signature verified
            ("region-flevoland", "region:flevoland", "rita.regio", "refused: 403"),
        ]
        assert trail.json()["entries"][0]["subject"] == "the access token has expired"

        forged = await placement.get("/v1/waiting-list", headers={"Authorization": "Bearer a.b.c"})
        assert forged.status_code == 401
        trail = await placement.get(
            "/v1/audit", params={"action": "GET /v1/waiting-list"}, headers=token(identity_provider, ["audit:read"])
        )
        assert trail.json()["entries"][0]["actor"] == "anonymous"  # a token that never verified names nobody


REGION_ROLES = ["reports:region", "waiting-list:read", "facilities:write", "clients:transfer", "audit:read"]


async def test_a_token_acts_only_with_its_kinds_roles_and_in_its_own_region(
    ns: Namespace, identity_provider: str, tmp_path: Path
) -> None:
    settings = ns.settings("placement", auth_issuers_file=issuers_file(tmp_path, identity_provider))
    elsewhere = {"organisation": ("region", "gelderland"), "client": "region-gelderland"}
    async with running(build_placement(settings), "placement") as placement:
        for method, path, body in [
            ("GET", "/v1/waiting-list", None),
            ("PUT", "/v1/facilities/jwt-elsewhere", FACILITY),
            ("GET", "/v1/audit", None),
        ]:
            answer = await placement.request(
                method, path, json=body, headers=token(identity_provider, REGION_ROLES, **elsewhere)
            )
            assert answer.status_code == 403, f"{method} {path} by another region: {answer.text}"
    settings = ns.settings("reporting", auth_issuers_file=issuers_file(tmp_path, identity_provider))
    provider = {"organisation": ("provider", "11111111"), "client": "provider-11111111"}
    async with running(build_reporting(settings), "reporting") as reporting:
        for report in ("budget", "matrix", "occupancy"):
            answer = await reporting.get(
                f"/v1/region/{report}", headers=token(identity_provider, REGION_ROLES, **provider)
            )
            assert answer.status_code == 403, f"a provider claiming reports:region read {report}: {answer.text}"
        own = await reporting.get("/v1/region/budget", headers=token(identity_provider, REGION_ROLES))
        assert own.status_code == 200, own.text


async def test_a_retry_after_the_token_was_renewed_gets_the_first_answer(
    ns: Namespace, identity_provider: str, tmp_path: Path
) -> None:
    settings = ns.settings("placement", auth_issuers_file=issuers_file(tmp_path, identity_provider))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with running(build_placement(settings), "placement") as placement:
        path = "/v1/facilities/jwt-renewed"
        first = await placement.put(
            path, json=FACILITY, headers=token(identity_provider, REGION_ROLES, issued_ago=240) | key
        )
        assert first.status_code == 201, first.text
        renewed = token(identity_provider, REGION_ROLES)  # the same client's next token, a few minutes later
        again = await placement.put(path, json=FACILITY, headers=renewed | key)
        assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true"), again.text
        assert again.json() == first.json()
        other = token(identity_provider, REGION_ROLES, client="region-flevoland-dashboard")
        refused = await placement.put(path, json=FACILITY, headers=other | key)
        assert refused.status_code == 409 and refused.json()["type"].endswith("idempotency-key-reused"), refused.text


KEYCLOAK_ISSUER = os.environ.get("ZS_TEST_KEYCLOAK_ISSUER")  # e.g. http://127.0.0.1:18480/realms/zorgstroom
KEYCLOAK_SECRETS = os.environ.get("ZS_TEST_KEYCLOAK_CLIENT_SECRETS")  # the realm's client-secrets.json


def a_municipality_client() -> tuple[str, str]:
    """A municipality's client id and secret from the realm's kept secrets."""
    client_secrets: dict[str, str] = json.loads(Path(KEYCLOAK_SECRETS or "").read_text())
    return next((name, secret) for name, secret in client_secrets.items() if name.startswith("municipality-"))


@pytest.mark.skipif(
    not (KEYCLOAK_ISSUER and KEYCLOAK_SECRETS),
    reason="needs a Keycloak with the generated realm: ZS_TEST_KEYCLOAK_ISSUER, ZS_TEST_KEYCLOAK_CLIENT_SECRETS",
)
async def test_a_keycloak_client_credentials_token_acts_as_its_municipality(ns: Namespace, tmp_path: Path) -> None:
    assert KEYCLOAK_ISSUER
    client_id, secret = a_municipality_client()
    async with httpx.AsyncClient(timeout=30) as keycloak:
        answer = await keycloak.post(
            f"{KEYCLOAK_ISSUER}/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    settings = ns.settings("placement", auth_issuers_file=issuers_file(tmp_path, KEYCLOAK_ISSUER))
    async with running(build_placement(settings), "placement") as placement:
        own = await placement.get("/v1/waiting-list", headers=headers)
        assert own.status_code == 200, own.text
        municipality = client_id.removeprefix("municipality-")
        other = "0995" if municipality != "0995" else "0034"
        refused = await placement.get("/v1/waiting-list", params={"municipality": other}, headers=headers)
        assert refused.status_code == 403, refused.text
