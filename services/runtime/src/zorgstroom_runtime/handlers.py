"""How a service declares what it consumes: one `On(EventClass, handler)` per handler, grouped by event type."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zorgstroom_contracts import Envelope, spec_for
from zorgstroom_contracts.events import Event
from zorgstroom_runtime.outbox import UnitOfWork

E = TypeVar("E", bound=Event)
Handler = Callable[[UnitOfWork, Envelope, E], Awaitable[None]]


class Rejected(Exception):
    """A handler's verdict that an event is invalid for this consumer: dead-letter it, do not retry."""


@dataclass(frozen=True)
class On(Generic[E]):
    """One handler of one event class: `On(ClientRegistered, on_client_registered)`; the handler's event
    parameter is checked against the class. Several handlers of one event run in one transaction, in
    the order registered."""

    event: type[E]
    handler: Handler[E]

    @property
    def event_type(self) -> str:
        return spec_for(self.event).event_type


def handlers_by_type(handlers: Sequence[On[Any]]) -> dict[str, list[Handler[Any]]]:
    by_type: dict[str, list[Handler[Any]]] = {}
    for on in handlers:
        by_type.setdefault(on.event_type, []).append(on.handler)
    return by_type


@dataclass(frozen=True)
class Subscription:
    """A consumer group's topics and the handlers of the event types it applies."""

    group_id: str
    topics: list[str]
    handlers: Sequence[On[Any]] = ()
    by_type: Mapping[str, list[Handler[Any]]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_type", handlers_by_type(self.handlers))
