"""The behaviour suite: clinical phrases with the entities a good extractor returns for them
(``resources/behaviour.yaml``). A regression guard run in the tests, never a test set."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from medner.errors import ConfigError
from medner.models.base import NerModel


@dataclass(slots=True)
class CaseResult:
    name: str
    passed: bool
    missing: list[str] = field(default_factory=list)
    forbidden_found: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SuiteResult:
    cases: list[CaseResult]
    min_passed: int

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def pass_rate(self) -> float:
        return self.passed / len(self.cases) if self.cases else 0.0


def load_suite(path: Path | None = None) -> dict[str, Any]:
    """The suite (default: the one shipped with medner)."""
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else files("medner.resources").joinpath("behaviour.yaml").read_text(encoding="utf-8")
    )
    suite = yaml.safe_load(text)
    if not isinstance(suite, dict) or not isinstance(suite.get("cases"), list):
        raise ConfigError(f"{path or 'behaviour.yaml'}: expected a mapping with a 'cases' list")
    return suite


def run_suite(model: NerModel, suite: dict[str, Any]) -> SuiteResult:
    """Run every case: expected (text, label) pairs must be returned, forbidden texts not."""
    results = []
    for case in suite["cases"]:
        found = {(e.text, e.label) for e in model.predict(case["text"])}
        texts = {t for t, _ in found}
        missing = [
            f"{x['text']} ({x['label']})"
            for x in case.get("expect", [])
            if (x["text"], x["label"]) not in found
        ]
        forbidden = [t for t in case.get("forbid", []) if t in texts]
        results.append(CaseResult(case["name"], not missing and not forbidden, missing, forbidden))
    return SuiteResult(results, int(suite.get("min_passed", 0)))
