"""Which ready client a home goes to (docs/domain.md, "A home"): examples, and properties over random
markets."""

import copy
import random
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zorgstroom_contracts.region import HousingPolicy, add_months
from zorgstroom_housing.domain.model import Transfer
from zorgstroom_housing.domain.offers import (
    AvailableUnit,
    Capacity,
    Offer,
    ReadyClient,
    Refusal,
    choose_client,
    match_units,
)
from zorgstroom_housing.domain.wijk_cap import WijkOutflow

ALMERE, LELYSTAD, URK = "0034", "0995", "0184"
WIJK = "WK003401"
POLICY = HousingPolicy(wijk_outflow_cap_default=5)
ON = date(2027, 4, 1)


def ready(
    ref: str,
    since: int = 1,
    municipality: str = ALMERE,
    *,
    preferred: tuple[str, ...] = (),
    adults: int = 1,
    children: int = 0,
    declined: frozenset[str] = frozenset(),
    has_open_offer: bool = False,
    consent_since: date | None = date(2026, 6, 1),
) -> ReadyClient:
    return ReadyClient(
        ref,
        municipality,
        preferred,
        adults,
        children,
        date(2027, 1, since),
        declined,
        has_open_offer,
        consent_since=consent_since,
    )


def unit(
    uid: str = "u1",
    municipality: str = ALMERE,
    wijk: str = WIJK,
    rooms: int = 2,
    available_from: date = ON,
    corporation: str = "corp",
) -> AvailableUnit:
    return AvailableUnit(uid, corporation, municipality, wijk, rooms, available_from)


def quota(n: int, municipality: str = ALMERE, year: int = 2027) -> Capacity:
    return Capacity({("corp", municipality, year): n})


def capped(default: int = 5, **caps: int) -> HousingPolicy:
    return HousingPolicy(wijk_outflow_cap_default=default, wijk_outflow_caps=caps)


def offered(
    units: list[AvailableUnit],
    clients: list[ReadyClient],
    capacity: Capacity,
    on: date = ON,
    policy: HousingPolicy = POLICY,
) -> dict[str, str]:
    offers, _ = match_units(units, clients, capacity, policy, on)
    return {o.unit.unit_id: o.client.client_ref for o in offers}


def refused(
    units: list[AvailableUnit],
    clients: list[ReadyClient],
    capacity: Capacity,
    on: date = ON,
    policy: HousingPolicy = POLICY,
) -> dict[str, Refusal]:
    return match_units(units, clients, capacity, policy, on)[1]


# --- who gets the unit -----------------------------------------------------------------------------


def test_longest_ready_client_gets_the_unit() -> None:
    assert offered([unit()], [ready("later", 9), ready("longest", 2)], quota(3)) == {"u1": "longest"}


def test_clients_ready_on_the_same_day_go_by_client_ref() -> None:
    assert offered([unit()], [ready("b", 2), ready("a", 2)], quota(3)) == {"u1": "a"}


def test_units_are_offered_in_order_of_availability() -> None:
    early, late = unit("z-early", available_from=ON), unit("a-late", available_from=ON + timedelta(days=3))
    offers, refusals = match_units([late, early], [ready("only")], quota(3), POLICY, ON)
    assert [(o.unit.unit_id, o.client.client_ref) for o in offers] == [("z-early", "only")]
    assert refusals == {"a-late": Refusal.NO_FITTING_CLIENT}


def test_units_available_on_the_same_day_go_by_unit_id() -> None:
    assert offered([unit("u2"), unit("u1")], [ready("first", 1), ready("second", 2)], quota(3)) == {
        "u1": "first",
        "u2": "second",
    }


def test_preferred_municipality_counts_as_a_match() -> None:
    urk_client = ready("urk", 1, URK, preferred=(ALMERE,))
    assert offered([unit()], [urk_client], quota(3)) == {"u1": "urk"}


def test_client_of_another_municipality_is_not_offered_the_unit() -> None:
    lelystad_client = ready("lelystad", 1, LELYSTAD, preferred=(URK,))
    assert refused([unit()], [lelystad_client], quota(3)) == {"u1": Refusal.NO_FITTING_CLIENT}


def test_household_that_does_not_fit_is_passed_over() -> None:
    family = ready("family", 1, adults=2, children=2)  # four persons need three rooms
    assert offered([unit(rooms=2)], [family, ready("single", 3)], quota(3)) == {"u1": "single"}


def test_client_who_declined_a_unit_is_not_offered_it_again() -> None:
    decliner = ready("decliner", 1, declined=frozenset({"u1"}))
    assert offered([unit("u1")], [decliner, ready("next", 5)], quota(3)) == {"u1": "next"}


def test_client_who_declined_a_unit_may_be_offered_another() -> None:
    decliner = ready("decliner", 1, declined=frozenset({"u1"}))
    assert offered([unit("u1"), unit("u2")], [decliner, ready("next", 5)], quota(3)) == {
        "u1": "next",
        "u2": "decliner",
    }


def test_client_with_an_open_offer_is_not_offered_another() -> None:
    waiting_for_answer = ready("answering", 1, has_open_offer=True)
    assert offered([unit()], [waiting_for_answer, ready("next", 5)], quota(3)) == {"u1": "next"}


def test_client_gets_one_offer_per_pass() -> None:
    offers, refusals = match_units([unit("u1"), unit("u2")], [ready("only")], quota(3), POLICY, ON)
    assert [o.unit.unit_id for o in offers] == ["u1"] and refusals == {"u2": Refusal.NO_FITTING_CLIENT}


def test_choose_client_picks_the_longest_ready_eligible_client() -> None:
    clients = [ready("late", 9), ready("declined", 1, declined=frozenset({"u1"})), ready("early", 3)]
    chosen = choose_client(unit(), clients, POLICY, ON)
    assert chosen is not None and chosen.client_ref == "early"


def test_choose_client_returns_none_when_nobody_fits() -> None:
    assert choose_client(unit(), [ready("urk", 1, URK), ready("open", 1, has_open_offer=True)], POLICY, ON) is None
    assert choose_client(unit(), [], POLICY, ON) is None


# --- quotas and wijk caps --------------------------------------------------------------------------


def test_unit_is_not_offered_beyond_the_quota() -> None:
    offers, refusals = match_units([unit("u1"), unit("u2")], [ready("a"), ready("b")], quota(1), POLICY, ON)
    assert [o.unit.unit_id for o in offers] == ["u1"] and refusals == {"u2": Refusal.QUOTA_USED_UP}


def test_a_missing_quota_means_no_quota() -> None:
    assert refused([unit(municipality=LELYSTAD)], [ready("a", 1, LELYSTAD)], quota(3)) == {"u1": Refusal.QUOTA_USED_UP}


def test_quota_of_another_corporation_does_not_count() -> None:
    assert refused([unit(corporation="other")], [ready("a")], quota(3)) == {"u1": Refusal.QUOTA_USED_UP}


def test_quota_year_is_the_year_the_unit_becomes_available() -> None:
    december, january = date(2027, 12, 20), unit(available_from=date(2028, 1, 5))
    assert refused([january], [ready("a")], quota(3, year=2027), on=december) == {"u1": Refusal.QUOTA_USED_UP}
    offers, _ = match_units([january], [ready("a")], quota(3, year=2028), POLICY, december)
    assert [o.quota_year for o in offers] == [2028]


def test_unit_available_already_uses_the_quota_of_this_year() -> None:
    offers, _ = match_units([unit(available_from=date(2026, 11, 1))], [ready("a")], quota(3, year=2027), POLICY, ON)
    assert [o.quota_year for o in offers] == [2027]


def test_unit_in_a_wijk_at_its_cap_is_not_offered() -> None:
    assert refused([unit()], [ready("a")], quota(5), policy=capped(**{WIJK: 0})) == {"u1": Refusal.WIJK_AT_CAP}


def test_each_offer_takes_a_slot_in_its_wijk() -> None:
    units = [unit("u1"), unit("u2"), unit("u3", wijk="WK003402")]
    offers, refusals = match_units(units, [ready("a"), ready("b"), ready("c")], quota(5), capped(**{WIJK: 1}), ON)
    assert [o.unit.unit_id for o in offers] == ["u1", "u3"] and refusals == {"u2": Refusal.WIJK_AT_CAP}


def test_wijk_without_a_cap_of_its_own_uses_the_default() -> None:
    assert refused([unit()], [ready("a")], quota(3), policy=capped(0)) == {"u1": Refusal.WIJK_AT_CAP}
    assert offered([unit("u1"), unit("u2")], [ready("a"), ready("b")], quota(3), policy=capped(1)) == {"u1": "a"}


def test_open_offers_and_homes_let_within_the_window_fill_the_wijk() -> None:
    # cap 3: one open offer and two homes let in the last 12 months leave no slot on 1 April 2027
    homes = WijkOutflow(let_on=(date(2026, 4, 2), date(2027, 1, 10)), open_offers=1)
    capacity = Capacity({("corp", ALMERE, 2027): 5}, {WIJK: homes})
    assert refused([unit()], [ready("a")], capacity, policy=capped(3)) == {"u1": Refusal.WIJK_AT_CAP}


def test_a_home_let_a_window_ago_frees_its_slot_for_a_unit_available_from_then() -> None:
    # cap 1, a home let on 10 April 2026: a unit available on 9 April 2027 waits, one on 10 April 2027 is offered
    capacity = Capacity({("corp", ALMERE, 2027): 5}, {WIJK: WijkOutflow(let_on=(date(2026, 4, 10),))})
    early, late = unit("early", available_from=date(2027, 4, 9)), unit("late", available_from=date(2027, 4, 10))
    offers, refusals = match_units([early, late], [ready("a"), ready("b")], capacity, capped(1), ON)
    assert [(o.unit.unit_id, o.offered_on) for o in offers] == [("late", date(2027, 4, 10))]
    assert refusals == {"early": Refusal.WIJK_AT_CAP}


def test_quota_used_up_is_reported_before_wijk_at_cap() -> None:
    assert refused([unit()], [], quota(0), policy=capped(0)) == {"u1": Refusal.QUOTA_USED_UP}


def test_wijk_at_cap_is_reported_before_no_fitting_client() -> None:
    assert refused([unit()], [], quota(3), policy=capped(0)) == {"u1": Refusal.WIJK_AT_CAP}


def test_unit_without_a_fitting_client_leaves_quota_and_wijk_to_the_next_unit() -> None:
    family = ready("family", 1, adults=2, children=2)
    units = [unit("u1", rooms=1), unit("u2", rooms=3)]
    offers, refusals = match_units(units, [family], quota(1), capped(**{WIJK: 1}), ON)
    assert [(o.unit.unit_id, o.client.client_ref) for o in offers] == [("u2", "family")]
    assert refusals == {"u1": Refusal.NO_FITTING_CLIENT}


def test_duplicate_refs_are_refused() -> None:
    with pytest.raises(ValueError, match="unit_id"):
        match_units([unit("u1"), unit("u1", rooms=3)], [], quota(3), POLICY, ON)
    with pytest.raises(ValueError, match="client_ref"):
        match_units([], [ready("a", 1), ready("a", 2)], quota(3), POLICY, ON)


# --- responsibility on the day of the offer --------------------------------------------------------


def transfer(to: str, effective_on: date, intake_ids: frozenset[str] | None = frozenset({"i1"})) -> Transfer:
    return Transfer(f"t-{to}-{effective_on}", "moved", to, effective_on, intake_ids)


def test_a_transfer_counts_from_its_effective_date() -> None:
    # Almere until 10 April 2027, Lelystad from then: an Almere unit on 1 April, a Lelystad unit on 10 April
    moved = replace(ready("moved"), intake_id="i1", transfers=(transfer(LELYSTAD, date(2027, 4, 10)),))
    assert offered([unit("a", ALMERE)], [moved], quota(3)) == {"a": "moved"}
    assert refused([unit("a", ALMERE, available_from=date(2027, 4, 10))], [moved], quota(3)) == {
        "a": Refusal.NO_FITTING_CLIENT
    }
    lelystad = Capacity({("corp", LELYSTAD, 2027): 3})
    assert refused([unit("l", LELYSTAD)], [moved], lelystad) == {"l": Refusal.NO_FITTING_CLIENT}
    assert offered([unit("l", LELYSTAD, available_from=date(2027, 4, 10))], [moved], lelystad) == {"l": "moved"}


def test_a_transfer_of_another_episode_does_not_count() -> None:
    later_episode = replace(ready("again"), intake_id="i2", transfers=(transfer(LELYSTAD, date(2027, 1, 1)),))
    assert offered([unit("a", ALMERE)], [later_episode], quota(3)) == {"a": "again"}


# --- properties over small random markets ----------------------------------------------------------

MUNICIPALITIES = [ALMERE, LELYSTAD, URK]
CORPORATIONS = ["c1", "c2"]
WIJKEN = ["W1", "W2", "W3"]
UNIT_IDS = [f"u{i}" for i in range(8)]
YEAR_END = date(2027, 12, 28)  # units straddle the new year, so two quota years are in play
ROOMS_NEEDED = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4}  # the default table, written out as the reference

WINDOW = 12
Market = tuple[list[AvailableUnit], list[ReadyClient], Capacity, HousingPolicy]


SIZES = st.sampled_from(range(9))  # 0-8 clients and units, about evenly (integers() favours 0)
QUOTA_KEYS = [(c, m, y) for c in CORPORATIONS for m in MUNICIPALITIES for y in (2027, 2028)]
left = st.sampled_from([1, 2, 3, 0, None])  # None: no entry, a missing quota or a wijk on the default cap


# Everything but the ref, which markets() sets; built once, as building a strategy per draw costs more than the draw.
any_client = st.builds(
    ReadyClient,
    client_ref=st.just(""),
    responsible_municipality=st.sampled_from(MUNICIPALITIES),
    preferred_municipalities=st.lists(st.sampled_from(MUNICIPALITIES), max_size=2, unique=True).map(tuple),
    adults=st.integers(1, 2),
    children=st.integers(0, 4),
    ready_since=st.integers(0, 6).map(lambda d: date(2027, 10, 1) + timedelta(days=d)),  # ties happen
    declined_units=st.frozensets(st.sampled_from(UNIT_IDS), max_size=2),
    has_open_offer=st.sampled_from([False, False, False, True]),  # most ready clients wait without one
    consent_since=st.sampled_from([date(2027, 9, 1), date(2027, 9, 1), None]),  # some do not consent to share
)
any_unit = st.builds(
    AvailableUnit,
    unit_id=st.just(""),
    corporation_id=st.sampled_from(CORPORATIONS),
    municipality=st.sampled_from(MUNICIPALITIES),
    wijk=st.sampled_from(WIJKEN),
    rooms=st.integers(1, 4),
    available_from=st.integers(-10, 5).map(lambda d: YEAR_END + timedelta(days=d)),  # two quota years in play
)


@st.composite
def markets(draw: st.DrawFn) -> Market:
    # Distinct refs drawn as a prefix of a permutation: no retries to keep them unique, and any order.
    client_refs = draw(st.permutations([f"r{i}" for i in range(10)]))[: draw(SIZES)]
    unit_ids = draw(st.permutations(UNIT_IDS))[: draw(SIZES)]
    clients = [replace(draw(any_client), client_ref=ref) for ref in client_refs]
    units = [replace(draw(any_unit), unit_id=uid) for uid in unit_ids]
    quotas = draw(st.lists(left, min_size=len(QUOTA_KEYS), max_size=len(QUOTA_KEYS)))
    caps = draw(st.lists(left, min_size=len(WIJKEN), max_size=len(WIJKEN)))
    capacity = Capacity(
        quota_left={key: n for key, n in zip(QUOTA_KEYS, quotas, strict=True) if n is not None},
        wijk_homes={wijk: draw(wijk_outflow) for wijk in WIJKEN if draw(st.booleans())},
    )
    policy = HousingPolicy(
        wijk_outflow_cap_default=draw(st.integers(0, 3)),
        wijk_outflow_caps={wijk: n for wijk, n in zip(WIJKEN, caps, strict=True) if n is not None},
        wijk_outflow_window_months=WINDOW,
    )
    return units, clients, capacity, policy


# Homes let about a window before the units' days: some still hold their slot on a unit's day, some free it.
wijk_outflow = st.builds(
    WijkOutflow,
    let_on=st.lists(
        st.integers(-20, 5).map(lambda d: add_months(YEAR_END, -WINDOW) + timedelta(days=d)), max_size=3
    ).map(tuple),
    open_offers=st.integers(0, 1),
)


def slots_left(market: Market, wijk: str, day: date) -> int:
    """The rule, written out again: the cap less the open offers and the homes let less than a window before."""
    _, _, capacity, policy = market
    homes = capacity.wijk_homes.get(wijk, WijkOutflow())
    let = [d for d in homes.let_on if day < add_months(d, WINDOW)]
    return policy.wijk_outflow_caps.get(wijk, policy.wijk_outflow_cap_default) - homes.open_offers - len(let)


def may_be_offered(unit: AvailableUnit, client: ReadyClient) -> bool:
    """The rule, written out again: municipality, rooms, consent to share, not declined before, no open offer."""
    return (
        client.consent_since is not None
        and unit.municipality in (client.responsible_municipality, *client.preferred_municipalities)
        and unit.rooms >= ROOMS_NEEDED[client.adults + client.children]
        and unit.unit_id not in client.declined_units
        and not client.has_open_offer
    )


def readiness(client: ReadyClient) -> tuple[date, str]:
    return (client.ready_since, client.client_ref)


def match(market: Market) -> tuple[list[Offer], dict[str, Refusal]]:
    units, clients, capacity, policy = market
    return match_units(units, clients, capacity, policy, YEAR_END)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_offers_never_exceed_a_quota_or_a_wijk_cap(market: Market) -> None:
    _, _, capacity, _ = market
    offers, _ = match(market)
    per_quota = Counter((o.unit.corporation_id, o.unit.municipality, o.quota_year) for o in offers)
    per_wijk = Counter(o.unit.wijk for o in offers)
    last_day = {o.unit.wijk: max(YEAR_END, o.unit.available_from) for o in offers}  # offers go in order of days
    assert all(n <= capacity.quota_left.get(key, 0) for key, n in per_quota.items())
    assert all(n <= slots_left(market, wijk, last_day[wijk]) for wijk, n in per_wijk.items())
    assert all(o.quota_year == max(YEAR_END, o.unit.available_from).year for o in offers)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_no_client_and_no_unit_gets_two_offers_and_every_other_unit_has_a_reason(market: Market) -> None:
    units, _, _, _ = market
    offers, refusals = match(market)
    assert len({o.client.client_ref for o in offers}) == len(offers)
    assert len({o.unit.unit_id for o in offers}) == len(offers)
    assert {o.unit.unit_id for o in offers}.isdisjoint(refusals)
    assert {o.unit.unit_id for o in offers} | set(refusals) == {u.unit_id for u in units}


@settings(max_examples=150, deadline=None)
@given(markets())
def test_every_offer_goes_to_an_eligible_client(market: Market) -> None:
    units, clients, _, _ = market
    offers, _ = match(market)
    for o in offers:
        assert o.unit in units and o.client in clients
        assert may_be_offered(o.unit, o.client)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_no_eligible_client_left_without_an_offer_was_ready_earlier(market: Market) -> None:
    _, clients, _, _ = market
    offers, _ = match(market)
    offered_refs = {o.client.client_ref for o in offers}
    for o in offers:
        for c in clients:
            if c.client_ref not in offered_refs and may_be_offered(o.unit, c):
                assert readiness(c) > readiness(o.client)


@settings(max_examples=300, deadline=None)
@given(markets())
def test_each_unit_in_turn_goes_to_the_longest_ready_free_client_or_has_a_true_reason(market: Market) -> None:
    """A plain walk over the units in order of availability, replaying what the offers used up."""
    units, clients, capacity, _ = market
    offers, refusals = match(market)
    by_unit = {o.unit.unit_id: o for o in offers}
    in_order = sorted(units, key=lambda u: (u.available_from, u.unit_id))
    assert [o.unit for o in offers] == [u for u in in_order if u.unit_id in by_unit]
    quota_used: Counter[tuple[str, str, int]] = Counter()
    wijk_used: Counter[str] = Counter()
    taken: set[str] = set()
    for u in in_order:
        day = max(YEAR_END, u.available_from)
        key = (u.corporation_id, u.municipality, day.year)
        quota_lasts = capacity.quota_left.get(key, 0) - quota_used[key] > 0
        wijk_holds = slots_left(market, u.wijk, day) - wijk_used[u.wijk] > 0
        candidates = [c for c in clients if c.client_ref not in taken and may_be_offered(u, c)]
        if u.unit_id in by_unit:
            chosen = by_unit[u.unit_id].client
            assert quota_lasts and wijk_holds
            assert chosen in candidates and all(readiness(chosen) <= readiness(c) for c in candidates)
            quota_used[key] += 1
            wijk_used[u.wijk] += 1
            taken.add(chosen.client_ref)
        elif not quota_lasts:
            assert refusals[u.unit_id] is Refusal.QUOTA_USED_UP
        elif not wijk_holds:
            assert refusals[u.unit_id] is Refusal.WIJK_AT_CAP
        else:
            assert not candidates and refusals[u.unit_id] is Refusal.NO_FITTING_CLIENT


@settings(max_examples=100, deadline=None)
@given(markets(), st.randoms(use_true_random=False))
def test_offers_do_not_depend_on_input_order(market: Market, rng: random.Random) -> None:
    units, clients, capacity, policy = market
    shuffled_units, shuffled_clients = list(units), list(clients)
    quota_items, wijk_items = list(capacity.quota_left.items()), list(capacity.wijk_homes.items())
    rng.shuffle(shuffled_units)
    rng.shuffle(shuffled_clients)
    rng.shuffle(quota_items)
    rng.shuffle(wijk_items)
    shuffled_capacity = Capacity(dict(quota_items), dict(wijk_items))
    assert match(market) == match((shuffled_units, shuffled_clients, shuffled_capacity, policy))


@settings(max_examples=100, deadline=None)
@given(markets())
def test_matching_leaves_its_inputs_unchanged(market: Market) -> None:
    before = copy.deepcopy(market)
    match(market)
    match(market)  # and a second pass over the same inputs finds the same capacity
    assert market == before
