"""Session-wide real Kafka and PostgreSQL, and a fresh namespace (topics, schemas) per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.identity import identity_provider  # noqa: F401 (a fixture: an identity provider on 127.0.0.1)
from tests.support.infra import Infra, start_infra
from tests.support.kafka import delete_topics
from tests.support.keycloak import keycloak  # noqa: F401 (a fixture: the session's Keycloak with the demo realm)
from tests.support.stack import Namespace, new_namespace
from zorgstroom_runtime.kafka import project_topics


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    started = start_infra()
    yield started
    started.stop()


@pytest.fixture
async def ns(infra: Infra, tmp_path: Path) -> AsyncIterator[Namespace]:
    namespace = await new_namespace(infra, tmp_path)
    yield namespace
    # Each namespace is 20-odd topics: deleted again, so a long session does not exhaust the broker's files.
    await delete_topics(infra.kafka_bootstrap, project_topics(namespace.prefix), prefix=namespace.prefix)
