"""Settings of the API, from ``MEDNER_*`` environment variables (or ``medner serve`` options)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from medner.store.db import DEFAULT_DATABASE_URL


class ServeSettings(BaseSettings):
    """Everything ``medner serve`` can be told; each field is also ``MEDNER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MEDNER_", extra="ignore")

    model: str = Field("models/default", description="Model directory or models:/ URI.")
    model_name: str = Field("medner", description="Name reported for a model directory.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes.")
    concurrency: int = Field(
        1, ge=1, le=64, description="Model copies per worker, each tagging one note at a time."
    )
    extract_in: Literal["processes", "threads"] = Field(
        "processes",
        description="Where the model copies run: extraction processes beside each worker "
        "(tagging never holds the event loop), or threads in the worker (no extra processes).",
    )
    max_chars: int = Field(100_000, ge=1, description="Longest note text accepted (413 above).")
    max_batch: int = Field(32, ge=1, description="Most notes in one /v1/extract/batch request.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest wait for a request body to arrive (408 after)."
    )
    rate_limit_per_minute: int = Field(
        6000, ge=0, description="Requests per minute per API key (0: no limit); burst the same."
    )
    api_keys: str | None = Field(
        None, description="Keys for development and tests: 'key:scope+scope,key2:scope'."
    )
    keys_file: Path = Field(
        Path("runs/api-keys.json"), description="Hashed keys written by `medner keys create`."
    )
    dev: bool = Field(False, description="Development mode: start without keys, print one.")
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the store (the prediction log's database; PostgreSQL in "
        "production).",
    )
    prediction_log: bool = Field(True, description="Record every extraction in the store.")
    prediction_log_text: bool = Field(
        False, description="Also store each note's text in the prediction log (review queue)."
    )
    prediction_log_buffer: int = Field(10_000, ge=1, description="Records waiting at most.")
    prediction_log_batch: int = Field(500, ge=1, description="Records written per insert.")
    prediction_log_flush_seconds: float = Field(1.0, gt=0)
    prediction_log_durability: Literal["journal", "memory"] = Field(
        "journal",
        description="journal: each record is fsync-ed to a journal on local disk before the "
        "answer and replayed at start (kill -9 loses none); memory: the buffer only, and the "
        "next start counts what a crash lost.",
    )
    prediction_log_dir: Path = Field(
        Path("runs/prediction-log"),
        description="Local directory of the journal (or the loss ledger): one slot per process.",
    )
    review_sample: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of extracted notes copied, with their text, to the review queue "
        "(0: none, the default). The queue is the only place note text is stored.",
    )
    registry_timeout_seconds: int = Field(
        10,
        ge=1,
        description="With a models:/ model: seconds to wait for the tracking server per "
        "request (one retry), so a load or reload against an unreachable server fails fast.",
    )
    poll_champion_seconds: float = Field(
        0.0, ge=0, description="With a models:/NAME@ALIAS model: check the alias this often."
    )
    retrain_params: Path = Field(
        Path("params.yaml"),
        description="The YAML whose 'retrain' section configures POST /v1/admin/retrain.",
    )
    retrain_dir: Path = Field(
        Path("runs/retrain"), description="Where the API's retraining runs write their outcome."
    )
    segment_fields: str = Field(
        "",
        description="Request metadata fields kept as segments with each note's profile, "
        "comma-separated (e.g. 'clinic,city,specialty'); values are cut to 64 characters.",
    )
    drift_refresh_seconds: float = Field(
        60.0,
        ge=0,
        description="Recompute the drift gauges (medner_drift_score, medner_drift_detected) "
        "this often over the last drift_window_minutes of the prediction log, against the "
        "served model's reference profile (0: never).",
    )
    drift_window_minutes: float = Field(60.0, gt=0, description="The drift gauges' window.")
    drift_max_segments: int = Field(
        10, ge=0, description="Per segment field, the busiest values given drift gauges."
    )
    auto_accept_precision: float | None = Field(
        None,
        ge=0.5,
        le=1,
        description="Route by confidence: a sampled note whose entities all reach the "
        "confidence at which the audit share showed this precision skips review (unless it is "
        "an audit note); the threshold is recomputed with the KPIs. Unset: every note reviewed.",
    )
    kpi_refresh_seconds: float = Field(
        300.0,
        ge=0,
        description="Recompute the live KPI gauges (medner_live_f1, medner_review_*) from the "
        "review record this often (0: never).",
    )
    kpi_window_days: float = Field(
        7.0, gt=0, description="The live KPI gauges cover the reviews of this many last days."
    )
    manual_seconds_per_note: float = Field(
        180.0,
        gt=0,
        description="Seconds per note of manual data entry: the baseline of hours saved "
        "(measure it once on a sample; docs/kpis.md).",
    )

    @cached_property
    def segments(self) -> tuple[str, ...]:
        """``segment_fields`` as names, parsed once (every logged note reads it)."""
        return tuple(f.strip() for f in self.segment_fields.split(",") if f.strip())
