"""The identity provider's realm, generated from the region and demo data: a Keycloak realm file to import,
and the services' side of it, the issuers file (ZS_AUTH_ISSUERS_FILE) that trusts the realm's tokens.

One confidential client per organisation of credentials.organisations_of (client credentials only), whose
access tokens carry the organisation's kind, id and roles as the claims the services map to a Principal;
a public client for the dashboard (authorization code with PKCE) and a few people to log in with. The client
secrets and the people's passwords are generated once and kept (0600) beside the demo's other credentials,
so a regenerated realm keeps them. Organisations onboarded since (`zorgstroom onboard`, onboarded.json in the
same directory) are in the realm and the issuers file too: deploy/keycloak.sh re-imports a changed realm file,
and an onboarded client must survive that.
"""

import json
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zorgstroom_ops import stack
from zorgstroom_ops.config import config
from zorgstroom_ops.credentials import Organisations, organisations_of
from zorgstroom_ops.demo_data import DemoData
from zorgstroom_ops.private_files import write_private
from zorgstroom_ops.stack import RegionFile
from zorgstroom_runtime.auth import Role
from zorgstroom_runtime.region import Region

REALM = "zorgstroom"
AUDIENCE = "zorgstroom"  # the services' own client: its roles are Zorgstroom's roles, its id every token's aud
DASHBOARD_CLIENT = "zorgstroom-dashboard"
TOKEN_LIFETIME_SECONDS = 300
CLAIM_ORG_KIND, CLAIM_ORG_ID, CLAIM_ROLES = "zs_org_kind", "zs_org_id", "zs_roles"
ONBOARDED_FILE = "onboarded.json"  # client id -> {kind, id, name, roles}: written by `zorgstroom onboard`

Json = dict[str, Any]


@dataclass(frozen=True)
class Person:
    """Someone who logs in to the dashboard; ILLUSTRATIVE people of the demo."""

    username: str
    first_name: str
    last_name: str
    organisation_kind: str
    organisation_id: str
    roles: tuple[str, ...]


def people_of(region_code: str, centre_municipality: str) -> list[Person]:
    """Region staff and a policy officer of the centre municipality: they read reports, they change nothing."""
    return [
        Person("anna.jansen", "Anna", "Jansen", "region", region_code, ("reports:region", "waiting-list:read")),
        Person(
            "pieter.devries",
            "Pieter",
            "de Vries",
            "municipality",
            centre_municipality,
            ("reports:own", "waiting-list:read"),
        ),
    ]


def kept_secrets(path: Path, names: Iterable[str]) -> dict[str, str]:
    """A secret for each name: the one kept in `path` (JSON, 0600) if there is one, else a new one, kept."""
    found: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {name: found.get(name) or secrets.token_urlsafe(32) for name in names}
    if wanted != found:
        write_private(path, json.dumps(wanted, indent=1))
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:  # kept, but made readable by others since: the owner's again
        os.chmod(path, 0o600)
    return wanted


def build_realm(
    organisations: Organisations,
    client_secrets: dict[str, str],
    people: list[Person],
    passwords: dict[str, str],
    dashboard_url: str,
) -> Json:
    """The realm as Keycloak's import format: https://www.keycloak.org/server/importExport."""
    clients = [_services_client()]
    clients += [
        organisation_client(name, kind, org, client_secrets[name]) for name, (kind, org, _) in organisations.items()
    ]
    clients.append(_dashboard_client(dashboard_url))
    accounts = [service_account(name, roles) for name, (_, _, roles) in organisations.items()]
    return {
        "realm": REALM,
        "enabled": True,
        "displayName": "Zorgstroom",
        "accessTokenLifespan": TOKEN_LIFETIME_SECONDS,
        "ssoSessionIdleTimeout": 1800,  # the dashboard's idle window (ZS_DASHBOARD_IDLE_MINUTES) is the same
        "ssoSessionMaxLifespan": 8 * 3600,  # a working day, then a person logs in again whatever they do
        # A refresh token is used once: each renewal returns a new one, and a reused one (a stolen copy, RFC 9700
        # §4.14.2) is refused and ends the session of both its holders.
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "bruteForceProtected": True,
        "roles": {"client": {AUDIENCE: [{"name": role} for role in services_roles()]}},
        "components": {"org.keycloak.userprofile.UserProfileProvider": [_user_profile()]},
        "clients": clients,
        "users": accounts + [_person(p, passwords[p.username]) for p in people],
    }


def _user_profile() -> Json:
    """Keycloak's declarative user profile with a person's organisation declared admin-only: a person can
    neither see nor set their own zs_org_kind and zs_org_id in the account console, even where an operator
    allows other (unmanaged) attributes; the rest is Keycloak's default profile."""

    def attribute(name: str, **extra: Any) -> Json:
        return {"name": name, "displayName": f"${{{name}}}", "multivalued": False} | extra

    editable = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    name_rules = {"length": {"max": 255}, "person-name-prohibited-characters": {}}
    profile = {
        "attributes": [
            attribute(
                "username",
                validations={
                    "length": {"min": 3, "max": 255},
                    "username-prohibited-characters": {},
                    "up-username-not-idn-homograph": {},
                },
                permissions=editable,
            ),
            attribute(
                "email",
                validations={"email": {}, "length": {"max": 255}},
                required={"roles": ["user"]},
                permissions=editable,
            ),
            attribute("firstName", validations=name_rules, required={"roles": ["user"]}, permissions=editable),
            attribute("lastName", validations=name_rules, required={"roles": ["user"]}, permissions=editable),
            *(
                {
                    "name": claim,
                    "displayName": claim,
                    "multivalued": False,
                    "permissions": {"view": ["admin"], "edit": ["admin"]},
                }
                for claim in (CLAIM_ORG_KIND, CLAIM_ORG_ID)
            ),
        ],
        "groups": [{"name": "user-metadata", "displayHeader": "User metadata"}],
    }
    return {
        "providerId": "declarative-user-profile",
        "subComponents": {},
        "config": {"kc.user.profile.config": [json.dumps(profile)]},
    }


def _services_client() -> Json:
    """The services themselves: no flow of their own; their roles are the roles a token can carry."""
    return {
        "clientId": AUDIENCE,
        "name": "Zorgstroom services",
        "enabled": True,
        "bearerOnly": True,
        "publicClient": False,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
    }


def organisation_client(name: str, kind: str, organisation_id: str, secret: str) -> Json:
    """An organisation's confidential client: client credentials only, typed access tokens (at+jwt) with its
    kind, id and roles, for the services' audience. The realm file's and `zorgstroom onboard`'s alike."""
    return {
        "clientId": name,
        "name": f"{kind} {organisation_id}",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "serviceAccountsEnabled": True,  # client credentials (RFC 6749 section 4.4), and no other flow
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "frontchannelLogout": False,
        "attributes": {"access.token.header.type.rfc9068": "true"},  # typ at+jwt
        "defaultClientScopes": ["basic"],  # sub and iat; no profile, email or realm roles
        "optionalClientScopes": [],
        "protocolMappers": [
            _hardcoded_claim("client_id", name),  # RFC 9068 section 2.2 asks for it
            _hardcoded_claim(CLAIM_ORG_KIND, kind),
            _hardcoded_claim(CLAIM_ORG_ID, organisation_id),
            _roles_claim(),
            _audience(),
        ],
    }


def _dashboard_client(dashboard_url: str) -> Json:
    """People log in to the dashboard in their browser: a public client, authorization code with PKCE S256."""
    return {
        "clientId": DASHBOARD_CLIENT,
        "name": "Zorgstroom dashboard",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": True,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "frontchannelLogout": False,  # logout is the page's own redirect to the end_session_endpoint
        "redirectUris": [dashboard_url],
        "webOrigins": [dashboard_url.rstrip("/")],  # CORS for the token endpoint the page calls
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": dashboard_url,
            "access.token.header.type.rfc9068": "true",
        },
        "defaultClientScopes": ["basic", "profile", "web-origins"],
        "optionalClientScopes": [],
        "protocolMappers": [
            _hardcoded_claim("client_id", DASHBOARD_CLIENT),
            # in the ID token too: the page shows the person's organisation beside their name
            _user_attribute_claim(CLAIM_ORG_KIND, id_token=True),
            _user_attribute_claim(CLAIM_ORG_ID, id_token=True),
            _roles_claim(),
            _audience(),
        ],
    }


def service_account(client_id: str, roles: list[str]) -> Json:
    return {
        "username": f"service-account-{client_id}",
        "enabled": True,
        "serviceAccountClientId": client_id,
        "clientRoles": {AUDIENCE: list(roles)},
    }


def _person(person: Person, password: str) -> Json:
    return {
        "username": person.username,
        "enabled": True,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "email": f"{person.username}@{person.organisation_id}.example",  # the reserved example domain
        "emailVerified": True,
        "attributes": {CLAIM_ORG_KIND: [person.organisation_kind], CLAIM_ORG_ID: [person.organisation_id]},
        "credentials": [{"type": "password", "value": password, "temporary": False}],
        "clientRoles": {AUDIENCE: list(person.roles)},
    }


def _access_token_only(config: dict[str, str]) -> dict[str, str]:
    return config | {
        "access.token.claim": "true",
        "introspection.token.claim": "true",
        "id.token.claim": "false",
        "userinfo.token.claim": "false",
    }


def _hardcoded_claim(claim: str, value: str) -> Json:
    return {
        "name": claim,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": _access_token_only({"claim.name": claim, "claim.value": value, "jsonType.label": "String"}),
    }


def _user_attribute_claim(claim: str, *, id_token: bool = False) -> Json:
    config = _access_token_only({"user.attribute": claim, "claim.name": claim, "jsonType.label": "String"})
    return {
        "name": claim,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper",
        "config": config | {"id.token.claim": str(id_token).lower()},
    }


def _roles_claim() -> Json:
    """The caller's roles of the services' client, as a list (never a comma-joined string)."""
    return {
        "name": CLAIM_ROLES,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-client-role-mapper",
        "config": _access_token_only(
            {
                "usermodel.clientRoleMapping.clientId": AUDIENCE,
                "claim.name": CLAIM_ROLES,
                "jsonType.label": "String",
                "multivalued": "true",
            }
        ),
    }


def _audience() -> Json:
    return {
        "name": "audience",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": _access_token_only({"included.client.audience": AUDIENCE}),
    }


def services_roles() -> list[str]:
    """Every role a Zorgstroom service knows, declared on the services' client."""
    return [role.value for role in Role]


def region_organisations(region: Region, demo: DemoData | None) -> Organisations:
    """The organisations the demo gives static tokens to (stack.up), so both kinds of credential match."""
    return organisations_of(
        region,
        providers=[p.agb for p in demo.providers] if demo else [],
        corporations=[c.id for c in demo.corporations] if demo else [],
    )


def onboarded(directory: Path) -> Organisations:
    """The organisations `zorgstroom onboard` added in this directory (none when it has not been run)."""
    path = directory / ONBOARDED_FILE
    found: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    return {name: (o["kind"], o["id"], list(o["roles"])) for name, o in found.items()}


def write_realm(directory: Path, organisations: Organisations, people: list[Person], dashboard_url: str) -> Path:
    """keycloak-realm.json (0600: it holds the secrets Keycloak imports) and the secrets kept beside it:
    client-secrets.json (client id -> secret) and people.json (username -> password)."""
    client_secrets = kept_secrets(directory / "client-secrets.json", organisations)
    passwords = kept_secrets(directory / "people.json", [p.username for p in people])
    realm = build_realm(organisations, client_secrets, people, passwords, dashboard_url)
    path = directory / "keycloak-realm.json"
    write_private(path, json.dumps(realm, indent=1))
    return path


def issuer_of(base_url: str) -> str:
    """The realm's issuer (`iss`) at a Keycloak, e.g. http://127.0.0.1:18080/realms/zorgstroom."""
    return f"{base_url.rstrip('/')}/realms/{REALM}"


def token_url_of(issuer: str) -> str:
    return f"{issuer}/protocol/openid-connect/token"


def may_assert(organisations: Organisations, people: list[Person]) -> list[str]:
    """Exactly the organisations the realm has clients or people for, as `kind:id`: the realm may speak for
    these and no other."""
    found = {f"{kind}:{org}" for kind, org, _ in organisations.values()}
    found |= {f"{p.organisation_kind}:{p.organisation_id}" for p in people}
    return sorted(found)


def write_issuers(directory: Path, issuer: str, asserted: list[str]) -> Path:
    """auth-issuers.toml: the services trust `issuer`'s tokens for the services' audience, for `asserted`."""
    lines = [
        "# Written by `zorgstroom realm`: the identity providers whose access tokens the services accept.",
        "[[issuers]]",
        f"issuer = {json.dumps(issuer)}",
        f"audience = {json.dumps(AUDIENCE)}",
        "may_assert = [" + ", ".join(json.dumps(a) for a in asserted) + "]",
        "",
    ]
    path = directory / "auth-issuers.toml"
    write_private(path, "\n".join(lines))
    return path


def write_identity(region: Region, demo: DemoData | None, directory: Path, keycloak_url: str, dashboard: str) -> Path:
    """The realm file and the issuers file for the region's demo organisations and those onboarded since; the
    issuers file's path."""
    organisations = region_organisations(region, demo) | onboarded(directory)
    people = people_of(region.code, region.centre_municipality)
    write_realm(directory, organisations, people, dashboard)
    return write_issuers(directory, issuer_of(keycloak_url), may_assert(organisations, people))


def realm_command(region_file: RegionFile = None) -> None:
    """Write the identity provider's realm for the region (default Flevoland) and its demo organisations, and
    the issuers file the services trust it by; deploy/keycloak.sh imports the realm (ZS_KEYCLOAK_REALM,
    default the demo's run directory), ZS_AUTH_ISSUERS_FILE names the issuers file."""
    region = stack.region_of(region_file)
    dashboard = stack.service_urls()["reporting"] + "/"
    issuers = write_identity(region, stack.demo_data(region), config().run, config().keycloak, dashboard)
    stack.console.print(
        f"realm {REALM!r} -> {config().run / 'keycloak-realm.json'}; the services trust it by {issuers}"
    )
