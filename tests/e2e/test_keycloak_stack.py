"""End to end: the demo's wiring of identity. Keycloak with the realm and the issuers file `zorgstroom up`
writes, the four services trusting it through ZS_AUTH_ISSUERS_FILE, and an organisation calling them with
the access token it gets by client credentials, as the demo's callers do (client_credentials.py).

Keycloak is the session's (tests/support/keycloak.py), the services on its SERVICE_BASE_PORT."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.builders import intake_body
from tests.support.infra import Infra
from tests.support.keycloak import SERVICE_BASE_PORT, Keycloak
from tests.support.processes import start_process_stack
from tests.support.stack import Namespace
from zorgstroom_ops.client_credentials import ClientCredentials

pytestmark = pytest.mark.e2e


@pytest.fixture
async def services(infra: Infra, ns: Namespace, keycloak: Keycloak, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    started = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        tmp_path / "stack",
        SERVICE_BASE_PORT,
        name="kc",
        prefix=ns.prefix,
        extra_env={"ZS_AUTH_ISSUERS_FILE": str(keycloak.issuers_file)},
    )
    try:
        yield {name: service.url for name, service in started.services.items()}
    finally:
        started.stop()


async def test_a_municipality_calls_with_its_client_credentials_token_and_only_for_itself(
    services: dict[str, str], keycloak: Keycloak
) -> None:
    almere = ClientCredentials(keycloak.token_url, "municipality-0034", keycloak.client_secret("municipality-0034"))
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
