"""Who is calling: bearer credentials, each of one organisation with roles.

A credentials file (JSON, path from ZS_CREDENTIALS_FILE) lists the SHA-256 of each token, never
the token itself: [{"name": "almere-case-system", "token_sha256": "...", "organisation_kind":
"municipality", "organisation_id": "0034", "roles": ["intake:register", "intake:read"]}]

A bearer that is a JWT goes instead to the access-token verifier (jwt_auth.py) when trusted issuers are
configured (ZS_AUTH_ISSUERS_FILE): its claims map to the same Principal, so every authorisation rule holds.
A bearer that starts with `zsk_` is an API key, checked against the keys in memory (api_keys.py).
"""

import hashlib
import json
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zorgstroom_runtime.errors import Forbidden
from zorgstroom_runtime.problems import Problem

log = logging.getLogger(__name__)
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # three base64url parts: JWS compact form
API_KEY_PREFIX = "zsk_"


class OrganisationKind(StrEnum):
    MUNICIPALITY = "municipality"
    PROVIDER = "provider"
    CORPORATION = "corporation"
    REGION = "region"
    OPERATOR = "operator"


class Role(StrEnum):
    INTAKE_REGISTER = "intake:register"
    INTAKE_READ = "intake:read"
    REPORTS_OWN = "reports:own"
    REPORTS_REGION = "reports:region"
    FACILITIES_WRITE = "facilities:write"
    PLACEMENTS_WRITE = "placements:write"
    HOUSING_WRITE = "housing:write"
    WAITING_LIST_READ = "waiting-list:read"
    CLIENTS_TRANSFER = "clients:transfer"
    AUDIT_READ = "audit:read"  # region staff: the audit trail of every service


# The most roles an organisation of each kind may hold, whoever vouches for it (a credentials file or an
# identity provider's token): a role outside its kind's set is never granted, so a check that looks only at
# a role (reports:region) or only at a kind still holds. An operator holds none.
ROLES_OF_KIND: dict[OrganisationKind, tuple[Role, ...]] = {
    OrganisationKind.MUNICIPALITY: (
        Role.INTAKE_REGISTER,
        Role.INTAKE_READ,
        Role.REPORTS_OWN,
        Role.WAITING_LIST_READ,
        Role.PLACEMENTS_WRITE,
        Role.CLIENTS_TRANSFER,
    ),
    OrganisationKind.REGION: (
        Role.REPORTS_REGION,
        Role.WAITING_LIST_READ,
        Role.FACILITIES_WRITE,
        Role.CLIENTS_TRANSFER,
        Role.AUDIT_READ,
    ),
    OrganisationKind.PROVIDER: (Role.FACILITIES_WRITE, Role.PLACEMENTS_WRITE),
    OrganisationKind.CORPORATION: (Role.HOUSING_WRITE,),
    OrganisationKind.OPERATOR: (),
}


@dataclass(frozen=True)
class Principal:
    name: str
    organisation_kind: OrganisationKind
    organisation_id: str
    roles: frozenset[Role]
    # The person an access token names (its issuer's person claim, `preferred_username` by default); None for
    # a static token and for an organisation's own client-credentials token.
    # Every audit line of the request names it (NEN 7513): see `acting_person`.
    subject: str | None = None
    # The `iss` of the access token it came with; api_keys.API_KEY_ISSUER for an API key; None for a static token.
    issuer: str | None = None

    @property
    def organisation(self) -> str:
        return f"{self.organisation_kind.value}:{self.organisation_id}"

    def require(self, role: Role) -> None:
        if role not in self.roles:
            raise Forbidden(f"credential {self.name!r} lacks the role {role.value!r}")

    def is_region_staff_of(self, region_code: str) -> bool:
        """A region role counts only in its own region: staff of another region (a static credential, or an
        issuer that may speak for it) hold the same roles, but not over this region's data."""
        return self.organisation_kind is OrganisationKind.REGION and self.organisation_id == region_code

    def require_region_staff_of(self, region_code: str, role: Role) -> None:
        self.require(role)
        if not self.is_region_staff_of(region_code):
            raise Forbidden(f"credential {self.name!r} is not staff of region {region_code}")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CredentialStore:
    def __init__(self, principals_by_digest: dict[str, Principal]) -> None:
        self._by_digest = principals_by_digest

    @classmethod
    def from_file(cls, path: Path | None) -> "CredentialStore":
        if path is None:
            return cls({})
        entries = json.loads(path.read_text())
        principals = {e["token_sha256"]: _static_principal(e) for e in entries}
        if len(principals) != len(entries):  # one token, two credentials: which organisation would it act for?
            raise ValueError(f"{path}: a token digest is listed twice")
        return cls(principals)

    def authenticate(self, token: str) -> Principal | None:
        # A lookup by SHA-256 digest: its timing tells nothing about any stored token.
        return self._by_digest.get(token_digest(token))


def _static_principal(entry: dict[str, Any]) -> Principal:
    """One credentials-file entry; a role its organisation's kind may not hold refuses the whole file (a
    mistake in it must show at start, not as a grant nobody meant)."""
    kind = OrganisationKind(entry["organisation_kind"])
    roles = frozenset(Role(r) for r in entry["roles"])
    if excess := roles - set(ROLES_OF_KIND[kind]):
        names = ", ".join(sorted(r.value for r in excess))
        raise ValueError(f"credential {entry['name']!r}: a {kind.value} may not hold the role(s) {names}")
    return Principal(name=entry["name"], organisation_kind=kind, organisation_id=entry["organisation_id"], roles=roles)


class Unauthenticated(Exception):
    """Why an access token was refused, in words that hold no key material: answered 401. Once the token's
    signature verified, `caller` is who it claims to be (its client and organisation), for the audit."""

    def __init__(self, reason: str, caller: "RefusedCaller | None" = None) -> None:
        super().__init__(reason)
        self.caller = caller


@dataclass(frozen=True)
class RefusedCaller:
    """What a refused token with a good signature said of itself: the audit of its refusal names it."""

    name: str
    organisation: str  # kind:id as claimed, possibly one its issuer may not speak for
    subject: str | None = None


class IssuerUnreachable(Exception):
    """The issuer's keys could not be fetched, so a token signed with a new key cannot be checked: 503."""


class AccessTokens(Protocol):
    async def authenticate(self, token: str) -> Principal: ...


class ApiKeyStore(Protocol):
    def authenticate(self, token: str) -> Principal: ...


# The person the request being served acts for (its Principal's subject), set when the caller is
# authenticated: every audit line the request writes names it, including lines written by code that only
# sees the credential's name (UnitOfWork.audit). A task started for the request inherits it; a consumer's
# task never sees one (None).
acting_person: ContextVar[str | None] = ContextVar("zorgstroom_acting_person", default=None)

_bearer = HTTPBearer(
    auto_error=False, description="A token issued to one organisation, or a JWT access token of a trusted issuer."
)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    token = credentials.credentials if credentials else None
    access_tokens: AccessTokens | None = getattr(request.app.state, "access_tokens", None)
    api_keys: ApiKeyStore | None = getattr(request.app.state, "api_keys", None)
    principal: Principal | None
    if token and access_tokens is not None and _JWT.fullmatch(token):
        principal = await _verified(request, access_tokens, token)
    elif token and api_keys is not None and token.startswith(API_KEY_PREFIX):
        principal = _api_key_holder(request, api_keys, token)
    else:
        store: CredentialStore = request.app.state.credentials
        principal = store.authenticate(token) if token else None
    if principal is None:
        raise Problem(401, "Unauthorized", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal  # the access log and the audit of a refusal name the caller
    acting_person.set(principal.subject)
    return principal


async def _verified(request: Request, access_tokens: AccessTokens, token: str) -> Principal:
    try:
        return await access_tokens.authenticate(token)
    except Unauthenticated as refusal:
        raise _refused(request, "an access token", refusal) from None
    except IssuerUnreachable as unreachable:
        raise Problem(
            503,
            "Service unavailable",
            f"{unreachable}: try again shortly",
            kind="identity-provider-unreachable",
            headers={"Retry-After": "30"},
        ) from None


class RateLimit(Protocol):
    def admit(self, request: Request, principal: Principal) -> None: ...
    def refused(self, request: Request) -> None: ...


async def admitted_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, counted against its rate limit (rate_limits.py): a credential's own, or its address's when
    its authentication failed; over either, 429 in place of the answer."""
    limits: RateLimit | None = getattr(request.app.state, "rate_limits", None)
    try:
        principal = await current_principal(request, credentials)
    except Problem as refusal:
        if limits is not None and refusal.status == 401:
            limits.refused(request)
        raise
    if limits is not None:
        limits.admit(request, principal)
    return principal


def _api_key_holder(request: Request, api_keys: ApiKeyStore, token: str) -> Principal:
    try:
        return api_keys.authenticate(token)
    except Unauthenticated as refusal:
        raise _refused(request, "an API key", refusal) from None


def _refused(request: Request, what: str, refusal: Unauthenticated) -> Problem:
    log.info("%s was refused: %s", what, refusal)
    if refusal.caller is not None:  # its signature or secret checked out: the audit of the refusal names the caller
        request.state.refused_caller, request.state.refusal_reason = refusal.caller, str(refusal)
    return Problem(401, "Unauthorized", str(refusal), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


CurrentPrincipal = Annotated[Principal, Depends(admitted_principal)]
