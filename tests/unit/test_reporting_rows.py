"""Reporting's events folded into rows, before any SQL: a start and an end of one placement, or an offer
and its answer, arriving in either order within a batch, end in one row holding both."""

import datetime as dt

from tests.integration.test_reporting_numbers import C2, ended, made
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import Event, HousingOfferAccepted, HousingOfferMade
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
