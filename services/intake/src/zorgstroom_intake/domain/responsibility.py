"""Who is responsible for a client (DOMAIN.md, 'Who is responsible').

Shelter (MO): Wmo 2015 art. 1.2.1 - the municipality the person turns to. Sheltered housing (BW):
the same until the region's chosen date for the woonplaatsbeginsel (Kamerstuk 36288); from then the
municipality of the residential address, except that a BW that ended less than `recent_bw_months`
ago keeps the municipality that provided it. Without an address the municipality turned to remains.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from zorgstroom_contracts.codes import CareForm


class Rule(StrEnum):
    TURNED_TO = "wmo2015_1.2.1_turned_to"
    RECENT_BW = "woonplaatsbeginsel_recent_bw"
    RESIDENCE = "woonplaatsbeginsel_residence"
    NO_ADDRESS = "woonplaatsbeginsel_no_address"


@dataclass(frozen=True)
class PreviousBw:
    municipality: str
    ended_on: date


@dataclass(frozen=True)
class Responsibility:
    municipality: str
    rule: Rule


def months_between(earlier: date, later: date) -> float:
    return (later.year - earlier.year) * 12 + (later.month - earlier.month) + (later.day - earlier.day) / 31


def responsible_municipality(
    *,
    care_form: CareForm,
    registering: str,
    residence: str | None,
    last_bw: PreviousBw | None,
    registered_on: date,
    residence_principle_from: date | None,
    recent_bw_months: int,
) -> Responsibility:
    if not care_form.is_sheltered_housing:
        return Responsibility(registering, Rule.TURNED_TO)
    if residence_principle_from is None or registered_on < residence_principle_from:
        return Responsibility(registering, Rule.TURNED_TO)
    if last_bw is not None and months_between(last_bw.ended_on, registered_on) < recent_bw_months:
        return Responsibility(last_bw.municipality, Rule.RECENT_BW)
    if residence is not None:
        return Responsibility(residence, Rule.RESIDENCE)
    return Responsibility(registering, Rule.NO_ADDRESS)
