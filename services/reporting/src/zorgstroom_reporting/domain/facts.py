"""The facts of the flow that reporting keeps, one dataclass per kind, as read from its own tables."""

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Registration:
    intake_id: str
    client_ref: str
    responsible: str
    registered_on: date
    care_form: str | None = None
    consent_to_share: bool = True  # rows from before reporting kept it count as consenting, until a rebuild


@dataclass(frozen=True)
class Consent:
    """Consent to share with housing corporations given or withdrawn later (ConsentRecorded)."""

    client_ref: str
    recorded_on: date
    given: bool
    occurred_at: datetime | None = None
    topic_offset: int | None = None  # None on rows from before reporting kept it (migrations/0010)

    @property
    def order(self) -> str:
        """Of two records of one day, the later one holds: the later on the topic (one client's records share a
        partition, so the offset is the order they were written in, as housing applies them), not the one its
        producer's clock dated later, which may be skewed. Rows without an offset come first, among themselves
        by occurred_at as before: every row read since has a later offset."""
        if self.topic_offset is not None:
            return f"1:{self.topic_offset:020d}"
        return "0:" + (self.occurred_at.isoformat() if self.occurred_at is not None else "")


@dataclass(frozen=True)
class Withdrawal:
    """A registration that left the waiting list unplaced (RegistrationWithdrawn)."""

    intake_id: str
    client_ref: str
    responsible: str
    withdrawn_on: date
    reason: str
    care_form: str | None = None


@dataclass(frozen=True)
class PlacementFact:
    placement_id: str
    intake_id: str | None
    client_ref: str
    responsible: str
    facility_municipality: str | None
    start_date: date | None  # None while only the ending has arrived
    waited_days: int | None
    end_date: date | None
    end_reason: str | None
    care_form: str | None = None
    doorstroom_to: str | None = None  # the care form the client moved on to the same day
    doorstroom_from: str | None = None  # the placement this one follows (doorstroom)


@dataclass(frozen=True)
class Outflow:
    placement_id: str
    client_ref: str
    responsible: str
    outflow_date: date


@dataclass(frozen=True)
class Assessment:
    placement_id: str
    assessed_on: date
    ready: bool
    topic_offset: int | None = None  # None on rows from before reporting kept it (migrations/0010)

    @property
    def order(self) -> tuple[date, int]:
        """Of two assessments of one day, the later on the topic holds (one client's share a partition), as
        housing applies them; rows without an offset come first, every row read since has a later one."""
        return (self.assessed_on, -1 if self.topic_offset is None else self.topic_offset)


@dataclass(frozen=True)
class Transfer:
    """An accepted transfer: the registrations `intake_ids` (the episode) belong to `to_municipality` from
    `effective_on`. None for events from before episodes: the client's registrations up to that date.
    A transfer to a municipality outside the region (`to_in_region` False) takes its waiting registrations
    off the region's list from that date."""

    client_ref: str
    to_municipality: str
    effective_on: date
    from_municipality: str = ""
    intake_ids: tuple[str, ...] | None = None
    accepted_on: date | None = None
    transfer_id: str | None = None
    to_in_region: bool = True

    def order(self) -> tuple[date, date, str]:
        """The order transfers take effect in, the same whatever order their rows were read in."""
        return (self.effective_on, self.accepted_on or self.effective_on, self.transfer_id or "")


@dataclass
class Facts:
    registrations: list[Registration] = field(default_factory=list)
    placements: list[PlacementFact] = field(default_factory=list)
    outflows: list[Outflow] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
