"""Onboarding's pieces without a running stack: the input refused with a clear reason; an onboarded
organisation kept by a regenerated realm (client, secret, issuers file); and a running verifier that trusts
an organisation added to its issuers file within seconds, without a restart, and keeps what it trusted when
the file turns bad."""

import asyncio
import json
import os
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.unit.test_jwt_verifier import ISSUER, RSA_KEY, Clock, IdentityProvider, claims, public_jwk, signed
from zorgstroom_ops import onboard_command, realm
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_ops.private_files import write_private
from zorgstroom_runtime.auth import OrganisationKind, Unauthenticated
from zorgstroom_runtime.jwt_auth import RELOAD_SECONDS, AccessTokenVerifier
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
DEMO = load_demo_data(ROOT / "data/demo/flevoland.toml")
NEW_PROVIDER = "20000077"  # not among the demo's providers


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: onboard_command.provider("1234567", "Zorg"), "is not an AGB code: a provider's AGB code is eight"),
        (lambda: onboard_command.provider("1234567a", "Zorg"), "is not an AGB code"),
        (lambda: onboard_command.provider(NEW_PROVIDER, "  "), "name must be 1-200 printable characters"),
        (lambda: onboard_command.corporation("-woon", "Woon"), "is not a corporation id"),
        (lambda: onboard_command.corporation("a/b", "Woon"), "is not a corporation id"),
        (lambda: onboard_command.municipality("34", REGION), "is not a CBS municipality code"),
        (lambda: onboard_command.municipality("9999", REGION), "9999 is no municipality of data/municipalities"),
        (lambda: onboard_command.municipality("0014", REGION), "0014 (Groningen) is not a municipality of the region"),
    ],
)
def test_input_that_names_no_organisation_is_refused_with_why(make: Any, says: str) -> None:
    with pytest.raises(onboard_command.OnboardingRefused) as refused:
        make()
    assert says in str(refused.value)


def test_good_input_names_the_organisation_its_client_and_roles() -> None:
    assert onboard_command.provider(NEW_PROVIDER, " Nieuwe Zorg ").client_id == f"provider-{NEW_PROVIDER}"
    assert onboard_command.corporation("nieuw-wonen", "Nieuw Wonen").asserted == "corporation:nieuw-wonen"
    almere = onboard_command.municipality("0034", REGION)
    assert (almere.name, almere.roles) == ("Almere", onboard_command.ROLES["municipality"])


def write_demo_identity(directory: Path) -> Path:
    return realm.write_identity(REGION, DEMO, directory, "http://127.0.0.1:18080", "http://127.0.0.1:8104/")


def test_a_regenerated_realm_keeps_an_onboarded_organisation_with_its_secret(tmp_path: Path) -> None:
    write_demo_identity(tmp_path)
    organisation = onboard_command.provider(NEW_PROVIDER, "Nieuwe Zorg")
    assert onboard_command.record(tmp_path, organisation) is True
    assert onboard_command.record(tmp_path, organisation) is False  # twice: nothing changes
    secrets_file = tmp_path / "client-secrets.json"
    kept = json.loads(secrets_file.read_text()) | {organisation.client_id: "the-secret-keycloak-holds"}
    write_private(secrets_file, json.dumps(kept))

    issuers = write_demo_identity(tmp_path)  # what `zorgstroom realm` or `zorgstroom up` does later

    written = json.loads((tmp_path / "keycloak-realm.json").read_text())
    (client,) = [c for c in written["clients"] if c["clientId"] == organisation.client_id]
    assert client["secret"] == "the-secret-keycloak-holds"
    assert client["serviceAccountsEnabled"] and not client["standardFlowEnabled"]
    assert {m["name"] for m in client["protocolMappers"]} >= {"zs_org_kind", "zs_org_id", "zs_roles", "audience"}
    (account,) = [u for u in written["users"] if u.get("serviceAccountClientId") == organisation.client_id]
    assert account["clientRoles"] == {realm.AUDIENCE: organisation.roles}
    assert f'"provider:{NEW_PROVIDER}"' in issuers.read_text()
    assert '"provider:10000011"' in issuers.read_text()  # the demo's own stay
    for name in ("onboarded.json", "client-secrets.json", "keycloak-realm.json", "auth-issuers.toml"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name


def test_a_running_verifier_trusts_an_organisation_added_to_its_issuers_file_without_a_restart(
    tmp_path: Path,
) -> None:
    issuers = tmp_path / "auth-issuers.toml"
    realm.write_issuers(tmp_path, ISSUER, ["provider:10000011"])
    clock = Clock()
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    verifier = AccessTokenVerifier.from_file(issuers, transport=httpx.MockTransport(provider.handle), clock=clock)
    assert verifier is not None
    token = signed(claims(zs_org_kind="provider", zs_org_id=NEW_PROVIDER, zs_roles=["placements:write"]))

    async def check() -> None:
        with pytest.raises(Unauthenticated, match="may not speak for that organisation"):
            await verifier.authenticate(token)
        realm.write_issuers(tmp_path, ISSUER, ["provider:10000011", f"provider:{NEW_PROVIDER}"])
        with pytest.raises(Unauthenticated):  # not looked at again before RELOAD_SECONDS have passed
            await verifier.authenticate(token)
        clock.now += RELOAD_SECONDS
        principal = await verifier.authenticate(token)
        assert (principal.organisation_kind, principal.organisation_id) == (OrganisationKind.PROVIDER, NEW_PROVIDER)
        assert provider.fetches == 1  # the issuer's entry changed only in may_assert: its keys were kept

        issuers.write_text("[[issuers]]\nissuer = ")  # a half-edited file: what was trusted stays trusted
        os.utime(issuers, ns=(0, 1))
        clock.now += RELOAD_SECONDS
        assert (await verifier.authenticate(token)).organisation_id == NEW_PROVIDER

        realm.write_issuers(tmp_path, ISSUER, ["provider:10000011"])  # mended, and the provider taken off
        clock.now += RELOAD_SECONDS
        with pytest.raises(Unauthenticated, match="may not speak for that organisation"):
            await verifier.authenticate(token)

    asyncio.run(check())


class MockKeycloak:
    """Keycloak's Admin REST API as onboarding calls it, in memory; `failing` names calls that fail once."""

    def __init__(self, *failing: str) -> None:
        self.failing = set(failing)
        self.clients: dict[str, dict[str, Any]] = {realm.AUDIENCE: {"clientId": realm.AUDIENCE}}
        self.scopes: dict[str, list[str]] = {}
        self.mapped: dict[str, set[str]] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        call = f"{method} {path.rsplit('/', 1)[-1]}"
        if call in self.failing:
            self.failing.discard(call)
            return httpx.Response(503)
        if path.endswith("/openid-connect/token"):
            return httpx.Response(200, json={"access_token": "admin-token"})
        if path.endswith("/clients"):
            return self._clients(request)
        client = path.split("/clients/", 1)[-1].split("/", 1)[0]
        if path.endswith("/default-client-scopes") or "/default-client-scopes/" in path:
            if method == "DELETE":
                self.scopes[client].remove(path.rsplit("/", 1)[-1])
            return httpx.Response(200, json=[{"id": s, "name": s} for s in self.scopes.get(client, [])])
        if path.endswith("/service-account-user"):
            return httpx.Response(200, json={"id": f"account-{client}"})
        if path.endswith("/roles"):
            return httpx.Response(200, json=[{"id": r, "name": r} for r in ("placements:write", "facilities:write")])
        if "/role-mappings/" in path:
            held = self.mapped.setdefault(path.split("/users/", 1)[1].split("/", 1)[0], set())
            if method == "POST":
                held.update(r["name"] for r in json.loads(request.content))
            return httpx.Response(200, json=[{"id": r, "name": r} for r in held])
        if path.endswith("/client-secret"):
            return httpx.Response(200, json={"value": "secret-of-" + client})
        return httpx.Response(404)

    def _clients(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            self.clients[body["clientId"]] = body
            self.scopes[body["clientId"]] = [*body["defaultClientScopes"], "service_account"]  # as Keycloak adds
            return httpx.Response(201)
        wanted = request.url.params.get("clientId")
        found = [{"id": c, "clientId": c} for c in self.clients if wanted in (None, c)]
        return httpx.Response(200, json=found)

    def admin(self) -> onboard_command.KeycloakAdmin:
        return onboard_command.KeycloakAdmin(
            "http://keycloak.test", "pw", http=httpx.Client(transport=httpx.MockTransport(self.handle))
        )


# The role mapping's POST (its path ends in the services' client id), or the removal of the scope Keycloak adds.
@pytest.mark.parametrize("failing", [f"POST {realm.AUDIENCE}", "DELETE service_account"])
def test_a_second_run_completes_an_onboarding_stopped_halfway(tmp_path: Path, failing: str) -> None:
    write_demo_identity(tmp_path)
    organisation = onboard_command.provider(NEW_PROVIDER, "Nieuwe Zorg")
    keycloak = MockKeycloak(failing)
    identity = onboard_command.Identity(tmp_path, REGION, DEMO, "http://127.0.0.1:18080", "http://127.0.0.1:8104/")

    def run() -> list[str]:
        return onboard_command.onboard(
            organisation, identity=identity, admin=keycloak.admin, database_url=None, kafka=None
        )

    with pytest.raises(httpx.HTTPStatusError):
        run()
    assert organisation.client_id in keycloak.clients  # the client was made, a step after it was not

    said = run()
    assert f"identity provider: client {organisation.client_id} there already" in said
    assert keycloak.mapped[f"account-{organisation.client_id}"] == {"placements:write", "facilities:write"}
    assert keycloak.scopes[organisation.client_id] == ["basic"]
    assert all("already" in line for line in run())  # a third run: nothing left to do


def test_an_api_key_is_issued_after_the_kafka_steps_and_each_steps_lines_are_said_as_it_completes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[str] = []

    def kafka_fails(agb: str, kafka: object) -> list[str]:
        steps.append("kafka")
        raise OSError("kafka.sh: broker not reachable")

    monkeypatch.setattr(onboard_command, "onboard_kafka", kafka_fails)

    def issue(organisation: onboard_command.Organisation, database_url: str) -> list[str]:
        steps.append("key")
        return ["API key ..."]

    monkeypatch.setattr(onboard_command, "onboard_api_key", issue)
    organisation = onboard_command.provider(NEW_PROVIDER, "Nieuwe Zorg")
    kafka = cast(onboard_command.KafkaTarget, object())
    with pytest.raises(OSError):
        onboard_command.onboard(organisation, identity=None, admin=None, database_url="postgresql://x", kafka=kafka)
    assert steps == ["kafka"]  # no key was issued that the failure would have kept from being shown

    monkeypatch.setattr(onboard_command, "onboard_kafka", lambda agb, kafka: ["kafka: topic there already"])
    heard: list[str] = []
    said = onboard_command.onboard(
        organisation, identity=None, admin=None, database_url="postgresql://x", kafka=kafka, say=heard.append
    )
    assert heard == said == ["kafka: topic there already", "API key ..."]


def test_an_api_key_replaces_the_client_only_when_asked_for_or_without_an_identity_provider() -> None:
    def never() -> bool:
        pytest.fail("the identity provider need not be asked")

    assert onboard_command.by_api_key(api_key=True, keycloak_wanted=True, answers=never) is True
    assert onboard_command.by_api_key(api_key=False, keycloak_wanted=False, answers=never) is True
    assert onboard_command.by_api_key(api_key=False, keycloak_wanted=True, answers=lambda: True) is False
    with pytest.raises(onboard_command.OnboardingRefused, match=r"no identity provider answers at .* --api-key"):
        onboard_command.by_api_key(api_key=False, keycloak_wanted=True, answers=lambda: False)
