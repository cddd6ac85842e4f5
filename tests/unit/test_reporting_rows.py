"""Reporting's events folded into rows, before any SQL: a start and an end of one placement, or an offer
and its answer, arriving in either order within a batch, end in one row holding both."""

import datetime as dt

from tests.integration.test_reporting_numbers import C2, ended, made
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferMade,
    OutflowRefused,
    RegistrationWithdrawn,
    ResponsibilityTransferred,
)
from zorgstroom_reporting.projections.rows import OFFER_COLUMNS, PLACEMENT_COLUMNS, fold


def enveloped(*events: Event) -> list[tuple[Envelope, Event]]:
    return [(Envelope.wrap(e, producer="t", region="flevoland"), e) for e in events]


def as_dict(columns: tuple[str, ...], row: tuple[object, ...]) -> dict[str, object]:
    return dict(zip(columns, row, strict=True))


def test_a_start_and_an_end_in_either_order_are_one_row() -> None:
    start = made("p2", C2, "i2", "fac-b", "0995", "MO_24H", "2027-02-10", 31)
    end = ended("p2", C2, "fac-b", "21", "2027-03-10")
    for order in ((start, end), (end, start)):
        row = as_dict(PLACEMENT_COLUMNS, fold(enveloped(*order)).placements["p2"])
        assert (row["start_date"], row["waited_days"], row["wijk"]) == (dt.date(2027, 2, 10), 31, "WK099501")
        assert (row["end_date"], row["end_reason"]) == (dt.date(2027, 3, 10), "21")
        assert (row["client_ref"], row["facility_id"], row["intake_id"]) == (C2, "fac-b", "i2")


def test_an_end_alone_carries_what_it_knows_and_leaves_the_start_open() -> None:
    row = as_dict(PLACEMENT_COLUMNS, fold(enveloped(ended("p9", C2, "fac-b", "02", "2027-04-01"))).placements["p9"])
    assert (row["start_date"], row["intake_id"], row["end_reason"]) == (None, None, "02")


def test_an_answer_before_its_offer_is_one_row_with_both() -> None:
    offer = HousingOfferMade(offer_id="o1", unit_id="u1", corporation_id="c", client_ref=C2, municipality="0034",
                             offered_on="2027-03-20", wijk="WK003402", quota_year=2027)  # type: ignore[arg-type]  # fmt: skip
    answer = HousingOfferAccepted(offer_id="o1", unit_id="u1", client_ref=C2, answered_on="2027-03-25")  # type: ignore[arg-type]
    row = as_dict(OFFER_COLUMNS, fold(enveloped(answer, offer)).offers["o1"])
    assert (row["corporation_id"], row["quota_year"], row["status"], row["answered_on"]) == (
        "c", 2027, "accepted", dt.date(2027, 3, 25),
    )  # fmt: skip


def test_an_acceptance_placement_refused_counts_as_voided_in_either_order() -> None:
    offer = HousingOfferMade(offer_id="o1", unit_id="u1", corporation_id="c", client_ref=C2, municipality="0034",
                             offered_on="2027-03-20", wijk="WK003402", quota_year=2027)  # type: ignore[arg-type]  # fmt: skip
    answer = HousingOfferAccepted(offer_id="o1", unit_id="u1", client_ref=C2, answered_on="2027-03-25")  # type: ignore[arg-type]
    refused = OutflowRefused(offer_id="o1", unit_id="u1", client_ref=C2, reason="placement_ended",  # type: ignore[arg-type]
                             refused_on="2027-03-26")  # type: ignore[arg-type]  # fmt: skip
    for order in ((offer, answer, refused), (refused, offer, answer), (answer, refused, offer)):
        row = as_dict(OFFER_COLUMNS, fold(enveloped(*order)).offers["o1"])
        assert (row["quota_year"], row["status"], row["answered_on"], row["reason"]) == (
            2027, "voided", dt.date(2027, 3, 26), "placement_ended",
        )  # fmt: skip


def test_an_ending_first_says_the_care_form_and_intake_and_the_start_keeps_them() -> None:
    end = ended("p3", C2, "fac-b", "37", "2027-03-10").model_copy(
        update={"care_form": "MO_EMERGENCY", "intake_id": "i3", "doorstroom_to": "BW_24H"}
    )
    start = made("p3", C2, "i3", "fac-b", "0995", "MO_EMERGENCY", "2027-02-10", 0).model_copy(
        update={"intake_id": None}
    )
    for order in ((start, end), (end, start)):
        row = as_dict(PLACEMENT_COLUMNS, fold(enveloped(*order)).placements["p3"])
        assert (row["intake_id"], row["care_form"], row["doorstroom_to"]) == ("i3", "MO_EMERGENCY", "BW_24H")
        assert row["start_date"] == dt.date(2027, 2, 10)


def test_a_withdrawal_is_a_row_of_its_own_whenever_it_arrives() -> None:
    withdrawn = RegistrationWithdrawn(intake_id="i1", client_ref=C2, responsible_municipality="0034",
                                      care_form="BW_24H", reason="duplicate", withdrawn_on="2027-04-01")  # type: ignore[arg-type]  # fmt: skip
    assert fold(enveloped(withdrawn)).withdrawals["i1"] == (
        "i1",
        C2,
        "0034",
        "BW_24H",
        "duplicate",
        dt.date(2027, 4, 1),
    )


def test_an_accepted_transfer_keeps_its_episode() -> None:
    moved = ResponsibilityTransferred(client_ref=C2, from_municipality="0034", to_municipality="0363",
                                      to_in_region=False, reason="origin", effective_on="2027-05-01", transfer_id="t1",
                                      intake_ids=["i2", "i1"], accepted_on="2027-04-28")  # type: ignore[arg-type]  # fmt: skip
    (row,) = fold(enveloped(moved)).transfers.values()
    assert row[-4:] == ("t1", '["i1", "i2"]', dt.date(2027, 4, 28), False)  # and whether it stays in the region


T = dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)


def at(seconds: int, *events: Event) -> list[tuple[Envelope, Event]]:
    """Events whose producer's clock said T plus `seconds`."""
    return [
        (Envelope.wrap(e, producer="t", region="flevoland", occurred_at=T + dt.timedelta(seconds=seconds)), e)
        for e in events
    ]


def facility(capacity: int, version: int | None) -> FacilityRegistered:
    return FacilityRegistered(facility_id="fac-a", provider_agb="11111111", name="A", municipality="0034",
                              wijk="WK003401", care_form="BW_24H", capacity=capacity, supported_needs=[],
                              version=version)  # type: ignore[arg-type]  # fmt: skip


def quota(homes: int, version: int | None) -> HousingContingentAgreed:
    return HousingContingentAgreed(corporation_id="c", municipality="0034", year=2027, homes=homes, version=version)


def test_the_later_change_of_a_facility_wins_whatever_its_clock() -> None:
    rows = fold(at(120, facility(5, 1)) + at(30, facility(3, 2)))  # the second producer's clock is behind
    assert rows.facilities["fac-a"][5] == 3


def test_the_later_change_of_a_quota_wins_whatever_its_clock() -> None:
    rows = fold(at(120, quota(5, 1)) + at(30, quota(3, 2)))
    assert rows.contingents[("c", "0034", 2027)][3] == 3


def test_the_higher_version_wins_even_where_it_is_read_first() -> None:
    # Not on one topic (a key's changes arrive in order) but across batches, which a rebuild writes at once
    rows = fold(at(0, facility(3, 2)) + at(60, facility(5, 1)), offsets=[8, 9])
    assert rows.facilities["fac-a"][5] == 3


def test_without_versions_the_later_record_on_the_topic_wins_and_any_version_beats_none() -> None:
    old_history = fold(at(120, facility(5, None)) + at(30, facility(3, None)))  # published before versions
    assert old_history.facilities["fac-a"][5] == 3
    rows = fold(at(0, quota(4, 1)) + at(60, quota(9, None)), offsets=[2, 3])
    assert rows.contingents[("c", "0034", 2027)][3] == 4
