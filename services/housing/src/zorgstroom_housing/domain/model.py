"""Housing's domain types: units, quotas, offers, transfers and the clients it knows of (plain data)."""

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from uuid import UUID

# (corporation, municipality, year): a contingent's key.
QuotaKey = tuple[str, str, int]


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    OFFERED = "offered"
    LET = "let"


@dataclass(frozen=True)
class HousingUnit:
    """A unit a corporation offers for outflow, and where it stands."""

    unit_id: str
    corporation_id: str
    municipality: str
    wijk: str
    rooms: int
    rent_eur: float
    available_from: date
    accessible: bool = False
    status: UnitStatus = UnitStatus.AVAILABLE
    waiting_reason: str | None = None
    event_id: UUID | None = None

    def content(self) -> tuple[object, ...]:
        """What the corporation said of the unit: offering it again with the same content is the same offer."""
        return (
            self.unit_id,
            self.corporation_id,
            self.municipality,
            self.wijk,
            self.rooms,
            self.rent_eur,
            self.available_from,
            self.accessible,
        )


@dataclass(frozen=True)
class Contingent:
    """Homes a corporation agreed to provide for outflow in a municipality and year (docs/domain.md: quota)."""

    corporation_id: str
    municipality: str
    year: int
    units: int
    used: int = 0  # taken by accepted offers
    reserved: int = 0  # promised in open offers
    # Agreements so far (HousingContingentAgreed.version); not what the quota is, so it takes no part in equality.
    version: int = field(default=0, compare=False)

    @property
    def key(self) -> QuotaKey:
        return (self.corporation_id, self.municipality, self.year)

    @property
    def left(self) -> int:
        return self.units - self.used - self.reserved


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LAPSED = "lapsed"
    VOIDED = "voided"  # accepted, then refused by placement: the placement it was made in had ended first


@dataclass(frozen=True)
class OfferRow:
    offer_id: str
    unit_id: str
    corporation_id: str
    client_ref: str
    municipality: str
    wijk: str
    responsible_municipality: str
    quota_year: int
    household_size: int
    rooms_needed: int
    support_at_home: bool
    offered_on: date
    answer_by: date
    status: OfferStatus = OfferStatus.OPEN
    answered_on: date | None = None
    decline_reason: str | None = None
    placement_id: str | None = None  # the placement the client was in; None on offers made before it was kept

    @property
    def quota_key(self) -> QuotaKey:
        return (self.corporation_id, self.municipality, self.quota_year)


@dataclass(frozen=True)
class Transfer:
    """An accepted transfer of responsibility: from `effective_on`, for the registrations of one episode."""

    transfer_id: str
    client_ref: str
    to_municipality: str
    effective_on: date
    intake_ids: frozenset[str] | None  # None: the episode is not known (events from before episodes)
    received: int = 0  # order of arrival: of two transfers effective the same day, the later one holds


@dataclass(frozen=True)
class ConsentFact:
    """One dated fact about the client's consent to share with housing corporations (docs/domain.md, rule 14):
    read from a registration, or recorded later by the responsible municipality."""

    given: bool
    on: date
    recorded: bool = False  # recorded by the municipality (ConsentRecorded), not read from a registration


@dataclass(frozen=True)
class HousingClient:
    """Housing's view of a client, from events only: the current placement and its episode, readiness, household."""

    client_ref: str
    responsible_municipality: str | None = None  # at the start of the current episode; transfers come on top
    preferred_municipalities: tuple[str, ...] = ()
    adults: int = 1
    children: int = 0
    placement_id: str | None = None  # the open placement; None when not placed
    intake_id: str | None = None  # the registration of the current episode
    ready_since: date | None = None  # None when not ready for outflow in the current placement
    support_at_home: bool = False
    housed_on: date | None = None  # an offer was accepted
    consent: ConsentFact | None = None  # the fact in force; None: never told, which is no consent
    registered_on: date | None = None  # the day of the registration applied last
    wishes_on: date | None = None  # the day an assessment told the wishes kept; None: the registration's

    @property
    def consent_since(self) -> date | None:
        """The day consent to share holds from, or None when there is none (no corporation offer then)."""
        return self.consent.on if self.consent is not None and self.consent.given else None

    def housed(self, on: date) -> "HousingClient":
        return replace(self, housed_on=on)
