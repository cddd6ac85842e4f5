"""End to end: the demo's wiring of identity. Keycloak with the realm and the issuers file `zorgstroom up`
writes, the four services trusting it through ZS_AUTH_ISSUERS_FILE, and an organisation calling them with
the access token it gets by client credentials, as the demo's callers do (client_credentials.py).

Runs where a test may start services of its own (the native start-up, or ZS_TEST_OWN_BROKERS=1): Keycloak
takes about half a minute to start and half a gigabyte of memory. Its own instance and ports: Keycloak on
18580 (management 18581), the services on 8950-8953."""

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.builders import intake_body
from tests.support.infra import ROOT, Infra, run_deploy, starts_brokers
from tests.support.processes import start_process_stack
from tests.support.stack import Namespace
from zorgstroom_ops import realm
from zorgstroom_ops.client_credentials import ClientCredentials
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_runtime.region import load_region

pytestmark = pytest.mark.e2e

KEYCLOAK = "http://127.0.0.1:18580"
BASE_PORT = 8950


@pytest.fixture(scope="module")
def identity(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The directory with the realm, the client secrets and the issuers file, Keycloak running on them."""
    if not starts_brokers(infra):
        pytest.skip("Keycloak of its own needs the native start-up (or ZS_TEST_OWN_BROKERS=1)")
    directory = tmp_path_factory.mktemp("identity")
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    demo = load_demo_data(ROOT / "data/demo/flevoland.toml")
    realm.write_identity(region, demo, directory, KEYCLOAK, f"http://127.0.0.1:{BASE_PORT + 3}/")
    env = {
        **os.environ,
        "ZS_INSTANCE": "e2e-kc",
        "ZS_KEYCLOAK_PORT": KEYCLOAK.rsplit(":", 1)[1],
        "ZS_KEYCLOAK_REALM": str(directory / "keycloak-realm.json"),
    }
    run_deploy("keycloak.sh", "stop", env)  # one an aborted run left behind
    run_deploy("keycloak.sh", "start", env)
    try:
        yield directory
    finally:
        run_deploy("keycloak.sh", "stop", env)


@pytest.fixture
async def services(infra: Infra, ns: Namespace, identity: Path, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    started = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        tmp_path / "stack",
        BASE_PORT,
        name="kc",
        prefix=ns.prefix,
        extra_env={"ZS_AUTH_ISSUERS_FILE": str(identity / "auth-issuers.toml")},
    )
    try:
        yield {name: service.url for name, service in started.services.items()}
    finally:
        started.stop()


async def test_a_municipality_calls_with_its_client_credentials_token_and_only_for_itself(
    services: dict[str, str], identity: Path
) -> None:
    secrets: dict[str, str] = json.loads((identity / "client-secrets.json").read_text())
    almere = ClientCredentials(
        realm.token_url_of(realm.issuer_of(KEYCLOAK)), "municipality-0034", secrets["municipality-0034"]
    )
    async with httpx.AsyncClient(timeout=30) as http:
        own = await http.post(
            services["intake"] + "/v1/intakes",
            json=intake_body(registering_municipality="0034"),
            headers={"Idempotency-Key": f"kc-{uuid.uuid4()}"},
            auth=almere,
        )
        assert own.status_code == 202, own.text
        assert own.json()["responsible_municipality"] in {"0034", "0995"}

        as_zeewolde = await http.post(
            services["intake"] + "/v1/intakes",
            json=intake_body(registering_municipality="0050", preferred_municipalities=["0050"]),
            headers={"Idempotency-Key": f"kc-{uuid.uuid4()}"},
            auth=almere,
        )
        assert as_zeewolde.status_code == 403, as_zeewolde.text
        zeewolde_flows = await http.get(
            services["reporting"] + "/v1/municipalities/0050/flows?from=2026-03&to=2026-03", auth=almere
        )
        assert zeewolde_flows.status_code == 403, zeewolde_flows.text
        own_flows = await http.get(
            services["reporting"] + "/v1/municipalities/0034/flows?from=2026-03&to=2026-03", auth=almere
        )
        assert own_flows.status_code == 200, own_flows.text
