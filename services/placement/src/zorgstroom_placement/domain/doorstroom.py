"""Doorstroom (docs/domain.md, rule 10): a client in one care form may wait for another while keeping the
current place; when matched, the current placement ends the same day the new one starts."""

from collections.abc import Iterable
from datetime import date

from zorgstroom_contracts.region import PlacementPolicy
from zorgstroom_placement.domain.waiting_list import WaitingClient


def may_wait_for_doorstroom(policy: PlacementPolicy, in_place_of: str, wanted: str) -> bool:
    """Whether a client placed in care form `in_place_of` may be matched to `wanted` while keeping the place."""
    return policy.doorstroom_allowed(in_place_of, wanted)


def may_be_matched(client: WaitingClient, policy: PlacementPolicy) -> bool:
    """A client without a place may be matched; a client in a place only along an allowed doorstroom pair."""
    return client.in_place_of is None or may_wait_for_doorstroom(policy, client.in_place_of, client.care_form)


def doorstroom_day(waiting_since: date, freed_on: date, current_start: date | None) -> date:
    """The day the new placement starts, and the current one (if any) ends: never before the client waited,
    the place was freed, or the current placement began."""
    return max(waiting_since, freed_on, current_start or waiting_since)


def turn_rank(policy: PlacementPolicy, care_form: str) -> int:
    """The length of the longest doorstroom chain out of a care form (0 when it leads nowhere): for every
    allowed pair X -> Y, X ranks above Y. The region refuses cyclic pairs, so this ends."""
    return max((1 + turn_rank(policy, target) for target in policy.doorstroom.get(care_form, ())), default=0)


def feeders(policy: PlacementPolicy, care_form: str) -> set[str]:
    """The care form and every care form whose clients may, pair by pair, move on into it: the places a match
    of this care form can free, and so the care forms whose turns its matcher may need."""
    found = {care_form}
    grew = True
    while grew:
        more = {source for source, targets in policy.doorstroom.items() if found & set(targets)} - found
        found |= more
        grew = bool(more)
    return found


def turn_order(policy: PlacementPolicy, care_forms: Iterable[str]) -> list[str]:
    """The one order in which every unit of work takes matching turns: targets before their sources (a matcher
    holds the target's turn when it ends the client's place in the source), then by code. Taking turns
    only in this order, no two units can wait for each other."""
    return sorted(set(care_forms), key=lambda c: (turn_rank(policy, c), c))
