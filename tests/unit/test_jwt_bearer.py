"""At the HTTP edge: a JWT bearer goes to the access-token verifier, any other to the static tokens; a
refused access token is a 401 problem that says why; production refuses issuers over plain HTTP."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.support.stack import write_credentials
from tests.unit.test_jwt_verifier import RSA_KEY, IdentityProvider, claims, public_jwk, signed
from tests.unit.test_jwt_verifier import issuer as issuer_config
from zorgstroom_runtime.auth import CredentialStore, CurrentPrincipal
from zorgstroom_runtime.jwt_auth import AccessTokenVerifier, load_issuers
from zorgstroom_runtime.problems import install_problem_handlers
from zorgstroom_runtime.settings import ServiceSettings


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("ZS_")]:
        monkeypatch.delenv(name)
    yield


def app_with(provider: IdentityProvider | None, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    credentials_file, tokens = write_credentials(tmp_path)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.credentials = CredentialStore.from_file(credentials_file)
    transport = httpx.MockTransport(provider.handle) if provider else None
    app.state.access_tokens = AccessTokenVerifier([issuer_config()], transport=transport) if provider else None

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"name": principal.name, "organisation": principal.organisation, "subject": principal.subject}

    return TestClient(app), tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_access_token_and_a_static_token_both_name_their_organisation(tmp_path: Path) -> None:
    client, tokens = app_with(IdentityProvider(public_jwk(RSA_KEY, "k1")), tmp_path)
    by_jwt = client.get("/whoami", headers=bearer(signed(claims())))
    assert by_jwt.status_code == 200, by_jwt.text
    assert by_jwt.json() == {
        "name": "municipality-0034",
        "organisation": "municipality:0034",
        "subject": "service-account-municipality-0034",
    }
    by_static = client.get("/whoami", headers=bearer(tokens["almere"]))
    assert by_static.status_code == 200 and by_static.json()["subject"] is None


def test_a_refused_access_token_is_a_401_problem_that_says_why(tmp_path: Path) -> None:
    client, _ = app_with(IdentityProvider(public_jwk(RSA_KEY, "k1")), tmp_path)
    answer = client.get("/whoami", headers=bearer(signed(claims(aud="another-service"))))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    problem = answer.json()
    assert problem["type"] == "https://zorgstroom.nl/problems/unauthorized"
    assert problem["detail"] == "the access token is not meant for this audience"
    assert "BEGIN" not in answer.text and '"n"' not in answer.text  # no key material


def test_without_trusted_issuers_a_jwt_is_just_an_unknown_token(tmp_path: Path) -> None:
    client, _ = app_with(None, tmp_path)
    answer = client.get("/whoami", headers=bearer(signed(claims())))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "a valid bearer token is required"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_unreachable_identity_provider_answers_503_with_retry_after(tmp_path: Path) -> None:
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    provider.down = True
    client, _ = app_with(provider, tmp_path)
    answer = client.get("/whoami", headers=bearer(signed(claims())))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
    assert answer.json()["type"] == "https://zorgstroom.nl/problems/identity-provider-unreachable"


def issuers_file(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "issuers.toml"
    path.write_text(f'[[issuers]]\nissuer = "{url}"\naudience = "zorgstroom"\nmay_assert = ["region:*"]\n{extra}')
    return path


def production(tmp_path: Path, issuers: Path) -> ServiceSettings:
    return ServiceSettings(
        _env_file=None,
        auth_issuers_file=issuers,
        kafka_security_protocol="SASL_SSL",
        kafka_replication_factor=3,
        kafka_min_insync_replicas=2,
    )


def test_production_refuses_an_issuer_over_plain_http(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="plain http"):
        production(tmp_path, issuers_file(tmp_path, "http://idp.example.test/realms/zorgstroom"))
    jwks_over_http = 'jwks_url = "http://idp.example.test/certs"\n'
    with pytest.raises(ValidationError, match="plain http"):
        production(tmp_path, issuers_file(tmp_path, "https://idp.example.test/realms/z", jwks_over_http))


def test_production_accepts_https_and_this_machines_own_provider_without_static_tokens(tmp_path: Path) -> None:
    for url in ("https://idp.example.test/realms/zorgstroom", "http://127.0.0.1:18080/realms/zorgstroom"):
        assert production(tmp_path, issuers_file(tmp_path, url)).credentials_file is None


def test_an_issuers_file_is_checked_when_loaded(tmp_path: Path) -> None:
    path = tmp_path / "issuers.toml"
    path.write_text('[[issuers]]\nissuer = "https://idp.example.test/r"\naudience = "z"\nmay_assert = ["mayor:*"]\n')
    with pytest.raises(ValidationError, match="not `kind:id`"):
        load_issuers(path)


def test_an_issuer_may_not_allow_a_shared_secret_algorithm(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        load_issuers(issuers_file(tmp_path, "https://idp.example.test/r", 'algorithms = ["HS256"]\n'))


def test_a_credentials_file_granting_a_role_its_kind_may_not_hold_is_refused_at_start(tmp_path: Path) -> None:
    """A provider with reports:region would read every region report: the mistake shows at start."""
    path = tmp_path / "credentials.json"
    entry = {"name": "provider-a", "token_sha256": "00" * 32, "organisation_kind": "provider"}
    path.write_text(
        json.dumps([entry | {"organisation_id": "11111111", "roles": ["placements:write", "reports:region"]}])
    )
    with pytest.raises(ValueError, match="'provider-a': a provider may not hold the role\\(s\\) reports:region"):
        CredentialStore.from_file(path)
