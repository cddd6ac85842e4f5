"""docker-compose.yml cannot run here (no Docker engine): it must at least parse and name real paths."""

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_describes_the_whole_stack() -> None:
    assert {"kafka", "postgres", "topics", "intake", "placement", "housing", "reporting", "prometheus"} <= set(
        compose()["services"]
    )


def test_every_path_compose_names_exists() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"]).is_dir(), name
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            host = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if host.startswith(".") and not host.startswith("./.cache/"):  # .cache: what `zorgstroom realm` writes
                assert (ROOT / host).exists(), f"{name}: {host}"


def test_every_service_image_runs_a_module_that_exists() -> None:
    for name, service in compose()["services"].items():
        service_arg = (service.get("build") or {}).get("args", {}).get("SERVICE")
        if service_arg:
            assert importlib.util.find_spec(f"zorgstroom_{service_arg}.__main__"), name


def test_every_file_the_dockerfile_copies_exists() -> None:
    dockerfile = (ROOT / "deploy/docker/service.Dockerfile").read_text()
    for sources in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), source


def test_the_compose_broker_keeps_history_for_ever() -> None:
    """Kafka's own default deletes after 7 days; a rebuild replays every topic from offset 0."""
    assert compose()["services"]["kafka"]["environment"]["KAFKA_LOG_RETENTION_HOURS"] == -1
