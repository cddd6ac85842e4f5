"""Keycloak, started natively with the realm generated from the region's data, issues access tokens that
carry an organisation's kind, id and roles; a wrong secret gets none, and people log in with PKCE.

Keycloak is the session's (tests/support/keycloak.py): it runs where a test may start services of its own
(ZS_TEST_OWN_BROKERS=1, or the native start-up)."""

import base64
import hashlib
import html
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.infra import ROOT
from tests.support.keycloak import KEYCLOAK_PORT, REPORTING_PORT, Keycloak
from zorgstroom_ops import realm
from zorgstroom_ops.credentials import Organisations
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_runtime.region import load_region

ISSUER = realm.issuer_of(f"http://127.0.0.1:{KEYCLOAK_PORT}")
TOKEN_URL = realm.token_url_of(ISSUER)
DASHBOARD = f"http://127.0.0.1:{REPORTING_PORT}/"


@dataclass(frozen=True)
class Provider:
    organisations: Organisations
    client_secrets: dict[str, str]
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def provider(keycloak: Keycloak) -> Provider:
    """The session's Keycloak (tests/support/keycloak.py), with the realm of the region's demo organisations."""
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    organisations = realm.region_organisations(region, load_demo_data(ROOT / "data/demo/flevoland.toml"))
    return Provider(
        organisations,
        read_json(keycloak.directory / "client-secrets.json"),
        read_json(keycloak.directory / "people.json"),
    )


def read_json(path: Path) -> dict[str, str]:
    found: dict[str, str] = json.loads(path.read_text())
    return found


def decoded(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT, unverified: the services verify (auth); here we read what was issued."""
    header, claims, _ = (base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split("."))
    return json.loads(header), json.loads(claims)


def client_credentials(client_id: str, secret: str) -> httpx.Response:
    return httpx.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30)


@pytest.mark.parametrize(
    ("client_id", "kind", "organisation_id"),
    [("municipality-0034", "municipality", "0034"), ("provider-10000011", "provider", "10000011")],
)
def test_an_organisation_gets_a_short_lived_token_with_its_kind_id_and_roles(
    provider: Provider, client_id: str, kind: str, organisation_id: str
) -> None:
    response = client_credentials(client_id, provider.client_secrets[client_id])
    assert response.status_code == 200, response.text
    header, claims = decoded(response.json()["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert claims["iss"] == ISSUER
    assert realm.AUDIENCE in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert claims["azp"] == claims["client_id"] == client_id
    assert (claims["zs_org_kind"], claims["zs_org_id"]) == (kind, organisation_id)
    assert sorted(claims["zs_roles"]) == sorted(provider.organisations[client_id][2])
    assert claims["exp"] - claims["iat"] == realm.TOKEN_LIFETIME_SECONDS


def test_a_wrong_secret_gets_no_token(provider: Provider) -> None:
    response = client_credentials("municipality-0034", provider.client_secrets["municipality-0050"])
    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_an_organisation_client_cannot_log_in_a_person(provider: Provider) -> None:
    person = {"grant_type": "password", "username": "anna.jansen", "password": provider.passwords["anna.jansen"]}
    response = httpx.post(
        TOKEN_URL, data=person, auth=("region-flevoland", provider.client_secrets["region-flevoland"]), timeout=30
    )
    assert response.status_code in (400, 401) and "access_token" not in response.json()


def test_a_person_logs_in_to_the_dashboard_with_pkce_and_carries_their_organisation(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    with httpx.Client(timeout=30) as browser:
        code = _log_in(browser, "pieter.devries", provider.passwords["pieter.devries"], verifier)
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": DASHBOARD}
        exchange["client_id"] = realm.DASHBOARD_CLIENT
        without_verifier = browser.post(TOKEN_URL, data=exchange)
        assert without_verifier.status_code == 400  # PKCE is required, and the code is spent on the refusal
        code = _log_in(browser, "pieter.devries", provider.passwords["pieter.devries"], verifier)
        response = browser.post(TOKEN_URL, data=exchange | {"code": code, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    _, claims = decoded(response.json()["access_token"])
    assert claims["preferred_username"] == "pieter.devries" and claims["sub"]
    assert (claims["zs_org_kind"], claims["zs_org_id"]) == ("municipality", "0034")
    assert sorted(claims["zs_roles"]) == ["reports:own", "waiting-list:read"]


def _log_in(browser: httpx.Client, username: str, password: str, verifier: str) -> str:
    """Keycloak's own login form, as a browser fills it in; the authorization code from the redirect."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": realm.DASHBOARD_CLIENT,
        "response_type": "code",
        "redirect_uri": DASHBOARD,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    form = browser.get(f"{ISSUER}/protocol/openid-connect/auth", params=query)
    assert form.status_code == 200, form.text[:300]
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', form.text) or re.search(
        r'action="([^"]+login-actions/authenticate[^"]*)"', form.text
    )
    assert action, "no login form"
    # Keycloak's cookies are Secure: a browser sends them to http://127.0.0.1 (a secure context), httpx does not.
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    answer = browser.post(
        html.unescape(action.group(1)), data={"username": username, "password": password}, headers={"Cookie": cookies}
    )
    assert answer.status_code == 302, answer.text[:300]
    location = answer.headers["location"]
    assert location.startswith(DASHBOARD)
    return parse_qs(urlsplit(location).query)["code"][0]
