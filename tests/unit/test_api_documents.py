"""The API documents are valid to someone else's parser, and /docs works without internet.

Each service's OpenAPI document passes openapi-spec-validator; the contract-wide AsyncAPI document
passes the official @asyncapi/parser (Node, pinned in tools/web); /docs loads Swagger UI from the
service itself (vendored from npm swagger-ui-dist by deploy/vendor-web.sh), never from a CDN.
No service is started: the apps are built without their lifespan, so no database or broker is needed.
"""

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from zorgstroom_contracts.asyncapi import asyncapi_document
from zorgstroom_contracts.topics import TOPICS
from zorgstroom_runtime import apidocs, problems
from zorgstroom_runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "tools" / "web"
CHECK_SCRIPT = ROOT / "tests" / "support" / "asyncapi_check.mjs"
SERVICES = ["intake", "placement", "housing", "reporting"]
PROVIDER_CHANNEL = "wmo.provider.{agb}.v1"
URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def build(service: str) -> FastAPI:
    bootstrap = importlib.import_module(f"zorgstroom_{service}.bootstrap")
    key = {"client_ref_secret": "k" * 32} if service == "intake" else {}  # intake alone needs the key
    settings = ServiceSettings(service_name=service, environment="test", _env_file=None, **key)  # type: ignore[arg-type]
    app: FastAPI = bootstrap.build(settings)
    return app


@pytest.fixture(scope="module", params=SERVICES)
def service_app(request: pytest.FixtureRequest) -> FastAPI:
    return build(request.param)


def test_every_openapi_document_passes_openapi_spec_validator(service_app: FastAPI) -> None:
    validate(service_app.openapi())  # raises with the path of the first violation


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_every_error_answer_is_documented_as_a_problem(service_app: FastAPI) -> None:
    """What the problem handlers send (application/problem+json) is what the document promises, with a 401 and
    a 403 wherever a token is needed, and 400, 413 and 415 on each write that takes a body."""
    document = service_app.openapi()
    assert document["components"]["schemas"]["Problem"] == problems.PROBLEM_SCHEMA
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {
                    problems.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{method} {path} {status}"
        expected = {"500"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if "requestBody" in operation:
            expected |= {"400", "413", "415", "422"}
        assert expected <= set(responses), f"{method} {path}: {sorted(responses)}"


def test_no_parameter_is_documented_as_nullable(service_app: FastAPI) -> None:
    """A query or header parameter is absent or a string; FastAPI's `anyOf [..., null]` would make a
    fuzzer send the text 'null' (and a caller believe it means something)."""
    for method, path, operation in operations(service_app.openapi()):
        for parameter in operation.get("parameters", ()):
            assert "anyOf" not in parameter["schema"], f"{method} {path} {parameter['name']}"


def test_every_write_with_an_idempotency_key_documents_its_replay_and_its_refusal(service_app: FastAPI) -> None:
    document = service_app.openapi()
    keyed = [
        (method, path, op)
        for method, path, op in operations(document)
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", ()))
    ]
    writes = [(m, p) for m, p, _ in operations(document) if m in ("POST", "PUT", "PATCH")]
    assert [(m, p) for m, p, _ in keyed] == writes  # every write takes one
    for method, path, operation in keyed:
        assert "idempotency-key-reused" in operation["responses"]["409"]["description"], f"{method} {path}"
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                assert "Idempotent-Replayed" in response["headers"], f"{method} {path} {status}"


def test_reports_document_csv_and_the_form_of_a_month() -> None:
    document = build("reporting").openapi()
    reports = [(path, op) for _, path, op in operations(document) if "/flows" in path or path.startswith("/v1/region/")]
    assert reports
    for path, operation in reports:
        assert {"application/json", "text/csv"} <= set(operation["responses"]["200"]["content"]), path
        months = {p["name"]: p["schema"] for p in operation["parameters"] if p["name"] in ("from", "to")}
        for name, schema in months.items():
            assert re.fullmatch(schema["pattern"], "2026-11") and not re.fullmatch(schema["pattern"], "2026-13"), (
                f"{path} {name}"
            )


def page_urls(html: str) -> list[str]:
    return [src or url for src, url in URL.findall(html)]


def assert_offline_docs(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    # The page embeds no OpenAPI document (it loads /openapi.json), so no absolute URL may appear in it:
    # no CDN, no fonts, no favicon from fastapi.tiangolo.com.
    assert not re.findall(r"(?:https?:)?//[\w.-]+", html.replace("<!--", "").replace("-->", "")), html
    assert '"validatorUrl": null' in html, "the validator badge would send the document to validator.swagger.io"
    urls = page_urls(html)
    assert "/openapi.json" in urls
    assets = [url for url in urls if url.startswith(apidocs.ASSETS_PATH + "/")]
    assert {url.split("?", 1)[0].rsplit("/", 1)[-1] for url in assets} == set(apidocs.ASSETS), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not on the service's own origin"
    for url in assets:
        response = client.get(url)
        name = url.split("?", 1)[0].rsplit("/", 1)[-1]
        assert response.status_code == 200, url
        assert response.headers["content-type"] == apidocs.ASSETS[name], url
        assert response.content == (apidocs.SWAGGER_UI / name).read_bytes()
    for gone in ("/redoc", "/docs/oauth2-redirect"):  # FastAPI's CDN pages
        assert client.get(gone).status_code == 404, gone
    for hidden in ("LICENSE", "VERSION", "..%2Fapidocs.py", "swagger-ui-bundle.js.LICENSE.txt"):
        assert client.get(f"{apidocs.ASSETS_PATH}/{hidden}").status_code == 404, hidden
    asyncapi = client.get(apidocs.ASYNCAPI_PATH)
    assert asyncapi.status_code == 200
    assert asyncapi.headers["content-type"] == "application/json"
    assert asyncapi.json() == json.loads(json.dumps(asyncapi_document()))


def test_install_api_docs_replaces_fastapi_cdn_pages() -> None:
    app = FastAPI(title="Example")  # with FastAPI's own /docs, /redoc and OAuth2 redirect page
    apidocs.install_api_docs(app)
    assert app.docs_url is None and app.redoc_url is None
    assert_offline_docs(TestClient(app))
    validate(app.openapi())  # the documents' routes stay out of the OpenAPI document
    assert not {apidocs.DOCS_PATH, apidocs.ASYNCAPI_PATH} & set(app.openapi()["paths"])


def test_every_service_serves_offline_docs_and_the_asyncapi_document(service_app: FastAPI) -> None:
    client = TestClient(service_app)  # without `with`: the lifespan (database, Kafka) never runs
    assert client.get(f"{apidocs.ASSETS_PATH}/swagger-ui.css").status_code == 200, (
        "create_app does not call zorgstroom_runtime.apidocs.install_api_docs (see its docstring)"
    )
    assert_offline_docs(client)


def test_the_docs_page_follows_a_path_prefix() -> None:
    app = FastAPI(title="Example", docs_url=None, redoc_url=None)
    apidocs.install_api_docs(app)
    html = TestClient(app, root_path="/intake").get("/docs").text
    assert all(url.startswith("/intake/") for url in page_urls(html)), html


def test_the_vendored_swagger_ui_is_the_pinned_one() -> None:
    pinned = json.loads((WEB / "package.json").read_text())["dependencies"]["swagger-ui-dist"]
    assert (apidocs.SWAGGER_UI / "VERSION").read_text().startswith(f"npm swagger-ui-dist {pinned} ")
    assert apidocs.vendored_version() == pinned
    for name in [*apidocs.ASSETS, "LICENSE"]:
        assert (apidocs.SWAGGER_UI / name).is_file(), f"{name} missing: run deploy/vendor-web.sh"
    installed = WEB / "node_modules" / "swagger-ui-dist"
    if installed.is_dir():  # the copies are the installed files, byte for byte
        for name in [*apidocs.ASSETS, "LICENSE", "NOTICE"]:
            assert (installed / name).read_bytes() == (apidocs.SWAGGER_UI / name).read_bytes(), (
                f"{name} differs from tools/web: run deploy/vendor-web.sh"
            )


def parse_with_asyncapi_parser(document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (deploy/install.sh installs what the tests need)")
    if not (WEB / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file():
        pytest.skip("tools/web/node_modules has no @asyncapi/parser: run deploy/install.sh")
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    done = subprocess.run([node, str(CHECK_SCRIPT), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_asyncapi_document_passes_the_official_parser(tmp_path: Path) -> None:
    report = parse_with_asyncapi_parser(asyncapi_document(), tmp_path)
    errors = [d for d in report["diagnostics"] if d["severity"] == 0]
    assert not errors, json.dumps(errors, indent=2)
    assert report["document"], "the parser returned no document"
    assert set(report["channels"]) == {topic.value for topic in TOPICS} | {PROVIDER_CHANNEL}
    assert set(report["messages"]) == set(asyncapi_document()["components"]["messages"])


def test_the_parser_check_reports_a_broken_document(tmp_path: Path) -> None:
    """The check itself can fail: a dangling reference is an error, and no document comes back."""
    document = asyncapi_document()
    channel = next(iter(document["channels"].values()))
    channel["messages"]["Nothing"] = {"$ref": "#/components/messages/Nothing"}
    report = parse_with_asyncapi_parser(document, tmp_path)
    assert any(d["severity"] == 0 for d in report["diagnostics"])
    assert not report["document"]


@pytest.mark.parametrize("service", ["placement", "housing"])
def test_each_services_subscriber_asyncapi_passes_the_official_parser(service: str, tmp_path: Path) -> None:
    """FastStream's document of one service's subscriber (/asyncapi/service.json): valid, with the typed
    envelope of each event type the service handles."""
    import importlib

    from zorgstroom_runtime.app import service_asyncapi
    from zorgstroom_runtime.consumer import IdempotentConsumer
    from zorgstroom_runtime.kafka import KafkaConnection
    from zorgstroom_runtime.outbox import Outbox

    definition = importlib.import_module(f"zorgstroom_{service}.bootstrap").DEFINITION
    consumer = IdempotentConsumer(
        None,  # type: ignore[arg-type]
        Outbox(service, "flevoland", "", service),
        KafkaConnection("127.0.0.1:1"),
        definition.subscription(""),
    )
    document = json.loads(service_asyncapi(consumer, definition.title))
    schemas = set(document["components"]["schemas"])
    assert {f"{event_type}Envelope" for event_type in definition.consumed_event_types()} <= schemas
    report = parse_with_asyncapi_parser(document, tmp_path)
    errors = [d for d in report["diagnostics"] if d["severity"] == 0]
    assert not errors, json.dumps(errors, indent=2)
    assert report["document"], "the parser returned no document"
