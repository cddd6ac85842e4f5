"""Who may do what in placement: the predicates the use cases share."""

from datetime import date

from zorgstroom_runtime.auth import OrganisationKind, Principal
from zorgstroom_runtime.errors import InvalidField
from zorgstroom_runtime.region import Region


def is_provider(principal: Principal, provider_agb: str) -> bool:
    return principal.organisation_kind is OrganisationKind.PROVIDER and principal.organisation_id == provider_agb


def is_municipality(principal: Principal, municipality: str) -> bool:
    return principal.organisation_kind is OrganisationKind.MUNICIPALITY and principal.organisation_id == municipality


def is_region_staff(principal: Principal, region: Region) -> bool:
    return principal.is_region_staff_of(region.code)


def check_not_ahead(field: str, day: date, today: date, region: Region) -> None:
    """docs/domain.md, rule 15: a business date beyond today plus the region's margin is refused (422)."""
    if (refusal := region.dates.too_late(day, today)) is not None:
        raise InvalidField(field, refusal)
