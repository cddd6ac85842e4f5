"""Doorstroom (docs/domain.md, rule 10): a client in one care form may wait for another while keeping the
current place; when matched, the current placement ends the same day the new one starts."""

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
