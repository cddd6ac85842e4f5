"""How a service is served: uvloop and httptools where installed, and intake's benchmark-only route mounted
only in the test environment and only when asked for."""

import pytest

from zorgstroom_intake.bootstrap import DEFINITION, definition
from zorgstroom_intake.entrypoints.http import bench_router
from zorgstroom_runtime.app import server_implementations
from zorgstroom_runtime.settings import ServiceSettings


def test_the_c_event_loop_and_http_parser_are_chosen_when_installed() -> None:
    pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    assert server_implementations() == ("uvloop", "httptools")


@pytest.mark.parametrize(
    ("environment", "flag", "mounted"),
    [("test", True, True), ("test", False, False), ("development", True, False)],
)
def test_the_bare_benchmark_endpoint_is_mounted_only_in_test_when_asked(
    environment: str, flag: bool, mounted: bool
) -> None:
    settings = ServiceSettings(service_name="intake", environment=environment, bench_bare_endpoint=flag)  # type: ignore[arg-type]
    routers = definition(settings).routers
    assert (bench_router in routers) is mounted
    assert DEFINITION.routers[0] in routers
