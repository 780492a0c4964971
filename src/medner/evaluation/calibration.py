"""Fitting and measuring calibrated confidence (``medner calibrate``; docs/kpis.md).

Each predicted entity is an observation: its confidence, and whether it is right (strict:
a gold entity with the same start, end and label). Per label, an isotonic regression of
rightness on confidence (scikit-learn's ``IsotonicRegression``, monotone, clipped to [0, 1])
is the map; its knots are what the model stores (medner.models.calibration).

The expected calibration error (ECE) is the usual one: entities in 10 equal-width confidence
bins, ``sum(n_bin / n × |accuracy_bin − mean confidence_bin|)``. The reliability diagram is
those bins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medner.models.base import NerModel
from medner.models.calibration import Calibration
from medner.types import Document, Entity

BINS = 10


@dataclass(frozen=True, slots=True)
class Observation:
    label: str
    confidence: float
    correct: bool


def observations(
    gold: Sequence[Sequence[Entity]], predicted: Sequence[Sequence[Entity]]
) -> list[Observation]:
    """One observation per predicted entity: is it in the gold set (strictly)?"""
    out = []
    for g, p in zip(gold, predicted, strict=True):
        keys = {e.key for e in g}
        out += [Observation(e.label, e.confidence, e.key in keys) for e in p]
    return out


def model_observations(model: NerModel, docs: Sequence[Document]) -> list[Observation]:
    """The model's raw (uncalibrated) confidence on ``docs`` against their entities."""
    return observations([d.entities for d in docs], [model.predict(d.text) for d in docs])


METHODS = ("isotonic", "platt")


def fit_calibration(
    obs: Sequence[Observation], min_per_label: int = 20, method: str = "isotonic"
) -> Calibration:
    """A map per label with at least ``min_per_label`` observations: ``isotonic`` (a monotone
    step function, scikit-learn's ``IsotonicRegression``) or ``platt`` (a logistic regression
    on the logit of the confidence, two parameters per label: smoother, less prone to fit the
    noise of a small sample), stored as the knots of a piecewise-linear map either way."""
    import numpy as np

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "platt":
        return _fit_platt(obs, min_per_label)
    from sklearn.isotonic import IsotonicRegression

    by_label: dict[str, list[Observation]] = defaultdict(list)
    for o in obs:
        by_label[o.label].append(o)
    knots = {}
    for label, rows in sorted(by_label.items()):
        if len(rows) < min_per_label:
            continue
        x = np.array([o.confidence for o in rows])
        y = np.array([1.0 if o.correct else 0.0 for o in rows])
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        xs = [0.0, *map(float, iso.X_thresholds_), 1.0]
        ys = [float(iso.predict([0.0])[0]), *map(float, iso.y_thresholds_)]
        ys.append(float(iso.predict([1.0])[0]))
        knots[label] = (tuple(xs), tuple(ys))
    return Calibration(knots)


def _fit_platt(obs: Sequence[Observation], min_per_label: int) -> Calibration:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    by_label: dict[str, list[Observation]] = defaultdict(list)
    for o in obs:
        by_label[o.label].append(o)
    grid = np.linspace(0.0, 1.0, 101)
    knots = {}
    for label, rows in sorted(by_label.items()):
        y = np.array([1 if o.correct else 0 for o in rows])
        if len(rows) < min_per_label or y.min() == y.max():
            continue
        x = _logit(np.array([o.confidence for o in rows]))
        fit = LogisticRegression(C=1e6).fit(x.reshape(-1, 1), y)
        ys = fit.predict_proba(_logit(grid).reshape(-1, 1))[:, 1]
        knots[label] = (tuple(map(float, grid)), tuple(map(float, ys)))
    return Calibration(knots, "platt")


def _logit(p: Any) -> Any:
    import numpy as np

    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def calibrated(obs: Sequence[Observation], calibration: Calibration) -> list[Observation]:
    return [Observation(o.label, calibration.apply(o.label, o.confidence), o.correct) for o in obs]


@dataclass(frozen=True, slots=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean
    accuracy: float


def reliability(obs: Sequence[Observation], bins: int = BINS) -> list[Bin]:
    """Equal-width confidence bins with their mean confidence and accuracy (empty bins too)."""
    out = []
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        rows = [
            o for o in obs if low <= o.confidence < high or (i == bins - 1 and o.confidence == 1)
        ]
        n = len(rows)
        out.append(
            Bin(
                low,
                high,
                n,
                sum(o.confidence for o in rows) / n if n else 0.0,
                sum(o.correct for o in rows) / n if n else 0.0,
            )
        )
    return out


def expected_calibration_error(obs: Sequence[Observation], bins: int = BINS) -> float:
    """ECE over equal-width bins (0 when there is nothing to measure)."""
    if not obs:
        return 0.0
    return sum(b.count / len(obs) * abs(b.accuracy - b.confidence) for b in reliability(obs, bins))


@dataclass(slots=True)
class CalibrationReport:
    """What ``medner calibrate`` fitted and measured."""

    fitted_on: int  # entities
    measured_on: int
    ece_before: float
    ece_after: float
    per_label: dict[str, tuple[float, float]]  # ECE before, after
    before: list[Bin]
    after: list[Bin]
    calibration: Calibration
    observations: list[Observation]  # the measured ones, uncalibrated

    def to_dict(self) -> dict[str, object]:
        return {
            "fitted_on_entities": self.fitted_on,
            "measured_on_entities": self.measured_on,
            "ece_before": round(self.ece_before, 6),
            "ece_after": round(self.ece_after, 6),
            "per_label": {k: [round(a, 6), round(b, 6)] for k, (a, b) in self.per_label.items()},
            "reliability_before": [_bin(b) for b in self.before],
            "reliability_after": [_bin(b) for b in self.after],
            "calibration": self.calibration.to_dict(),
        }


def _bin(b: Bin) -> dict[str, float]:
    return {
        "low": b.low,
        "high": b.high,
        "count": b.count,
        "confidence": round(b.confidence, 6),
        "accuracy": round(b.accuracy, 6),
    }


def measure(
    fit_obs: Sequence[Observation],
    eval_obs: Sequence[Observation],
    min_per_label: int = 20,
    method: str = "isotonic",
) -> CalibrationReport:
    """Fit on ``fit_obs``; ECE and reliability before and after on ``eval_obs``."""
    calibration = fit_calibration(fit_obs, min_per_label, method)
    after = calibrated(eval_obs, calibration)
    labels = sorted({o.label for o in eval_obs})
    per_label = {
        label: (
            expected_calibration_error([o for o in eval_obs if o.label == label]),
            expected_calibration_error([o for o in after if o.label == label]),
        )
        for label in labels
    }
    return CalibrationReport(
        len(fit_obs),
        len(eval_obs),
        expected_calibration_error(eval_obs),
        expected_calibration_error(after),
        per_label,
        reliability(eval_obs),
        reliability(after),
        calibration,
        list(eval_obs),
    )
