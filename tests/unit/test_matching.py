"""Matching waiting clients to places (docs/domain.md, rule 3): examples, and properties over random regions."""

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from zorgstroom_contracts.codes import CareForm, Need, Urgency
from zorgstroom_placement.domain.matching import FacilityPlaces, Match, match_waiting_clients
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order

ALMERE, LELYSTAD, URK = "0034", "0995", "0184"
PSY, ADD = Need.PSYCHIATRIC, Need.ADDICTION


def client(
    ref: str,
    responsible: str = ALMERE,
    urgency: Urgency = Urgency.NORMAL,
    day: int = 1,
    needs: frozenset[Need] = frozenset({PSY}),
    preferred: tuple[str, ...] = (),
    care_form: CareForm = CareForm.MO_24H,
) -> WaitingClient:
    return WaitingClient(ref, care_form, responsible, urgency, date(2027, 1, day), needs, preferred, f"i-{ref}")


def facility(
    fid: str,
    municipality: str,
    free: int,
    needs: frozenset[Need] = frozenset({PSY, ADD}),
    care_form: CareForm = CareForm.MO_24H,
) -> FacilityPlaces:
    return FacilityPlaces(fid, municipality, care_form, needs, free)


def placed(matches: list[Match]) -> dict[str, str]:
    return {m.client.client_ref: m.facility_id for m in matches}


def test_emergency_clients_are_placed_before_others() -> None:
    clients = [client("early"), client("emergency", urgency=Urgency.EMERGENCY, day=20)]
    assert placed(match_waiting_clients(clients, [facility("f", ALMERE, 1)])) == {"emergency": "f"}


def test_a_place_in_the_responsible_municipality_comes_first_then_preferences_then_the_region() -> None:
    clients = [
        client("a", day=1),
        client("b", day=2, preferred=(URK, LELYSTAD)),
        client("c", day=3),
    ]
    facilities = [facility("alm", ALMERE, 1), facility("lel", LELYSTAD, 1), facility("dro", "0303", 1)]
    matches = match_waiting_clients(clients, facilities)
    assert [(m.client.client_ref, m.facility_id, m.preference) for m in matches] == [
        ("a", "alm", "responsible"),
        ("b", "lel", "preferred"),
        ("c", "dro", "region"),
    ]


def test_preferred_municipalities_are_tried_in_the_order_the_client_listed_them() -> None:
    clients = [client("b", preferred=(URK, LELYSTAD))]
    facilities = [facility("a-lel", LELYSTAD, 1), facility("z-urk", URK, 1)]
    assert [(m.facility_id, m.preference) for m in match_waiting_clients(clients, facilities)] == [
        ("z-urk", "preferred")
    ]


def test_within_a_tier_the_lowest_facility_id_with_a_free_place_is_chosen() -> None:
    clients = [client("a"), client("b", day=2), client("c", day=3)]
    facilities = [facility("f2", ALMERE, 5), facility("f1", ALMERE, 2)]
    assert placed(match_waiting_clients(clients, facilities)) == {"a": "f1", "b": "f1", "c": "f2"}


def test_a_client_whose_needs_nobody_supports_waits_without_blocking_the_next() -> None:
    clients = [client("special", needs=frozenset({Need.MILD_INTELLECTUAL_DISABILITY})), client("next", day=2)]
    assert placed(match_waiting_clients(clients, [facility("f", ALMERE, 1)])) == {"next": "f"}


def test_care_forms_never_mix() -> None:
    clients = [client("bw", care_form=CareForm.BW_24H)]
    assert match_waiting_clients(clients, [facility("mo", ALMERE, 3)]) == []


# --- properties -------------------------------------------------------------------------------------

MUNICIPALITIES = [ALMERE, LELYSTAD, URK]
FORMS = [CareForm.MO_24H, CareForm.BW_24H]
NEEDS = list(Need)

needs_sets = st.frozensets(st.sampled_from(NEEDS), max_size=2)
clients_strategy = st.lists(
    st.builds(
        lambda i, m, u, d, n, p, f: WaitingClient(
            f"c{i:03d}", f, m, u, date(2027, 1, 1) + timedelta(days=d), n, tuple(p), f"i{i:03d}"
        ),
        st.integers(0, 999),
        st.sampled_from(MUNICIPALITIES),
        st.sampled_from(list(Urgency)),
        st.integers(0, 30),
        needs_sets,
        st.lists(st.sampled_from(MUNICIPALITIES), max_size=2, unique=True),
        st.sampled_from(FORMS),
    ),
    max_size=25,
    unique_by=lambda c: c.client_ref,
)
facilities_strategy = st.lists(
    st.builds(
        lambda i, m, f, n, free: FacilityPlaces(f"f{i:02d}", m, f, n, free),
        st.integers(0, 99),
        st.sampled_from(MUNICIPALITIES),
        st.sampled_from(FORMS),
        st.frozensets(st.sampled_from(NEEDS), max_size=4),
        st.integers(0, 5),
    ),
    max_size=8,
    unique_by=lambda f: f.facility_id,
)


def fits(c: WaitingClient, f: FacilityPlaces) -> bool:
    return c.care_form is f.care_form and c.needs <= f.supported_needs


def reference(clients: list[WaitingClient], facilities: list[FacilityPlaces]) -> list[tuple[str, str, str]]:
    """The rule as plainly as it can be written, O(clients x facilities): the fast one must agree."""
    free = {f.facility_id: f.free_places for f in facilities}
    out: list[tuple[str, str, str]] = []
    for c in in_priority_order(clients):
        tiers = [("responsible", [c.responsible_municipality])]
        tiers += [("preferred", [m]) for m in c.preferred_municipalities if m != c.responsible_municipality]
        tiers += [("region", MUNICIPALITIES)]
        for preference, places in tiers:
            options = sorted(
                f.facility_id for f in facilities if fits(c, f) and f.municipality in places and free[f.facility_id] > 0
            )
            if options:
                free[options[0]] -= 1
                out.append((c.client_ref, options[0], preference))
                break
    return out


def left_over(matches: list[Match], facilities: list[FacilityPlaces]) -> dict[str, int]:
    left = {f.facility_id: f.free_places for f in facilities}
    for m in matches:
        left[m.facility_id] -= 1
    return left


def unmatched(clients: list[WaitingClient], matches: list[Match]) -> list[WaitingClient]:
    matched = {m.client.client_ref for m in matches}
    return [c for c in clients if c.client_ref not in matched]


region = given(clients_strategy, facilities_strategy)


@settings(max_examples=150, deadline=None)
@region
def test_no_facility_gets_more_clients_than_it_has_free_places(
    clients: list[WaitingClient], facilities: list[FacilityPlaces]
) -> None:
    assert all(n >= 0 for n in left_over(match_waiting_clients(clients, facilities), facilities).values())


@settings(max_examples=150, deadline=None)
@region
def test_each_client_is_placed_at_most_once(clients: list[WaitingClient], facilities: list[FacilityPlaces]) -> None:
    matches = match_waiting_clients(clients, facilities)
    assert len({m.client.client_ref for m in matches}) == len(matches)


@settings(max_examples=150, deadline=None)
@region
def test_a_client_is_placed_only_where_the_care_form_matches_and_every_need_is_supported(
    clients: list[WaitingClient], facilities: list[FacilityPlaces]
) -> None:
    by_id = {f.facility_id: f for f in facilities}
    assert all(fits(m.client, by_id[m.facility_id]) for m in match_waiting_clients(clients, facilities))


@settings(max_examples=150, deadline=None)
@region
def test_an_emergency_client_is_never_passed_over_for_a_less_urgent_one(
    clients: list[WaitingClient], facilities: list[FacilityPlaces]
) -> None:
    matches = match_waiting_clients(clients, facilities)
    by_id = {f.facility_id: f for f in facilities}
    left = left_over(matches, facilities)
    for waiting in unmatched(clients, matches):
        if waiting.urgency is Urgency.EMERGENCY:
            assert all(left[f.facility_id] == 0 for f in facilities if fits(waiting, f))
            assert not any(
                m.client.urgency is not Urgency.EMERGENCY and fits(waiting, by_id[m.facility_id]) for m in matches
            )


@settings(max_examples=150, deadline=None)
@region
def test_nobody_is_left_waiting_while_a_fitting_place_stays_free(
    clients: list[WaitingClient], facilities: list[FacilityPlaces]
) -> None:
    matches = match_waiting_clients(clients, facilities)
    left = left_over(matches, facilities)
    for waiting in unmatched(clients, matches):
        assert not any(fits(waiting, f) and left[f.facility_id] > 0 for f in facilities)


@settings(max_examples=150, deadline=None)
@region
def test_the_responsible_municipality_then_the_preferred_ones_give_the_place_when_they_can(
    clients: list[WaitingClient], facilities: list[FacilityPlaces]
) -> None:
    matches = match_waiting_clients(clients, facilities)
    # Replayed in match order (waiting-list order): at each client's turn, no earlier tier had a fitting free place,
    # and within the tier that gave it the place went to the lowest facility id.
    left = {f.facility_id: f.free_places for f in facilities}
    for m in matches:
        c = m.client
        open_ids: dict[str, list[str]] = {f.municipality: [] for f in facilities}
        for f in sorted(facilities, key=lambda f: f.facility_id):
            if fits(c, f) and left[f.facility_id] > 0:
                open_ids[f.municipality].append(f.facility_id)
        preferred = [p for p in c.preferred_municipalities if p != c.responsible_municipality]
        tiers = [c.responsible_municipality, *preferred]
        first_open = next((t for t in tiers if open_ids.get(t)), None)
        if first_open is not None:
            assert m.preference == ("responsible" if first_open == c.responsible_municipality else "preferred")
            assert m.facility_id == open_ids[first_open][0]
        else:
            assert m.preference == "region"
            assert m.facility_id == min(i for ids in open_ids.values() for i in ids)
        left[m.facility_id] -= 1
    assert [(m.client.client_ref, m.facility_id, m.preference) for m in matches] == reference(clients, facilities)


@settings(max_examples=100, deadline=None)
@given(clients_strategy, facilities_strategy, st.randoms())
def test_matching_does_not_depend_on_input_order(
    clients: list[WaitingClient], facilities: list[FacilityPlaces], rng: random.Random
) -> None:
    shuffled_clients, shuffled_facilities = list(clients), list(facilities)
    rng.shuffle(shuffled_clients)
    rng.shuffle(shuffled_facilities)
    assert match_waiting_clients(clients, facilities) == match_waiting_clients(shuffled_clients, shuffled_facilities)
