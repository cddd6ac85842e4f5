"""The identity provider's realm is generated from the region's data: a client per organisation, its roles
exactly the static credentials', and secrets only where Keycloak needs them."""

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from zorgstroom_ops import realm
from zorgstroom_ops.credentials import Organisations
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = "http://127.0.0.1:8104/"


@pytest.fixture
def organisations() -> Organisations:
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    return realm.region_organisations(region, load_demo_data(ROOT / "data/demo/flevoland.toml"))


@pytest.fixture
def written(tmp_path: Path, organisations: Organisations) -> dict[str, Any]:
    path = realm.write_realm(tmp_path, organisations, realm.people_of("flevoland", "0034"), DASHBOARD)
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def clients_of(written: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["clientId"]: c for c in written["clients"]}


def test_every_organisation_of_the_region_and_demo_has_a_client(
    written: dict[str, Any], organisations: Organisations
) -> None:
    clients = clients_of(written)
    assert {"municipality-0034", "municipality-0050", "region-flevoland", "provider-10000011"} <= set(organisations)
    assert set(organisations) <= set(clients)
    assert set(clients) - set(organisations) == {realm.AUDIENCE, realm.DASHBOARD_CLIENT}


def test_an_organisation_client_does_client_credentials_and_nothing_else(written: dict[str, Any]) -> None:
    client = clients_of(written)["provider-10000011"]
    assert client["serviceAccountsEnabled"] and not client["publicClient"]
    assert not client["standardFlowEnabled"]
    assert not client["implicitFlowEnabled"]
    assert not client["directAccessGrantsEnabled"]
    claims = {m["name"]: m["config"].get("claim.value") for m in client["protocolMappers"]}
    assert claims[realm.CLAIM_ORG_KIND] == "provider" and claims[realm.CLAIM_ORG_ID] == "10000011"
    assert realm.CLAIM_ROLES in claims and "audience" in claims
    assert written["accessTokenLifespan"] == 300


def test_the_roles_of_each_client_are_those_of_its_static_credential(
    written: dict[str, Any], organisations: Organisations
) -> None:
    accounts = {u["serviceAccountClientId"]: u for u in written["users"] if "serviceAccountClientId" in u}
    assert set(accounts) == set(organisations)
    for name, (_, _, roles) in organisations.items():
        assert accounts[name]["clientRoles"] == {realm.AUDIENCE: roles}
    declared = {r["name"] for r in written["roles"]["client"][realm.AUDIENCE]}
    every_role = {r for u in written["users"] for r in u["clientRoles"][realm.AUDIENCE]}
    assert every_role <= declared


def test_secrets_appear_only_where_keycloak_reads_them(tmp_path: Path, written: dict[str, Any]) -> None:
    client_secrets = json.loads((tmp_path / "client-secrets.json").read_text())
    passwords = json.loads((tmp_path / "people.json").read_text())
    public = json.loads(json.dumps(written))
    for client in public["clients"]:
        client.pop("secret", None)
    for user in public["users"]:
        user.pop("credentials", None)
    text = json.dumps(public)
    assert not [s for s in [*client_secrets.values(), *passwords.values()] if s in text]
    dashboard = clients_of(written)[realm.DASHBOARD_CLIENT]
    assert dashboard["publicClient"] and "secret" not in dashboard


def test_the_files_with_secrets_are_the_owners_alone(tmp_path: Path, written: dict[str, Any]) -> None:
    for name in ("keycloak-realm.json", "client-secrets.json", "people.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_persons_organisation_is_for_the_admin_alone_to_see_and_set(written: dict[str, Any]) -> None:
    (profile,) = written["components"]["org.keycloak.userprofile.UserProfileProvider"]
    attributes = {a["name"]: a for a in json.loads(profile["config"]["kc.user.profile.config"][0])["attributes"]}
    for claim in ("zs_org_kind", "zs_org_id"):
        assert attributes[claim]["permissions"] == {"view": ["admin"], "edit": ["admin"]}
    assert {"username", "email", "firstName", "lastName"} <= attributes.keys()


def test_a_kept_secrets_file_made_readable_by_others_is_the_owners_alone_again(
    tmp_path: Path, organisations: Organisations
) -> None:
    people = realm.people_of("flevoland", "0034")
    realm.write_realm(tmp_path, organisations, people, DASHBOARD)
    for name in ("client-secrets.json", "people.json"):
        (tmp_path / name).chmod(0o644)
    realm.write_realm(tmp_path, organisations, people, DASHBOARD)
    for name in ("client-secrets.json", "people.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_regenerated_realm_keeps_the_secrets(tmp_path: Path, organisations: Organisations) -> None:
    people = realm.people_of("flevoland", "0034")
    first = json.loads(realm.write_realm(tmp_path, organisations, people, DASHBOARD).read_text())
    again = json.loads(realm.write_realm(tmp_path, organisations, people, DASHBOARD).read_text())
    assert first == again


def test_people_log_in_to_the_dashboard_with_pkce(written: dict[str, Any]) -> None:
    dashboard = clients_of(written)[realm.DASHBOARD_CLIENT]
    assert dashboard["standardFlowEnabled"] and not dashboard["directAccessGrantsEnabled"]
    assert dashboard["attributes"]["pkce.code.challenge.method"] == "S256"
    assert dashboard["redirectUris"] == [DASHBOARD]
    people = {u["username"]: u for u in written["users"] if "serviceAccountClientId" not in u}
    assert people["anna.jansen"]["attributes"] == {realm.CLAIM_ORG_KIND: ["region"], realm.CLAIM_ORG_ID: ["flevoland"]}
    assert people["pieter.devries"]["attributes"][realm.CLAIM_ORG_ID] == ["0034"]


def test_a_persons_session_ends_after_idling_or_a_working_day_and_a_refresh_token_is_used_once(
    written: dict[str, Any],
) -> None:
    assert (written["ssoSessionIdleTimeout"], written["ssoSessionMaxLifespan"]) == (1800, 8 * 3600)
    assert written["revokeRefreshToken"] is True and written["refreshTokenMaxReuse"] == 0


def test_the_services_trust_the_realm_for_its_organisations_and_no_other(
    tmp_path: Path, organisations: Organisations
) -> None:
    from zorgstroom_runtime.auth import OrganisationKind
    from zorgstroom_runtime.jwt_auth import load_issuers

    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    demo = load_demo_data(ROOT / "data/demo/flevoland.toml")
    path = realm.write_identity(region, demo, tmp_path, "http://127.0.0.1:18080", DASHBOARD)
    (issuer,) = load_issuers(path)
    assert issuer.issuer == "http://127.0.0.1:18080/realms/zorgstroom" and issuer.audience == realm.AUDIENCE
    for kind, organisation_id, _ in organisations.values():
        assert issuer.may_speak_for(OrganisationKind(kind), organisation_id)
    assert not issuer.may_speak_for(OrganisationKind.MUNICIPALITY, "0363")  # Amsterdam: not of this region
    assert not issuer.may_speak_for(OrganisationKind.OPERATOR, "flevoland")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
