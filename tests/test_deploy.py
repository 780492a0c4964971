"""The deployment files are what docs/operations.md says (no Docker engine or cluster here)."""

from __future__ import annotations

import json
import re

import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*", text, re.M) and "/readyz" in text
    assert re.search(r'^CMD \["medner", "serve"\]', text, re.M)


def test_kubernetes_manifests() -> None:
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    assert set(docs) == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "CronJob",
    }
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (
        docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == (docs["Deployment"]["metadata"]["name"])
    )
    selector = docs["Service"]["spec"]["selector"]
    assert selector == docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    # every MEDNER_ setting in the ConfigMap is a real setting of the service
    from medner.serving.settings import ServeSettings

    known = {f"MEDNER_{name.upper()}" for name in ServeSettings.model_fields}
    assert set(docs["ConfigMap"]["data"]) <= known | {"MEDNER_MODEL_CACHE"}


def test_the_retraining_job_runs_medner_retrain_one_at_a_time() -> None:
    """Issue 20: a nightly CronJob on the training image, never two runs at once."""
    job = yaml.safe_load((DEPLOY / "k8s/retrain-cronjob.yaml").read_text())
    assert job["kind"] == "CronJob" and job["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(job["spec"]["schedule"].split()) == 5
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][:2] == ["medner", "retrain"]
    assert "medner-train" in container["image"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    names = {e["name"] for e in container["env"]}
    assert {"MEDNER_DATABASE_URL", "MLFLOW_TRACKING_URI"} <= names
    text = (DEPLOY / "Dockerfile.train").read_text()
    assert re.search(r"^ARG BASE=", text, re.M) and re.search(r"^FROM \$\{BASE\}", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and not users[-1].startswith(("root", "0"))
    assert '"medner", "retrain"' in text


def _tool(name: str) -> str:
    import os
    import shutil

    import pytest

    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/with-services installs Debian's prometheus")
        pytest.skip(f"{name} not installed (apt-get install prometheus prometheus-alertmanager)")
    return found


def test_the_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    """Issue 21: every alert has a firing and a not-firing case (rules.test.yml)."""
    import subprocess

    promtool = _tool("promtool")
    rules = DEPLOY / "prometheus"
    check = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=rules, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "rules.test.yml"], cwd=rules, capture_output=True, text=True
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    alerts = {
        r["alert"]
        for g in yaml.safe_load((rules / "rules.yml").read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    cases = yaml.safe_load((rules / "rules.test.yml").read_text())["tests"]
    firing, quiet = set(), set()
    for case in cases:
        for t in case.get("alert_rule_test", []):
            (firing if t["exp_alerts"] else quiet).add(t["alertname"])
    quiet.add("MednerDriftDetected")  # its not-firing series sits beside the firing one
    assert alerts <= firing and alerts <= quiet, (alerts - firing, alerts - quiet)


def test_alertmanager_config_passes_amtool_and_routes_retrain_alerts_to_the_api() -> None:
    import subprocess

    amtool = _tool("amtool")
    path = DEPLOY / "alertmanager/alertmanager.yml"
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(path.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    retrain = receivers["medner-retrain"]["webhook_configs"][0]
    assert retrain["url"].endswith("/v1/admin/alerts")
    assert "credentials_file" in retrain["http_config"]["authorization"]
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes[('team="ml"', 'action="retrain"')] == "medner-retrain"
    assert routes[('team="service"', 'severity="page"')] == "pager"


def test_the_one_host_stack_is_wired_together() -> None:
    """Issue 21, item 5: no container engine here, so the structure: the six services, every
    file it mounts exists, Prometheus scrapes the API and alerts Alertmanager (promtool)."""
    import subprocess

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"api", "postgres", "mlflow", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.startswith("./secrets"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
    api = services["api"]["environment"]
    assert api["MEDNER_MODEL"] == "models:/medner@champion"
    assert api["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "medner-api.medner.svc" in services["api"]["networks"]["default"]["aliases"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["job_name"] == "medner"
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]
    target = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert target.split(":")[0] in services
    check = subprocess.run(
        [_tool("promtool"), "check", "config", "prometheus.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    panels = json.loads((DEPLOY / "grafana/dashboards/medner.json").read_text())["panels"]
    assert all(t["datasource"]["uid"] == datasource["uid"] for p in panels for t in p["targets"])
