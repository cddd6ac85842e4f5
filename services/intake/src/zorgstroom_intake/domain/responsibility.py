"""Who is responsible for a client (docs/domain.md, 'Who is responsible', and the 12-month BW rule).

Shelter (MO): Wmo 2015 art. 1.2.1 - the municipality the person turns to. Sheltered housing (BW):
the same until the region's chosen date for the woonplaatsbeginsel (Kamerstuk 36288); from then the
municipality of the residential address, except that a BW that ended within `recent_bw_months`
calendar months keeps the municipality that provided it. Without an address the municipality turned to
remains.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from zorgstroom_contracts.region import CareFormSpec, ResponsibilityPolicy, within_months_after


class Rule(StrEnum):
    TURNED_TO = "wmo2015_1.2.1_turned_to"
    RECENT_BW = "woonplaatsbeginsel_recent_bw"
    RESIDENCE = "woonplaatsbeginsel_residence"
    NO_ADDRESS = "woonplaatsbeginsel_no_address"


@dataclass(frozen=True)
class PreviousBw:
    """A BW that ended, and the municipality that was responsible for it then."""

    municipality: str
    ended_on: date


@dataclass(frozen=True)
class Responsibility:
    municipality: str
    rule: Rule


def latest_bw(recorded: PreviousBw | None, told: PreviousBw | None, registered_on: date) -> PreviousBw | None:
    """The BW ending that counts: the system's own record or the one the caller knows, the later date
    winning (docs/domain.md, 'Relapse'); on the same day the system's record, which names who was responsible.
    An ending after the registration (a backdated registration) is not one before it and does not count."""
    before = [bw for bw in (recorded, told) if bw is not None and bw.ended_on <= registered_on]
    # max keeps the first of equals: the system's record, listed first, wins a tie
    return max(before, key=lambda bw: bw.ended_on, default=None)


def keeps_bw_municipality(last_bw: PreviousBw, registered_on: date, recent_bw_months: int) -> bool:
    """A BW that ended within `recent_bw_months` calendar months before the registration (the ending day
    included) keeps its municipality: the same calendar rule as relapse (region.within_months_after)."""
    return within_months_after(last_bw.ended_on, registered_on, recent_bw_months)


def responsible_municipality(
    *,
    care_form: CareFormSpec,
    registering: str,
    residence: str | None,
    last_bw: PreviousBw | None,
    registered_on: date,
    policy: ResponsibilityPolicy,
) -> Responsibility:
    if not care_form.is_sheltered_housing:
        return Responsibility(registering, Rule.TURNED_TO)
    since = policy.bw_residence_principle_from
    if since is None or registered_on < since:
        return Responsibility(registering, Rule.TURNED_TO)
    if last_bw is not None and keeps_bw_municipality(last_bw, registered_on, policy.recent_bw_months):
        return Responsibility(last_bw.municipality, Rule.RECENT_BW)
    if residence is not None:
        return Responsibility(residence, Rule.RESIDENCE)
    return Responsibility(registering, Rule.NO_ADDRESS)
