"""HTTP routes of intake: translate requests into service calls and answers into responses."""

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response

from zorgstroom_intake import service
from zorgstroom_intake.adapters.unit_of_work import units_of_work
from zorgstroom_intake.schemas import IntakeAccepted, IntakeCreate, IntakePublic
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.idempotency import credential_of
from zorgstroom_runtime.settings import ServiceSettings
from zorgstroom_runtime.telemetry import current_trace_id, tag_current_span

router = APIRouter(prefix="/v1/intakes", tags=["intakes"])


class MissingClientRefSecret(RuntimeError):
    """Intake cannot pseudonymise a BSN without its HMAC key; it refuses to start rather than fail each intake."""


def client_ref_key(settings: ServiceSettings) -> bytes:
    """The HMAC key that turns a BSN into client_ref (intake is the only service given it)."""
    secret = settings.client_ref_secret.get_secret_value() if settings.client_ref_secret is not None else ""
    if not secret:
        raise MissingClientRefSecret(
            "ZS_CLIENT_REF_SECRET is not set: intake needs the HMAC key that turns a BSN into client_ref"
            " (at least 32 random characters, e.g. `openssl rand -hex 32`; keep it the same across restarts)"
        )
    return secret.encode()


IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Chosen by the caller; the same key and body return the same answer.",
    ),
]


@router.post(
    "",
    status_code=202,
    summary="Register a client for sheltered housing or shelter",
    responses={
        202: {"headers": {"Location": {"description": "/v1/intakes/{intake_id}", "schema": {"type": "string"}}}}
    },
)
async def register_intake(
    request: Request,
    intake: IntakeCreate,
    principal: CurrentPrincipal,
    context: ContextDep,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> IntakeAccepted:
    registration = await service.register_intake(
        units_of_work(context),
        context.region,
        client_ref_key(context.settings),
        principal,
        intake,
        idempotency_key,
        current_trace_id(),
        today=date.today(),
        caller=credential_of(request, principal),
    )
    # The request's span carries the intake id, so an operator finds the trace by it (zorgstroom trace).
    if not registration.replayed:  # a replay's trace has no downstream spans: `zorgstroom trace` must not find it
        tag_current_span("zorgstroom.intake_id", str(registration.accepted.intake_id))
    response.headers["Location"] = f"/v1/intakes/{registration.accepted.intake_id}"
    if registration.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return registration.accepted


@router.get(
    "/{intake_id}",
    summary="Status of one intake (the caller's municipality only)",
    responses={404: {"description": "No intake with this id for the caller's municipality"}},
)
async def get_intake(intake_id: UUID, principal: CurrentPrincipal, context: ContextDep) -> IntakePublic:
    return await service.read_intake(units_of_work(context), principal, intake_id)


# Benchmarks only: mounted by bootstrap.definition() when ZS_ENVIRONMENT=test and ZS_BENCH_BARE_ENDPOINT=true,
# never in production. The same body parsed by the same model, answered without I/O: what POST /v1/intakes
# would cost if storing, auditing and authorising were free (bench/intake_load.py compares the two).
bench_router = APIRouter(prefix="/bench", include_in_schema=False)
_BARE_ANSWER = IntakeAccepted(
    intake_id="00000000-0000-4000-8000-000000000000",
    client_ref="0" * 64,
    event_id="00000000-0000-4000-8000-000000000000",
    responsible_municipality="0034",
    responsibility_rule="registering",
)


@bench_router.post("/bare-intake", status_code=202)
async def bare_intake(intake: IntakeCreate, idempotency_key: IdempotencyKey) -> IntakeAccepted:
    return _BARE_ANSWER
