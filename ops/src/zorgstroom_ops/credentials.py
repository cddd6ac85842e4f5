"""Demo and test credentials: one token per organisation, stored as SHA-256 for the services."""

import json
import secrets
from collections.abc import Sequence
from pathlib import Path

from zorgstroom_ops.private_files import write_private
from zorgstroom_runtime.auth import ROLES_OF_KIND, OrganisationKind, token_digest
from zorgstroom_runtime.region import Region


def _roles_of(kind: OrganisationKind) -> list[str]:
    return [role.value for role in ROLES_OF_KIND[kind]]


# Each kind's organisations get every role their kind may hold (the runtime's ROLES_OF_KIND is the limit).
MUNICIPALITY_ROLES = _roles_of(OrganisationKind.MUNICIPALITY)
REGION_ROLES = _roles_of(OrganisationKind.REGION)
PROVIDER_ROLES = _roles_of(OrganisationKind.PROVIDER)
CORPORATION_ROLES = _roles_of(OrganisationKind.CORPORATION)


Organisations = dict[str, tuple[str, str, list[str]]]  # name -> (kind, organisation id, roles)


def write(organisations: Organisations, directory: Path) -> tuple[Path, dict[str, str]]:
    """Write credentials.json (digests, for the services) and tokens.json (secrets, for the caller)."""
    tokens = {name: secrets.token_urlsafe(32) for name in organisations}
    directory.mkdir(parents=True, exist_ok=True)
    credentials = directory / "credentials.json"
    credentials.write_text(
        json.dumps(
            [
                {
                    "name": name,
                    "token_sha256": token_digest(tokens[name]),
                    "organisation_kind": kind,
                    "organisation_id": org,
                    "roles": roles,
                }
                for name, (kind, org, roles) in organisations.items()
            ],
            indent=1,
        )
    )
    write_private(directory / "tokens.json", json.dumps(tokens, indent=1))
    return credentials, tokens


def organisations_of(
    region: Region, *, providers: Sequence[str] = (), corporations: Sequence[str] = ()
) -> Organisations:
    """Every municipality of the region, its region staff, each provider (by AGB code) and each corporation,
    by credential name: the static tokens and the identity provider's clients (realm.py) share these."""
    organisations: Organisations = {
        f"municipality-{code}": ("municipality", code, MUNICIPALITY_ROLES) for code in region.municipalities
    }
    organisations[f"region-{region.code}"] = ("region", region.code, REGION_ROLES)
    organisations.update({f"provider-{agb}": ("provider", agb, PROVIDER_ROLES) for agb in providers})
    organisations.update({f"corporation-{c}": ("corporation", c, CORPORATION_ROLES) for c in corporations})
    return organisations


def issue(
    region: Region, directory: Path, *, providers: Sequence[str] = (), corporations: Sequence[str] = ()
) -> tuple[Path, dict[str, str]]:
    """One credential per organisation of organisations_of."""
    return write(organisations_of(region, providers=providers, corporations=corporations), directory)
