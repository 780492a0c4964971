"""Schemathesis over the OpenAPI schema of a real `medner serve`: requests generated from the
schema for every operation, valid ones and invalid ones (schemathesis' positive and negative
modes), never get a 5xx, and every 200 conforms to the schema."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.serving.conftest import running_server

KEY = "schema-key"


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schema")
    with running_server(
        model_dir,
        tmp,
        api_keys=f"{KEY}:extract+admin+review",
        max_chars="500",
        rate_limit_per_minute="0",
    ) as running:
        yield running.base


@pytest.fixture(scope="module")
def api_schema(server: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


def test_no_server_errors_and_answers_match_the_schema(
    api_schema: schemathesis.BaseSchema,
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/extract",
        "POST /v1/extract/batch",
        "POST /v1/admin/reload",
        "GET /v1/model",
        "GET /v1/review/next",
        "POST /v1/review/tasks/{task_id}/submit",
    }
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for operation, mode in itertools.product(operations, modes):
        if mode == schemathesis.GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # nothing to make invalid: no parameters, no body

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {KEY}"})
            assert response.status_code < 500, (case.path, case.body, response.text)
            if response.status_code == 200 and case.path != "/metrics":
                case.validate_response(response, checks=[response_schema_conformance])

        try:
            check()
        except Unsatisfiable:
            if mode != schemathesis.GenerationMode.NEGATIVE:
                raise
            # nothing in this operation can be made invalid (POST /review/logout: no body)
