"""The flow report's shape: every count of the splits is masked exactly as the totals are, a breakdown with a
masked part is withheld, and the CSV line flattens the splits into `BW.inflow`-style columns."""

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


def test_small_counts_in_every_split_are_masked_for_other_viewers() -> None:
    masked = shown(FLOWS, 5, exact=False)
    assert (masked["registrations"], masked["inflow"], masked["waiting_at_end"]) == ("<5", 0, 7)
    assert (
        masked["by_group"]["BW"]["registrations"] == "<5" and masked["by_care_form"]["MO_24H"]["registrations"] == "<5"
    )
    assert masked["doorstroom_by_pair"] is None  # one pair would be "<5": the breakdown is withheld
    assert shown(FLOWS, 5, exact=True)["doorstroom_by_pair"] == {"MO_EMERGENCY->BW_24H": 2, "MO_24H->BW_24H": 6}


def test_a_csv_line_flattens_the_splits_and_the_breakdowns() -> None:
    line = flat({"month": "2027-01"} | shown(FLOWS, 5, exact=True))
    assert line["BW.registrations"] == 2 and line["MO_24H.waiting_days_median"] is None
    assert (
        line["doorstroom_by_pair"] == "MO_EMERGENCY->BW_24H=2;MO_24H->BW_24H=6" and line["ended_other_by_reason"] == ""
    )
    assert "by_group" not in line and line["month"] == "2027-01"
