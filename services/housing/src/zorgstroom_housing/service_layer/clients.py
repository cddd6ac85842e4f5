"""Who waits for a home, learnt from events: registrations, placements and their ends, readiness, transfers.
Events of one client arrive on several topics, so each use case holds whatever order they come in."""

from dataclasses import replace
from datetime import date

from zorgstroom_contracts.codes import OfferDeclineReason
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_contracts.region import HousingPolicy
from zorgstroom_housing.domain import clients
from zorgstroom_housing.domain.model import ConsentFact, HousingClient, OfferRow, Transfer
from zorgstroom_housing.ports import HousingUnitOfWork
from zorgstroom_housing.service_layer.offers import make_offers, release


async def client_registered(
    uow: HousingUnitOfWork, policy: HousingPolicy, event: ClientRegistered, today: date
) -> None:
    """The household and wishes, and the consent the registration tells (dated on the registration)."""
    await uow.take_matching_turn()  # consent may change what matchers count: the turn before the client's row
    known = await uow.clients.get(event.client_ref)
    household = event.household
    registered = clients.registered(
        known,
        event.client_ref,
        event.intake_id,
        event.responsible_municipality,
        event.preferred_municipalities,
        household.adults,
        household.children,
        on=event.registered_on,
    )
    if known is None or known.intake_id is None:
        await uow.transfers.bind_to_episode(event.client_ref, event.intake_id, event.registered_on)
    fact = ConsentFact(event.consent_to_share, event.registered_on)
    await _keep_consent(uow, policy, registered, fact, today)


async def consent_recorded(uow: HousingUnitOfWork, policy: HousingPolicy, event: ConsentRecorded, today: date) -> None:
    """Rule 14: consent given later makes the client eligible from its day; withdrawn, it withdraws an open offer."""
    await uow.take_matching_turn()
    known = await uow.clients.get(event.client_ref) or HousingClient(event.client_ref)
    fact = ConsentFact(event.consent_to_share, event.recorded_on, recorded=True)
    await _keep_consent(uow, policy, known, fact, today)


async def _keep_consent(
    uow: HousingUnitOfWork, policy: HousingPolicy, client: HousingClient, fact: ConsentFact, today: date
) -> None:
    """Keeps the consent in force after `fact`. Without consent an open offer is withdrawn and its unit goes to the
    next client; consent that holds now may bring an offer. A fact older than the one kept changes nothing."""
    consent = clients.consent_in_force(client.consent, fact)
    await uow.clients.save(replace(client, consent=consent))
    if consent is client.consent:
        return
    if not consent.given:
        offer = await uow.offers.open_offer_of(client.client_ref)
        if offer is not None:
            await _withdraw(
                uow, policy, offer, OfferDeclineReason.CONSENT_WITHDRAWN, max(consent.on, offer.offered_on), today
            )
    elif client.consent_since is None:
        await make_offers(uow, policy, on=consent.on, today=today)


async def placement_made(uow: HousingUnitOfWork, policy: HousingPolicy, event: PlacementMade, today: date) -> None:
    """A new placement is a new episode. An offer made in another placement no longer stands: after a
    doorstroom the old placement's end may come later, on its own topic, and must find nothing to withdraw."""
    if await uow.clients.placement_has_ended(event.placement_id):
        return  # its end overtook it on the other topic
    await uow.take_matching_turn()  # before the client's row: matchers hold the turn, then rows
    known = await uow.clients.get(event.client_ref)
    await uow.clients.save(
        clients.placed(known, event.client_ref, event.placement_id, event.intake_id, event.responsible_municipality)
    )
    if event.intake_id is not None and (known is None or known.intake_id is None):
        await uow.transfers.bind_to_episode(event.client_ref, event.intake_id, event.start_date)
    offer = await uow.offers.open_offer_of(event.client_ref)
    if offer is not None and not clients.offer_made_in(offer, event.placement_id):
        await _withdraw(uow, policy, offer, OfferDeclineReason.NOT_READY, event.start_date, today)


async def placement_ended(uow: HousingUnitOfWork, policy: HousingPolicy, event: PlacementEnded, today: date) -> None:
    """A client who leaves the place drops out until assessed ready in a next one; unless they leave for the
    home we offered, an open offer made in this placement is withdrawn so the unit goes to the next client."""
    await uow.take_matching_turn()
    await uow.clients.record_ending(event.placement_id)
    known = await uow.clients.get(event.client_ref)
    if known is not None:
        await uow.clients.save(clients.left_placement(known, event.placement_id))
    if not clients.ending_withdraws_offer(event.reason):
        return
    offer = await uow.offers.open_offer_of(event.client_ref)
    if offer is not None and clients.offer_made_in(offer, event.placement_id):
        await _withdraw(uow, policy, offer, OfferDeclineReason.NOT_READY, event.end_date, today)


async def _withdraw(
    uow: HousingUnitOfWork, policy: HousingPolicy, offer: OfferRow, reason: OfferDeclineReason, on: date, today: date
) -> None:
    """An open offer that no longer stands is withdrawn, and its unit goes to the next client at once."""
    await release(uow, offer, reason, on)
    await make_offers(uow, policy, on=on, today=today)


async def readiness_assessed(
    uow: HousingUnitOfWork, policy: HousingPolicy, event: OutflowReadinessAssessed, today: date
) -> None:
    """An assessment of a placement that ended changes nothing; one that makes the client ready may bring an offer."""
    if await uow.clients.placement_has_ended(event.placement_id):
        return
    await uow.take_matching_turn()
    known = await uow.clients.get(event.client_ref)
    updated, became_ready = clients.assessed(
        known,
        event.client_ref,
        event.placement_id,
        event.responsible_municipality,
        event.assessed_on,
        ready=event.ready,
        support_at_home=bool(event.support_at_home),
        preferred=event.preferred_municipalities,
    )
    await uow.clients.save(updated)
    if became_ready:
        await make_offers(uow, policy, on=event.assessed_on, today=today)


async def responsibility_transferred(
    uow: HousingUnitOfWork, policy: HousingPolicy, event: ResponsibilityTransferred, transfer_id: str, today: date
) -> None:
    """Kept for its episode and applied from its effective date. An older event without its episode belongs to
    the client's episode now, or, when none is known yet (it overtook the registration on another topic), to
    the first one learnt that started by its date: a later registration starts fresh. A registration can
    never undo a transfer, whatever the order: it only sets who was responsible when its episode started. From
    its date, a waiting unit may now fit: matched today if that date has come, else by the pass of a later day
    (never offered ahead)."""
    await uow.take_matching_turn()
    intake_ids = event.intake_ids
    if intake_ids is None:
        known = await uow.clients.get(event.client_ref)
        intake_ids = [known.intake_id] if known is not None and known.intake_id is not None else None
    await uow.transfers.add(
        Transfer(
            transfer_id=transfer_id,
            client_ref=event.client_ref,
            to_municipality=event.to_municipality,
            effective_on=event.effective_on,
            intake_ids=frozenset(intake_ids) if intake_ids is not None else None,
        )
    )
    await make_offers(uow, policy, on=event.effective_on, today=today)
