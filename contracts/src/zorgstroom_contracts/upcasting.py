"""Upcasting: an event stored in an older schema version is upgraded on read, one version at a time.

Before an event type gets version 2, its v1 messages stay on the topics (and are read again by every
rebuild). Each step is a small pure function from the data of version n to that of version n+1,
registered for (event_type, n); reading chains them up to the version this build knows, so a consumer
only ever sees the newest model. Steps are tested one by one, like any other domain function.

A step looks like this (the real ones are at the end of this module):

    @upcaster("PlacementEnded", from_version=1)
    def _placement_ended_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "new_field": default_for(data)}
"""

from collections.abc import Callable, Mapping
from typing import Any

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class MissingUpcaster(ValueError):
    """No step from this version to the next: the message cannot be read by this build."""


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a step from `from_version` to `from_version + 1` of one event type."""

    def register(step: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"two upcasters for {event_type} v{from_version}")
        UPCASTERS[key] = step
        return step

    return register


def upcast(
    event_type: str,
    data: Data,
    *,
    from_version: int,
    to_version: int,
    steps: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
) -> Data:
    """The data upgraded step by step from `from_version` to `to_version` (unchanged when equal)."""
    for version in range(from_version, to_version):
        step = steps.get((event_type, version))
        if step is None:
            raise MissingUpcaster(f"{event_type} v{version} cannot be read: no upcaster to v{version + 1}")
        data = step(dict(data))
    return data


# Version 2 of four events, for data minimisation (docs/privacy.md): fields no consumer needs leave the
# regional topics, and the provider's copies leave out what the provider does not need. A v1 message on
# a topic reads as v2 without the fields that went; the fields that became optional keep their value.
_DROPPED_IN_V2 = {
    "ClientRegistered": ("birth_year", "residence_municipality", "responsibility_rule"),
    "OutflowReadinessAssessed": ("scores", "client_scores", "client_wants_to_move"),
    "PlacementMade": (),
    "OutflowCompleted": (),
}


def _dropping(fields: tuple[str, ...]) -> Upcaster:
    def step(data: Data) -> Data:
        return {k: v for k, v in data.items() if k not in fields}

    return step


for _event_type, _fields in _DROPPED_IN_V2.items():
    upcaster(_event_type, from_version=1)(_dropping(_fields))
