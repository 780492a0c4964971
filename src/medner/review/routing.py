"""Routing by confidence: which notes a validator must see.

With a precision target (``MEDNER_AUTO_ACCEPT_PRECISION``, e.g. 0.95), the threshold is the
lowest confidence ``t`` at which the predicted entities with confidence >= ``t`` were right
(strictly: the validated set has the same span and label) at least that often on the **audit
share** (random notes, so the estimate is unbiased), over at least ``min_entities`` of them.
A note whose entities are all at or above ``t`` is auto-accepted: it skips review, unless it
is an audit note (the audit share keeps measuring what skipping costs). Every note holding an
entity under ``t`` goes to the validators. Without enough audit reviews there is no threshold,
and every note is reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from medner.review.kpis import ReviewedNote, load_reviews

DEFAULT_MIN_ENTITIES = 50


def audit_observations(notes: Sequence[ReviewedNote]) -> list[tuple[float, bool]]:
    """(confidence, right) for every prediction on the audit notes."""
    out = []
    for n in notes:
        if not n.audit:
            continue
        keys = {e.key for e in n.validated}
        out += [(e.confidence, e.key in keys) for e in n.predicted]
    return out


def choose_threshold(
    observations: Sequence[tuple[float, bool]],
    precision: float,
    min_entities: int = DEFAULT_MIN_ENTITIES,
) -> float | None:
    """The lowest confidence at which the entities at or above it meet ``precision`` (over
    at least ``min_entities``); ``None`` when no confidence does."""
    if not 0 < precision <= 1:
        raise ValueError("the precision target must be in (0, 1]")
    ordered = sorted(observations, key=lambda o: -o[0])
    best = None
    right = seen = 0
    i = 0
    while i < len(ordered):
        confidence = ordered[i][0]
        while i < len(ordered) and ordered[i][0] == confidence:  # ties go in together
            right += ordered[i][1]
            seen += 1
            i += 1
        if seen >= min_entities and right / seen >= precision:
            best = confidence
    return best


def current_threshold(
    engine: Engine,
    precision: float,
    since: datetime | None = None,
    min_entities: int = DEFAULT_MIN_ENTITIES,
) -> float | None:
    """The threshold from the audit reviews submitted since ``since``."""
    notes, _ = load_reviews(engine, since)
    return choose_threshold(audit_observations(notes), precision, min_entities)
