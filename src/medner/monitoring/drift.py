"""Drift between a reference profile and a window of logged notes, per feature.

The statistics are SciPy's (``scipy.stats``), the field's reference implementations:

- each numeric feature of the notes' profile, and the entities' confidence: the two-sample
  Kolmogorov-Smirnov test (``ks_2samp``): its statistic D (the largest gap between the two
  empirical distributions, 0 to 1) and p-value; the Wasserstein distance in the reference's
  standard deviations is reported beside it;
- the shares of the labels among the entities: a chi-squared test of the two count vectors
  (``chi2_contingency``) and their Jensen-Shannon distance (``scipy.spatial``).

A feature drifts when the test is significant (p below ``alpha`` divided by the number of
features tested: Bonferroni) **and** the effect is large enough to matter (D or the
Jensen-Shannon distance at least ``min_effect``): with thousands of notes a test finds
differences nobody needs to act on. Black-box shift detection on the model's own outputs
(entity rates and confidence) follows Rabanser et al. (NeurIPS 2019).

Why not Evidently: its text drift counts words against an English dictionary (every drug name is
"out of vocabulary"), it would keep the reference data in its report, and its metrics service
for Prometheus was removed; the numbers here are a handful of SciPy calls, and the report is
medner's own (numbers and plots, no text).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_ALPHA = 0.01
DEFAULT_MIN_EFFECT = 0.1
MIN_NOTES = 30  # fewer notes in a window: no verdict


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's comparison."""

    feature: str
    test: str  # ks | chi2
    statistic: float  # D, or the Jensen-Shannon distance
    p_value: float
    distance: float | None  # Wasserstein in reference standard deviations (numeric features)
    reference_n: int
    current_n: int
    threshold: float  # the p-value under which (with the effect) it drifts
    drift: bool

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("statistic", "p_value", "distance", "threshold"):
            if out[key] is not None:
                out[key] = float(f"{out[key]:.6g}")
        return out


def _numeric(
    name: str, ref: Sequence[float], cur: Sequence[float], threshold: float, min_effect: float
) -> FeatureDrift:
    import numpy as np
    from scipy.stats import ks_2samp, wasserstein_distance

    test = ks_2samp(ref, cur)
    spread = float(np.std(ref)) or 1.0
    distance = float(wasserstein_distance(ref, cur)) / spread
    d, p = float(test.statistic), float(test.pvalue)
    return FeatureDrift(
        name, "ks", d, p, distance, len(ref), len(cur), threshold, p < threshold and d >= min_effect
    )


def _labels(
    ref: Mapping[str, int], cur: Mapping[str, int], threshold: float, min_effect: float
) -> FeatureDrift:
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    labels = sorted(set(ref) | set(cur))
    table = np.array([[ref.get(x, 0) for x in labels], [cur.get(x, 0) for x in labels]]) + 0.5
    p = float(chi2_contingency(table)[1])
    js = float(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2))
    return FeatureDrift(
        "label_shares",
        "chi2",
        js,
        p,
        None,
        int(sum(ref.values())),
        int(sum(cur.values())),
        threshold,
        p < threshold and js >= min_effect,
    )


def compare(
    reference: Mapping[str, Any],
    profiles: Sequence[Mapping[str, float]],
    entities: Sequence[Sequence[Mapping[str, Any]]],
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> list[FeatureDrift]:
    """Each feature of ``reference`` (a reference profile: ``features``, ``confidence``,
    ``label_counts``) against the window's note ``profiles`` and their ``entities``; empty when
    the window holds fewer than ``MIN_NOTES`` notes (no verdict)."""
    if len(profiles) < MIN_NOTES:
        return []
    features = sorted(
        f
        for f in reference["features"]
        if any(f in p for p in profiles) and reference["features"][f]
    )
    confidence = [float(e["confidence"]) for note in entities for e in note]
    tested = len(features) + 2
    threshold = alpha / tested
    out = [
        _numeric(
            f,
            reference["features"][f],
            [float(p[f]) for p in profiles if f in p],
            threshold,
            min_effect,
        )
        for f in features
    ]
    if reference.get("confidence") and confidence:
        out.append(
            _numeric("confidence", reference["confidence"], confidence, threshold, min_effect)
        )
    labels = Counter(str(e["label"]) for note in entities for e in note)
    if reference.get("label_counts") and labels:
        out.append(_labels(reference["label_counts"], labels, threshold, min_effect))
    return out
