"""The Helm chart (deploy/helm/zorgstroom) as an operator installs it: linted and rendered by Helm itself (built
from the Go module proxy by deploy/helm.sh; `make test` starts that build in the background), with the chart's
defaults and with the region example (two replicas, SASL over TLS); and the Strimzi examples as the contract
makes them."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from zorgstroom_ops.processes import SERVICES
from zorgstroom_runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/zorgstroom"
EXAMPLES = ROOT / "deploy/helm/examples"
REGION_VALUES = EXAMPLES / "values-region.yaml"

# The fixture `helm` waits up to 900 s for the build; pytest-timeout counts fixture setup in a test's time.
pytestmark = [pytest.mark.helm, pytest.mark.timeout(1000)]


@pytest.fixture(scope="module")
def helm() -> Path:
    """The helm binary: waits for the background build `make test` started, or builds it (minutes, once)."""
    script = ROOT / "deploy/helm.sh"
    built = subprocess.run([str(script), "wait-built", "900"], timeout=960)
    if built.returncode == 3:
        pytest.skip("no Go here: Helm is built from the Go module proxy (deploy/helm.sh)")
    assert built.returncode == 0, "Helm could not be built; see .cache/helm/build.log"
    return Path(subprocess.run([str(script), "path"], capture_output=True, text=True, check=True).stdout.strip())


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def render(helm: Path, *values: Path, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = ["template", "zorgstroom", str(CHART), "--namespace", "region"]
    args += [a for v in values for a in ("-f", str(v))] + [a for s in sets for a in ("--set", s)]
    rendered = run_helm(helm, *args)
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in objects if o["kind"] == kind}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def env(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(workload)["env"]}


def secret_names(workload: dict[str, Any]) -> set[str]:
    """Every Secret the pod reads: by env entry and by volume."""
    pod = workload["spec"]["template"]["spec"]
    by_env = {e["valueFrom"]["secretKeyRef"]["name"] for e in container(workload)["env"] if "valueFrom" in e}
    return by_env | {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}


def examples(name: str) -> Iterator[dict[str, Any]]:
    return (doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc)


@pytest.fixture(scope="module")
def defaults(helm: Path) -> list[dict[str, Any]]:
    return render(helm)


@pytest.fixture(scope="module")
def region(helm: Path) -> list[dict[str, Any]]:
    return render(helm, REGION_VALUES)


@pytest.mark.parametrize("values", [(), (REGION_VALUES,)], ids=["defaults", "region-example"])
def test_the_chart_lints_clean(helm: Path, values: tuple[Path, ...]) -> None:
    linted = run_helm(helm, "lint", "--strict", str(CHART), *[a for v in values for a in ("-f", str(v))])
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("rendering", ["defaults", "region"])
def test_every_service_is_a_deployment_probed_on_readyz_and_healthz(
    rendering: str, request: pytest.FixtureRequest
) -> None:
    deployments = of_kind(request.getfixturevalue(rendering), "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        probes = container(deployment)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert probes["command"][-1] == f"zorgstroom_{name}", name
        assert probes["resources"]["requests"]["memory"] and probes["resources"]["limits"]["memory"], name


def test_replicas_follow_the_values(defaults: list[dict[str, Any]], region: list[dict[str, Any]], helm: Path) -> None:
    assert {n: d["spec"]["replicas"] for n, d in of_kind(defaults, "Deployment").items()} == dict.fromkeys(SERVICES, 1)
    assert {n: d["spec"]["replicas"] for n, d in of_kind(region, "Deployment").items()} == dict.fromkeys(SERVICES, 2)
    three = of_kind(render(helm, sets=("services.intake.replicas=3",)), "Deployment")
    assert {n: d["spec"]["replicas"] for n, d in three.items()} == dict.fromkeys(SERVICES, 1) | {"intake": 3}
    assert all(container(d)["resources"]["requests"]["memory"] for d in three.values())  # the others kept whole


def test_every_service_gets_a_service_and_a_disruption_budget(region: list[dict[str, Any]]) -> None:
    deployments, services = of_kind(region, "Deployment"), of_kind(region, "Service")
    budgets = of_kind(region, "PodDisruptionBudget")
    assert set(services) == set(budgets) == set(SERVICES)
    for name in SERVICES:
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert services[name]["spec"]["selector"].items() <= pod_labels.items(), name
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), name


def test_each_service_speaks_sasl_as_its_own_kafka_user_with_its_own_database_role(
    region: list[dict[str, Any]],
) -> None:
    for name, deployment in of_kind(region, "Deployment").items():
        variables = env(deployment)
        assert variables["ZS_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert variables["ZS_KAFKA_USERNAME"]["value"] == name
        assert variables["ZS_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
        assert variables["ZS_KAFKA_CA_FILE"]["value"].startswith("/etc/zorgstroom/kafka-ca/")
        assert variables["ZS_DATABASE_URL"]["value"].startswith(f"postgresql://{name}_app@")
        assert ":" not in variables["ZS_DATABASE_URL"]["value"].split("@")[0].removeprefix("postgresql://")
        assert variables["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{name}-db-app"
        assert ("ZS_CLIENT_REF_SECRET" in variables) == (name == "intake"), name
        assert "ZS_MIGRATION_DATABASE_URL" not in variables


def test_the_secrets_referenced_are_those_the_examples_make(defaults: list[dict[str, Any]]) -> None:
    """Strimzi writes a Secret per KafkaUser and `<cluster>-cluster-ca-cert`; the CloudNativePG example names its
    roles' Secrets; the operator makes the issuers file's and the client_ref key's (docs/operators.md)."""
    (kafka,) = (d for d in examples("kafka.yaml") if d["kind"] == "Kafka")
    made = {u["metadata"]["name"] for u in examples("kafka-users.yaml")} | {
        f"{kafka['metadata']['name']}-cluster-ca-cert"
    }
    (cluster,) = (d for d in examples("postgres.yaml") if d["kind"] == "Cluster")
    made |= {role["passwordSecret"]["name"] for role in cluster["spec"]["managed"]["roles"]}
    made |= {f"{cluster['metadata']['name']}-ca"}  # CloudNativePG's CA, which verify-full checks against
    made |= {"zorgstroom-auth-issuers", "zorgstroom-client-ref"}
    workloads = [o for o in defaults if o["kind"] in ("Deployment", "Job")]
    referenced = set().union(*(secret_names(w) for w in workloads))
    assert referenced <= made, referenced - made
    for name, job in of_kind(defaults, "Job").items():
        assert secret_names(job) == {f"{name}-db-migrator", f"{cluster['metadata']['name']}-ca"}, name
    for name, deployment in of_kind(defaults, "Deployment").items():
        assert {name, f"{name}-db-app"} <= secret_names(deployment), name
    bootstrap = env(of_kind(defaults, "Deployment")["intake"])["ZS_KAFKA_BOOTSTRAP"]["value"]
    assert bootstrap.startswith(f"{kafka['metadata']['name']}-kafka-bootstrap:")
    database = env(of_kind(defaults, "Deployment")["intake"])["ZS_DATABASE_URL"]["value"]
    assert f"@{cluster['metadata']['name']}-rw:" in database


def test_every_setting_the_chart_gives_is_one_a_service_reads(region: list[dict[str, Any]]) -> None:
    """A misspelt ZS_* variable would be ignored without a word (settings ignore unknown variables)."""
    known = {f"ZS_{field.upper()}" for field in ServiceSettings.model_fields}
    for name, deployment in of_kind(region, "Deployment").items():
        given = {v for v in env(deployment) if v.startswith("ZS_")}
        assert given <= known, (name, given - known)


@pytest.mark.parametrize("rendering", ["defaults", "region"])
def test_each_service_s_rendered_settings_pass_the_production_refusals(
    rendering: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment a pod gets, its Secrets filled in and its mounted files made here, is one a production
    service starts with: nothing the chart leaves out or sets wrong would stop every pod at start."""
    mounted = tmp_path / "etc"
    for name in ("kafka-ca/ca.crt", "postgres-ca/ca.crt", "auth-credentials/credentials.json"):
        (mounted / name).parent.mkdir(parents=True, exist_ok=True)
        (mounted / name).write_text("[]")
    (mounted / "auth-issuers").mkdir()
    issuer = 'issuer = "https://idp.example.org/realms/region", audience = "zorgstroom", may_assert = ["region:*"]'
    (mounted / "auth-issuers/issuers.toml").write_text(f"issuers = [{{{issuer}}}]")
    for name, deployment in of_kind(request.getfixturevalue(rendering), "Deployment").items():
        for variable, entry in env(deployment).items():
            value = entry.get("value", "a-secret-from-a-kubernetes-secret-of-40-chars")
            value = value.replace("/etc/zorgstroom", str(mounted)).replace("/app/data", str(ROOT / "data"))
            monkeypatch.setenv(variable, value)
        settings = ServiceSettings(_env_file=None)
        assert settings.environment == "production" and settings.service_name == name
        for variable in env(deployment):
            monkeypatch.delenv(variable)


@pytest.mark.parametrize("rendering", ["defaults", "region"])
def test_no_container_runs_as_root_or_writes_its_image(rendering: str, request: pytest.FixtureRequest) -> None:
    workloads = [o for o in request.getfixturevalue(rendering) if o["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 2 * len(SERVICES)
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        for each in pod["containers"] + pod.get("initContainers", []):
            effective = pod.get("securityContext", {}) | each.get("securityContext", {})
            assert effective["runAsNonRoot"] is True and effective.get("runAsUser") != 0, workload["metadata"]["name"]
            assert effective["allowPrivilegeEscalation"] is False
            assert effective["readOnlyRootFilesystem"] is True
            assert effective["capabilities"]["drop"] == ["ALL"]


def test_the_migrations_run_as_each_schemas_owner_before_install_and_upgrade(defaults: list[dict[str, Any]]) -> None:
    jobs = of_kind(defaults, "Job")
    assert set(jobs) == set(SERVICES)
    for name, job in jobs.items():
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        command = container(job)["command"]
        assert command[1:3] == ["migrate", f"--service={name}"]
        assert f"--database-url=postgresql://{name}_migrator@" in " ".join(command)


def test_prometheus_scrapes_every_pod_and_a_service_monitor_is_optional(
    defaults: list[dict[str, Any]], region: list[dict[str, Any]]
) -> None:
    for deployment in of_kind(defaults, "Deployment").values():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert not of_kind(defaults, "ServiceMonitor")
    monitors = of_kind(region, "ServiceMonitor")
    assert set(monitors) == set(SERVICES)
    for name, monitor in monitors.items():  # deploy/prometheus/alerts.yml selects up{job="zorgstroom"}
        (endpoint,) = monitor["spec"]["endpoints"]
        relabelled = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
        assert relabelled == {"job": "zorgstroom", "service": name}
    assert 'up{job="zorgstroom"}' in (ROOT / "deploy/prometheus/alerts.yml").read_text()


def test_postgresql_s_certificate_is_checked_by_default(defaults: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(defaults, "Deployment").items():
        database = env(deployment)["ZS_DATABASE_URL"]["value"]
        assert "sslmode=verify-full&sslrootcert=/etc/zorgstroom/postgres-ca/ca.crt" in database, name


def test_a_stopping_pod_keeps_serving_a_few_seconds_within_its_grace_period(
    defaults: list[dict[str, Any]], helm: Path
) -> None:
    for name, deployment in of_kind(defaults, "Deployment").items():
        command = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
        assert command[-1] == "import time; time.sleep(5)", name
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 5 + 15
    none = of_kind(render(helm, sets=("preStopSleepSeconds=0",)), "Deployment")
    assert not any("lifecycle" in container(d) for d in none.values())


def test_with_a_topic_prefix_each_service_logs_in_as_the_kafka_user_the_examples_make_for_it(helm: Path) -> None:
    """Two regions share a cluster: their KafkaUsers (and so their Secrets) are named per prefix."""
    sys.path.insert(0, str(ROOT / "deploy/helm"))
    from generate_examples import kafka_users

    made = {u["metadata"]["name"] for u in kafka_users("flevoland.")}
    for name, deployment in of_kind(render(helm, sets=("topicPrefix=flevoland.",)), "Deployment").items():
        variables = env(deployment)
        assert variables["ZS_KAFKA_USERNAME"]["value"] == f"flevoland-{name}" in made
        assert variables["ZS_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"flevoland-{name}"
    assert made.isdisjoint(u["metadata"]["name"] for u in kafka_users("midden-ijssel."))


def test_production_without_a_way_to_authenticate_is_refused_when_rendering(helm: Path) -> None:
    args = ["template", "zorgstroom", str(CHART), "--set", "auth.issuersSecret=", "--set", "auth.credentialsSecret="]
    refused = run_helm(helm, *args)
    assert refused.returncode != 0
    assert "auth.issuersSecret or auth.credentialsSecret must be set" in refused.stderr


def test_the_strimzi_examples_are_what_the_contract_gives() -> None:
    """KafkaTopic and KafkaUser examples are generated; a contract change without regenerating fails here."""
    generator = ROOT / "deploy/helm/generate_examples.py"
    checked = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
