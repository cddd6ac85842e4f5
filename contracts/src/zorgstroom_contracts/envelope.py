"""The envelope every message value on every topic is: metadata around an event's own fields."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from zorgstroom_contracts.types import RegionCode

if TYPE_CHECKING:
    from zorgstroom_contracts.events import Event


class Envelope(BaseModel):
    """One event on the wire. Consumers deduplicate on event_id and ignore fields they do not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(description="Unique per event; consumers deduplicate on it.")
    event_type: str = Field(description="Name of the event, e.g. ClientRegistered.", min_length=1)
    schema_version: int = Field(ge=1, description="Version of the event's data schema, per type.")
    occurred_at: AwareDatetime = Field(description="UTC time of the business fact.")
    producer: str = Field(description="Name of the service that produced the event.", min_length=1)
    correlation_id: str | None = Field(default=None, description="The request or event chain that led here.")
    causation_id: str | None = Field(default=None, description="The event or request that caused this one.")
    region: RegionCode
    data: dict[str, Any] = Field(description="The event's own fields, per event_type and schema_version.")

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        producer: str,
        region: str,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Put an event in an envelope, stamping a fresh id and the event type's version."""
        from zorgstroom_contracts.events import spec_for

        spec = spec_for(event)
        return cls(
            event_id=uuid4(),
            event_type=spec.event_type,
            schema_version=spec.schema_version,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            region=region,
            data=event.model_dump(mode="json"),
        )

    def open(self) -> Event:
        """The event's data as its model, upcast from an older schema version where needed; raises
        UnknownEventType (unknown type, newer version, or an older one without upcasters) or
        pydantic.ValidationError."""
        from zorgstroom_contracts.events import EVENT_TYPES
        from zorgstroom_contracts.upcasting import MissingUpcaster, upcast

        spec = EVENT_TYPES.get(self.event_type)
        if spec is None:
            raise UnknownEventType(self.event_type)
        if self.schema_version > spec.schema_version:
            raise UnknownEventType(f"{self.event_type} v{self.schema_version}")
        data = self.data
        if self.schema_version < spec.schema_version:
            try:
                data = upcast(self.event_type, data, from_version=self.schema_version, to_version=spec.schema_version)
            except MissingUpcaster as error:
                raise UnknownEventType(str(error)) from error
        return spec.model.model_validate(data)


def open_json(raw: bytes) -> tuple[Envelope, Event]:
    """Envelope and event from a message value in one validation pass, for a known event type in its
    current schema version (what nearly every message is); anything else goes the two-step way
    (`Envelope.model_validate_json`, then `.open()`, upcasting included) and raises what that raises.

    The envelope returned by the one-pass path is a subclass of Envelope whose `data` is the event
    model itself rather than a dict; use the returned event, not `envelope.data`.
    """
    try:
        typed = _one_pass().validate_json(raw)
    except ValidationError:
        envelope = Envelope.model_validate_json(raw)
        return envelope, envelope.open()
    return typed, typed.data


def one_pass_validator() -> Callable[[bytes], Envelope]:
    """The one pass of `open_json` alone, for a loop over many values (a batch, a replay): a current, known
    event's envelope with the event model as its `data`; pydantic.ValidationError for anything else, which
    the caller opens the two-step way."""
    validate: Callable[[bytes], Envelope] = _one_pass().validate_json
    return validate


def envelope_model(event_type: str) -> type[Envelope]:
    """The envelope of one event type in its current schema version, its `data` the event model: what a
    consumer's subscriber documents and receives (an older version is upcast to it first)."""
    return _typed_envelopes()[event_type]


@functools.cache
def _typed_envelopes() -> dict[str, type[Envelope]]:
    from zorgstroom_contracts.events import EVENT_TYPES

    return {
        spec.event_type: create_model(
            f"{spec.event_type}Envelope",
            __base__=Envelope,
            __doc__=f"A {spec.event_type} v{spec.schema_version} event in its envelope.",
            event_type=(Literal[spec.event_type], ...),  # type: ignore[arg-type]
            schema_version=(Literal[spec.schema_version], ...),  # type: ignore[arg-type]
            data=(spec.model, ...),
        )
        for spec in EVENT_TYPES.values()
    }


@functools.cache
def _one_pass() -> TypeAdapter[Any]:
    """A union of one envelope model per event type, discriminated by `event_type`."""
    typed = list(_typed_envelopes().values())
    union: Any = Annotated[Union[tuple(typed)], Field(discriminator="event_type")]  # noqa: UP007
    return TypeAdapter(union)


class UnknownEventType(ValueError):
    """An envelope names an event type or version this build of the contracts does not know."""
