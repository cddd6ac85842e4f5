"""Housing's view of a client, kept from events: placement and episode, readiness, who is responsible on a day."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from zorgstroom_contracts.codes import EndReason
from zorgstroom_housing.domain.model import ConsentFact, HousingClient, OfferRow, Transfer


def registered(
    client: HousingClient | None,
    client_ref: str,
    intake_id: str,
    responsible: str,
    preferred: Sequence[str],
    adults: int,
    children: int,
    *,
    on: date,
) -> HousingClient:
    """A registration tells the household and wishes. While the client is placed, the placement's episode keeps
    its responsible municipality: a registration then is a wait for another care form (doorstroom). A client's
    registrations come on one topic in the order they were entered, so the one arriving last holds, whatever day
    it names (users may date one back, before an earlier one's day). Wishes an assessment told after its day are
    kept: assessments come on another topic, so only their days order them against registrations."""
    known = client or HousingClient(client_ref)
    placed = known.placement_id is not None
    wishes_told_since = known.wishes_on is not None and known.wishes_on > on
    return replace(
        known,
        responsible_municipality=known.responsible_municipality if placed else responsible,
        intake_id=known.intake_id if placed else intake_id,
        preferred_municipalities=known.preferred_municipalities if wishes_told_since else tuple(preferred),
        wishes_on=known.wishes_on if wishes_told_since else None,
        registered_on=on,
        adults=adults,
        children=children,
    )


def placed(
    client: HousingClient | None, client_ref: str, placement_id: str, intake_id: str | None, responsible: str
) -> HousingClient:
    """A new placement is a new episode and starts with nobody ready (unless its own assessment overtook it on
    another topic): readiness belongs to a placement."""
    known = client or HousingClient(client_ref)
    same = known.placement_id == placement_id
    return replace(
        known,
        placement_id=placement_id,
        intake_id=intake_id if intake_id is not None else (known.intake_id if same else None),
        responsible_municipality=responsible,
        ready_since=known.ready_since if same else None,
        housed_on=None,
    )


def left_placement(client: HousingClient, placement_id: str) -> HousingClient:
    """The end of a placement other than the current one (a doorstroom's new placement came first) changes nothing."""
    if client.placement_id != placement_id:
        return client
    return replace(client, placement_id=None, ready_since=None)


def assessed(
    client: HousingClient | None,
    client_ref: str,
    placement_id: str,
    responsible: str,
    on: date,
    *,
    ready: bool,
    support_at_home: bool,
    preferred: Sequence[str] | None,
) -> tuple[HousingClient, bool]:
    """Readiness in a placement; True when the client became ready now. Ready-since is kept across later ready
    assessments of the same placement, because the longest-ready go first."""
    known = client or HousingClient(client_ref)
    if known.responsible_municipality is None:  # known so far only from its consent
        known = replace(known, responsible_municipality=responsible)
    was_ready = known.placement_id == placement_id and known.ready_since is not None
    ready_since = (known.ready_since if was_ready else on) if ready else None
    told_on = known.wishes_on if known.wishes_on is not None else known.registered_on
    told = preferred is not None and (told_on is None or on >= told_on)
    updated = replace(
        known,
        placement_id=placement_id,
        ready_since=ready_since,
        support_at_home=support_at_home,
        preferred_municipalities=tuple(preferred) if told and preferred is not None else known.preferred_municipalities,
        wishes_on=on if told else known.wishes_on,
    )
    return updated, ready and not was_ready


def consent_in_force(known: ConsentFact | None, new: ConsentFact) -> ConsentFact:
    """The latest dated fact about consent counts; on the same day a recorded one outranks a registration's.
    Facts come on different topics in any order, so an older one arriving later changes nothing; of two equal
    in rank and date, the later arrival holds (one topic keeps a client's events in order)."""
    if known is None:
        return new
    return new if (new.on, new.recorded) >= (known.on, known.recorded) else known


def ending_withdraws_offer(reason: EndReason) -> bool:
    """An ending as planned (19) is how the outflow of an accepted offer ends the place. Any other ending, a
    doorstroom to another care form (37) included, means the client leaves without our home: an open offer to
    them goes to the next client."""
    return reason != EndReason.ENDED_AS_PLANNED


def acceptance_voided(client: HousingClient, offer: OfferRow) -> HousingClient:
    """The client is no longer housed by an acceptance placement refused, unless a next placement has begun since
    (it started without a home, and a home accepted in it is another one). Placement refuses only when the
    placement the offer was made in is no longer open, so the client has left it, whether or not its ending has
    arrived here yet: the home then goes to the next client, not back to this one."""
    if client.placement_id is not None and client.placement_id != offer.placement_id:
        return client
    unhoused = replace(client, housed_on=None)
    return left_placement(unhoused, offer.placement_id) if offer.placement_id is not None else unhoused


def offer_made_in(offer: OfferRow, placement_id: str) -> bool:
    """Whether an offer was made while the client was in this placement (offers from before placements were
    kept on them count as made in any)."""
    return offer.placement_id is None or offer.placement_id == placement_id


def episode_of(transfer: Transfer, intake_id: str | None) -> bool:
    """A transfer belongs to the episode (registrations) it names; one without (older events) was tied to the
    episode current when it arrived, or to none known. A client whose episode is not known (placed before
    housing kept it) is in the episode of any transfer: a transfer is about the client's current episode."""
    if intake_id is None:
        return True
    return transfer.intake_ids is not None and intake_id in transfer.intake_ids


def responsible_on(day: date, at_start: str, intake_id: str | None, transfers: Iterable[Transfer]) -> str:
    """The municipality responsible on `day` for the episode of `intake_id`: the latest transfer of that
    episode in force on that day, else the one responsible when the episode started."""
    in_force = [t for t in transfers if episode_of(t, intake_id) and t.effective_on <= day]
    if not in_force:
        return at_start
    return max(in_force, key=lambda t: (t.effective_on, t.received)).to_municipality
