"""The business KPIs, live, from the review record (docs/kpis.md).

Every number comes from stored spans, counts and seconds; no note text is read.

- **Accuracy**: strict entity-level F1 of the model's predictions against the validated
  entities, with ``score_entities`` (the function ``medner evaluate`` uses), on the **audit
  share only**: those notes were drawn at random, while the rest of the queue is ordered by
  uncertainty and would bias the number low. A 95 % bootstrap interval (notes resampled) comes
  with it.
- **Manual errors**: each predicted entity is compared with the validated set of its note:
  ``accepted`` (kept exactly), ``relabelled`` (same span, other label), ``resized`` (an
  overlapping validated span replaced it) or ``rejected`` (nothing validated overlaps it); a
  validated entity that no prediction matched was ``added``. fix rate = (relabelled + resized +
  rejected) / predicted; miss rate = added / validated. The comparison is of the stored sets,
  so a machine client that sends no action events counts the same as the page.
- **Man-hours**: the median active seconds per note; hours saved per 1,000 notes =
  1000 × (manual seconds per note − median review seconds) / 3600, the manual baseline a
  setting (``manual_seconds``); notes reviewed per validator-hour.
- **Agreement**: on notes two validators reviewed, strict F1 of one's entities against the
  other's (pooled; 1.0 is full agreement).

A note reviewed twice counts once in every KPI but agreement (its first review, as the export).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from medner.evaluation.metrics import bootstrap_f1, score_entities
from medner.review.queue import as_utc
from medner.store.tables import Review, ReviewTask
from medner.types import Entity

OUTCOMES = ("accepted", "relabelled", "resized", "rejected", "added")
GROUPINGS = ("week", "model", "label", "validator")
DEFAULT_MANUAL_SECONDS = 180.0


@dataclass(frozen=True, slots=True)
class ReviewedNote:
    """One submitted review, as the KPIs need it (spans and seconds, no text)."""

    task_id: int
    audit: bool
    model_version: str
    reviewer: str
    submitted_at: datetime
    seconds: float
    predicted: tuple[Entity, ...]
    validated: tuple[Entity, ...]
    auto_accept: bool = False  # would have skipped review (reviewed because it is audit)


def _entity(raw: dict[str, Any]) -> Entity:
    return Entity(
        int(raw["start"]),
        int(raw["end"]),
        str(raw.get("text", "")),
        str(raw["label"]),
        float(raw.get("confidence", 1.0)),
    )


def outcomes(predicted: Sequence[Entity], validated: Sequence[Entity]) -> Counter[tuple[str, str]]:
    """What the validator did to each predicted entity, and what was added: counts keyed by
    ``(outcome, label)``, the predicted label for a prediction's outcome, the validated label
    for an addition. Exact matches are paired first, then equal spans, then overlaps."""
    counts: Counter[tuple[str, str]] = Counter()
    free = list(validated)
    pending = []
    exact = {v.key: i for i, v in enumerate(free)}
    taken: set[int] = set()
    for p in predicted:
        i = exact.get(p.key)
        if i is not None and i not in taken:
            taken.add(i)
            counts["accepted", p.label] += 1
        else:
            pending.append(p)

    def pair(p: Entity, test: Callable[[Entity], bool]) -> bool:
        for i, v in enumerate(free):
            if i not in taken and test(v):
                taken.add(i)
                return True
        return False

    later = []
    for p in pending:
        if pair(p, lambda v, p=p: (v.start, v.end) == (p.start, p.end)):  # type: ignore[misc]
            counts["relabelled", p.label] += 1
        else:
            later.append(p)
    for p in later:
        if pair(p, lambda v, p=p: v.start < p.end and p.start < v.end):  # type: ignore[misc]
            counts["resized", p.label] += 1
        else:
            counts["rejected", p.label] += 1
    for i, v in enumerate(free):
        if i not in taken:
            counts["added", v.label] += 1
    return counts


def load_reviews(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[ReviewedNote], list[tuple[ReviewedNote, ReviewedNote]]]:
    """The reviews submitted in ``[since, until)``: each note's first review, and the pairs
    of first and second reviews of notes two validators reviewed."""
    query = (
        select(
            Review.task_id,
            ReviewTask.audit,
            Review.model_version,
            Review.reviewer,
            Review.submitted_at,
            Review.seconds_active,
            ReviewTask.predictions,
            Review.entities,
            ReviewTask.auto_accept,
        )
        .join(ReviewTask, ReviewTask.id == Review.task_id)
        .order_by(Review.task_id, Review.id)
    )
    if since is not None:
        query = query.where(Review.submitted_at >= since)
    if until is not None:
        query = query.where(Review.submitted_at < until)
    first: dict[int, ReviewedNote] = {}
    pairs = []
    with Session(engine) as session:
        for row in session.execute(query):
            note = ReviewedNote(
                row.task_id,
                bool(row.audit),
                row.model_version,
                row.reviewer,
                as_utc(row.submitted_at),
                float(row.seconds_active),
                tuple(_entity(e) for e in row.predictions),
                tuple(_entity(e) for e in row.entities),
                bool(row.auto_accept),
            )
            if note.task_id in first:
                pairs.append((first[note.task_id], note))
            else:
                first[note.task_id] = note
    return list(first.values()), pairs


@dataclass(slots=True)
class Routing:
    """Notes queued in the period, how many skipped review (auto-accepted), and the precision
    auto-accepted entities actually had, measured on the audit notes that would have skipped."""

    notes: int
    skipped: int
    audit_entities: int
    precision: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "skipped_review": self.skipped,
            "skipped_share": round(self.skipped / self.notes, 6) if self.notes else None,
            "auto_accepted_audit_entities": self.audit_entities,
            "auto_accepted_precision": None if self.precision is None else round(self.precision, 6),
        }


def routing(
    engine: Engine,
    notes: Sequence[ReviewedNote],
    since: datetime | None = None,
    until: datetime | None = None,
) -> Routing:
    """The routing KPIs of the notes queued in ``[since, until)``."""
    query = select(func.count(ReviewTask.id), ReviewTask.auto_accept, ReviewTask.audit).group_by(
        ReviewTask.auto_accept, ReviewTask.audit
    )
    if since is not None:
        query = query.where(ReviewTask.created_at >= since)
    if until is not None:
        query = query.where(ReviewTask.created_at < until)
    total = skipped = 0
    with Session(engine) as session:
        for count, auto, audit in session.execute(query):
            total += count
            skipped += count if auto and not audit else 0
    right = seen = 0
    for n in notes:
        if n.audit and n.auto_accept:
            keys = {e.key for e in n.validated}
            seen += len(n.predicted)
            right += sum(e.key in keys for e in n.predicted)
    return Routing(total, skipped, seen, right / seen if seen else None)


def backlog(engine: Engine) -> int:
    """Tasks still waiting for a review."""
    with Session(engine) as session:
        count = session.execute(
            select(func.count(ReviewTask.id)).where(ReviewTask.closed_at.is_(None))
        ).scalar_one()
    return int(count)


@dataclass(slots=True)
class Kpis:
    """The KPIs of one group of reviews (all of them, a week, a model, a label, a validator)."""

    group: str
    notes: int
    audit_notes: int
    f1: dict[str, float] = field(default_factory=dict)  # "micro" and each label, audit share
    f1_ci95: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # per outcome
    fix_rate: float | None = None
    miss_rate: float | None = None
    seconds_per_note: float | None = None
    hours_saved_per_1000: float | None = None
    notes_per_validator_hour: float | None = None
    agreement_f1: float | None = None
    double_reviewed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group": self.group,
            "notes": self.notes,
            "audit_notes": self.audit_notes,
            "f1": {k: round(v, 6) for k, v in self.f1.items()},
            "f1_ci95": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in self.f1_ci95.items()},
            "counts": dict(self.counts),
            "double_reviewed": self.double_reviewed,
        }
        for name in (
            "fix_rate",
            "miss_rate",
            "seconds_per_note",
            "hours_saved_per_1000",
            "notes_per_validator_hour",
            "agreement_f1",
        ):
            value = getattr(self, name)
            out[name] = None if value is None else round(value, 6)
        return out


def _only(entities: Iterable[Entity], label: str | None) -> list[Entity]:
    return [e for e in entities if label is None or e.label == label]


def compute_kpis(
    notes: Sequence[ReviewedNote],
    pairs: Sequence[tuple[ReviewedNote, ReviewedNote]] = (),
    group: str = "all",
    label: str | None = None,
    manual_seconds: float = DEFAULT_MANUAL_SECONDS,
    bootstrap: int = 1000,
    timing: bool = True,
) -> Kpis:
    """The KPIs of ``notes`` (restricted to one ``label`` when given). ``timing=False`` leaves
    out the per-note seconds (they are not per label)."""
    kpis = Kpis(group, len(notes), sum(n.audit for n in notes))
    counts: Counter[str] = Counter()
    for n in notes:
        for (outcome, _), k in outcomes(
            _only(n.predicted, label), _only(n.validated, label)
        ).items():
            counts[outcome] += k
    kpis.counts = {o: counts[o] for o in OUTCOMES}
    predicted = sum(counts[o] for o in ("accepted", "relabelled", "resized", "rejected"))
    validated = sum(counts[o] for o in ("accepted", "relabelled", "resized", "added"))
    if predicted:
        kpis.fix_rate = (counts["relabelled"] + counts["resized"] + counts["rejected"]) / predicted
    if validated:
        kpis.miss_rate = counts["added"] / validated

    audit = [n for n in notes if n.audit]
    if audit:
        gold = [_only(n.validated, label) for n in audit]
        pred = [_only(n.predicted, label) for n in audit]
        scores = score_entities(gold, pred)
        kpis.f1["micro"] = scores.micro.f1
        for name, prf in scores.per_label.items():
            kpis.f1[name] = prf.f1
        kpis.f1_ci95 = bootstrap_f1(gold, pred, bootstrap) if bootstrap > 0 else {}

    if timing and notes:
        seconds = [n.seconds for n in notes]
        kpis.seconds_per_note = statistics.median(seconds)
        kpis.hours_saved_per_1000 = 1000 * (manual_seconds - kpis.seconds_per_note) / 3600
        total = sum(seconds)
        kpis.notes_per_validator_hour = len(notes) / (total / 3600) if total > 0 else None
    if pairs:
        one = [_only(a.validated, label) for a, _ in pairs]
        other = [_only(b.validated, label) for _, b in pairs]
        kpis.agreement_f1 = score_entities(one, other).micro.f1
        kpis.double_reviewed = len(pairs)
    return kpis


def _week(when: datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def kpi_report(
    notes: Sequence[ReviewedNote],
    pairs: Sequence[tuple[ReviewedNote, ReviewedNote]] = (),
    by: str | None = None,
    manual_seconds: float = DEFAULT_MANUAL_SECONDS,
    bootstrap: int = 1000,
) -> list[Kpis]:
    """The KPIs of all ``notes`` first, then one row per group when ``by`` is given (``week``,
    ``model``, ``label`` or ``validator``), groups in sorted order."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    rows = [compute_kpis(notes, pairs, "all", None, manual_seconds, bootstrap)]
    if by == "label":
        labels = sorted({e.label for n in notes for e in (*n.predicted, *n.validated)})
        for name in labels:
            rows.append(
                compute_kpis(notes, pairs, name, name, manual_seconds, bootstrap, timing=False)
            )
    elif by is not None:
        key: Callable[[ReviewedNote], str] = {
            "week": lambda n: _week(n.submitted_at),
            "model": lambda n: n.model_version,
            "validator": lambda n: n.reviewer,
        }[by]
        groups: dict[str, list[ReviewedNote]] = defaultdict(list)
        for n in notes:
            groups[key(n)].append(n)
        paired: dict[str, list[tuple[ReviewedNote, ReviewedNote]]] = defaultdict(list)
        for a, b in pairs:
            paired[key(a)].append((a, b))
        for name in sorted(groups):
            rows.append(
                compute_kpis(groups[name], paired[name], name, None, manual_seconds, bootstrap)
            )
    return rows


@dataclass(slots=True)
class KpiSummary:
    """What ``medner kpis`` and ``GET /v1/kpis`` report: the period's KPIs, each week's, the
    groups asked for, and the queue's backlog."""

    since: datetime | None
    until: datetime | None
    by: str | None
    manual_seconds: float
    backlog: int
    overall: Kpis
    weeks: list[Kpis]
    groups: list[Kpis]
    routing: Routing | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "by": self.by,
            "manual_seconds_per_note": self.manual_seconds,
            "backlog": self.backlog,
            "overall": self.overall.to_dict(),
            "weeks": [w.to_dict() for w in self.weeks],
            "groups": [g.to_dict() for g in self.groups],
            "routing": self.routing.to_dict() if self.routing else None,
        }


def live_kpis(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    manual_seconds: float = DEFAULT_MANUAL_SECONDS,
    bootstrap: int = 1000,
) -> KpiSummary:
    """The KPIs of the reviews submitted in ``[since, until)``, read from the store."""
    notes, pairs = load_reviews(engine, since, until)
    rows = kpi_report(notes, pairs, by, manual_seconds, bootstrap)
    weeks = (
        rows[1:]
        if by == "week"
        else kpi_report(notes, pairs, "week", manual_seconds, bootstrap)[1:]
    )
    return KpiSummary(
        since,
        until,
        by,
        manual_seconds,
        backlog(engine),
        rows[0],
        weeks,
        rows[1:],
        routing(engine, notes, since, until),
    )
