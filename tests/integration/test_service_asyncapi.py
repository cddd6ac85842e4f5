"""Each consuming service serves FastStream's AsyncAPI document of its own subscriber beside the
contract-wide /asyncapi.json; a service without per-event handlers has none."""

from tests.support.stack import Namespace, running
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting


async def test_intake_placement_and_housing_document_their_subscribers(ns: Namespace) -> None:
    for name, build, events in (
        ("intake", build_intake, {"PlacementEnded"}),  # BW endings, for the 12-month rule
        ("placement", build_placement, {"ClientRegistered", "HousingOfferAccepted"}),
        ("housing", build_housing, {"ClientRegistered", "PlacementMade", "PlacementEnded", "OutflowRefused"}),
    ):
        async with running(build(ns.settings(name)), name) as service:
            answer = await service.get("/asyncapi/service.json")
            assert answer.status_code == 200, answer.text
            document = answer.json()
            assert document["asyncapi"].startswith("3.")
            addresses = {channel["address"] for channel in document["channels"].values()}
            assert addresses and all(address.startswith(ns.prefix) for address in addresses)  # a channel per topic
            assert {f"{event}Envelope" for event in events} <= set(document["components"]["schemas"])
            assert (await service.get("/asyncapi.json")).status_code == 200  # the contract-wide one stays


async def test_a_service_without_per_event_subscribers_has_no_service_document(ns: Namespace) -> None:
    # Reporting reads its topics in batches (a projection), not through per-event subscribers.
    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        assert (await reporting.get("/asyncapi/service.json")).status_code == 404
