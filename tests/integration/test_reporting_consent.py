"""Rule 14 in the report, on real Kafka and Postgres: a ready client without consent to share with corporations
shows as "ready, no consent to share", apart from those waiting for a home, masked like every count for anyone
but the responsible municipality; consent recorded later moves them back from its day."""

from tests.integration.test_reporting_numbers import ALMERE, ZRM4, made, registered, reporting_app
from tests.support.kafka import eventually, publish_events
from tests.support.stack import Namespace, running
from zorgstroom_contracts.events import ConsentRecorded, Event, OutflowReadinessAssessed

C1, C2 = "c1" * 32, "c2" * 32
FLOWS = "/v1/municipalities/0034/flows?from=2027-02&to=2027-04"

EVENTS: list[Event] = [
    registered("i1", C1, "2027-01-05", consent=False),
    registered("i2", C2, "2027-01-06"),
    made("p1", C1, "i1", "fac-a", ALMERE, "BW_24H", "2027-01-15", 10),
    made("p2", C2, "i2", "fac-a", ALMERE, "BW_24H", "2027-01-16", 10),
    *(
        OutflowReadinessAssessed(placement_id=p, client_ref=c, provider_agb="11111111",
                                 responsible_municipality=ALMERE, assessed_on="2027-02-01", scores=ZRM4, ready=True)
        for p, c in (("p1", C1), ("p2", C2))
    ),
    ConsentRecorded(client_ref=C1, responsible_municipality=ALMERE, consent_to_share=True, recorded_on="2027-04-10"),
]  # fmt: skip


async def test_a_ready_client_without_consent_is_reported_apart_until_consent_is_recorded(ns: Namespace) -> None:
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EVENTS)
    async with running(reporting_app(ns.settings("reporting")), "reporting") as reporting:

        async def report() -> dict[str, dict[str, object]]:
            body = (await reporting.get(FLOWS, headers=ns.auth("almere"))).json()
            return {m["month"]: m for m in body["months"]}

        months = await eventually(report, until=lambda ms: ms["2027-04"]["ready_not_housed_at_end"] == 2, timeout=60)
        assert [
            (months[m]["ready_not_housed_at_end"], months[m]["ready_no_consent_at_end"]) for m in sorted(months)
        ] == [
            (1, 1),  # February: C2 waits for a home, C1 is ready without consent
            (1, 1),
            (2, 0),  # consent recorded on 10 April
        ]
        assert months["2027-02"]["by_group"]["BW"]["ready_no_consent_at_end"] == 1
        other = (await reporting.get(FLOWS, headers=ns.auth("region"))).json()
        february = next(m for m in other["months"] if m["month"] == "2027-02")
        shown = february["by_care_form"]["BW_24H"]["ready_no_consent_at_end"]  # one client: rounded to 0 or 5
        assert shown in (0, 5) and february["ready_no_consent_at_end"] == shown
        as_csv = (await reporting.get(FLOWS + "&format=csv", headers=ns.auth("almere"))).text
        header = as_csv.splitlines()[0].split(",")
        assert "ready_no_consent_at_end" in header and "BW.ready_no_consent_at_end" in header
