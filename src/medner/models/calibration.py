"""Calibrated entity confidence: a monotone map per label from the model's own confidence to
the probability that the entity is right (strict: exact span and label), fitted by isotonic
regression on gold or reviewed notes (medner.evaluation.calibration; ``medner calibrate``).

The map lives in the model's metadata (``metadata["calibration"]``: per label the knots
``x`` and ``y`` of a piecewise-linear function), so a calibrated model is a directory like any
other; ``medner.inference.entity_records``, the one extraction path, applies it. A label
without a map keeps its confidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """Per label, the knots of a non-decreasing map of [0, 1] onto [0, 1]."""

    knots: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    method: str = "isotonic"

    def apply(self, label: str, confidence: float) -> float:
        """The calibrated confidence of one entity."""
        knots = self.knots.get(label)
        if knots is None:
            return confidence
        return float(np.interp(confidence, knots[0], knots[1]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "labels": {
                label: {"x": [round(v, 6) for v in xs], "y": [round(v, 6) for v in ys]}
                for label, (xs, ys) in sorted(self.knots.items())
            },
        }

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> Calibration:
        knots = {
            str(label): (tuple(float(v) for v in k["x"]), tuple(float(v) for v in k["y"]))
            for label, k in raw.get("labels", {}).items()
        }
        return Calibration(knots, str(raw.get("method", "isotonic")))


_PARSED: dict[int, tuple[dict[str, Any], Calibration]] = {}


def calibration_of(metadata: dict[str, Any]) -> Calibration | None:
    """The model's calibration, parsed once per metadata dict (extraction calls this per
    note)."""
    raw = metadata.get("calibration")
    if not raw:
        return None
    cached = _PARSED.get(id(raw))
    if cached is None or cached[0] is not raw:
        cached = (raw, Calibration.from_dict(raw))
        _PARSED[id(raw)] = cached
    return cached[1]
