"""Reporting's composition root: routes, migrations and the projection handlers it subscribes."""

from pathlib import Path

from fastapi import FastAPI
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.topics import Topic
from zorgstroom_runtime.app import ServiceContext, ServiceDefinition, create_app
from zorgstroom_runtime.consumer import Subscription
from zorgstroom_runtime.settings import ServiceSettings

from zorgstroom_reporting.entrypoints.http import router
from zorgstroom_reporting.projections.flows import on_client_registered


def subscription(context: ServiceContext) -> Subscription:
    prefix = context.settings.topic_prefix
    return Subscription(
        group_id=f"{prefix}reporting",
        topics=[topic_name(Topic.CLIENT_REGISTERED, prefix)],
        handlers={"ClientRegistered": on_client_registered},
    )


DEFINITION = ServiceDefinition(
    name="reporting",
    title="Zorgstroom reporting",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    subscription=subscription,
    publishes=False,
)


def build(settings: ServiceSettings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or ServiceSettings(service_name="reporting"))
