"""Matching waiting clients to places (DOMAIN.md rule 3): examples, and properties over random regions."""

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
    fid: str, municipality: str, free: int, needs: frozenset[Need] = frozenset({PSY, ADD}), care_form=CareForm.MO_24H
) -> FacilityPlaces:  # type: ignore[no-untyped-def]
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
    out = []
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


@settings(max_examples=300, deadline=None)
@given(clients_strategy, facilities_strategy)
def test_matching_follows_the_rule_and_breaks_no_invariant(clients, facilities) -> None:  # type: ignore[no-untyped-def]
    matches = match_waiting_clients(clients, facilities)
    by_id = {f.facility_id: f for f in facilities}
    taken: dict[str, int] = {}
    for m in matches:
        taken[m.facility_id] = taken.get(m.facility_id, 0) + 1
        assert fits(m.client, by_id[m.facility_id])  # same care form, every need supported
    assert all(n <= by_id[f].free_places for f, n in taken.items())  # never above capacity
    assert len({m.client.client_ref for m in matches}) == len(matches)  # nobody placed twice
    left = {f.facility_id: f.free_places - taken.get(f.facility_id, 0) for f in facilities}
    matched = {m.client.client_ref for m in matches}
    for c in clients:  # first come, first served, emergency first: nobody unplaced while a fitting place is free
        if c.client_ref not in matched:
            assert not any(fits(c, f) and left[f.facility_id] > 0 for f in facilities)
    assert [(m.client.client_ref, m.facility_id, m.preference) for m in matches] == reference(clients, facilities)


@settings(max_examples=100, deadline=None)
@given(clients_strategy, facilities_strategy, st.randoms())
def test_matching_does_not_depend_on_input_order(clients, facilities, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    shuffled_clients, shuffled_facilities = list(clients), list(facilities)
    rng.shuffle(shuffled_clients)
    rng.shuffle(shuffled_facilities)
    assert match_waiting_clients(clients, facilities) == match_waiting_clients(shuffled_clients, shuffled_facilities)


@settings(max_examples=200, deadline=None)
@given(clients_strategy, facilities_strategy)
def test_an_emergency_client_is_never_passed_over_for_a_less_urgent_one(clients, facilities) -> None:  # type: ignore[no-untyped-def]
    matches = match_waiting_clients(clients, facilities)
    matched = {m.client.client_ref for m in matches}
    for waiting in clients:
        if waiting.urgency is Urgency.EMERGENCY and waiting.client_ref not in matched:
            for m in matches:
                assert not (m.client.urgency is not Urgency.EMERGENCY and fits(waiting, _facility(facilities, m)))


def _facility(facilities: list[FacilityPlaces], match: Match) -> FacilityPlaces:
    return next(f for f in facilities if f.facility_id == match.facility_id)
