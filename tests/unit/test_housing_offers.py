"""Which ready client a home goes to (DOMAIN.md rule 6): examples, and properties over random markets."""

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from zorgstroom_housing.domain.offers import (
    AvailableUnit,
    Capacity,
    ReadyClient,
    Refusal,
    RoomsPolicy,
    eligible,
    match_units,
)

ALMERE, LELYSTAD, URK = "0034", "0995", "0184"
ROOMS = RoomsPolicy.default()
ON = date(2027, 4, 1)


def ready(ref: str, since: int = 1, municipality: str = ALMERE, **extra) -> ReadyClient:  # type: ignore[no-untyped-def]
    return ReadyClient(ref, municipality, (), 1, 0, date(2027, 1, since), **extra)


def unit(uid: str = "u1", municipality: str = ALMERE, wijk: str = "WK003401", rooms: int = 2) -> AvailableUnit:
    return AvailableUnit(uid, "corp", municipality, wijk, rooms, ON)


def quota(n: int, municipality: str = ALMERE) -> Capacity:
    return Capacity({("corp", municipality, 2027): n}, {}, default_wijk_left=5)


def offered(units, clients, capacity) -> dict[str, str]:  # type: ignore[no-untyped-def]
    offers, _ = match_units(units, clients, capacity, ROOMS, ON)
    return {o.unit.unit_id: o.client.client_ref for o in offers}


def test_the_longest_ready_client_gets_the_unit() -> None:
    assert offered([unit()], [ready("later", 9), ready("longest", 2)], quota(3)) == {"u1": "longest"}


def test_a_unit_is_not_offered_beyond_the_quota() -> None:
    offers, refusals = match_units([unit("u1"), unit("u2")], [ready("a"), ready("b")], quota(1), ROOMS, ON)
    assert len(offers) == 1 and refusals == {"u2": Refusal.QUOTA_USED_UP}


def test_a_unit_in_a_wijk_at_its_cap_is_not_offered() -> None:
    capacity = Capacity({("corp", ALMERE, 2027): 5}, {"WK003401": 0}, default_wijk_left=5)
    _, refusals = match_units([unit()], [ready("a")], capacity, ROOMS, ON)
    assert refusals == {"u1": Refusal.WIJK_AT_CAP}


def test_a_client_who_declined_a_unit_is_not_offered_it_again() -> None:
    clients = [ready("decliner", 1, declined_units=frozenset({"u1"})), ready("next", 5)]
    assert offered([unit()], clients, quota(3)) == {"u1": "next"}


def test_a_household_that_does_not_fit_is_passed_over() -> None:
    family = replace(ready("family", 1), adults=2, children=2)  # four persons need three rooms
    assert offered([unit(rooms=2)], [family, ready("single", 3)], quota(3)) == {"u1": "single"}


def test_a_preferred_municipality_counts_as_a_match() -> None:
    urk_client = replace(ready("urk", 1, URK), preferred_municipalities=(ALMERE,))
    assert offered([unit()], [urk_client], quota(3)) == {"u1": "urk"}
    assert offered([unit(municipality=LELYSTAD, wijk="WK099501")], [urk_client], quota(3, LELYSTAD)) == {}


def test_rooms_needed_grow_past_the_largest_listed_household() -> None:
    assert [ROOMS.rooms_needed(a, c) for a, c in [(1, 0), (2, 2), (2, 4), (2, 6)]] == [1, 3, 4, 5]


# --- properties -------------------------------------------------------------------------------------

MUNICIPALITIES = [ALMERE, LELYSTAD, URK]
CORPORATIONS = ["c1", "c2"]
WIJKEN = ["W1", "W2", "W3"]

clients_strategy = st.lists(
    st.builds(
        lambda i, m, p, a, k, d, declined, open_: ReadyClient(
            f"r{i:03d}", m, tuple(p), a, k, date(2027, 1, 1) + timedelta(days=d), frozenset(declined), open_
        ),
        st.integers(0, 999),
        st.sampled_from(MUNICIPALITIES),
        st.lists(st.sampled_from(MUNICIPALITIES), max_size=2, unique=True),
        st.integers(1, 2),
        st.integers(0, 4),
        st.integers(0, 60),
        st.frozensets(st.sampled_from([f"u{i}" for i in range(8)]), max_size=2),
        st.booleans(),
    ),
    max_size=8,
    unique_by=lambda c: c.client_ref,
)
units_strategy = st.lists(
    st.builds(
        lambda i, c, m, w, r, d: AvailableUnit(f"u{i}", c, m, w, r, ON + timedelta(days=d)),
        st.integers(0, 7),
        st.sampled_from(CORPORATIONS),
        st.sampled_from(MUNICIPALITIES),
        st.sampled_from(WIJKEN),
        st.integers(1, 4),
        st.integers(0, 10),
    ),
    max_size=8,
    unique_by=lambda u: u.unit_id,
)
capacity_strategy = st.builds(
    lambda q, w: Capacity(q, w, default_wijk_left=0),
    st.dictionaries(
        st.tuples(st.sampled_from(CORPORATIONS), st.sampled_from(MUNICIPALITIES), st.just(2027)), st.integers(0, 3)
    ),
    st.dictionaries(st.sampled_from(WIJKEN), st.integers(0, 3)),
)


@settings(max_examples=300, deadline=None)
@given(units_strategy, clients_strategy, capacity_strategy)
def test_offers_keep_every_quota_cap_and_rule(units, clients, capacity) -> None:  # type: ignore[no-untyped-def]
    before = (list(units), list(clients), dict(capacity.quota_left), dict(capacity.wijk_left))
    offers, refusals = match_units(units, clients, capacity, ROOMS, ON)
    assert (units, clients, capacity.quota_left, capacity.wijk_left) == before  # inputs untouched
    per_quota: dict[tuple[str, str, int], int] = {}
    per_wijk: dict[str, int] = {}
    for o in offers:
        key = (o.unit.corporation_id, o.unit.municipality, o.quota_year)
        per_quota[key] = per_quota.get(key, 0) + 1
        per_wijk[o.unit.wijk] = per_wijk.get(o.unit.wijk, 0) + 1
        assert eligible(o.unit, o.client, ROOMS)  # municipality, rooms, not declined, no open offer
    assert all(n <= capacity.quota_left.get(k, 0) for k, n in per_quota.items())
    assert all(n <= capacity.wijk_left.get(w, 0) for w, n in per_wijk.items())
    assert len({o.client.client_ref for o in offers}) == len(offers)  # one offer per client
    assert len({o.unit.unit_id for o in offers}) == len(offers)  # one offer per unit
    assert {o.unit.unit_id for o in offers}.isdisjoint(refusals) and len(offers) + len(refusals) == len(units)
    offered_clients = {o.client.client_ref for o in offers}
    for o in offers:  # longest-ready first: no eligible client who waited longer was left without an offer
        for c in clients:
            if c.client_ref not in offered_clients and eligible(o.unit, c, ROOMS):
                assert (c.ready_since, c.client_ref) > (o.client.ready_since, o.client.client_ref)


@settings(max_examples=100, deadline=None)
@given(units_strategy, clients_strategy, capacity_strategy, st.randoms())
def test_offers_do_not_depend_on_input_order(units, clients, capacity, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    shuffled_units, shuffled_clients = list(units), list(clients)
    rng.shuffle(shuffled_units)
    rng.shuffle(shuffled_clients)
    assert match_units(units, clients, capacity, ROOMS, ON) == match_units(
        shuffled_units, shuffled_clients, capacity, ROOMS, ON
    )
