"""``medner analytics``: the disease → treatments dictionary and top-entity tables.

Reads ``entities/`` (and ``notes/`` when present) written by ``medner batch`` with DuckDB, and
writes under the output folder, each as CSV and JSON:

- ``disease_treatments_sentence``: each disease with the treatments mentioned in the same
  sentence, and how many times (the deliverable of the course project medner started from);
- ``disease_treatments_note``: the same within the same note (number of notes);
- ``top_diseases``, ``top_treatments``: overall, by number of notes mentioning them;
- ``top_by_<column>``: the same per value of a metadata column (``medical_specialty`` and a
  month of a date column when the entities carry them);

and ``report.html``, a self-contained page with the tables and bar charts (inline SVG, no
scripts, no network).

**With the filters** (the default when the entities carry what they mean: ``medner batch
--meaning``; docs/meaning.md) a mention counts only for what it asserts: diseases only when
present (not absent, possible, history or family), treatments not when absent, named by their
generic (``Dolo 650``, ``Crocin`` → paracetamol); and the dictionary,
``disease_treatments_linked``, pairs a treatment only with the diseases it is given for (the
links), instead of every disease of the same sentence or note. ``filters`` counts what each
filter removed or changed, and ``top_diseases_all`` / ``top_treatments_all`` are the tables
without them, side by side with the filtered ones in the report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medner.errors import MednerError

TOP = 20
GROUP_COLUMNS = ("medical_specialty", "specialty")


@dataclass(slots=True)
class Table:
    """A named result: its column names and rows."""

    name: str
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _query(con: Any, name: str, title: str, sql: str) -> Table:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return Table(name, title, columns, [tuple(r) for r in cursor.fetchall()])


MEANING_COLUMNS = frozenset({"index", "assertion", "concept", "treats"})


def build_tables(entities: Path, top: int = TOP, filters: bool | None = None) -> list[Table]:
    """Run the analytics queries over an ``entities/`` Parquet dataset; ``filters`` (default:
    when the dataset carries assertions, concepts and links) as the module docstring says."""
    import duckdb

    if not entities.exists():
        raise MednerError(f"{entities}: no entities dataset; run `medner batch` first")
    con = duckdb.connect()
    glob = str(entities / "**" / "*.parquet") if entities.is_dir() else str(entities)
    con.execute(
        "CREATE VIEW raw AS SELECT *, lower(text) AS term "
        f"FROM read_parquet('{glob}', hive_partitioning = true)"
    )
    columns = {r[0] for r in con.execute("DESCRIBE raw").fetchall()}
    if filters is None:
        filters = columns >= MEANING_COLUMNS
    if filters and not columns >= MEANING_COLUMNS:
        raise MednerError(
            f"{entities}: the entities carry no assertions, concepts or links; run "
            "`medner batch --meaning`, or ask for the report --no-filters"
        )
    if not filters:
        con.execute("CREATE VIEW e AS SELECT * FROM raw")
        tables = _tables(con, columns, top, filtered=False)
        con.close()
        return tables
    con.execute(
        f"""
        CREATE VIEW e AS SELECT * EXCLUDE (term), {GENERIC_TERM} AS term FROM raw
        WHERE (label = 'DISEASE' AND assertion = 'present')
           OR (label <> 'DISEASE' AND coalesce(assertion, '') <> 'absent')
        """
    )
    tables = _tables(con, columns, top, filtered=True)
    for label, name in (("DISEASE", "top_diseases_all"), ("TREATMENT", "top_treatments_all")):
        tables.append(
            _query(
                con,
                name,
                f"Most frequent {label.lower()}s without the filters (every mention, as written)",
                _top_sql("raw", label, top),
            )
        )
    tables.append(_query(con, "filters", "What each filter removed or changed", FILTERS_SQL))
    con.close()
    return tables


# a treatment's name in the filtered tables: its generic when the drug is known
GENERIC_TERM = (
    "CASE WHEN label = 'TREATMENT' AND concept.system = 'generic-drug' "
    "AND concept.name <> 'unknown' THEN lower(concept.name) ELSE lower(text) END"
)
FILTERS_SQL = f"""
    SELECT 'disease mentions not present: ' || assertion AS filter, count(*) AS mentions
    FROM raw WHERE label = 'DISEASE' AND assertion <> 'present' GROUP BY assertion
    UNION ALL
    SELECT 'treatment mentions absent', count(*) FROM raw
    WHERE label = 'TREATMENT' AND assertion = 'absent'
    UNION ALL
    SELECT 'treatment mentions named by their generic', count(*) FROM raw
    WHERE label = 'TREATMENT' AND {GENERIC_TERM} <> lower(text)
    UNION ALL
    SELECT 'distinct treatment names merged', (SELECT count(DISTINCT lower(text)) FROM raw
        WHERE label = 'TREATMENT') - (SELECT count(DISTINCT {GENERIC_TERM}) FROM raw
        WHERE label = 'TREATMENT')
    UNION ALL
    SELECT 'same-sentence disease-treatment pairs that are not links', count(*) FROM raw d
    JOIN raw t ON d.note_id = t.note_id AND d.sentence = t.sentence
     AND d.label = 'DISEASE' AND t.label = 'TREATMENT'
    WHERE NOT list_contains(t.treats, d."index")
    ORDER BY 1
"""


def _top_sql(view: str, label: str, top: int) -> str:
    return f"""
        SELECT term AS {label.lower()}, count(DISTINCT note_id) AS notes, count(*) AS mentions
        FROM {view} WHERE label = '{label}'
        GROUP BY 1 ORDER BY notes DESC, mentions DESC, 1 LIMIT {top}
    """


def _tables(con: Any, columns: set[str], top: int, filtered: bool) -> list[Table]:
    """The dictionary, top and per-group tables over the view ``e``."""
    if filtered:
        pairs = [
            _query(
                con,
                "disease_treatments_linked",
                "Treatments given for each disease (links)",
                """
                SELECT d.term AS disease, t.term AS treatment, count(*) AS links,
                       count(DISTINCT t.note_id) AS notes
                FROM (SELECT note_id, term, unnest(treats) AS target FROM e
                      WHERE label = 'TREATMENT') t
                JOIN e d ON d.note_id = t.note_id AND d."index" = t.target
                 AND d.label = 'DISEASE'
                GROUP BY 1, 2 ORDER BY links DESC, disease, treatment
                """,
            )
        ]
        return pairs + _common_tables(con, columns, top)
    tables = [
        _query(
            con,
            "disease_treatments_sentence",
            "Treatments mentioned in the same sentence as each disease",
            """
            SELECT d.term AS disease, t.term AS treatment, count(*) AS mentions,
                   count(DISTINCT d.note_id) AS notes
            FROM e d JOIN e t
              ON d.note_id = t.note_id AND d.sentence = t.sentence
             AND d.label = 'DISEASE' AND t.label = 'TREATMENT'
            GROUP BY 1, 2 ORDER BY mentions DESC, disease, treatment
            """,
        ),
        _query(
            con,
            "disease_treatments_note",
            "Treatments mentioned in the same note as each disease",
            """
            SELECT d.term AS disease, t.term AS treatment, count(DISTINCT d.note_id) AS notes
            FROM (SELECT DISTINCT note_id, term FROM e WHERE label = 'DISEASE') d
            JOIN (SELECT DISTINCT note_id, term FROM e WHERE label = 'TREATMENT') t
              ON d.note_id = t.note_id
            GROUP BY 1, 2 ORDER BY notes DESC, disease, treatment
            """,
        ),
    ]
    return tables + _common_tables(con, columns, top)


def _common_tables(con: Any, columns: set[str], top: int) -> list[Table]:
    tables = []
    for label, name in (("DISEASE", "top_diseases"), ("TREATMENT", "top_treatments")):
        tables.append(
            _query(
                con,
                name,
                f"Most frequent {label.lower()}s (notes mentioning them)",
                _top_sql("e", label, top),
            )
        )
    for group in (c for c in GROUP_COLUMNS if c in columns):
        tables.append(
            _query(
                con,
                f"top_by_{group}",
                f"Top {top // 4} diseases and treatments per {group.replace('_', ' ')}",
                f"""
                SELECT {group} AS "group", label, term, notes FROM (
                  SELECT {group}, label, term, count(DISTINCT note_id) AS notes,
                         row_number() OVER (PARTITION BY {group}, label
                                            ORDER BY count(DISTINCT note_id) DESC, term) AS k
                  FROM e WHERE {group} IS NOT NULL GROUP BY 1, 2, 3)
                WHERE k <= {top // 4} ORDER BY 1, 2, notes DESC, term
                """,
            )
        )
    date_columns = [
        r[0]
        for r in con.execute("DESCRIBE e").fetchall()
        if r[1].upper().startswith(("DATE", "TIMESTAMP"))
    ]
    if date_columns:
        column = date_columns[0]
        tables.append(
            _query(
                con,
                "top_by_month",
                f"Diseases and treatments per month ({column})",
                f"""
                SELECT strftime(date_trunc('month', {column}), '%Y-%m') AS month, label,
                       count(DISTINCT note_id) AS notes, count(*) AS mentions
                FROM e WHERE {column} IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
                """,
            )
        )
    return tables


def write_tables(tables: list[Table], output: Path) -> None:
    """Each table as ``NAME.csv`` and ``NAME.json`` (a list of objects)."""
    import csv

    output.mkdir(parents=True, exist_ok=True)
    for table in tables:
        with (output / f"{table.name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        records = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
        (output / f"{table.name}.json").write_text(
            json.dumps(records, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )


def _bar_chart(title: str, items: list[tuple[str, float]], color: str) -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return ""
    width, bar, gap, label_w = 760, 18, 6, 260
    height = len(items) * (bar + gap) + 40
    peak = max(v for _, v in items) or 1
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" font-size="15" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (name, value) in enumerate(items):
        y = 30 + i * (bar + gap)
        w = (width - label_w - 60) * value / peak
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{html.escape(str(name)[:40])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="12">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(table: Table, limit: int = 30) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.rows[:limit]
    )
    more = f"<p class=more>{len(table.rows) - limit} more rows in {table.name}.csv</p>"
    return f"<h2>{html.escape(table.title)}</h2><table><tr>{head}</tr>{body}</table>" + (
        more if len(table.rows) > limit else ""
    )


def render_html(tables: list[Table], title: str = "medner analytics") -> str:
    """A self-contained HTML report: charts of the top entities and pairs, then the tables."""
    by_name = {t.name: t for t in tables}
    filtered = "filters" in by_name
    charts = []
    for name, chart_title, color in (
        ("top_diseases", "Top diseases (notes)", "#c0392b"),
        ("top_treatments", "Top treatments (notes)", "#2471a3"),
    ):
        if name not in by_name:
            continue
        chart = _bar_chart(
            chart_title + (", with the filters" if filtered else ""),
            [(r[0], r[1]) for r in by_name[name].rows],
            color,
        )
        if filtered:  # side by side with the same table without the filters
            before = _bar_chart(
                chart_title + ", without the filters",
                [(r[0], r[1]) for r in by_name[f"{name}_all"].rows],
                "#999999",
            )
            chart = f"<div class=pair><div>{before}</div><div>{chart}</div></div>"
        charts.append(chart)
    for name, chart_title in (
        ("disease_treatments_sentence", "Disease → treatment pairs in one sentence (mentions)"),
        ("disease_treatments_linked", "Disease → treatments given for it (links)"),
    ):
        if name in by_name:
            charts.append(
                _bar_chart(
                    chart_title,
                    [(f"{r[0]} → {r[1]}", r[2]) for r in by_name[name].rows[:20]],
                    "#7d3c98",
                )
            )
    if filtered:
        charts.insert(0, _html_table(by_name["filters"]))
    style = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;margin-bottom:8px}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
        "th{background:#f2f2f2}.more{color:#777;font-size:12px}svg{display:block;margin:16px 0}"
        ".pair{display:flex;gap:24px;flex-wrap:wrap}"
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        "<p>Entities extracted by medner; counts are notes or mentions as labelled. "
        "Generated by <code>medner analytics</code>.</p>"
        + "".join(charts)
        + "".join(_html_table(t) for t in tables if t.name != "filters")
        + "</body></html>\n"
    )


def run_analytics(
    entities: Path, output: Path, top: int = TOP, filters: bool | None = None
) -> list[Table]:
    """Build the tables, write them as CSV and JSON, and write ``report.html``."""
    tables = build_tables(entities, top, filters)
    write_tables(tables, output)
    (output / "report.html").write_text(render_html(tables), encoding="utf-8")
    return tables
