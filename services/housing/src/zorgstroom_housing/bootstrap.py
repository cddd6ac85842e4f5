"""Housing's composition root."""

from pathlib import Path

from fastapi import FastAPI
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.topics import Topic
from zorgstroom_runtime.app import ServiceContext, ServiceDefinition, create_app
from zorgstroom_runtime.consumer import Subscription
from zorgstroom_runtime.settings import ServiceSettings

from zorgstroom_housing.entrypoints.http import router
from zorgstroom_housing.service import on_outflow_readiness_assessed


def subscription(context: ServiceContext) -> Subscription:
    prefix = context.settings.topic_prefix
    return Subscription(
        group_id=f"{prefix}housing",
        topics=[topic_name(Topic.OUTFLOW_READINESS_ASSESSED, prefix)],
        handlers={"OutflowReadinessAssessed": on_outflow_readiness_assessed},
    )


DEFINITION = ServiceDefinition(
    name="housing",
    title="Zorgstroom housing",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    subscription=subscription,
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or ServiceSettings(service_name="housing"))
