"""`zorgstroom onboard provider|corporation|municipality`: a new organisation's access in one command.

At the identity provider its confidential client (realm.organisation_client, created through Keycloak's Admin
REST API), its roles and client scopes, its secret kept in client-secrets.json, the organisation recorded in
onboarded.json so a regenerated realm keeps it, and the issuers file listing it (running services read that
file again by themselves); or, with --api-key or with the identity provider switched off (ZS_KEYCLOAK=0), an
API key. For a provider also its Kafka principal, its topic and the ACLs of runtime acl.provider_grants.

The identity-provider and Kafka steps look before they act: a second run changes nothing there and says so,
and completes what a stopped run left half done (a client without its roles, say). An API key is the
exception: each run issues a new one. It is issued last, and each step's lines are printed as it completes,
so a later step's failure never loses the only copy of a key.
"""

import asyncio
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from zorgstroom_contracts import provider_topic
from zorgstroom_ops import credentials, kafka_security, realm, stack
from zorgstroom_ops.config import config
from zorgstroom_ops.demo_data import DemoData
from zorgstroom_ops.private_files import write_private
from zorgstroom_runtime.acl import provider_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics
from zorgstroom_runtime.region import Region

AGB_CODE = re.compile(r"[0-9]{8}")
CBS_CODE = re.compile(r"[0-9]{4}")
CORPORATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the contracts' Identifier
PROVIDER_TOPIC_PARTITIONS = 3  # as the relay creates a provider topic it meets first (relay.py)
ROLES = {
    "provider": credentials.PROVIDER_ROLES,
    "corporation": credentials.CORPORATION_ROLES,
    "municipality": credentials.MUNICIPALITY_ROLES,
}
ADMIN_TIMEOUT_SECONDS = 15.0


class OnboardingRefused(ValueError):
    """Onboarding cannot go on (input that names no organisation, an identity provider that refuses its
    admin); the message says why."""


@dataclass(frozen=True)
class Organisation:
    kind: str
    id: str
    name: str

    @property
    def client_id(self) -> str:
        """Its client at the identity provider, its static token's and its Kafka principal's name alike."""
        return f"{self.kind}-{self.id}"

    @property
    def asserted(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def roles(self) -> list[str]:
        return list(ROLES[self.kind])


def provider(agb: str, name: str) -> Organisation:
    if not AGB_CODE.fullmatch(agb):
        raise OnboardingRefused(f"{agb!r} is not an AGB code: a provider's AGB code is eight digits")
    return Organisation("provider", agb, _name(name))


def corporation(corporation_id: str, name: str) -> Organisation:
    if not CORPORATION_ID.fullmatch(corporation_id):
        raise OnboardingRefused(
            f"{corporation_id!r} is not a corporation id: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return Organisation("corporation", corporation_id, _name(name))


def municipality(code: str, region: Region) -> Organisation:
    if not CBS_CODE.fullmatch(code):
        raise OnboardingRefused(f"{code!r} is not a CBS municipality code: four digits, e.g. 0034")
    if code not in region.national:
        raise OnboardingRefused(f"{code} is no municipality of data/municipalities-nl.csv")
    if code not in region.municipalities:
        raise OnboardingRefused(
            f"{code} ({region.national[code].name}) is not a municipality of the region {region.code}: "
            f"add it to the region's data file first ({', '.join(region.municipalities)})"
        )
    return Organisation("municipality", code, region.national[code].name)


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise OnboardingRefused("the organisation's name must be 1-200 printable characters")
    return name


# --- the identity provider ---


@dataclass(frozen=True)
class Identity:
    """Where the realm's files live and what they are generated from (realm.write_identity)."""

    directory: Path
    region: Region
    demo: DemoData | None
    keycloak_url: str
    dashboard_url: str


class KeycloakAdmin:
    """The few calls of Keycloak's Admin REST API onboarding needs, as an admin of `admin_realm` (the master
    realm's admin in the demo; a region's provider: an account of the realm itself that may manage its clients
    and users, docs/identity.md)."""

    def __init__(
        self,
        url: str,
        password: str,
        *,
        username: str = "admin",
        admin_realm: str = "master",
        http: httpx.Client | None = None,
    ):
        self._url = url.rstrip("/")
        self._http = http or httpx.Client(timeout=ADMIN_TIMEOUT_SECONDS)
        answer = self._http.post(
            f"{self._url}/realms/{admin_realm}/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli", "username": username, "password": password},
        )
        if answer.status_code != 200:
            raise OnboardingRefused(f"the identity provider refused its admin's login ({answer.status_code})")
        self._headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self._http.request(
            method, f"{self._url}/admin/realms/{realm.REALM}{path}", headers=self._headers, **kwargs
        )
        answer.raise_for_status()
        return answer

    def client_uuid(self, client_id: str) -> str | None:
        found = self._call("GET", "/clients", params={"clientId": client_id}).json()
        return next((str(c["id"]) for c in found if c.get("clientId") == client_id), None)

    def create_client(self, representation: dict[str, Any]) -> str:
        self._call("POST", "/clients", json=representation)
        created = self.client_uuid(representation["clientId"])
        if created is None:
            raise OnboardingRefused(f"the identity provider did not keep the client {representation['clientId']}")
        return created

    def prune_default_scopes(self, client_uuid: str, wanted: list[str]) -> list[str]:
        """The client's default scopes beyond `wanted` removed; their names. Keycloak adds its service_account
        scope (client host and address claims) to a client made here with service accounts, which an imported
        one has not: its tokens then carry what the realm file's do."""
        removed = []
        for scope in self._call("GET", f"/clients/{client_uuid}/default-client-scopes").json():
            if scope["name"] not in wanted:
                self._call("DELETE", f"/clients/{client_uuid}/default-client-scopes/{scope['id']}")
                removed.append(str(scope["name"]))
        return removed

    def grant_roles(self, client_uuid: str, roles: list[str]) -> list[str]:
        """The client's service account (who client credentials act as) given those of the services' roles it
        lacks; their names (none on a second run)."""
        account = self._call("GET", f"/clients/{client_uuid}/service-account-user").json()["id"]
        services = self.client_uuid(realm.AUDIENCE)
        if services is None:
            raise OnboardingRefused(f"the realm {realm.REALM} has no client {realm.AUDIENCE} (the services' roles)")
        mappings = f"/users/{account}/role-mappings/clients/{services}"
        held = {r["name"] for r in self._call("GET", mappings).json()}
        wanted = [r for r in self._call("GET", f"/clients/{services}/roles").json() if r["name"] in roles]
        if missing := [r for r in wanted if r["name"] not in held]:
            self._call("POST", mappings, json=missing)
        return sorted(r["name"] for r in missing)

    def secret(self, client_uuid: str) -> str:
        return str(self._call("GET", f"/clients/{client_uuid}/client-secret").json()["value"])


def record(directory: Path, organisation: Organisation) -> bool:
    """The organisation in onboarded.json, which realm.write_identity includes; False when it was there."""
    path = directory / realm.ONBOARDED_FILE
    found: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    entry = {"kind": organisation.kind, "id": organisation.id, "name": organisation.name, "roles": organisation.roles}
    if found.get(organisation.client_id) == entry:
        return False
    write_private(path, json.dumps(found | {organisation.client_id: entry}, indent=1))
    return True


def onboard_client(organisation: Organisation, identity: Identity, admin: KeycloakAdmin) -> list[str]:
    """Its client at the identity provider, its secret kept, the realm and issuers files that include it."""
    said = []
    secrets_file = identity.directory / "client-secrets.json"
    kept: dict[str, str] = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    name = organisation.client_id
    representation = realm.organisation_client(
        name, organisation.kind, organisation.id, kept.get(name) or secrets.token_urlsafe(32)
    )
    found = admin.client_uuid(name)
    if found is None:
        found = admin.create_client(representation | {"description": organisation.name})
        said.append(f"identity provider: client {name} created (client credentials)")
    else:
        said.append(f"identity provider: client {name} there already")
    # Every run, not only a client's first: a run stopped between these steps is completed by the next.
    granted = admin.grant_roles(found, organisation.roles)
    said.append(f"its roles: {' '.join(granted)} granted" if granted else "its roles: granted already")
    removed = admin.prune_default_scopes(found, representation["defaultClientScopes"])
    said.append(
        f"its client scopes: {' '.join(removed)} removed" if removed else "its client scopes: as wanted already"
    )
    secret = admin.secret(found)
    if kept.get(name) != secret:
        write_private(secrets_file, json.dumps(kept | {name: secret}, indent=1))
        said.append(f"its secret: kept in {secrets_file} (0600)")
    else:
        said.append(f"its secret: in {secrets_file} already")
    if record(identity.directory, organisation):
        said.append(f"recorded in {identity.directory / realm.ONBOARDED_FILE}: a regenerated realm keeps it")
    said.append(_write_issuers(organisation, identity))
    return said


def _write_issuers(organisation: Organisation, identity: Identity) -> str:
    issuers = identity.directory / "auth-issuers.toml"
    before = issuers.read_text() if issuers.exists() else ""
    realm.write_identity(
        identity.region, identity.demo, identity.directory, identity.keycloak_url, identity.dashboard_url
    )
    if issuers.read_text() == before:
        return f"issuers file: {issuers} lists {organisation.asserted} already"
    return f"issuers file: {issuers} now lists {organisation.asserted} (running services read it within seconds)"


# --- API keys, for an organisation that cannot do OAuth2 ---


def onboard_api_key(organisation: Organisation, database_url: str) -> list[str]:
    """An API key issued through `zorgstroom credentials` (api_keys_command.issue_key)."""
    from zorgstroom_ops.api_keys_command import issue_key  # the credentials store: imported when used

    issued = asyncio.run(
        issue_key(database_url, organisation.asserted, name=organisation.client_id, roles=organisation.roles)
    )
    return [
        f"API key {issued.key_id} for {organisation.asserted}, valid until {issued.expires_at}:",
        f"  {issued.key}",
        "  shown this once: only its hash is kept; give it to the organisation over a safe channel",
    ]


# --- Kafka, for a provider ---


@dataclass(frozen=True)
class KafkaTarget:
    """A broker deploy/kafka.sh runs: its environment, its directory (users.txt) and its admin connection."""

    root: Path
    env: dict[str, str]
    directory: Path
    admin: KafkaConnection
    prefix: str = ""

    @property
    def sasl(self) -> bool:
        return self.admin.security_protocol.startswith("SASL")


def onboard_kafka(agb: str, kafka: KafkaTarget) -> list[str]:
    """The provider's SCRAM principal, its topic and its ACLs (read its topic, in groups named after it)."""
    said = []
    principal = f"provider-{agb}"
    topic = provider_topic(agb, kafka.prefix)
    if kafka.sasl:
        added = kafka_security.add_user(principal, kafka.root, kafka.env)
        where = kafka.directory / "users.txt"
        said.append(f"kafka: principal {principal} {'added' if added else 'there already'} (password in {where}, 0600)")
    created = asyncio.run(ensure_topics(kafka.admin, [topic], partitions=PROVIDER_TOPIC_PARTITIONS, attempts=3))
    said.append(f"kafka: topic {topic} {'created' if created else 'there already'}")
    if not kafka.sasl:
        said.append("kafka: no SASL on this broker, so no principal and no ACLs (every client may read every topic)")
        return said
    marker = kafka.directory / f"acls.{kafka.prefix}{principal}.applied"
    applied = kafka_security.apply_grants(provider_grants(agb, kafka.prefix), kafka.root, kafka.env, marker=marker)
    groups = f"{kafka.prefix}{principal}*"
    said.append(
        f"kafka: ACLs {'applied' if applied else 'there already'}: {principal} reads {topic}, in groups {groups}"
    )
    return said


# --- all of it ---


def onboard(
    organisation: Organisation,
    *,
    identity: Identity | None,
    admin: Callable[[], KeycloakAdmin] | None,
    database_url: str | None,
    kafka: KafkaTarget | None,
    say: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Onboard at the identity provider (`admin` given), for a provider at Kafka (`kafka` given), and last
    with an API key (`database_url`); what was done, a line a step, each step's lines also given to `say` as
    soon as the step is done (a key printed before a later step could fail)."""
    said: list[str] = []

    def done(lines: list[str]) -> None:
        said.extend(lines)
        for line in lines:
            say(line)

    if identity is not None and admin is not None:
        done(onboard_client(organisation, identity, admin()))
    if organisation.kind == "provider" and kafka is not None:
        done(onboard_kafka(organisation.id, kafka))
    if database_url is not None:  # last: nothing after it can fail and take the only copy of the key with it
        done(onboard_api_key(organisation, database_url))
    return said


def _admin_password() -> str:
    found = os.environ.get("ZS_KEYCLOAK_ADMIN_PASSWORD")
    if found:
        return found
    path = config().run / "keycloak" / "admin-password"
    if not path.exists():
        raise OnboardingRefused(f"no admin password for the identity provider: {path} (or ZS_KEYCLOAK_ADMIN_PASSWORD)")
    return path.read_text().strip()


def _demo_kafka() -> KafkaTarget | None:
    """The demo's broker, as its admin; None (said) when it is not running."""
    env = {
        **os.environ,
        "ZS_INSTANCE": "demo",
        "ZS_KAFKA_PORT": str(config().kafka_port),
        "ZS_KAFKA_SASL": "1" if config().sasl else "0",
    }
    running = subprocess.run([str(config().root / "deploy" / "kafka.sh"), "status"], env=env, capture_output=True)
    if running.returncode != 0:
        stack.console.print("[yellow]kafka: not running, so no principal, topic or ACLs yet: run `zorgstroom up`, "
                            "then onboard again (what is done already stays as it is)[/yellow]")  # fmt: skip
        return None
    admin, _ = stack.secure_kafka()
    return KafkaTarget(config().root, env, config().run / "kafka", admin)


def by_api_key(api_key: bool, keycloak_wanted: bool, answers: Callable[[], bool]) -> bool:
    """Whether to issue an API key rather than a client: asked for (--api-key), or no identity provider is run
    (ZS_KEYCLOAK=0). One that is run but does not answer refuses onboarding: an API key in place of the client
    asked for would be a credential of another kind than the organisation expects, given silently."""
    if api_key or not keycloak_wanted:
        return True
    if not answers():
        raise OnboardingRefused(
            f"no identity provider answers at {config().keycloak}: start it (`zorgstroom up`) and onboard again,"
            " or give an API key instead with --api-key"
        )
    return False


def _run(organisation: Organisation, api_key: bool) -> None:
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        stack.console.print(line, markup=False)

    try:
        keyed = by_api_key(api_key, stack.keycloak_wanted(), lambda: stack.keycloak_issuer() is not None)
        if keyed and not api_key:
            stack.console.print("the identity provider is switched off (ZS_KEYCLOAK=0): issuing an API key")
        database_url = os.environ.get("ZS_DATABASE_URL", config().database_url) if keyed else None
        identity, admin = (None, None) if keyed else _demo_identity()
        kafka = _demo_kafka() if organisation.kind == "provider" else None
        onboard(organisation, identity=identity, admin=admin, database_url=database_url, kafka=kafka, say=say)
    except (httpx.HTTPError, subprocess.CalledProcessError, OnboardingRefused, OSError) as failed:
        detail = failed.stderr if isinstance(failed, subprocess.CalledProcessError) else failed
        stack.console.print(f"onboarding {organisation.asserted} stopped: {detail}", style="red", markup=False)
        stack.console.print("what was done stays done: run the command again once the cause is fixed")
        raise typer.Exit(1) from failed
    if said and all("already" in line for line in said if not line.startswith("  ")):
        stack.console.print(f"nothing changed: {organisation.asserted} was onboarded already")


def _demo_identity() -> tuple[Identity, Callable[[], KeycloakAdmin]]:
    region = stack.region_of(None)
    dashboard = stack.service_urls()["reporting"] + "/"
    identity = Identity(config().run, region, stack.demo_data(region), config().keycloak, dashboard)
    password = _admin_password()
    username = os.environ.get("ZS_KEYCLOAK_ADMIN", "admin")
    admin_realm = os.environ.get("ZS_KEYCLOAK_ADMIN_REALM", "master")
    return identity, lambda: KeycloakAdmin(config().keycloak, password, username=username, admin_realm=admin_realm)


ApiKey = Annotated[bool, typer.Option("--api-key", help="Issue an API key instead of an identity-provider client.")]
onboard_app = typer.Typer(help="Give a new organisation access: its client or API key, for a provider its Kafka.")


def _refusing(make: Callable[[], Organisation]) -> Organisation:
    try:
        return make()
    except OnboardingRefused as refused:
        stack.console.print(f"[red]{refused}[/red]")
        raise typer.Exit(2) from refused


@onboard_app.command("provider")
def provider_command(agb: str, name: str, api_key: ApiKey = False) -> None:
    """A care provider by its AGB code (eight digits): its client or key, its Kafka principal, topic and ACLs."""
    _run(_refusing(lambda: provider(agb, name)), api_key)


@onboard_app.command("corporation")
def corporation_command(corporation_id: str, name: str, api_key: ApiKey = False) -> None:
    """A housing corporation by its id: its client or API key."""
    _run(_refusing(lambda: corporation(corporation_id, name)), api_key)


@onboard_app.command("municipality")
def municipality_command(code: str, api_key: ApiKey = False) -> None:
    """A municipality of the region by its CBS code: its client or API key."""
    _run(_refusing(lambda: municipality(code, stack.region_of(None))), api_key)
