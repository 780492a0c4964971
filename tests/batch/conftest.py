from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the batch tests (Java from the machine)."""
    from medner.batch.job import spark_session

    session = spark_session(
        "local[2]",
        {
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
        },
        app="medner-tests",
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
