"""The dashboard's login settings: which issuers the reporting service accepts for people to log in at, what
its CSP then allows the page to reach, and what /dashboard/config.json tells the page."""

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from zorgstroom_reporting.entrypoints import dashboard
from zorgstroom_reporting.entrypoints.dashboard import DashboardSettings, content_security_policy

KEYCLOAK = "http://127.0.0.1:18080/realms/zorgstroom"


@pytest.mark.parametrize(
    "issuer",
    [
        "http://keycloak.example/realms/zorgstroom",  # plain http off this machine
        "https://login.example/realms/x?kc_idp_hint=y",
        "https://login.example/realms/x#top",
        "login.example/realms/x",
        "https://login.example/x;script-src *",  # would end the CSP source list
        "https://login.example/x 'unsafe-inline'",
    ],
)
def test_an_issuer_that_is_not_https_or_could_widen_the_csp_stops_the_service(issuer: str) -> None:
    with pytest.raises(ValidationError):
        DashboardSettings(oidc_issuer=issuer)


def test_only_the_issuers_origin_is_added_to_connect_src() -> None:
    with_issuer = content_security_policy(DashboardSettings(oidc_issuer="https://login.example:8443/realms/x"))
    assert "connect-src 'self' https://login.example:8443;" in with_issuer
    assert content_security_policy(DashboardSettings(oidc_issuer=KEYCLOAK)).count("http://127.0.0.1:18080") == 1
    without = content_security_policy(DashboardSettings())
    assert "connect-src 'self';" in without
    for policy in (with_issuer, without):
        assert "script-src 'self';" in policy and "unsafe" not in policy and "frame-ancestors 'none'" in policy


def page_of(settings: DashboardSettings) -> TestClient:
    app = FastAPI()
    app.include_router(dashboard.router)
    app.dependency_overrides[dashboard._settings] = lambda: settings
    return TestClient(app)


def test_the_page_learns_the_issuer_and_client_from_config_json_or_null_for_the_token_form() -> None:
    answer = page_of(DashboardSettings(oidc_issuer=KEYCLOAK)).get("/dashboard/config.json")
    assert answer.json() == {"oidc": {"issuer": KEYCLOAK, "client_id": "zorgstroom-dashboard", "idle_seconds": 1800}}
    assert "connect-src 'self' http://127.0.0.1:18080;" in answer.headers["content-security-policy"]
    assert page_of(DashboardSettings()).get("/dashboard/config.json").json() == {"oidc": None}
    assert page_of(DashboardSettings()).get("/dashboard/vendor/oidc-client-ts/oidc-client-ts.min.js").status_code == 200


def test_the_settings_come_from_the_reporting_services_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZS_DASHBOARD_OIDC_ISSUER", KEYCLOAK)
    monkeypatch.setenv("ZS_DASHBOARD_OIDC_CLIENT_ID", "dashboard-flevoland")
    settings = DashboardSettings()
    assert (settings.oidc_issuer, settings.oidc_client_id) == (KEYCLOAK, "dashboard-flevoland")


@pytest.mark.parametrize(
    "issuer",
    [
        "https://*/realms/x",  # a CSP wildcard for any host
        "https://*.login.example/realms/x",
        "https://user:password@login.example/realms/x",  # userinfo is no origin
        "https://user@login.example/realms/x",
        "https://login_example!/realms/x",  # neither a DNS name nor an IP address
        "https://login.example:99999/realms/x",
    ],
)
def test_an_issuer_whose_host_is_no_dns_name_or_ip_address_stops_the_service(issuer: str) -> None:
    with pytest.raises(ValidationError):
        DashboardSettings(oidc_issuer=issuer)


@pytest.mark.parametrize(
    "issuer", ["https://login.example/realms/x", "https://10.0.0.7:8443/realms/x", "http://[::1]:18080/realms/x"]
)
def test_a_dns_name_or_ip_address_is_a_host(issuer: str) -> None:
    assert DashboardSettings(oidc_issuer=issuer).oidc_issuer == issuer


def test_the_page_learns_the_idle_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZS_DASHBOARD_IDLE_MINUTES", "15")
    answer = page_of(DashboardSettings(oidc_issuer=KEYCLOAK)).get("/dashboard/config.json").json()
    assert answer["oidc"]["idle_seconds"] == 15 * 60


def test_an_issuer_the_services_do_not_trust_is_logged_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issuers = tmp_path / "issuers.toml"
    issuers.write_text(f'[[issuers]]\nissuer = "{KEYCLOAK}"\naudience = "zorgstroom"\nmay_assert = ["region:*"]\n')
    with caplog.at_level(logging.WARNING, logger=dashboard.__name__):
        dashboard.warn_if_untrusted(DashboardSettings(oidc_issuer=KEYCLOAK), str(issuers))
        assert caplog.messages == []
        dashboard.warn_if_untrusted(DashboardSettings(oidc_issuer="https://login.example/realms/x"), str(issuers))
        dashboard.warn_if_untrusted(DashboardSettings(oidc_issuer=KEYCLOAK), None)
    assert len(caplog.messages) == 2 and all("not among the issuers" in m for m in caplog.messages)
