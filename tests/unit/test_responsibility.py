"""Who is responsible: Wmo 2015 art. 1.2.1 for shelter, the woonplaatsbeginsel for BW from a date."""

from datetime import date

from zorgstroom_contracts.codes import CareForm
from zorgstroom_intake.domain.responsibility import PreviousBw, Rule, responsible_municipality

FROM = date(2027, 1, 1)


def decide(care_form=CareForm.BW_24H, residence="0995", last_bw=None, on=date(2027, 6, 1), since=FROM):  # type: ignore[no-untyped-def]
    return responsible_municipality(
        care_form=care_form,
        registering="0034",
        residence=residence,
        last_bw=last_bw,
        registered_on=on,
        residence_principle_from=since,
        recent_bw_months=12,
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


def test_bw_without_an_address_stays_with_the_municipality_turned_to() -> None:
    decided = decide(residence=None)
    assert decided.municipality == "0034" and decided.rule is Rule.NO_ADDRESS
