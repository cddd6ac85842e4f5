"""Every projection handler of reporting, by the event type it applies."""

from zorgstroom_reporting.projections import flows, places
from zorgstroom_runtime.consumer import Handler

HANDLERS: dict[str, Handler] = {
    "FacilityRegistered": places.on_facility_registered,
    "HousingOfferMade": places.on_housing_offer_made,
    "HousingOfferAccepted": places.on_housing_offer_accepted,
    "HousingOfferDeclined": places.on_housing_offer_declined,
    "ClientRegistered": flows.on_client_registered,
    "PlacementMade": flows.on_placement_made,
    "PlacementEnded": flows.on_placement_ended,
    "OutflowCompleted": flows.on_outflow_completed,
    "OutflowReadinessAssessed": flows.on_outflow_readiness_assessed,
    "ResponsibilityTransferred": flows.on_responsibility_transferred,
}
