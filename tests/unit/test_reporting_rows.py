"""Reporting's events folded into rows, before any SQL: a start and an end of one placement, or an offer
and its answer, arriving in either order within a batch, end in one row holding both."""

import datetime as dt

from tests.integration.test_reporting_numbers import C2, ended, made
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    Event,
    HousingOfferAccepted,
    HousingOfferMade,
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
