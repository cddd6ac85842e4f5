"""Code lists: iWmo 3.2 (Zorginstituut Nederland) where one exists, our own where iWmo has none.

Source for WMO020, WMO588 and WJ756: informatiemodel.istandaarden.nl/informatiemodel/iwmo/3.2/codelijsten/
"""

from enum import IntEnum, StrEnum


class ProductCategory(StrEnum):
    """WMO020 product category (iWmo 3.2)."""

    BESCHERMD_WONEN = "15"
    OPVANG = "16"
    SPOEDOPVANG = "17"
    OVERIGE_BW_EN_OPVANG = "18"


class EndReason(StrEnum):
    """WMO588 reason of ending (iWmo 3.2). Outflow to an own home is 19 plus OutflowCompleted."""

    DEATH = "02"
    ENDED_AS_PLANNED = "19"
    TEMPORARILY_ENDED = "20"
    ENDED_BY_CLIENT = "21"
    ENDED_BY_PROVIDER = "22"
    ENDED_EARLY_BY_AGREEMENT = "23"
    MOVED_TO_OTHER_MUNICIPALITY = "31"
    INITIATED_BY_MUNICIPALITY = "36"
    CHANGE_REQUEST = "37"
    OTHER_PROVIDER = "38"
    OUTFLOW_TO_OTHER_DOMAIN = "39"


class Unit(StrEnum):
    """WJ756 unit (iWmo 3.2); places are counted in etmalen."""

    ETMAAL = "14"


class CareForm(StrEnum):
    """The standard care forms, each with its WMO020 product category. Care forms are region data
    (zorgstroom_contracts.region.CareFormSpec): events carry a CareFormCode, which may name a form a
    region added; these are the codes every region starts with."""

    BW_24H = "BW_24H"
    BW_HOME = "BW_HOME"
    MO_NIGHT = "MO_NIGHT"
    MO_24H = "MO_24H"
    MO_EMERGENCY = "MO_EMERGENCY"

    @property
    def product_category(self) -> ProductCategory:
        return _CATEGORY[self]

    @property
    def is_sheltered_housing(self) -> bool:
        return self.product_category is ProductCategory.BESCHERMD_WONEN


_CATEGORY = {
    CareForm.BW_24H: ProductCategory.BESCHERMD_WONEN,
    CareForm.BW_HOME: ProductCategory.BESCHERMD_WONEN,
    CareForm.MO_NIGHT: ProductCategory.OPVANG,
    CareForm.MO_24H: ProductCategory.OPVANG,
    CareForm.MO_EMERGENCY: ProductCategory.SPOEDOPVANG,
}


class Need(StrEnum):
    """Target groups the region names (Regionaal kader Zorglandschap Wmo Flevoland 2020-2026)."""

    PSYCHIATRIC = "psychiatric"
    ADDICTION = "addiction"
    MILD_INTELLECTUAL_DISABILITY = "mild_intellectual_disability"
    DOMESTIC_VIOLENCE = "domestic_violence"


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"


class ZrmDomain(StrEnum):
    """The 13 domains of the Zelfredzaamheid-Matrix (mijnzrm.nl; movisie.nl)."""

    FINANCES = "finances"
    WORK_EDUCATION = "work_education"
    TIME_USE = "time_use"
    DOMESTIC_RELATIONS = "domestic_relations"
    HOUSING = "housing"
    MENTAL_HEALTH = "mental_health"
    PHYSICAL_HEALTH = "physical_health"
    ADDICTION = "addiction"
    SELF_CARE = "self_care"
    DAILY_ACTIVITIES = "daily_activities"
    SOCIAL_NETWORK = "social_network"
    PARTICIPATION = "participation"
    JUSTICE = "justice"


class ZrmLevel(IntEnum):
    """ZRM score per domain: 1 acute problems to 5 fully self-sufficient."""

    ACUTE = 1
    NOT_SELF_SUFFICIENT = 2
    BARELY_SELF_SUFFICIENT = 3
    SUFFICIENTLY_SELF_SUFFICIENT = 4
    FULLY_SELF_SUFFICIENT = 5


class OfferDeclineReason(StrEnum):
    TOO_FAR = "too_far"
    TOO_SMALL = "too_small"
    TOO_EXPENSIVE = "too_expensive"
    NOT_ACCESSIBLE = "not_accessible"
    NOT_READY = "not_ready"
    OTHER = "other"
    LAPSED = "lapsed"  # not a client's answer: the offer went unanswered past the region's deadline
    CONSENT_WITHDRAWN = "consent_withdrawn"  # not an answer either: the client withdrew consent to share


class OutflowRefusalReason(StrEnum):
    """Why placement could not complete the outflow of an accepted offer (ours; iWmo has no list for it)."""

    PLACEMENT_ENDED = "placement_ended"  # the placement the offer was made in ended before the acceptance came
    NO_OPEN_PLACEMENT = "no_open_placement"  # an acceptance naming no placement, of a client who holds none


class TransferReason(StrEnum):
    """Why a responsible municipality hands a client to another (ours; iWmo has no list for it)."""

    ORIGIN = "origin"  # return to the municipality of origin (the region's MO access programme)
    SOCIAL_NETWORK = "social_network"  # the client's network lives there: best chance of success
    CARE_AVAILABLE = "care_available"  # the care the client needs is available there
    OTHER = "other"


class WithdrawalReason(StrEnum):
    """Why a registration leaves the waiting list unplaced (docs/domain.md rule 11; ours, iWmo has no list)."""

    DUPLICATE = "duplicate"
    MOVED_AWAY = "moved_away"
    OTHER_SOLUTION = "other_solution"
    DECEASED = "deceased"
    NO_LONGER_NEEDED = "no_longer_needed"


class TransferDeclineReason(StrEnum):
    """Why a receiving municipality declines a proposed transfer (docs/domain.md rule 9; ours)."""

    NO_TIES = "no_ties"  # the client has no ties here that make the chances better
    CARE_NOT_AVAILABLE = "care_not_available"
    NOT_RESPONSIBLE = "not_responsible"  # the law puts the client elsewhere
    OTHER = "other"
