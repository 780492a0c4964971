"""``medner monitor``: a window of the prediction log against a reference, feature by feature
(and segment by segment), from the stored numbers only: profiles, entities, segments; no note
text is read."""

from __future__ import annotations

import html
import io
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from medner.errors import MednerError
from medner.monitoring.drift import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, MIN_NOTES, FeatureDrift
from medner.monitoring.drift import compare as compare_features
from medner.store.tables import Prediction

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([hd])$")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``24h``, ``7d`` or an ISO date/time (UTC when it has no zone)."""
    now = now or datetime.now(UTC)
    match = _SPAN.match(value.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return now - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MednerError(f"--since: {value!r} is not like 24h, 7d or 2026-12-01") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(slots=True)
class Row:
    profile: dict[str, float]
    entities: list[dict[str, Any]]
    segments: dict[str, str]


def load_rows(engine: Engine, since: datetime, until: datetime | None = None) -> list[Row]:
    """The logged notes in ``[since, until)`` that have a profile."""
    query = select(Prediction.profile, Prediction.entities, Prediction.segments).where(
        Prediction.created_at >= since, Prediction.profile.is_not(None)
    )
    if until is not None:
        query = query.where(Prediction.created_at < until)
    with Session(engine) as session:
        return [
            Row(dict(p or {}), list(e or []), dict(s or {})) for p, e, s in session.execute(query)
        ]


def reference_from_rows(rows: Sequence[Row]) -> dict[str, Any]:
    """A reference profile made of logged notes (``--reference DATE..DATE``)."""
    features: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for k, v in r.profile.items():
            features[k].append(float(v))
    return {
        "notes": len(rows),
        "features": dict(features),
        "confidence": [float(e["confidence"]) for r in rows for e in r.entities],
        "label_counts": dict(Counter(str(e["label"]) for r in rows for e in r.entities)),
    }


@dataclass(slots=True)
class MonitorReport:
    since: datetime
    until: datetime | None
    reference: str
    notes: int
    verdicts: list[FeatureDrift]
    segments: dict[str, list[FeatureDrift]] = field(default_factory=dict)
    segment_notes: dict[str, int] = field(default_factory=dict)
    segment_field: str | None = None

    @property
    def drift(self) -> bool | None:
        """Whether any feature drifts; ``None`` when there was too little to judge."""
        if not self.verdicts:
            return None
        return any(v.drift for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "reference": self.reference,
            "notes": self.notes,
            "drift": self.drift,
            "features": [v.to_dict() for v in self.verdicts],
            "segment_field": self.segment_field,
            "segments": {
                name: {"notes": self.segment_notes[name], "features": [v.to_dict() for v in vs]}
                for name, vs in sorted(self.segments.items())
            },
        }


def monitor(
    engine: Engine,
    reference: Mapping[str, Any],
    reference_name: str,
    since: datetime,
    until: datetime | None = None,
    segment: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> MonitorReport:
    """The window's drift verdicts against ``reference``, overall and per value of the
    ``segment`` field (segments with fewer than the minimum notes get no verdict)."""
    rows = load_rows(engine, since, until)
    report = MonitorReport(
        since,
        until,
        reference_name,
        len(rows),
        compare_features(
            reference, [r.profile for r in rows], [r.entities for r in rows], alpha, min_effect
        ),
        segment_field=segment,
    )
    if segment:
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            groups[r.segments.get(segment, "(none)")].append(r)
        for name, members in groups.items():
            report.segment_notes[name] = len(members)
            report.segments[name] = compare_features(
                reference,
                [r.profile for r in members],
                [r.entities for r in members],
                alpha,
                min_effect,
            )
    return report


def render_html(report: MonitorReport, reference: Mapping[str, Any], rows: Sequence[Row]) -> str:
    """The report page: the verdicts, and the reference against the window, feature by
    feature (matplotlib, inline SVG; numbers only)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    names = [v.feature for v in report.verdicts if v.test == "ks"]
    current: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for k, v in r.profile.items():
            current[k].append(float(v))
    current["confidence"] = [float(e["confidence"]) for r in rows for e in r.entities]
    svg = ""
    if names:
        cols = 4
        lines = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(lines, cols, figsize=(12, 2.6 * lines), squeeze=False)
        for axis, name in zip(axes.flat, names, strict=False):
            ref = reference["confidence"] if name == "confidence" else reference["features"][name]
            edges = np.histogram_bin_edges([*ref, *current[name]], bins=30)  # shared bins
            axis.hist(ref, bins=edges, density=True, alpha=0.5, label="reference")
            axis.hist(current[name], bins=edges, density=True, alpha=0.5, label="window")
            axis.set_title(name, fontsize=9)
            axis.tick_params(labelsize=7)
        for axis in list(axes.flat)[len(names) :]:
            axis.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        out = io.StringIO()
        fig.savefig(
            out,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
        plt.close(fig)
        svg = out.getvalue()[out.getvalue().index("<svg") :]
    verdict = {None: "no verdict (too few notes)", True: "DRIFT", False: "no drift"}[report.drift]
    table = "".join(
        f"<tr class='{'drift' if v.drift else ''}'><td>{html.escape(v.feature)}</td>"
        f"<td>{v.test}</td><td>{v.statistic:.3f}</td><td>{v.p_value:.2g}</td>"
        f"<td>{'' if v.distance is None else f'{v.distance:.3f}'}</td>"
        f"<td>{v.current_n:,}</td><td>{'yes' if v.drift else 'no'}</td></tr>"
        for v in report.verdicts
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>medner drift"
        "</title><style>body{font-family:sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:4px 8px}tr.drift td{background:#fde2e2}svg{max-width:100%;height:auto}"
        "</style></head><body><h1>medner drift</h1>"
        f"<p>{report.notes:,} notes from {html.escape(report.since.isoformat())} against "
        f"{html.escape(report.reference)}: <b>{verdict}</b></p>"
        "<table><tr><th>feature</th><th>test</th><th>statistic</th><th>p</th>"
        f"<th>Wasserstein (ref. SD)</th><th>values</th><th>drift</th></tr>{table}</table>"
        f"{svg}</body></html>"
    )


__all__ = ["MIN_NOTES", "MonitorReport", "load_rows", "monitor", "parse_since", "render_html"]
