"""A small trained model and app settings for the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medner.models.crf import CRFModel
from medner.serving.service import build_app
from medner.serving.settings import ServeSettings

KEYS = "ek:extract,ak:admin,both:extract+admin"
EXTRACT = {"Authorization": "Bearer ek"}
ADMIN = {"Authorization": "Bearer ak"}


@pytest.fixture(scope="session")
def model_dir(tiny_model: CRFModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-model") / "model"
    tiny_model.save(path)
    return path


def make_settings(model_dir: Path, tmp_path: Path, **overrides: Any) -> ServeSettings:
    values: dict[str, Any] = {
        "model": str(model_dir),
        "api_keys": KEYS,
        "keys_file": tmp_path / "no-keys.json",
        "prediction_log_url": f"sqlite:///{tmp_path / 'predictions.db'}",
        "prediction_log_flush_seconds": 0.05,
        "max_chars": 2_000,
        "max_batch": 4,
        "rate_limit_per_minute": 0,
        "extract_in": "threads",  # no process spawn per test; process mode has its own tests
    }
    values.update(overrides)
    return ServeSettings(**values)


@pytest.fixture
def client(model_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(make_settings(model_dir, tmp_path))) as c:
        yield c
