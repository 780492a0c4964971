"""The KPI report as one self-contained HTML file: the KPIs of the whole period, each week's
over time (plots drawn by matplotlib as inline SVG: no script, no network), and the groups
asked for. Numbers only: no note text reaches the report."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from medner.errors import MednerError
from medner.review.kpis import Kpis

COLUMNS = (
    ("notes", "notes"),
    ("audit_notes", "audit notes"),
    ("f1", "live F1 (audit)"),
    ("fix_rate", "fix rate"),
    ("miss_rate", "miss rate"),
    ("seconds_per_note", "s / note (median)"),
    ("hours_saved_per_1000", "hours saved / 1,000 notes"),
    ("notes_per_validator_hour", "notes / validator-hour"),
    ("agreement_f1", "agreement F1"),
)


def cell(kpis: Kpis, name: str) -> str:
    """One KPI as the table shows it."""
    if name == "f1":
        f1 = kpis.f1.get("micro")
        if f1 is None:
            return "–"
        lo, hi = kpis.f1_ci95.get("micro", (None, None))
        return f"{f1:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")
    value = getattr(kpis, name)
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if name.endswith("_rate"):
        return f"{value:.1%}"
    return f"{value:.3f}" if name == "agreement_f1" else f"{value:,.1f}"


def _svg(weeks: Sequence[Kpis]) -> str:
    """Live F1 with its interval, fix and miss rates, and seconds per note, week by week."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MednerError(
            "the HTML KPI report draws with matplotlib: pip install 'medner[lifecycle]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: no embedded glyphs
    x = list(range(len(weeks)))
    names = [w.group for w in weeks]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    f1 = [w.f1.get("micro") for w in weeks]
    lo = [w.f1_ci95.get("micro", (None, None))[0] for w in weeks]
    hi = [w.f1_ci95.get("micro", (None, None))[1] for w in weeks]
    nan = float("nan")
    left.fill_between(
        x,
        [v if v is not None else nan for v in lo],
        [v if v is not None else nan for v in hi],
        alpha=0.2,
        label="95 % interval",
    )
    left.plot(x, [v if v is not None else nan for v in f1], marker="o", label="live F1 (audit)")
    for name, label in (("fix_rate", "fix rate"), ("miss_rate", "miss rate")):
        values = [getattr(w, name) for w in weeks]
        left.plot(x, [v if v is not None else nan for v in values], marker=".", label=label)
    left.set_ylim(0, 1)
    left.set_title("Accuracy and manual errors")
    left.legend(fontsize=8)
    seconds = [w.seconds_per_note for w in weeks]
    right.bar(x, [v if v is not None else 0 for v in seconds])
    right.set_title("Median validator seconds per note")
    for axis in (left, right):
        axis.set_xticks(x, names, rotation=30, fontsize=8)
    fig.tight_layout()
    out = io.StringIO()
    # no metadata block: no date (the same record draws the same file), no outside namespaces
    fig.savefig(
        out, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None}
    )
    plt.close(fig)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def _table(rows: Sequence[Kpis], first: str) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    body = "".join(
        f"<tr><td>{html.escape(r.group)}</td>"
        + "".join(f"<td>{html.escape(cell(r, n))}</td>" for n, _ in COLUMNS)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{body}</table>"


def render_html(
    overall: Kpis,
    weeks: Sequence[Kpis],
    groups: Sequence[Kpis] = (),
    by: str | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """The report page."""
    meta = meta or {}
    facts = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in meta.items()
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>medner KPIs</title><style>",
        "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}"
        "table{border-collapse:collapse;margin:12px 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f2f2f2}"
        "svg{max-width:100%;height:auto}.note{color:#555;font-size:13px}",
        "</style></head><body><h1>medner KPIs</h1>",
        f"<ul class='note'>{facts}</ul>",
        "<h2>The period</h2>",
        _table([overall], "period"),
        "<p class='note'>Live F1 is strict entity-level F1 on the audit share only (a random "
        "sample, so unbiased), with a 95 % bootstrap interval. Fix rate: predicted entities "
        "validators relabelled, resized or rejected. Miss rate: validated entities the model "
        "did not predict. Definitions: docs/kpis.md.</p>",
    ]
    if weeks:
        parts += ["<h2>Week by week</h2>", _svg(weeks), _table(weeks, "week")]
    if groups and by not in (None, "week"):
        parts += [f"<h2>By {html.escape(str(by))}</h2>", _table(groups, str(by))]
    parts.append("</body></html>")
    return "\n".join(parts)
