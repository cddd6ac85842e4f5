"""One Keycloak for the whole test session, with the demo's realm imported: the tests of the identity
provider's flows (client credentials, the dashboard's login, onboarding) share it, as starting one takes half
a minute and half a gigabyte.

Runs where a test may start services of its own (the native start-up, or ZS_TEST_OWN_BROKERS=1). Its own
instance and ports: Keycloak on ZS_TEST_KEYCLOAK_PORT (default 18580, management the port after it); the
services a test starts beside it on SERVICE_BASE_PORT.. +3 (8950-8953; the dashboard's redirect URI names
the reporting service's port, the last of them). Two sessions on one machine at once give each their own
ZS_TEST_KEYCLOAK_PORT and ZS_TEST_SERVICE_BASE_PORT."""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.infra import ROOT, Infra, run_deploy, starts_brokers
from zorgstroom_ops import realm
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_runtime.region import load_region

KEYCLOAK_PORT = int(os.environ.get("ZS_TEST_KEYCLOAK_PORT", "18580"))
SERVICE_BASE_PORT = int(os.environ.get("ZS_TEST_SERVICE_BASE_PORT", "8950"))
REPORTING_PORT = SERVICE_BASE_PORT + 3  # the fourth service start_process_stack starts


@dataclass(frozen=True)
class Keycloak:
    url: str  # http://127.0.0.1:<port>
    directory: Path  # the realm file, client-secrets.json, people.json and auth-issuers.toml
    env: dict[str, str]  # deploy/keycloak.sh's environment for this instance

    @property
    def issuer(self) -> str:
        return realm.issuer_of(self.url)

    @property
    def token_url(self) -> str:
        return realm.token_url_of(self.issuer)

    @property
    def issuers_file(self) -> Path:
        return self.directory / "auth-issuers.toml"

    def client_secret(self, client_id: str) -> str:
        secrets: dict[str, str] = json.loads((self.directory / "client-secrets.json").read_text())
        return secrets[client_id]

    def password_of(self, username: str) -> str:
        people: dict[str, str] = json.loads((self.directory / "people.json").read_text())
        return people[username]

    @property
    def admin_password(self) -> str:
        home = ROOT / ".cache" / "run" / self.env["ZS_INSTANCE"] / "keycloak"
        return (home / "admin-password").read_text().strip()


@pytest.fixture(scope="session")
def keycloak(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keycloak]:
    """Keycloak running on the demo region's realm, its dashboard client redirecting to REPORTING_PORT."""
    if not starts_brokers(infra):
        pytest.skip("Keycloak of its own needs the native start-up (or ZS_TEST_OWN_BROKERS=1)")
    directory = tmp_path_factory.mktemp("identity")
    url = f"http://127.0.0.1:{KEYCLOAK_PORT}"
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    demo = load_demo_data(ROOT / "data/demo/flevoland.toml")
    realm.write_identity(region, demo, directory, url, f"http://127.0.0.1:{REPORTING_PORT}/")
    env = {
        **os.environ,
        "ZS_INSTANCE": f"e2e-kc-{KEYCLOAK_PORT}",
        "ZS_KEYCLOAK_PORT": str(KEYCLOAK_PORT),
        "ZS_KEYCLOAK_REALM": str(directory / "keycloak-realm.json"),
    }
    run_deploy("keycloak.sh", "stop", env)  # one an aborted run left behind
    run_deploy("keycloak.sh", "start", env)
    try:
        yield Keycloak(url, directory, env)
    finally:
        run_deploy("keycloak.sh", "stop", env)
