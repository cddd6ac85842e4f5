"""The seeded national history (zorgstroom_ops.national): the same seed gives the same events, every event is valid
against its contract in the envelope the services publish, the volumes are those docs/domain.md gives, and the flow
keeps the rules: never more in a facility than its places, one open offer per home and per client, homes only in
the responsible municipality and within the quota."""

import hashlib
import inspect
import itertools
from collections import Counter
from datetime import date

import pytest
from typer.testing import CliRunner

from zorgstroom_contracts import Envelope, spec_for, topic_name
from zorgstroom_contracts.envelope import open_json
from zorgstroom_contracts.events import (
    ClientRegistered,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferDeclined,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
)
from zorgstroom_ops.national import NationalHistory, Parameters, records, regions
from zorgstroom_ops.national_command import generate, national_app
from zorgstroom_reporting.projections.rows import MAPPERS

ALMERE, FLEVOLAND = "0034", "0034"  # Almere is the centre of Flevoland's region
NATIONAL_POPULATION = 17_942_942  # data/SOURCES.md: the 342 municipalities on 1 January 2024


def digest(seed: int, n: int = 3000) -> str:
    values = hashlib.sha256()
    for record in itertools.islice(records(NationalHistory(seed), "national."), n):
        values.update(record.topic.encode() + b"\0" + record.key + b"\0" + record.value + b"\n")
    return values.hexdigest()


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    assert digest(7) == digest(7)
    assert digest(7) != digest(8)


@pytest.fixture(scope="module")
def flevoland() -> tuple[NationalHistory, list[tuple[date, object]]]:
    """Ten years of Flevoland at the national volumes (the events only: no envelopes)."""
    history = NationalHistory(1, only={FLEVOLAND})
    return history, [(dated.on, dated.event) for _, dated in history.events()]


def test_every_event_is_valid_in_the_envelope_the_services_publish_and_keyed_as_its_contract_says() -> None:
    history = NationalHistory(3, years=2, only={FLEVOLAND})
    seen: Counter[str] = Counter()
    for record in records(history, "p."):
        envelope, event = open_json(record.value)  # the consumers' one-pass validation
        two_step = Envelope.model_validate_json(record.value).open()  # and the strict path, upcasting included
        spec = spec_for(event)
        assert two_step == event
        assert (envelope.event_type, envelope.schema_version) == (record.event_type, record.schema_version)
        assert record.topic == topic_name(spec.topic, "p.")
        assert record.key.decode() == spec.key_of(event.model_dump(mode="json"))
        assert envelope.region == "flevoland"  # the code its services publish
        assert envelope.occurred_at.date() <= history.end
        seen[type(event).__name__] += 1
    # the whole flow reporting reads, but transfers, consents and refusals (which the generator does not make)
    expected = {cls.__name__ for cls in MAPPERS} - {"ResponsibilityTransferred", "ConsentRecorded", "OutflowRefused"}
    assert set(seen) == expected, seen


def test_43_regions_hold_the_342_municipalities_once_each() -> None:
    every = regions()
    codes = [m.code for r in every for m in r.members]
    assert (len(every), len(codes), len(set(codes))) == (43, 342, 342)
    assert sum(r.population for r in every) == NATIONAL_POPULATION
    flevoland = next(r for r in every if r.centre == FLEVOLAND)
    assert {m.code for m in flevoland.members} == {"0034", "0050", "0171", "0184", "0303", "0995"}


def in_care_per_year(events: list[tuple[date, object]]) -> Counter[int]:
    """People in a placement at some time of each year."""
    spells: dict[str, list[date]] = {}
    for on, e in events:
        if isinstance(e, PlacementMade):
            spells[e.placement_id] = [on, date.max]
        elif isinstance(e, PlacementEnded):
            spells[e.placement_id][1] = on
    return Counter(y for start, end in spells.values() for y in range(start.year, min(end.year, 2025) + 1))


def test_people_in_care_a_year_fall_within_the_headcount_the_docs_give(flevoland) -> None:  # type: ignore[no-untyped-def]
    history, events = flevoland
    # docs/domain.md: 25,000 to 48,000 people a year in "verblijf en opvang", over 17.94 million inhabitants
    population = sum(r.population for r in history.regions)
    per_10k = {y: n / population * 10_000 for y, n in sorted(in_care_per_year(events).items()) if y > 2016}
    assert all(25_000 / 1794.2942 <= rate <= 48_000 / 1794.2942 for rate in per_10k.values()), per_10k
    # and some 100 outflows a year (docs/domain.md: Almere's outflow from 24-hour facilities)
    outflows = [history.tally.total("outflows", {ALMERE}, year) for year in range(2017, 2026)]
    assert all(60 <= n <= 140 for n in outflows), outflows


def test_more_registrations_in_winter_than_in_summer(flevoland) -> None:  # type: ignore[no-untyped-def]
    _, events = flevoland
    by_month = Counter(on.month for on, e in events if isinstance(e, ClientRegistered))
    winter, summer = by_month[12] + by_month[1] + by_month[2], by_month[6] + by_month[7] + by_month[8]
    assert winter > 1.25 * summer, by_month


def test_homes_come_free_below_readiness_so_the_queue_grows(flevoland) -> None:  # type: ignore[no-untyped-def]
    _, events = flevoland
    care_form = {e.placement_id: e.care_form for _, e in events if isinstance(e, PlacementMade)}
    ready_on = {
        e.placement_id: on
        for on, e in events
        if isinstance(e, OutflowReadinessAssessed) and e.ready and care_form[e.placement_id] != "BW_HOME"
    }
    ended_on = {e.placement_id: on for on, e in events if isinstance(e, PlacementEnded)}
    housed = Counter(on.year for on, e in events if isinstance(e, OutflowCompleted))
    ready = Counter(on.year for on in ready_on.values())
    assert all(housed[year] < ready[year] for year in range(2017, 2026)), (housed, ready)
    waiting = [  # ready for a home and still in their place at the end of each year
        sum(1 for p, on in ready_on.items() if on.year <= year and ended_on.get(p, date.max).year > year)
        for year in range(2016, 2026)
    ]
    assert waiting[-1] > 2 * waiting[1] and all(b > 0.9 * a for a, b in itertools.pairwise(waiting)), waiting


def test_the_tally_adds_up_per_region_to_the_national_totals_and_to_the_events() -> None:
    history = NationalHistory(5, years=1, scale=0.02)
    registered = Counter(
        e.responsible_municipality for _, d in history.events() if isinstance(e := d.event, ClientRegistered)
    )
    per_region = [history.tally.total("registrations", {m.code for m in r.members}) for r in history.regions]
    assert sum(per_region) == history.tally.total("registrations") == sum(registered.values())
    assert all(history.tally.total("registrations", {code}) == n for code, n in registered.items())
    assert min(per_region) > 0  # every region has its registrations, even at a fiftieth of the volumes
    assert history.tally.events >= sum(registered.values())


@pytest.fixture(scope="module")
def small() -> list[tuple[date, object]]:
    """Four years of the three smallest regions at a fifth of the volumes, where capacity and quotas bind."""
    three = {r.centre for r in sorted(regions(), key=lambda r: r.population)[:3]}
    return [(d.on, d.event) for _, d in NationalHistory(9, years=4, scale=0.2, only=three).events()]


def test_a_facility_never_holds_more_clients_than_its_places_on_any_day(small) -> None:  # type: ignore[no-untyped-def]
    capacity: dict[str, int] = {}
    inside: Counter[str] = Counter()
    fullest: Counter[str] = Counter()
    for on, e in sorted(small, key=lambda pair: pair[0]):  # a day's endings free places before it is counted
        if isinstance(e, FacilityRegistered):
            capacity[e.facility_id] = e.capacity
        elif isinstance(e, PlacementMade):
            inside[e.facility_id] += 1
        elif isinstance(e, PlacementEnded):
            inside[e.facility_id] -= 1
        for facility_id, n in inside.items():
            assert n <= capacity[facility_id], (on, facility_id, n, capacity[facility_id])
            fullest[facility_id] = max(fullest[facility_id], n)
    assert sum(fullest[f] == capacity[f] for f in capacity) >= len(capacity) // 2  # capacity does bind
    waited = [e.waited_days or 0 for _, e in small if isinstance(e, PlacementMade) and e.care_form == "BW_24H"]
    assert max(waited) > 90  # the wait comes from the capacity


def test_a_clients_events_come_in_date_order_with_one_open_offer_per_home_and_per_client(small) -> None:  # type: ignore[no-untyped-def]
    last: dict[str, date] = {}
    open_for_client: dict[str, str] = {}
    open_for_unit: dict[str, str] = {}
    offered: set[tuple[str, str]] = set()
    for on, e in small:  # in the order produced
        ref = getattr(e, "client_ref", None)
        if ref is not None:
            assert on >= last.get(ref, on), (ref, on, last[ref], type(e).__name__)
            last[ref] = on
        if isinstance(e, HousingOfferMade):
            assert e.client_ref not in open_for_client and e.unit_id not in open_for_unit, e
            assert (e.client_ref, e.unit_id) not in offered  # a declined home is not offered to that client again
            open_for_client[e.client_ref] = open_for_unit[e.unit_id] = e.offer_id
            offered.add((e.client_ref, e.unit_id))
        elif isinstance(e, HousingOfferAccepted | HousingOfferDeclined):
            assert open_for_client.pop(e.client_ref) == open_for_unit.pop(e.unit_id) == e.offer_id
    assert offered


def test_homes_go_to_the_responsible_municipality_within_its_quota_and_not_to_support_at_home(small) -> None:  # type: ignore[no-untyped-def]
    quota = {(e.corporation_id, e.year): e.homes for _, e in small if isinstance(e, HousingContingentAgreed)}
    offers = {e.offer_id: e for _, e in small if isinstance(e, HousingOfferMade)}
    care_form = {e.placement_id: e.care_form for _, e in small if isinstance(e, PlacementMade)}
    accepted = Counter(
        (offers[e.offer_id].corporation_id, offers[e.offer_id].quota_year or 0)
        for _, e in small
        if isinstance(e, HousingOfferAccepted)
    )
    assert accepted and all(n <= quota[key] for key, n in accepted.items()), (accepted, quota)
    assert all(o.municipality == o.responsible_municipality for o in offers.values())
    assert all(care_form[o.placement_id or ""] != "BW_HOME" for o in offers.values())
    assert not any(isinstance(e, OutflowCompleted) and care_form[e.placement_id] == "BW_HOME" for _, e in small)


def test_a_tiny_quota_is_never_exceeded() -> None:
    """At a hundredth of the volumes most quotas round to nothing: no home is then offered at all."""
    history = NationalHistory(4, years=3, scale=0.01, only={FLEVOLAND})
    events = [d.event for _, d in history.events()]
    quota = {(e.municipality, e.year): e.homes for e in events if isinstance(e, HousingContingentAgreed)}
    units = {(e.unit_id, e.municipality, e.quota_year or 0) for e in events if isinstance(e, HousingOfferMade)}
    per_year = Counter((municipality, year) for _, municipality, year in units)  # homes offered, each once
    assert all(n <= quota[key] for key, n in per_year.items()), (per_year, quota)
    assert any(homes == 0 for homes in quota.values())


def test_parameters_are_the_documented_calibration() -> None:
    assert Parameters().registrations_per_10k == 14.0  # docs/operators.md, "A national history"


def test_generate_refuses_to_write_onto_the_live_topics_unless_told_so() -> None:
    """An empty prefix would put the synthetic history on the topics every service consumes: refused before any
    connection (the Kafka named here does not exist), and the default prefix is national."""
    refused = CliRunner().invoke(national_app, ["--prefix", "", "--bootstrap", "127.0.0.1:1"])
    assert refused.exit_code == 2 and "--yes-live-topics" in refused.output, refused.output
    assert inspect.signature(generate).parameters["prefix"].default == "national."
