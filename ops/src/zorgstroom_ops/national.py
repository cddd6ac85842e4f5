"""A seeded national history: ten years of the whole flow of 342 municipalities as contract events, pure.

Volumes come from data/municipalities-nl.csv (population on 1 January 2024) and the reference facts of
docs/domain.md ("Reference facts and their sources"); every other parameter is illustrative and says so in
`Parameters`. The same seed gives the same events, byte for byte (`records`): ids, pseudonyms and times are
drawn from one random stream per region, so a region's history does not depend on which others are made.

Each region (its centre municipality and its members) is simulated on a calendar, day by day:
  - registrations per municipality from its population, more in winter (seasonality); a share withdrawn at
    once, the others on the waiting list of the region's facility for their care form after the intake;
  - a place is given only when one is free (occupancy never above capacity; a capacity change halfway), so the
    wait comes from the capacity; a client who waits too long finds another solution (withdrawn);
  - placed clients are assessed twice a year until ready; half of the shelter (MO) clients end otherwise first;
    support at home (BW_HOME) simply ends when ready;
  - other ready clients who consent to share queue for a home in their responsible municipality (docs/domain.md
    rules 6 and 14), keeping their place meanwhile; homes come free far below the readiness and never above the
    quota agreed for the year (HousingContingentAgreed), so the queue grows (the housing shortage); a home is
    offered to one client at a time, the answer comes before the next offer of that home or to that client, a
    declined home goes to the next client and the one who declined queues again; some leave the queue.
Every event comes out on the day it happens, in date order per region, so per key (the client) the topics hold
them in time order, as the services would publish them. Nothing after the history's last day is produced.
"""

import csv
import hashlib
import heapq
import math
import random
import tomllib
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from zorgstroom_contracts import Envelope, spec_for, topic_name
from zorgstroom_contracts.events import (
    ClientRegistered,
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferDeclined,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    RegistrationWithdrawn,
)
from zorgstroom_contracts.topics import PRODUCER_OF

MUNICIPALITIES_CSV = Path(__file__).resolve().parents[3] / "data" / "municipalities-nl.csv"
REGION_FILES = MUNICIPALITIES_CSV.parent / "regions"
START = date(2016, 1, 1)  # fixed, so a seed means the same history on any day

# The 17 centre municipalities data/municipalities-nl.csv leaves out (data/SOURCES.md, "Gaps and caveats"),
# beside its 26: 43 regions. Their members where SOURCES.md names them; the remaining municipalities without
# a sourced centre are spread over these 17 by population (illustrative: the file has no geography).
MISSING_CENTRES = (
    "Almelo", "Apeldoorn", "Arnhem", "Assen", "Den Helder", "Deventer", "Dordrecht", "Emmen", "Gouda", "Heerlen",
    "Helmond", "Hilversum", "Hoorn", "Maastricht", "Roermond", "Rotterdam", "Zaanstad",
)  # fmt: skip
NAMED_MEMBERS = {
    "Deventer": ("Lochem", "Olst-Wijhe", "Raalte", "Zutphen"),
    "Apeldoorn": ("Brummen", "Epe", "Hattem", "Heerde", "Voorst"),
    "Hilversum": ("Blaricum", "Eemnes", "Gooise Meren", "Huizen", "Laren (NH.)", "Wijdemeren"),
}


@dataclass(frozen=True)
class Parameters:
    """The sizes of the flow. Sourced ones cite docs/domain.md ("Reference facts"); the rest are illustrative."""

    # Registrations a year per 10,000 inhabitants, calibrated against a headcount: 25,000 to 48,000 people a year
    # in "verblijf en opvang" nationally (13.9 to 26.8 per 10,000 of 17.94 million) is everyone in a place at
    # some time of the year, those already in care included. With the places below, 14 registrations (about
    # 25,000 a year) put 20 to 24.5 per 10,000 in care each year after the first (36,300 to 43,900; seed 1).
    registrations_per_10k: float = 14.0
    # Homes coming free for outflow a year per 10,000 inhabitants, and the quota agreed for them: Almere,
    # outflow from 24-hour facilities about 100 a year against a quota target of 250, over 226,500 inhabitants.
    homes_per_10k: float = 100 / 22.65
    quota_per_10k: float = 250 / 22.65
    # Illustrative from here on.
    winter_peak: float = 0.2  # registrations in January are 1.2 times the year's mean, in July 0.8
    care_forms: tuple[tuple[str, float], ...] = (
        ("BW_24H", 0.25), ("BW_HOME", 0.15), ("MO_24H", 0.25), ("MO_NIGHT", 0.25), ("MO_EMERGENCY", 0.10),
    )  # fmt: skip
    # Median days from placement to ready for outflow (lognormal, sigma 0.5).
    stay_median_days: tuple[tuple[str, int], ...] = (
        ("BW_24H", 540), ("BW_HOME", 365), ("MO_24H", 150), ("MO_NIGHT", 90), ("MO_EMERGENCY", 30),
    )  # fmt: skip
    # Mean days of the intake before a client can take a place (emergency: the same day, docs/domain.md rule 3);
    # the wait for a place comes on top, from the facilities' capacity.
    intake_mean_days: tuple[tuple[str, int], ...] = (
        ("BW_24H", 21), ("BW_HOME", 14), ("MO_24H", 3), ("MO_NIGHT", 1), ("MO_EMERGENCY", 0),
    )  # fmt: skip
    # Places per 10,000 inhabitants (BW together about 11: some 20,000 people used BW in 2015, docs/domain.md).
    places_per_10k: tuple[tuple[str, float], ...] = (
        ("BW_24H", 7.0), ("BW_HOME", 4.0), ("MO_24H", 2.0), ("MO_NIGHT", 1.5), ("MO_EMERGENCY", 0.5),
    )  # fmt: skip
    withdrawn: float = 0.08  # registrations withdrawn before a place
    mo_ended_otherwise: float = 0.5  # shelter clients whose placement ends before they are ready for a home
    accepted: float = 0.85  # offers accepted; the rest declined, the client queues again
    leaves_queue_per_month: float = 0.02  # ready clients who end their placement themselves, per month waited
    patience_mean_days: int = 180  # mean days a client waits for a place before finding another solution
    consent: float = 0.9  # clients who consent to share with corporations at registration
    assessment_days: int = 182  # a readiness assessment twice a year

    def of(self, table: tuple[tuple[str, Any], ...], care_form: str) -> Any:
        return dict(table)[care_form]


def _region_codes() -> dict[str, str]:
    """The region codes of the region files (data/regions/*.toml), by centre municipality."""
    codes = {}
    for path in sorted(REGION_FILES.glob("*.toml")):
        region = tomllib.loads(path.read_text(encoding="utf-8"))
        codes[region["centre_municipality"]] = region["code"]
    return codes


REGION_CODES = _region_codes()


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    population: int


@dataclass(frozen=True)
class Region:
    """A BW/MO region: its centre municipality's code and name, and its members (the centre included)."""

    centre: str
    name: str
    members: tuple[Municipality, ...]

    @property
    def code(self) -> str:
        """The envelope's region code, as the region's services publish it: the code of its region file under
        data/regions/ where there is one (Almere's region is `flevoland`), else one from the centre's name."""
        if self.centre in REGION_CODES:
            return REGION_CODES[self.centre]
        slug = "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")
        return "-".join(part for part in slug.split("-") if part)

    @property
    def population(self) -> int:
        return sum(m.population for m in self.members)


def regions(path: Path = MUNICIPALITIES_CSV) -> list[Region]:
    """The 43 regions of the 342 municipalities: the sourced centres of the file, the 17 missing ones with the
    members data/SOURCES.md names, the rest spread over those 17 by population (illustrative)."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    by_name = {r["name"]: r for r in rows}
    centre_of = {r["cbs_code"]: r["bw_mo_region_centre_code"] for r in rows if r["bw_mo_region_centre_code"]}
    missing = [by_name[n]["cbs_code"] for n in MISSING_CENTRES]
    centre_of |= {code: code for code in missing}
    for centre, named in NAMED_MEMBERS.items():
        centre_of |= {by_name[n]["cbs_code"]: by_name[centre]["cbs_code"] for n in named}
    every = [Municipality(r["cbs_code"], r["name"], int(r["population"])) for r in rows]
    load = Counter({c: sum(m.population for m in every if centre_of.get(m.code) == c) for c in missing})
    for m in sorted((m for m in every if m.code not in centre_of), key=lambda m: (-m.population, m.code)):
        lightest = min(missing, key=lambda c: (load[c], c))
        centre_of[m.code] = lightest
        load[lightest] += m.population
    names = {m.code: m.name for m in every}
    members: dict[str, list[Municipality]] = {}
    for m in every:
        members.setdefault(centre_of[m.code], []).append(m)
    return [Region(c, names[c], tuple(sorted(ms, key=lambda m: m.code))) for c, ms in sorted(members.items())]


@dataclass(frozen=True)
class Dated:
    """An event and the business day it happened on (its envelope's occurred_at is that day)."""

    on: date
    event: Event


@dataclass
class Tally:
    """What the generator produced, by (what, municipality, year): registrations, withdrawals and placements by
    the responsible municipality and the day they happened, outflows by the day the client moved."""

    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    events: int = 0

    def add(self, what: str, municipality: str, on: date) -> None:
        self.counts[(what, municipality, on.year)] += 1

    def total(self, what: str, municipalities: set[str] | None = None, year: int | None = None) -> int:
        return sum(
            n
            for (w, m, y), n in self.counts.items()
            if w == what and (municipalities is None or m in municipalities) and (year is None or y == year)
        )


@dataclass
class _Client:
    ref: str
    municipality: str
    care_form: str
    intake_id: str
    registered_on: date
    consent: bool
    placement_id: str = ""
    facility_id: str = ""
    provider_agb: str = ""
    ready_on: date = START
    offers: int = 0
    state: str = "registered"  # waiting (for a place), placed, queued (ready), offered, gone


@dataclass
class _Facility:
    facility_id: str
    agb: str
    capacity: int = 0
    occupied: int = 0
    waiting: deque[_Client] = field(default_factory=deque)  # in order of registration (docs/domain.md rule 2)


@dataclass
class _Home:
    municipality: Municipality
    unit: str
    quota_year: int
    offers: int = 0
    declined: set[str] = field(default_factory=set)  # the clients who declined it


class _RegionHistory:
    """One region's history from its own random stream: a calendar of what happens next, worked off day by day,
    so places and homes are only ever given when free (a client waits for a place until one frees, a home is
    offered to one client at a time) and every event comes out on its own day, in date order."""

    def __init__(self, region: Region, seed: int, start: date, end: date, scale: float, p: Parameters) -> None:
        self.region, self.start, self.end, self.scale, self.p = region, start, end, scale, p
        self.rng = random.Random(f"zorgstroom-national:{seed}:{region.centre}")
        self.clients = 0
        self.calendar: list[tuple[date, int, str, Any]] = []
        self.scheduled = 0
        self.facilities = {c: _Facility(*self.facility_of(c)) for c, _ in p.care_forms}
        # ready clients waiting for a home, per responsible municipality (rule 6), longest ready first
        self.queues: dict[str, deque[_Client]] = {m.code: deque() for m in region.members}
        self.quota_left: dict[str, int] = {}
        self.tally: Tally = Tally()

    def facility_of(self, care_form: str) -> tuple[str, str]:
        i = [c for c, _ in self.p.care_forms].index(care_form)
        return f"fac-{self.region.centre}-{care_form.lower()}", f"7{self.region.centre}{i:03d}"

    def wijk_of(self, care_form: str) -> str | None:
        """The facility's wijk (illustrative: the centre's first); an ambulant team (BW_HOME) has none."""
        return None if care_form == "BW_HOME" else f"WK{self.region.centre}01"

    def days(self, mean: float) -> int:
        return round(self.rng.expovariate(1 / mean)) if mean > 0 else 0

    def poisson(self, mean: float) -> int:
        if mean > 30:  # the normal approximation, cheaper than counting arrivals
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, n, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            n, product = n + 1, product * self.rng.random()
        return n

    def at(self, on: date, what: str, subject: Any = None) -> None:
        """Put something that happens on `on` in the calendar (the same day: in the order put)."""
        if on <= self.end:
            self.scheduled += 1
            heapq.heappush(self.calendar, (on, self.scheduled, what, subject))

    def events(self) -> Iterator[Dated]:
        self.at(self.start, "facilities")
        self.at(self.start + (self.end - self.start) / 2, "capacity")
        self.at(self.start, "month")
        while self.calendar:
            on, _, what, subject = heapq.heappop(self.calendar)
            yield from getattr(self, f"_{what}")(on, subject)

    def registrations_in(self, m: Municipality, month: date) -> float:
        season = 1 + self.p.winter_peak * math.cos(2 * math.pi * (month.month - 1) / 12)
        return m.population / 10_000 * self.p.registrations_per_10k / 12 * season * self.scale

    def _facilities(self, on: date, _: None) -> Iterator[Dated]:
        yield from self.registered(on, 1, lambda places: places)

    def _capacity(self, on: date, _: None) -> Iterator[Dated]:
        """Halfway, every facility grows by a tenth; the new places go to those waiting."""
        yield from self.registered(on, 2, lambda places: max(1, round(places * 1.1)))

    def registered(self, on: date, version: int, capacity_of: Callable[[int], int]) -> Iterator[Dated]:
        for care_form, per_10k in self.p.places_per_10k:
            facility = self.facilities[care_form]
            facility.capacity = capacity_of(max(1, round(self.region.population / 10_000 * per_10k * self.scale)))
            yield Dated(on, FacilityRegistered(
                facility_id=facility.facility_id, provider_agb=facility.agb,
                name=f"{care_form} {self.region.name}"[:200], municipality=self.region.centre,
                wijk=self.wijk_of(care_form), care_form=care_form, capacity=facility.capacity,
                supported_needs=["psychiatric", "addiction"], version=version,
            ))  # fmt: skip
            yield from self.fill(facility, on)

    def _month(self, month: date, _: None) -> Iterator[Dated]:
        """The month's registrations and homes, on their days; in January the year's quotas."""
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        self.at(following, "month")
        if month.month == 1 or month == self.start:
            yield from self.quotas(month)
        for m in self.region.members:
            for _registration in range(self.poisson(self.registrations_in(m, month))):
                self.at(self._day_in(month, following), "registration", m)
        per_month = self.p.homes_per_10k / 12 * self.scale / 10_000
        for m in self.region.members:
            homes = min(self.poisson(m.population * per_month), self.quota_left[m.code])  # never over the quota
            self.quota_left[m.code] -= homes
            for home in range(homes):
                self.at(self._day_in(month, following), "home", _Home(m, f"{m.code}-{month:%Y%m}-{home}", month.year))

    def quotas(self, january: date) -> Iterator[Dated]:
        for m in self.region.members:
            homes = round(m.population / 10_000 * self.p.quota_per_10k * self.scale)
            self.quota_left[m.code] = homes
            yield Dated(january, HousingContingentAgreed(
                corporation_id=f"corp-{m.code}", municipality=m.code, year=january.year, homes=homes, version=1
            ))  # fmt: skip

    def _day_in(self, month: date, following: date) -> date:
        return month + timedelta(days=self.rng.randrange((following - month).days))

    def _registration(self, registered_on: date, m: Municipality) -> Iterator[Dated]:
        """A registration; withdrawn before a place, or on the waiting list after the intake's days."""
        rng, p = self.rng, self.p
        self.clients += 1
        n = self.clients
        ref = hashlib.sha256(f"{self.region.centre}:{n}:{rng.getrandbits(64)}".encode()).hexdigest()
        care_form = rng.choices([c for c, _ in p.care_forms], [w for _, w in p.care_forms])[0]
        client = _Client(ref, m.code, care_form, f"i-{self.region.centre}-{n}", registered_on, rng.random() < p.consent)
        client.placement_id = f"p-{self.region.centre}-{n}"
        urgency = "emergency" if care_form == "MO_EMERGENCY" else "normal"
        yield self.dated(registered_on, "registrations", m.code, ClientRegistered(
            intake_id=client.intake_id, client_ref=ref, registering_municipality=m.code,
            responsible_municipality=m.code, care_form=care_form, needs=["psychiatric"], urgency=urgency,
            household={"adults": 1, "children": 0}, preferred_municipalities=[], registered_on=registered_on,
            consent_to_share=client.consent,
        ))  # fmt: skip
        if rng.random() < p.withdrawn:
            self.at(registered_on + timedelta(days=5 + self.days(30)), "withdrawal", (client, None))
            return
        self.at(registered_on + timedelta(days=self.days(p.of(p.intake_mean_days, care_form))), "waiting", client)

    def _waiting(self, on: date, client: _Client) -> Iterator[Dated]:
        client.state = "waiting"
        self.facilities[client.care_form].waiting.append(client)
        self.at(on + timedelta(days=self.days(self.p.patience_mean_days)), "withdrawal", (client, "waiting"))
        yield from self.fill(self.facilities[client.care_form], on)

    def _withdrawal(self, on: date, subject: tuple[_Client, str | None]) -> Iterator[Dated]:
        """A registration withdrawn: at once for some, for others when still waiting for a place by then."""
        client, unless_not = subject
        if unless_not is not None and client.state != unless_not:
            return
        client.state = "gone"  # left in the waiting list, passed over when it comes to a place
        reason = (
            "other_solution" if unless_not else self.rng.choice(["moved_away", "other_solution", "no_longer_needed"])
        )
        yield self.dated(on, "withdrawals", client.municipality, RegistrationWithdrawn(
            intake_id=client.intake_id, client_ref=client.ref, responsible_municipality=client.municipality,
            care_form=client.care_form, reason=reason, withdrawn_on=on,
        ))  # fmt: skip

    def fill(self, facility: _Facility, on: date) -> Iterator[Dated]:
        """The facility's free places to those waiting longest, never above its capacity."""
        while facility.occupied < facility.capacity and facility.waiting:
            client = facility.waiting.popleft()
            if client.state == "waiting":
                facility.occupied += 1
                yield from self.place(client, facility, on)

    def place(self, client: _Client, facility: _Facility, start: date) -> Iterator[Dated]:
        """A placement, assessed twice a year until ready; some in shelter end otherwise before."""
        rng, p = self.rng, self.p
        client.state, client.facility_id, client.provider_agb = "placed", facility.facility_id, facility.agb
        yield self.dated(start, "placements", client.municipality, PlacementMade(
            placement_id=client.placement_id, client_ref=client.ref, facility_id=facility.facility_id,
            provider_agb=facility.agb, facility_municipality=self.region.centre, wijk=self.wijk_of(client.care_form),
            responsible_municipality=client.municipality, care_form=client.care_form, start_date=start,
            waited_days=(start - client.registered_on).days, intake_id=client.intake_id,
        ))  # fmt: skip
        stay = max(7, round(p.of(p.stay_median_days, client.care_form) * math.exp(rng.gauss(0, 0.5))))
        client.ready_on = start + timedelta(days=stay)
        ends_otherwise = client.care_form.startswith("MO") and rng.random() < p.mo_ended_otherwise
        self.at(start + timedelta(days=p.assessment_days), "assessment", client)
        self.at(client.ready_on, "ended_otherwise" if ends_otherwise else "ready", client)

    def _assessment(self, on: date, client: _Client) -> Iterator[Dated]:
        if on < client.ready_on:
            yield self.dated(on, "", client.municipality, self.assessment(client, on, ready=False))
            self.at(on + timedelta(days=self.p.assessment_days), "assessment", client)

    def _ended_otherwise(self, on: date, client: _Client) -> Iterator[Dated]:
        yield from self.ended(client, on, self.rng.choice(["21", "22", "23", "39"]))

    def _ready(self, on: date, client: _Client) -> Iterator[Dated]:
        """Ready for outflow: support at home (BW_HOME) simply ends; a client with consent to share queues for
        a home in the responsible municipality (rule 6, rule 14), keeping the place until it comes."""
        yield self.dated(on, "", client.municipality, self.assessment(client, on, ready=True))
        if client.care_form == "BW_HOME":
            yield from self.ended(client, on, "19")
            return
        client.state = "queued"
        if client.consent:
            self.queues[client.municipality].append(client)
        months = self.days(30.4 / self.p.leaves_queue_per_month)
        self.at(on + timedelta(days=max(1, months)), "leaves_queue", client)

    def _leaves_queue(self, on: date, client: _Client) -> Iterator[Dated]:
        if client.state == "queued":  # not while an offer is open
            yield from self.ended(client, on, "21")

    def assessment(self, client: _Client, on: date, *, ready: bool) -> OutflowReadinessAssessed:
        return OutflowReadinessAssessed(
            placement_id=client.placement_id, client_ref=client.ref, provider_agb=client.provider_agb,
            responsible_municipality=client.municipality, assessed_on=on, ready=ready,
        )  # fmt: skip

    def ended(self, client: _Client, on: date, reason: str) -> Iterator[Dated]:
        """A placement ends; its place goes to the next waiting client."""
        client.state = "gone"
        yield self.dated(on, "ended", client.municipality, PlacementEnded(
            placement_id=client.placement_id, client_ref=client.ref, facility_id=client.facility_id,
            provider_agb=client.provider_agb, responsible_municipality=client.municipality, reason=reason,
            end_date=on, care_form=client.care_form, intake_id=client.intake_id,
        ))  # fmt: skip
        facility = self.facilities[client.care_form]
        facility.occupied -= 1
        yield from self.fill(facility, on)

    def _home(self, on: date, home: _Home) -> Iterator[Dated]:
        """A home offered to the municipality's client ready longest (one open offer per home and per client);
        a declined home goes to the next, at most three offers, the one who declined queues again after."""
        queue = self.queues[home.municipality.code]
        while queue and queue[0].state != "queued":  # left the queue on their own meanwhile
            queue.popleft()
        # the first who has not declined this home already (rule 6)
        first = next((i for i, c in enumerate(queue) if c.state == "queued" and c.ref not in home.declined), None)
        if first is None or home.offers >= 3:
            return
        client = queue[first]
        del queue[first]
        client.state, home.offers, client.offers = "offered", home.offers + 1, client.offers + 1
        offer_id, corporation = f"o-{client.placement_id}-{client.offers}", f"corp-{home.municipality.code}"
        yield self.dated(on, "offers", home.municipality.code, HousingOfferMade(
            offer_id=offer_id, unit_id=f"u-{home.unit}", corporation_id=corporation, client_ref=client.ref,
            municipality=home.municipality.code, offered_on=on, wijk=f"WK{home.municipality.code}01",
            responsible_municipality=client.municipality, quota_year=home.quota_year, answer_by=on + timedelta(days=14),
            placement_id=client.placement_id,
        ))  # fmt: skip
        self.at(on + timedelta(days=1 + self.rng.randrange(14)), "answer", (client, home, offer_id))

    def _answer(self, on: date, subject: tuple[_Client, _Home, str]) -> Iterator[Dated]:
        client, home, offer_id = subject
        m, unit_id, corporation = home.municipality.code, f"u-{home.unit}", f"corp-{home.municipality.code}"
        if self.rng.random() >= self.p.accepted:
            yield self.dated(on, "", m, HousingOfferDeclined(
                offer_id=offer_id, unit_id=unit_id, client_ref=client.ref, answered_on=on,
                reason=self.rng.choice(["too_far", "too_small", "other"]), corporation_id=corporation, municipality=m,
            ))  # fmt: skip
            home.declined.add(client.ref)
            yield from self._home(on, home)  # to the next client (never again to this one), then this one queues
            client.state = "queued"
            self.queues[client.municipality].append(client)
            return
        client.state = "moving"
        yield self.dated(on, "", m, HousingOfferAccepted(
            offer_id=offer_id, unit_id=unit_id, client_ref=client.ref, answered_on=on,
            corporation_id=corporation, municipality=m, wijk=f"WK{m}01", placement_id=client.placement_id,
        ))  # fmt: skip
        self.at(on + timedelta(days=7), "moved", (client, home))

    def _moved(self, on: date, subject: tuple[_Client, _Home]) -> Iterator[Dated]:
        """The client moves: the placement ends (19) and the outflow is complete."""
        client, home = subject
        m = home.municipality.code
        ending = list(self.ended(client, on, "19"))
        yield ending[0]
        yield self.dated(on, "outflows", client.municipality, OutflowCompleted(
            placement_id=client.placement_id, client_ref=client.ref, unit_id=f"u-{home.unit}",
            responsible_municipality=client.municipality, municipality=m, outflow_date=on,
            support_at_home="BW_HOME" if client.care_form == "BW_24H" else "none", wijk=f"WK{m}01",
            facility_id=client.facility_id, provider_agb=client.provider_agb,
        ))  # fmt: skip
        yield from ending[1:]  # the freed place to the next waiting client

    def dated(self, on: date, counted: str, municipality: str, event: Event) -> Dated:
        if counted:
            self.tally.add(counted, municipality, on)
        return Dated(on, event)


class NationalHistory:
    """The events of `years` years from `start` for the given regions (all 43 by default), at `scale` of the
    volumes of `Parameters`; `tally` counts what the last `events()` produced (complete once exhausted)."""

    def __init__(
        self,
        seed: int,
        years: int = 10,
        scale: float = 1.0,
        *,
        start: date = START,
        only: set[str] | None = None,
        parameters: Parameters | None = None,
    ) -> None:
        self.seed, self.years, self.scale, self.start = seed, years, scale, start
        self.end = date(start.year + years, start.month, start.day) - timedelta(days=1)
        self.parameters = parameters or Parameters()
        self.regions = [r for r in regions() if only is None or r.centre in only]
        self.tally = Tally()

    def expected_events(self) -> int:
        """About how many events `events()` yields (for a progress bar): 5.0 per registration, as measured over
        the whole ten years of seed 1 at full scale."""
        population = sum(r.population for r in self.regions)
        return round(population / 10_000 * self.parameters.registrations_per_10k * self.years * self.scale * 5.0)

    def events(self) -> Iterator[tuple[Region, Dated]]:
        self.tally = Tally()
        for region in self.regions:
            history = _RegionHistory(region, self.seed, self.start, self.end, self.scale, self.parameters)
            history.tally = self.tally
            for dated in history.events():
                self.tally.events += 1
                yield region, dated


@dataclass(frozen=True)
class Record:
    """One message as the outbox relay publishes it: topic, key, value, and the event's type and version."""

    topic: str
    key: bytes
    value: bytes
    event_type: str
    schema_version: int


def records(history: NationalHistory, prefix: str = "") -> Iterator[Record]:
    """The history's events in their envelopes (Envelope.wrap, as the outbox stores them), keyed as their
    contract says, each envelope's id drawn from the seed and its time the business day of the event."""
    ids = random.Random(f"zorgstroom-national-ids:{history.seed}")
    for region, dated in history.events():
        spec = spec_for(dated.event)
        occurred_at = datetime.combine(dated.on, time(9), UTC) + timedelta(seconds=ids.randrange(8 * 3600))
        envelope = Envelope.wrap(
            dated.event, producer=PRODUCER_OF[spec.topic], region=region.code, occurred_at=occurred_at
        ).model_copy(update={"event_id": uuid.UUID(int=ids.getrandbits(128), version=4)})
        yield Record(
            topic_name(spec.topic, prefix),
            spec.key_of(envelope.data).encode(),
            envelope.model_dump_json().encode(),
            spec.event_type,
            spec.schema_version,
        )
