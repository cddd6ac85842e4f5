"""Each service answers exactly as its OpenAPI document says: schemathesis, every check, 0 failures.

Every service runs in the test's event loop (uvicorn on a free port, its lifespan on the shared Kafka and
PostgreSQL) while `schemathesis run --checks all` fuzzes it from a subprocess, once per caller whose roles
reach the handlers: a credential refused 403 on every route would only test the refusal. The runs are
deterministic (`--generation-deterministic`: the same requests every time) and capped at MAX_EXAMPLES per
operation, so the four services stay within about 90 s; ZS_SCHEMATHESIS_EXAMPLES=100 digs deeper.
The operations whose schema-valid requests may still be refused 422, and why, are in schemathesis.toml.
"""

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.support.stack import ORGANISATIONS, Namespace, running
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_ops import credentials
from zorgstroom_ops.credentials import REGION_ROLES
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting

MAX_EXAMPLES = int(os.environ.get("ZS_SCHEMATHESIS_EXAMPLES", "10"))
BUILDERS = {
    "intake": build_intake,
    "placement": build_placement,
    "housing": build_housing,
    "reporting": build_reporting,
}
# Who calls each service: the credentials whose roles reach its routes. Region staff also read /v1/audit, the
# same code in every service: it is fuzzed through placement and reporting.
CALLERS = {
    "intake": ["almere"],
    "placement": ["almere", "provider-a", "region"],
    "housing": ["corporation"],
    "reporting": ["almere", "region"],
}
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app with its lifespan, served over HTTP on a free port of this host; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the start-up's own error
                raise RuntimeError("the service stopped while starting")
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def schemathesis(url: str, token: str, workdir: Path) -> tuple[int, str]:
    """`schemathesis run` with every check against a served document; its exit code and its output. It runs in
    `workdir`, where it keeps the failures it found (a later run in the same directory would replay them)."""
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "-H",
        f"Authorization: Bearer {token}",
        "--generation-deterministic",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--no-color",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.parametrize("service", list(BUILDERS))
async def test_the_service_answers_as_its_openapi_document_says(service: str, ns: Namespace, tmp_path: Path) -> None:
    organisations = ORGANISATIONS | {"region": ("region", "flevoland", REGION_ROLES)}  # with audit:read
    credentials_file, tokens = credentials.write(organisations, tmp_path / "api")
    app = BUILDERS[service](ns.settings(service, credentials_file=credentials_file))
    async with serving(app) as url:
        for caller in CALLERS[service]:
            code, output = await schemathesis(url, tokens[caller], tmp_path)
            assert code == 0, f"{service} as {caller}:\n{output}"


async def test_an_audit_page_after_an_id_beyond_the_database_range_is_refused_not_a_server_error(
    ns: Namespace, tmp_path: Path
) -> None:
    """Found by schemathesis with more examples: `after` past PostgreSQL's bigint was a 500."""
    organisations = ORGANISATIONS | {"region": ("region", "flevoland", REGION_ROLES)}
    credentials_file, tokens = credentials.write(organisations, tmp_path / "api")
    app = build_intake(ns.settings("intake", credentials_file=credentials_file))
    async with running(app, "intake") as intake:
        answer = await intake.get(
            "/v1/audit", params={"after": str(2**63)}, headers={"Authorization": f"Bearer {tokens['region']}"}
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "query.after"
