"""Who may act on a corporation's units, quotas and offers, and on which dates."""

from datetime import date

from zorgstroom_contracts.region import Region
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden, InvalidField


def authorise_corporation(principal: Principal, corporation_id: str) -> None:
    principal.require(Role.HOUSING_WRITE)
    if principal.organisation_kind is not OrganisationKind.CORPORATION or principal.organisation_id != corporation_id:
        raise Forbidden("a corporation acts only for itself")


def check_in_region(region: Region, municipality: str) -> None:
    if not region.in_region(municipality):
        raise InvalidField("municipality", f"{municipality} is not in region {region.code}")


def check_answered_on(region: Region, answered_on: date, today: date) -> None:
    """An answer is dated no later than the region allows (rule 15): a future answer would date the outflow ahead."""
    if (refusal := region.dates.too_late(answered_on, today)) is not None:
        raise InvalidField("answered_on", refusal)
