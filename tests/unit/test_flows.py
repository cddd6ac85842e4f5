"""Monthly flows worked out by hand from a few facts, including ones that arrived out of order."""

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from zorgstroom_reporting.domain.consent import consents_on
from zorgstroom_reporting.domain.facts import (
    Assessment,
    Consent,
    Facts,
    Outflow,
    PlacementFact,
    Registration,
    Transfer,
    Withdrawal,
)
from zorgstroom_reporting.domain.flows import Flows, monthly_flows, totals
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.solidarity import region_matrix
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
ALMERE, URK, LELYSTAD = "0034", "0184", "0995"


def reg(n: int, on: str, who: str = ALMERE, form: str = "BW_24H") -> Registration:
    return Registration(f"i{n}", f"c{n}", who, date.fromisoformat(on), form)


def placed(
    n: int, start: str, waited: int, end: str | None = None, reason: str | None = None, form: str = "BW_24H"
) -> PlacementFact:
    return PlacementFact(
        f"p{n}", f"i{n}", f"c{n}", ALMERE, LELYSTAD, date.fromisoformat(start), waited,
        date.fromisoformat(end) if end else None, reason, form,
    )  # fmt: skip


def facts() -> Facts:
    """c1 placed (BW) in Jan and housed in Mar; c2 placed (MO_24H) in Feb and left in Mar (reason 21); c3
    still waits; c1 registers again in Jun (a relapse); c4 is Urk's."""
    return Facts(
        registrations=[
            reg(1, "2027-01-05"),
            reg(2, "2027-01-10", form="MO_24H"),
            reg(3, "2027-02-01"),
            reg(4, "2027-01-20", URK),
            Registration("i5", "c1", ALMERE, date(2027, 6, 1), "BW_24H"),
        ],
        placements=[
            placed(1, "2027-01-15", 10, "2027-03-31", "19"),
            placed(2, "2027-02-10", 31, "2027-03-10", "21", form="MO_24H"),
        ],
        outflows=[Outflow("p1", "c1", ALMERE, date(2027, 3, 31))],
        assessments=[
            Assessment("p1", date(2027, 2, 1), False),
            Assessment("p1", date(2027, 2, 20), True),
            Assessment("p1", date(2027, 3, 1), True),
        ],
    )


def column(months: dict[Month, Flows], name: str, group: str | None = None) -> list[float | int | None]:
    return [(months[m].by_group[group] if group else months[m].total)[name] for m in sorted(months)]


def flows(f: Facts, who: str, start: Month, end: Month) -> dict[Month, Flows]:
    return monthly_flows(f, who, start, end, REGION)


def test_every_flow_is_counted_in_the_month_of_its_business_date() -> None:
    months = flows(facts(), ALMERE, Month(2027, 1), Month(2027, 6))
    assert column(months, "registrations") == [2, 1, 0, 0, 0, 1]
    assert column(months, "inflow") == [1, 1, 0, 0, 0, 0]
    assert column(months, "outflow") == [0, 0, 1, 0, 0, 0]
    assert column(months, "ended_other") == [0, 0, 1, 0, 0, 0]  # the 19 with an outflow is not "other"
    assert column(months, "waiting_at_end") == [1, 1, 1, 1, 1, 2]  # c2 in Jan; c3 from Feb; c1 again in Jun
    assert column(months, "relapses") == [0, 0, 0, 0, 0, 1]
    assert column(months, "waiting_days_median") == [10.0, 31.0, None, None, None, None]
    assert column(months, "stay_days_median") == [None, None, 51.5, None, None, None]  # 75 and 28 days


def test_bw_and_mo_are_counted_apart_and_add_up_to_the_total() -> None:
    months = flows(facts(), ALMERE, Month(2027, 1), Month(2027, 3))
    assert column(months, "registrations", "BW") == [1, 1, 0] and column(months, "registrations", "MO") == [1, 0, 0]
    assert column(months, "inflow", "BW") == [1, 0, 0] and column(months, "inflow", "MO") == [0, 1, 0]
    assert column(months, "waiting_days_median", "MO") == [None, 31.0, None]  # not mixed with BW's 10 days
    assert column(months, "ended_other", "MO") == [0, 0, 1] and column(months, "outflow", "BW") == [0, 0, 1]
    march = months[Month(2027, 3)]
    assert march.by_care_form["MO_24H"]["ended_other"] == 1 and march.by_care_form["BW_HOME"]["ended_other"] == 0


def test_the_wait_of_those_still_waiting_at_month_end_is_measured_too() -> None:
    months = flows(facts(), ALMERE, Month(2027, 1), Month(2027, 6))
    # Jan: c2 waits since 10 Jan (21 days on 31 Jan); Feb: c3 since 1 Feb (27); Jun: c3 (149) and c1 (29)
    assert column(months, "waiting_now_days_median") == [21.0, 27.0, 58.0, 88.0, 119.0, 89.0]
    assert months[Month(2027, 6)].total["waiting_now_days_p90"] == 149.0


def test_ready_but_not_housed_is_a_state_at_month_end_with_its_duration() -> None:
    months = flows(facts(), ALMERE, Month(2027, 1), Month(2027, 3))
    assert column(months, "ready_not_housed_at_end") == [0, 1, 0]  # housed on the last day of March
    assert months[Month(2027, 2)].total["ready_not_housed_days_median"] == 8.0  # ready since 20 Feb


def test_totals_add_counts_and_take_states_at_the_end() -> None:
    total = totals(flows(facts(), ALMERE, Month(2027, 1), Month(2027, 6)))
    assert total.total == {
        "registrations": 4, "inflow": 2, "doorstroom": 0, "outflow": 1, "ended_other": 1, "relapses": 1,
        "withdrawals": 0, "transfers_in": 0, "transfers_out": 0, "waiting_at_end": 2, "ready_not_housed_at_end": 0,
        "ready_no_consent_at_end": 0,
    }  # fmt: skip
    assert total.by_group["MO"]["registrations"] == 1 and total.ended_other_by_reason == {"21": 1}


def test_a_withdrawn_registration_leaves_the_waiting_list_from_its_withdrawal_date() -> None:
    f = facts()
    f.withdrawals.append(Withdrawal("i3", "c3", ALMERE, date(2027, 4, 30), "duplicate", "BW_24H"))
    months = flows(f, ALMERE, Month(2027, 3), Month(2027, 5))
    assert column(months, "withdrawals") == [0, 1, 0]
    assert column(months, "waiting_at_end") == [1, 0, 0]  # withdrawn on the last day of April: gone at its end


def test_doorstroom_is_counted_per_pair_apart_from_inflow_outflow_and_other_endings() -> None:
    shelter = PlacementFact("p8", "i8", "c8", ALMERE, ALMERE, date(2027, 1, 3), 0, date(2027, 2, 14), "37",
                            "MO_EMERGENCY", doorstroom_to="BW_24H")  # fmt: skip
    housing = PlacementFact("p9", "i9", "c8", ALMERE, LELYSTAD, date(2027, 2, 14), 30, None, None, "BW_24H",
                            doorstroom_from="p8")  # fmt: skip
    f = Facts(
        registrations=[
            reg(8, "2027-01-03", form="MO_EMERGENCY"),
            Registration("i9", "c8", ALMERE, date(2027, 1, 15), "BW_24H"),
        ],
        placements=[shelter, housing],
    )  # fmt: skip
    months = flows(f, ALMERE, Month(2027, 1), Month(2027, 2))
    assert column(months, "inflow") == [1, 0]  # the move to BW is doorstroom, not a second inflow
    assert column(months, "doorstroom") == [0, 1] and column(months, "ended_other") == [0, 0]
    assert months[Month(2027, 2)].doorstroom_by_pair == {"MO_EMERGENCY->BW_24H": 1}
    assert column(months, "doorstroom", "MO") == [0, 1] and column(months, "waiting_at_end") == [1, 0]


def test_a_transfer_moves_a_waiting_client_to_the_new_municipality_from_its_date() -> None:
    moved = facts()
    moved.transfers.append(Transfer("c3", URK, date(2027, 4, 15), ALMERE))
    almere = flows(moved, ALMERE, Month(2027, 3), Month(2027, 4))
    urk = flows(moved, URK, Month(2027, 3), Month(2027, 4))
    assert column(almere, "waiting_at_end") == [1, 0] and column(almere, "transfers_out") == [0, 1]
    assert column(urk, "waiting_at_end") == [1, 2] and column(urk, "transfers_in", "BW") == [0, 1]


def test_a_transfer_applies_to_its_episode_and_a_later_registration_starts_fresh() -> None:
    f = Facts(
        registrations=[reg(3, "2027-02-01"), Registration("i6", "c3", ALMERE, date(2027, 6, 1), "MO_24H")],
        transfers=[Transfer("c3", URK, date(2027, 4, 15), ALMERE, ("i3",))],
    )
    june = Month(2027, 6)
    assert flows(f, ALMERE, june, june)[june].total["waiting_at_end"] == 1  # i6 is Almere's again
    assert flows(f, URK, june, june)[june].total["waiting_at_end"] == 1  # i3 stays Urk's
    older = Facts(registrations=f.registrations, transfers=[Transfer("c3", URK, date(2027, 4, 15), ALMERE)])
    assert flows(older, ALMERE, june, june)[june].total["waiting_at_end"] == 1  # an older transfer: up to its date


def test_a_client_transferred_out_of_the_region_waits_no_longer_from_the_transfers_date() -> None:
    # c3 waits from 1 Feb; Amsterdam (outside the region) takes over from 15 April: waiting at the end of March
    # (Almere's), no longer at the end of April, for Almere or for Amsterdam as a municipality elsewhere
    amsterdam = "0363"
    out = Transfer("c3", amsterdam, date(2027, 4, 15), ALMERE, ("i3",), date(2027, 4, 1), "t1", to_in_region=False)
    f = Facts(registrations=[reg(3, "2027-02-01")], transfers=[out])
    almere = flows(f, ALMERE, Month(2027, 3), Month(2027, 4))
    elsewhere = flows(f, amsterdam, Month(2027, 3), Month(2027, 4))
    assert column(almere, "waiting_at_end") == [1, 0] and column(almere, "transfers_out") == [0, 1]
    assert column(elsewhere, "waiting_at_end") == [0, 0] and column(elsewhere, "transfers_in") == [0, 1]
    inside = Facts(registrations=f.registrations, transfers=[Transfer("c3", URK, date(2027, 4, 15), ALMERE, ("i3",))])
    assert column(flows(inside, URK, Month(2027, 4), Month(2027, 4)), "waiting_at_end") == [1]


def test_transfers_of_one_day_take_effect_in_a_defined_order_whatever_order_they_are_read_in() -> None:
    # both take effect on 15 April; the one accepted later (to Lelystad) holds, read first or last
    urk = Transfer("c3", URK, date(2027, 4, 15), ALMERE, ("i3",), date(2027, 4, 1), "t-a")
    lelystad = Transfer("c3", LELYSTAD, date(2027, 4, 15), URK, ("i3",), date(2027, 4, 2), "t-b")
    april = Month(2027, 4)
    for transfers in ([urk, lelystad], [lelystad, urk]):
        f = Facts(registrations=[reg(3, "2027-02-01")], transfers=transfers)
        assert flows(f, LELYSTAD, april, april)[april].total["waiting_at_end"] == 1
        assert flows(f, URK, april, april)[april].total["waiting_at_end"] == 0
    same_day = Transfer("c3", LELYSTAD, date(2027, 4, 15), URK, ("i3",), date(2027, 4, 1), "t-0")
    for transfers in ([urk, same_day], [same_day, urk]):  # accepted the same day too: by transfer id
        f = Facts(registrations=[reg(3, "2027-02-01")], transfers=transfers)
        assert flows(f, URK, april, april)[april].total["waiting_at_end"] == 1


def test_an_ending_that_arrived_before_its_placement_counts_once_the_placement_is_known() -> None:
    early = Facts(
        registrations=[reg(7, "2027-01-02")],
        placements=[PlacementFact("p7", None, "c7", ALMERE, None, None, None, date(2027, 2, 1), "22")],
    )
    months = flows(early, ALMERE, Month(2027, 1), Month(2027, 2))
    assert column(months, "inflow") == [0, 0] and column(months, "ended_other") == [0, 1]
    assert column(months, "ended_other", "BW") == [0, 0]  # its care form is not known yet: in the total only
    complete = Facts(registrations=early.registrations, placements=[placed(7, "2027-01-03", 1, "2027-02-01", "22")])
    months = flows(complete, ALMERE, Month(2027, 1), Month(2027, 2))
    assert column(months, "inflow") == [1, 0] and column(months, "ended_other") == [0, 1]


def test_the_matrix_counts_placements_and_client_days_by_responsible_and_facility_municipality() -> None:
    cells = region_matrix(facts(), Month(2027, 1), Month(2027, 12), until=date(2027, 12, 31))
    assert [(k, c.placements, c.client_days) for k, c in cells.items()] == [((ALMERE, LELYSTAD), 2, 75 + 28)]


def test_the_matrix_counts_an_open_stay_only_to_the_report_date_and_shows_clients_from_elsewhere() -> None:
    f = Facts(placements=[PlacementFact("p1", "i1", "c1", "0363", ALMERE, date(2027, 3, 1), 0, None, None, "MO_24H")])
    cells = region_matrix(f, Month(2027, 1), Month(2027, 12), until=date(2027, 3, 11))
    assert {k: (c.placements, c.client_days) for k, c in cells.items()} == {("0363", ALMERE): (1, 10)}  # Amsterdam


# --- consent to share with corporations (rule 14): ready without it is reported apart ----------------------


def test_a_ready_client_without_consent_is_reported_apart_from_those_waiting_for_a_home() -> None:
    f = facts()
    f.registrations[0] = replace(f.registrations[0], consent_to_share=False)  # c1, ready from 20 Feb
    months = flows(f, ALMERE, Month(2027, 1), Month(2027, 3))
    assert column(months, "ready_not_housed_at_end") == [0, 0, 0]
    assert column(months, "ready_no_consent_at_end") == [0, 1, 0]  # housed on the last day of March
    assert column(months, "ready_no_consent_at_end", "BW") == [0, 1, 0]
    assert months[Month(2027, 2)].by_care_form["BW_24H"]["ready_no_consent_at_end"] == 1
    assert months[Month(2027, 2)].total["ready_not_housed_days_median"] is None  # nobody counted there


def _ready_from_february(*consents: Consent, consent_at_registration: bool = False) -> Facts:
    """c1 registers on 5 Jan (with or without consent), is placed on 15 Jan and is ready from 1 Feb, unhoused."""
    return Facts(
        registrations=[replace(reg(1, "2027-01-05"), consent_to_share=consent_at_registration)],
        placements=[placed(1, "2027-01-15", 10)],
        assessments=[Assessment("p1", date(2027, 2, 1), True)],
        consents=list(consents),
    )


def test_consent_recorded_later_counts_from_its_day_and_a_withdrawal_from_its_own() -> None:
    given, withdrawn = Consent("c1", date(2027, 3, 10), True), Consent("c1", date(2027, 5, 2), False)
    months = flows(_ready_from_february(given, withdrawn), ALMERE, Month(2027, 2), Month(2027, 5))
    assert column(months, "ready_not_housed_at_end") == [0, 1, 1, 0]
    assert column(months, "ready_no_consent_at_end") == [1, 0, 0, 1]
    assert months[Month(2027, 3)].total["ready_not_housed_days_median"] == 58.0  # 1 Feb to 31 Mar: 28 + 30
    total = totals(months)
    assert (total.total["ready_not_housed_at_end"], total.total["ready_no_consent_at_end"]) == (0, 1)


def test_on_one_day_a_recorded_withdrawal_outranks_the_registrations_consent() -> None:
    same_day = Consent("c1", date(2027, 1, 5), False)
    months = flows(_ready_from_february(same_day, consent_at_registration=True), ALMERE, Month(2027, 2), Month(2027, 2))
    assert column(months, "ready_no_consent_at_end") == [1] and column(months, "ready_not_housed_at_end") == [0]


def test_consent_on_a_day_is_the_latest_fact_dated_on_or_before_it() -> None:
    registered = [replace(reg(1, "2027-01-05"), consent_to_share=True)]
    morning = datetime(2027, 3, 1, 9, tzinfo=UTC)
    recorded = [
        Consent("c1", date(2027, 3, 1), False, morning),
        Consent("c1", date(2027, 3, 1), True, morning.replace(hour=15)),  # the same day, later: it holds
        Consent("c1", date(2027, 4, 1), False, morning),
    ]
    assert consents_on(registered, recorded, date(2027, 1, 4)) is False  # no fact yet: no consent
    assert consents_on(registered, recorded, date(2027, 2, 28)) is True  # the registration's
    assert consents_on(registered, recorded, date(2027, 3, 1)) is True
    assert consents_on(registered, recorded, date(2027, 4, 1)) is False
    # A registration of 1 April with consent: the recorded withdrawal of that day outranks it.
    again = [*registered, Registration("i9", "c1", ALMERE, date(2027, 4, 1), "BW_24H", True)]
    assert consents_on(again, recorded, date(2027, 4, 1)) is False
    assert consents_on(again, recorded[:2], date(2027, 4, 1)) is True  # without it, the latest registration


def test_of_two_consents_of_one_day_the_later_on_the_topic_holds_whatever_its_clock() -> None:
    skewed = datetime(2027, 3, 1, 15, tzinfo=UTC)  # the first record's producer ran ahead
    recorded = [
        Consent("c1", date(2027, 3, 1), True, skewed, topic_offset=7),
        Consent("c1", date(2027, 3, 1), False, skewed.replace(hour=9), topic_offset=8),  # written later: it holds
    ]
    assert consents_on([], recorded, date(2027, 3, 1)) is False
    before = Consent("c1", date(2027, 3, 1), True, skewed.replace(hour=23))  # applied before offsets were kept
    assert consents_on([], [before, *recorded], date(2027, 3, 1)) is False


def test_of_two_assessments_of_one_day_the_later_on_the_topic_holds_in_whatever_order_they_are_read() -> None:
    ready, taken_back = Assessment("p1", date(2027, 2, 1), True, 4), Assessment("p1", date(2027, 2, 1), False, 5)
    for read in ([ready, taken_back], [taken_back, ready]):  # a rebuild writes batches at once: rows in any order
        f = replace(_ready_from_february(Consent("c1", date(2027, 1, 5), True)), assessments=read)
        assert column(flows(f, ALMERE, Month(2027, 2), Month(2027, 2)), "ready_not_housed_at_end") == [0]
