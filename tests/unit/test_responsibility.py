"""Who is responsible: Wmo 2015 art. 1.2.1 for shelter, the woonplaatsbeginsel for BW from a date, and a
recent BW that keeps its municipality for twelve calendar months (the later of two records counting)."""

from datetime import date

from tests.support.infra import ROOT
from zorgstroom_contracts.codes import CareForm
from zorgstroom_contracts.region import ResponsibilityPolicy
from zorgstroom_intake.domain.responsibility import PreviousBw, Rule, latest_bw, responsible_municipality
from zorgstroom_runtime.region import load_region

FROM = date(2027, 1, 1)
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")


def decide(care_form=CareForm.BW_24H, residence="0995", last_bw=None, on=date(2027, 6, 1), since=FROM):  # type: ignore[no-untyped-def]
    return responsible_municipality(
        care_form=REGION.care_form(care_form),
        registering="0034",
        residence=residence,
        last_bw=last_bw,
        registered_on=on,
        policy=ResponsibilityPolicy(bw_residence_principle_from=since, recent_bw_months=12),
    )


def test_shelter_belongs_to_the_municipality_turned_to() -> None:
    assert decide(care_form=CareForm.MO_NIGHT).municipality == "0034"
    assert decide(care_form=CareForm.MO_EMERGENCY).rule is Rule.TURNED_TO


def test_bw_before_the_regions_date_belongs_to_the_municipality_turned_to() -> None:
    assert decide(on=date(2026, 12, 31)).municipality == "0034"
    assert decide(since=None).municipality == "0034"


def test_bw_from_the_regions_date_belongs_to_the_residence() -> None:
    assert decide() == decide(on=FROM)
    assert decide().municipality == "0995" and decide().rule is Rule.RESIDENCE


def test_a_bw_that_ended_within_twelve_months_keeps_its_municipality() -> None:
    recent = PreviousBw("0303", date(2026, 7, 1))
    assert decide(last_bw=recent).municipality == "0303"
    assert decide(last_bw=PreviousBw("0303", date(2026, 5, 31))).municipality == "0995"


def test_twelve_calendar_months_end_the_day_before_the_same_date_a_year_on() -> None:
    # Ended 2027-01-31: still the old municipality on 2028-01-30, the residence from 2028-01-31.
    ended = PreviousBw("0303", date(2027, 1, 31))
    assert decide(last_bw=ended, on=date(2028, 1, 30)) == decide(last_bw=ended, on=date(2027, 1, 31))
    assert decide(last_bw=ended, on=date(2028, 1, 30)).rule is Rule.RECENT_BW
    assert decide(last_bw=ended, on=date(2028, 1, 31)).municipality == "0995"


def test_a_bw_ending_on_the_last_of_february_counts_to_the_last_of_february() -> None:
    # 2027-02-28 plus twelve months is 2028-02-28 (a leap year: 2028-02-29 is already outside).
    ended = PreviousBw("0303", date(2027, 2, 28))
    assert decide(last_bw=ended, on=date(2028, 2, 27)).municipality == "0303"
    assert decide(last_bw=ended, on=date(2028, 2, 28)).municipality == "0995"


def test_bw_without_an_address_stays_with_the_municipality_turned_to() -> None:
    decided = decide(residence=None)
    assert decided.municipality == "0034" and decided.rule is Rule.NO_ADDRESS


def test_the_later_bw_ending_wins_and_the_systems_record_on_a_tie() -> None:
    recorded, told = PreviousBw("0303", date(2027, 3, 1)), PreviousBw("0184", date(2027, 4, 1))
    on = date(2027, 5, 1)
    assert latest_bw(recorded, told, on) == told
    assert latest_bw(told, recorded, on) == told
    assert latest_bw(recorded, PreviousBw("0184", date(2027, 3, 1)), on) == recorded
    assert latest_bw(None, told, on) == told and latest_bw(recorded, None, on) == recorded
    assert latest_bw(None, None, on) is None


def test_an_ending_after_a_backdated_registration_does_not_hide_the_earlier_one() -> None:
    # registered on 15 March 2027: the recorded ending of 1 April came after it, the one told (1 March) before
    recorded, told = PreviousBw("0303", date(2027, 4, 1)), PreviousBw("0184", date(2027, 3, 1))
    assert latest_bw(recorded, told, date(2027, 3, 15)) == told
    assert latest_bw(told, recorded, date(2027, 3, 15)) == told
    assert latest_bw(recorded, None, date(2027, 3, 15)) is None
    assert latest_bw(recorded, told, date(2027, 4, 1)) == recorded  # the ending day itself is before
