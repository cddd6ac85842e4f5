"""The flow report's shape: every figure of the total, the splits and the breakdowns, and the CSV line that
flattens the splits into `BW.inflow`-style columns."""

from zorgstroom_reporting.domain.flows import Flows
from zorgstroom_reporting.queries.documents import flat, shown

ROW = {"registrations": 3, "inflow": 0, "waiting_at_end": 7, "waiting_days_median": 12.0}
FLOWS = Flows(
    total=ROW,
    by_group={"BW": {"registrations": 2, "inflow": 0, "waiting_at_end": 7, "waiting_days_median": 12.0}},
    by_care_form={"MO_24H": {"registrations": 1, "inflow": 0, "waiting_at_end": 0, "waiting_days_median": None}},
    ended_other_by_reason={},
    doorstroom_by_pair={"MO_EMERGENCY->BW_24H": 2, "MO_24H->BW_24H": 6},
)


def test_the_document_shows_every_figure_of_the_total_the_splits_and_the_breakdowns() -> None:
    document = shown(FLOWS)  # protection happens before (domain/disclosure.py): the shape adds nothing
    assert (document["registrations"], document["by_care_form"]["MO_24H"]["registrations"]) == (3, 1)
    assert document["doorstroom_by_pair"] == {"MO_EMERGENCY->BW_24H": 2, "MO_24H->BW_24H": 6}


def test_a_csv_line_flattens_the_splits_and_the_breakdowns() -> None:
    line = flat({"month": "2027-01"} | shown(FLOWS))
    assert line["BW.registrations"] == 2 and line["MO_24H.waiting_days_median"] is None
    assert (
        line["doorstroom_by_pair"] == "MO_EMERGENCY->BW_24H=2;MO_24H->BW_24H=6" and line["ended_other_by_reason"] == ""
    )
    assert "by_group" not in line and line["month"] == "2027-01"
