"""Who counts as region staff: the region kind and this region's code, never a role alone; and a credentials
file that names one token twice is refused at start."""

import json
from pathlib import Path

import pytest

from zorgstroom_runtime.auth import CredentialStore, OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden

STAFF_ROLES = frozenset({Role.REPORTS_REGION, Role.AUDIT_READ})


def principal(kind: OrganisationKind, organisation_id: str) -> Principal:
    return Principal("someone", kind, organisation_id, STAFF_ROLES if kind is OrganisationKind.REGION else frozenset())


def test_only_the_region_kind_with_this_regions_code_is_its_staff() -> None:
    assert principal(OrganisationKind.REGION, "flevoland").is_region_staff_of("flevoland")
    assert not principal(OrganisationKind.REGION, "gooi").is_region_staff_of("flevoland")
    assert not principal(OrganisationKind.MUNICIPALITY, "flevoland").is_region_staff_of("flevoland")


def test_staff_of_another_region_are_refused_though_they_hold_the_role() -> None:
    principal(OrganisationKind.REGION, "flevoland").require_region_staff_of("flevoland", Role.REPORTS_REGION)
    with pytest.raises(Forbidden, match="not staff of region flevoland"):
        principal(OrganisationKind.REGION, "gooi").require_region_staff_of("flevoland", Role.REPORTS_REGION)
    with pytest.raises(Forbidden, match="lacks the role"):
        principal(OrganisationKind.REGION, "flevoland").require_region_staff_of("flevoland", Role.WAITING_LIST_READ)


def test_a_credentials_file_listing_one_token_twice_is_refused(tmp_path: Path) -> None:
    entry = {"token_sha256": "ab" * 32, "organisation_kind": "municipality", "roles": ["intake:read"]}
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps([entry | {"name": "a", "organisation_id": "0034"}]))
    assert CredentialStore.from_file(path)  # one is fine
    path.write_text(
        json.dumps([entry | {"name": "a", "organisation_id": "0034"}, entry | {"name": "b", "organisation_id": "0995"}])
    )
    with pytest.raises(ValueError, match="listed twice"):
        CredentialStore.from_file(path)
