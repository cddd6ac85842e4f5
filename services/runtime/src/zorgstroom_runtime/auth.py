"""Who is calling: bearer credentials, each of one organisation with roles.

A credentials file (JSON, path from ZS_CREDENTIALS_FILE) lists the SHA-256 of each token, never
the token itself: [{"name": "almere-case-system", "token_sha256": "...", "organisation_kind":
"municipality", "organisation_id": "0034", "roles": ["intake:register", "intake:read"]}]
"""

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zorgstroom_runtime.errors import Forbidden
from zorgstroom_runtime.problems import Problem


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


@dataclass(frozen=True)
class Principal:
    name: str
    organisation_kind: OrganisationKind
    organisation_id: str
    roles: frozenset[Role]

    @property
    def organisation(self) -> str:
        return f"{self.organisation_kind.value}:{self.organisation_id}"

    def require(self, role: Role) -> None:
        if role not in self.roles:
            raise Forbidden(f"credential {self.name!r} lacks the role {role.value!r}")


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
        return cls(
            {
                e["token_sha256"]: Principal(
                    name=e["name"],
                    organisation_kind=OrganisationKind(e["organisation_kind"]),
                    organisation_id=e["organisation_id"],
                    roles=frozenset(Role(r) for r in e["roles"]),
                )
                for e in entries
            }
        )

    def authenticate(self, token: str) -> Principal | None:
        # A lookup by SHA-256 digest: its timing tells nothing about any stored token.
        return self._by_digest.get(token_digest(token))


_bearer = HTTPBearer(auto_error=False, description="A token issued to one organisation.")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    store: CredentialStore = request.app.state.credentials
    principal = store.authenticate(credentials.credentials) if credentials else None
    if principal is None:
        raise Problem(401, "Unauthorized", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal  # the access log and the audit of a refusal name the caller
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
