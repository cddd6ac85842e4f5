"""Housing's view of a client (pure): episodes, readiness per placement, who is responsible on a day, and which
endings withdraw an open offer."""

from dataclasses import replace
from datetime import date

from zorgstroom_contracts.codes import EndReason
from zorgstroom_housing.domain.clients import (
    acceptance_voided,
    assessed,
    consent_in_force,
    ending_withdraws_offer,
    left_placement,
    offer_made_in,
    placed,
    registered,
    responsible_on,
)
from zorgstroom_housing.domain.model import ConsentFact, HousingClient, OfferRow, Transfer

ALMERE, LELYSTAD, DRONTEN, ZWOLLE = "0034", "0995", "0303", "0193"


def transfer(to: str, effective_on: date, intake_ids: set[str] | None, received: int = 0) -> Transfer:
    return Transfer(
        f"t{received}", "c", to, effective_on, frozenset(intake_ids) if intake_ids is not None else None, received
    )


def test_before_its_effective_date_a_transfer_does_not_count() -> None:
    moved = [transfer(LELYSTAD, date(2027, 5, 1), {"i1"})]
    assert responsible_on(date(2027, 4, 30), ALMERE, "i1", moved) == ALMERE
    assert responsible_on(date(2027, 5, 1), ALMERE, "i1", moved) == LELYSTAD


def test_the_latest_transfer_in_force_holds_and_of_one_day_the_later_received() -> None:
    moves = [
        transfer(LELYSTAD, date(2027, 5, 1), {"i1"}, 1),
        transfer(DRONTEN, date(2027, 6, 1), {"i1"}, 2),
        transfer(ZWOLLE, date(2027, 6, 1), {"i1"}, 3),
    ]
    assert responsible_on(date(2027, 5, 31), ALMERE, "i1", moves) == LELYSTAD
    assert responsible_on(date(2027, 6, 1), ALMERE, "i1", moves) == ZWOLLE


def test_a_later_registration_starts_fresh() -> None:
    moved = [transfer(LELYSTAD, date(2027, 5, 1), {"i1"})]
    assert responsible_on(date(2027, 9, 1), DRONTEN, "i2", moved) == DRONTEN


def test_a_transfer_without_an_episode_holds_only_where_none_is_known() -> None:
    old = [transfer(LELYSTAD, date(2027, 5, 1), None)]
    assert responsible_on(date(2027, 6, 1), ALMERE, None, old) == LELYSTAD
    assert responsible_on(date(2027, 6, 1), ALMERE, "i2", old) == ALMERE


def test_a_client_whose_episode_is_not_known_follows_a_transfer_naming_one() -> None:
    # placed before housing kept the episode (intake_id NULL): the transfer is about their current episode
    moved = [transfer(LELYSTAD, date(2027, 5, 1), {"i1"})]
    assert responsible_on(date(2027, 4, 30), ALMERE, None, moved) == ALMERE
    assert responsible_on(date(2027, 5, 1), ALMERE, None, moved) == LELYSTAD


def test_a_new_placement_starts_unready_with_its_own_episode() -> None:
    ready = HousingClient("c", ALMERE, placement_id="p1", intake_id="i1", ready_since=date(2027, 3, 1))
    moved_on = placed(ready, "c", "p2", "i2", DRONTEN)
    assert (moved_on.placement_id, moved_on.intake_id, moved_on.responsible_municipality) == ("p2", "i2", DRONTEN)
    assert moved_on.ready_since is None


def test_a_placement_whose_assessment_came_first_keeps_its_readiness() -> None:
    early, _ = assessed(None, "c", "p1", ALMERE, date(2027, 3, 1), ready=True, support_at_home=False, preferred=None)
    assert placed(early, "c", "p1", "i1", ALMERE).ready_since == date(2027, 3, 1)


def test_ready_since_is_kept_across_later_ready_assessments_of_the_same_placement() -> None:
    first, became = assessed(
        None, "c", "p1", ALMERE, date(2027, 3, 1), ready=True, support_at_home=False, preferred=None
    )
    again, again_became = assessed(
        first, "c", "p1", ALMERE, date(2027, 4, 1), ready=True, support_at_home=True, preferred=[LELYSTAD]
    )
    assert became and not again_became
    assert (again.ready_since, again.support_at_home, again.preferred_municipalities) == (
        date(2027, 3, 1),
        True,
        (LELYSTAD,),
    )


def test_readiness_of_an_earlier_placement_does_not_carry_over() -> None:
    old = HousingClient("c", ALMERE, placement_id="p1", ready_since=date(2027, 1, 1))
    new, became = assessed(old, "c", "p2", ALMERE, date(2027, 6, 1), ready=True, support_at_home=False, preferred=None)
    assert became and new.ready_since == date(2027, 6, 1)


def test_the_end_of_an_earlier_placement_leaves_the_current_one() -> None:
    current = HousingClient("c", ALMERE, placement_id="p2", ready_since=date(2027, 6, 1))
    assert left_placement(current, "p1") == current
    assert left_placement(current, "p2").placement_id is None and left_placement(current, "p2").ready_since is None


def test_a_registration_while_placed_keeps_the_placements_episode() -> None:
    in_shelter = HousingClient("c", ALMERE, placement_id="p1", intake_id="i1")
    waiting_for_bw = registered(in_shelter, "c", "i2", DRONTEN, [LELYSTAD], 2, 1, on=date(2027, 3, 1))
    assert (waiting_for_bw.responsible_municipality, waiting_for_bw.intake_id) == (ALMERE, "i1")
    assert (waiting_for_bw.adults, waiting_for_bw.children, waiting_for_bw.preferred_municipalities) == (
        2,
        1,
        (LELYSTAD,),
    )
    assert registered(None, "c", "i3", DRONTEN, [], 1, 0, on=date(2027, 3, 1)).responsible_municipality == DRONTEN


def test_the_registration_entered_last_holds_even_when_dated_back() -> None:
    shelter = registered(None, "c", "i-mo", ALMERE, [DRONTEN], 1, 0, on=date(2027, 5, 20))
    housing_first = registered(shelter, "c", "i-bw", LELYSTAD, [LELYSTAD], 2, 1, on=date(2027, 5, 15))
    assert (
        housing_first.intake_id,
        housing_first.responsible_municipality,
        housing_first.adults,
        housing_first.children,
        housing_first.preferred_municipalities,
    ) == ("i-bw", LELYSTAD, 2, 1, (LELYSTAD,))


def test_wishes_an_assessment_told_after_a_registrations_day_are_kept_and_older_ones_are_not() -> None:
    placed = replace(registered(None, "c", "i1", ALMERE, [DRONTEN], 1, 0, on=date(2027, 1, 5)), placement_id="p1")
    wishes, _ = assessed(
        placed, "c", "p1", ALMERE, date(2027, 3, 1), ready=True, support_at_home=False, preferred=[LELYSTAD]
    )
    again = registered(wishes, "c", "i1", ALMERE, [DRONTEN], 2, 0, on=date(2027, 1, 5))  # late on its topic
    assert (again.preferred_municipalities, again.adults) == ((LELYSTAD,), 2)
    late, _ = assessed(
        placed, "c", "p1", ALMERE, date(2027, 1, 2), ready=True, support_at_home=False, preferred=[LELYSTAD]
    )  # told before the registration's day, arriving after it on its own topic
    assert late.preferred_municipalities == (DRONTEN,)


def test_only_an_ending_as_planned_keeps_an_open_offer() -> None:
    assert not ending_withdraws_offer(EndReason.ENDED_AS_PLANNED)
    assert ending_withdraws_offer(EndReason.CHANGE_REQUEST)  # doorstroom to another care form
    assert all(ending_withdraws_offer(r) for r in EndReason if r != EndReason.ENDED_AS_PLANNED)


def test_an_offer_belongs_to_the_placement_it_was_made_in() -> None:
    offer = OfferRow(
        "o",
        "u",
        "corp",
        "c",
        ALMERE,
        "WK003401",
        ALMERE,
        2027,
        1,
        1,
        False,
        date(2027, 4, 1),
        date(2027, 4, 15),
        placement_id="p1",
    )
    assert offer_made_in(offer, "p1") and not offer_made_in(offer, "p2")
    assert offer_made_in(replace(offer, placement_id=None), "p2")  # from before offers knew their placement


# --- consent to share with corporations (rule 14): the latest dated fact, a recorded one first on a day ---------

REGISTERED_YES = ConsentFact(True, date(2027, 3, 1))
RECORDED_NO = ConsentFact(False, date(2027, 3, 1), recorded=True)


def test_the_first_fact_about_consent_is_the_one_in_force() -> None:
    assert consent_in_force(None, REGISTERED_YES) == REGISTERED_YES


def test_a_later_fact_replaces_an_earlier_one_and_an_earlier_one_arriving_late_does_not() -> None:
    withdrawn_in_april = ConsentFact(False, date(2027, 4, 2), recorded=True)
    assert consent_in_force(REGISTERED_YES, withdrawn_in_april) == withdrawn_in_april
    # A registration of 5 March (consent yes) that arrives after the withdrawal of 2 April changes nothing.
    assert consent_in_force(withdrawn_in_april, ConsentFact(True, date(2027, 3, 5))) == withdrawn_in_april
    # A registration of 3 April does: it is the latest fact.
    new_registration = ConsentFact(True, date(2027, 4, 3))
    assert consent_in_force(withdrawn_in_april, new_registration) == new_registration


def test_on_the_same_day_the_recorded_fact_outranks_the_registration_in_either_order() -> None:
    assert consent_in_force(REGISTERED_YES, RECORDED_NO) == RECORDED_NO
    assert consent_in_force(RECORDED_NO, REGISTERED_YES) == RECORDED_NO


def test_of_two_recorded_facts_of_one_day_the_later_arrival_holds() -> None:
    given_again = ConsentFact(True, date(2027, 3, 1), recorded=True)
    assert consent_in_force(RECORDED_NO, given_again) == given_again


def test_a_client_consents_from_the_day_of_a_given_consent_and_not_at_all_without_one() -> None:
    assert HousingClient("c", consent=REGISTERED_YES).consent_since == date(2027, 3, 1)
    assert HousingClient("c", consent=RECORDED_NO).consent_since is None
    assert HousingClient("c").consent_since is None  # never told is no consent


def test_a_voided_acceptance_unhouses_the_client_unless_a_next_placement_began_since() -> None:
    offer = OfferRow(
        "o1", "u1", "corp", "c", ALMERE, "WK003402", ALMERE, 2027, 1, 1, False, date(2027, 4, 1), date(2027, 4, 15),
        placement_id="p1",
    )  # fmt: skip
    left = HousingClient("c", ALMERE, placement_id=None, housed_on=date(2027, 4, 10))
    assert acceptance_voided(left, offer).housed_on is None
    # Its ending not here yet: the refusal tells already that the client left the placement.
    still_in_it = replace(left, placement_id="p1", ready_since=date(2027, 2, 1))
    voided = acceptance_voided(still_in_it, offer)
    assert (voided.placement_id, voided.ready_since, voided.housed_on) == (None, None, None)
    housed_again = HousingClient("c", ALMERE, placement_id="p2", housed_on=date(2027, 9, 1))
    assert acceptance_voided(housed_again, offer) == housed_again
