"""Session-wide real Kafka and PostgreSQL, and a fresh namespace (topics, schemas) per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.infra import Infra, start_infra
from tests.support.stack import Namespace, new_namespace


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    started = start_infra()
    yield started
    started.stop()


@pytest.fixture
async def ns(infra: Infra, tmp_path: Path) -> AsyncIterator[Namespace]:
    yield await new_namespace(infra, tmp_path)
