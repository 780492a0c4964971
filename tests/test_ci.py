"""Every CI definition runs the same two scripts as .ci/run, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ["make lint", ".ci/with-services make test"]


def _commands(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_run_runs_lint_then_test() -> None:
    lines = _commands((REPO / ".ci/run").read_text())
    assert [line for line in lines if line.startswith(("make", ".ci/"))] == SCRIPTS


def test_jenkins_runs_the_same_scripts() -> None:
    text = (REPO / "Jenkinsfile").read_text()
    assert re.findall(r"sh '([^']*)'", text) == SCRIPTS


def test_github_actions_runs_the_same_scripts() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert [step["run"] for step in job["steps"] if "run" in step] == SCRIPTS
    assert "postgres" in job["services"]
    assert job["env"]["MEDNER_TEST_POSTGRES_URL"].startswith("postgresql+psycopg://")
