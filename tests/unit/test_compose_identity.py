"""The compose file runs the demo's identity provider: a keycloak service importing the realm `zorgstroom realm`
writes, with one fixed issuer URL, and every service of ours trusting it through the issuers file."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from zorgstroom_ops import realm, stack
from zorgstroom_runtime.jwt_auth import load_issuers

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "placement", "housing", "reporting")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts, short or long syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            host, container, *_ = volume.split(":")
            found[container] = host
        else:
            found[volume["target"]] = volume["source"]
    return found


def test_keycloak_imports_the_generated_realm_with_a_fixed_issuer_and_an_admin_from_the_environment() -> None:
    keycloak = compose()["services"]["keycloak"]
    assert keycloak["image"] == "quay.io/keycloak/keycloak:26.5.6"
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    imported = {c: h for c, h in mounts(keycloak).items() if c.startswith("/opt/keycloak/data/import/")}
    assert list(imported.values()) == ["./.cache/run/demo/keycloak-realm.json"]  # where `zorgstroom realm` writes
    environment = keycloak["environment"]
    assert environment["KC_BOOTSTRAP_ADMIN_PASSWORD"].startswith("${ZS_KEYCLOAK_ADMIN_PASSWORD:?")  # no default
    assert environment["KC_BOOTSTRAP_ADMIN_USERNAME"].startswith("${")
    assert urlsplit(environment["KC_HOSTNAME"]).scheme == "http"  # a full URL: the frontend, so `iss`, is fixed
    assert all(port.startswith("127.0.0.1:") for port in keycloak["ports"])  # bound as the other services are
    assert "healthcheck" in keycloak


def test_every_service_trusts_the_compose_keycloak_by_the_issuers_file() -> None:
    services = compose()["services"]
    keycloak = services["keycloak"]
    published, _, inside = keycloak["ports"][0].partition(":")[2].partition(":")
    for name in SERVICES:
        service = services[name]
        path = service["environment"]["ZS_AUTH_ISSUERS_FILE"]
        assert mounts(service)[path] == "./deploy/docker/auth-issuers.compose.toml", name
        assert service["depends_on"]["keycloak"] == {"condition": "service_healthy"}, name
    (issuer,) = load_issuers(ROOT / "deploy/docker/auth-issuers.compose.toml")
    hostname = keycloak["environment"]["KC_HOSTNAME"]
    assert issuer.issuer == realm.issuer_of(hostname)  # the `iss` Keycloak writes, whoever asked for the token
    assert urlsplit(hostname).port == int(published)  # ... and where a browser reaches it
    assert issuer.audience == realm.AUDIENCE
    keys = urlsplit(issuer.jwks_url or "")
    assert (keys.hostname, keys.port) == ("keycloak", int(inside))  # the keys: inside the compose network
    assert services["reporting"]["environment"]["ZS_DASHBOARD_OIDC_ISSUER"] == issuer.issuer  # people log in there


def test_the_compose_issuer_speaks_for_the_organisations_of_the_realm_and_no_other() -> None:
    region = stack.region_of(None)
    organisations = realm.region_organisations(region, stack.demo_data(region))
    people = realm.people_of(region.code, region.centre_municipality)
    (issuer,) = load_issuers(ROOT / "deploy/docker/auth-issuers.compose.toml")
    assert sorted(issuer.may_assert) == realm.may_assert(organisations, people)
