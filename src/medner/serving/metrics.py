"""Prometheus metrics of the API, all prefixed ``medner_``, in a registry of the app's own."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LENGTH_BUCKETS = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
COUNT_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


class ApiMetrics:
    """The metrics one app instance exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "medner_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "medner_request_duration_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("medner_requests_in_flight", "Requests being served", registry=r)
        self.entities = Histogram(
            "medner_entities_per_note",
            "Entities found per note, by label",
            ["label"],
            buckets=COUNT_BUCKETS,
            registry=r,
        )
        self.confidence = Histogram(
            "medner_entity_confidence",
            "Confidence of extracted entities",
            ["label"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.note_length = Histogram(
            "medner_note_length_chars",
            "Length of extracted notes in characters",
            buckets=LENGTH_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "medner_model_info", "The model being served (value 1)", ["name", "version"], registry=r
        )
        self.reloads = Counter(
            "medner_model_reloads", "Model reloads by outcome", ["outcome"], registry=r
        )
        self.log_written = Counter(
            "medner_prediction_log_written", "Prediction-log records written", registry=r
        )
        self.log_dropped = Counter(
            "medner_prediction_log_dropped",
            "Prediction-log records dropped (buffer full or write failed)",
            registry=r,
        )
        self.log_lost = Counter(
            "medner_prediction_log_lost",
            "Acknowledged prediction-log records an earlier process lost when it stopped without "
            "flushing (durability 'memory'), counted at this start",
            registry=r,
        )

        # the live KPIs, from the review record (medner.review.kpis), refreshed in the background
        self.live_f1 = Gauge(
            "medner_live_f1",
            "Strict F1 of the model's entities against validated ones, audit share, by label "
            "('micro': all labels)",
            ["label"],
            registry=r,
        )
        self.fix_rate = Gauge(
            "medner_review_fix_rate",
            "Share of predicted entities validators relabelled, resized or rejected",
            registry=r,
        )
        self.miss_rate = Gauge(
            "medner_review_miss_rate",
            "Share of validated entities the model did not predict",
            registry=r,
        )
        self.review_seconds = Gauge(
            "medner_review_seconds_per_note", "Median active validator seconds per note", registry=r
        )
        self.review_backlog = Gauge(
            "medner_review_backlog", "Notes in the review queue waiting for a review", registry=r
        )
        # drift of the last window of notes against the model's training profile
        # (medner.monitoring.drift), overall (segment="all") and per busiest segment value
        self.drift_score = Gauge(
            "medner_drift_score",
            "Drift statistic per feature (KS D; Jensen-Shannon distance for label shares)",
            ["feature", "segment"],
            registry=r,
        )
        self.drift_detected = Gauge(
            "medner_drift_detected",
            "1 when the feature's drift is significant and large enough, else 0",
            ["feature", "segment"],
            registry=r,
        )
        for gauge in (self.fix_rate, self.miss_rate, self.review_seconds, self.review_backlog):
            gauge.set(float("nan"))  # until the first refresh

    def set_drift(self, verdicts: dict[str, list[Any]]) -> None:
        """Set the drift gauges from ``medner.monitoring.drift`` verdicts per segment
        (``"all"``, or ``"clinic=c-7"``): the statistic and the verdict of each feature."""
        self.drift_score.clear()
        self.drift_detected.clear()
        for segment, found in verdicts.items():
            for v in found:
                self.drift_score.labels(feature=v.feature, segment=segment).set(v.statistic)
                self.drift_detected.labels(feature=v.feature, segment=segment).set(int(v.drift))

    def set_kpis(self, kpis: Any, backlog: int) -> None:
        """Set the KPI gauges from a ``medner.review.kpis.Kpis``; a KPI with no reviews behind
        it is NaN (never a 0 that reads as perfect, and no alert compares true on it)."""
        self.live_f1.clear()
        for label, f1 in kpis.f1.items():
            self.live_f1.labels(label=label).set(f1)
        for gauge, value in (
            (self.fix_rate, kpis.fix_rate),
            (self.miss_rate, kpis.miss_rate),
            (self.review_seconds, kpis.seconds_per_note),
        ):
            gauge.set(float("nan") if value is None else value)
        self.review_backlog.set(backlog)

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version).set(1)
