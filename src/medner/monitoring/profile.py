"""The profile of a note: numbers only, never its text.

Per note: its length in characters and in words, the share of its words outside the model's
own training vocabulary (on at most 200 evenly spaced words of a long note), the shares of
digits, ASCII capitals and non-ASCII characters, and the entities per label per 1,000
characters; the confidence of each entity comes with the entities the prediction log already
keeps. Words here are what is left between spaces once
ASCII punctuation is a space, lower-cased: a cheap, stable count, not the model's tokenizer,
so profiling costs a small share of extraction (docs/benchmarks.md, "Drift detection").

The model directory carries the same profile of notes of its training source
(``reference_profile.json``: each feature's values over a seeded sample of held-out notes,
the dev split, as the model tagged them; the training notes when there are none) and its
vocabulary (``vocabulary.txt``: the words seen at least twice in training; a CRF's weights hold
its word features anyway). ``medner train`` writes both; ``medner profile MODEL --data PATH
[--held-out PATH]`` writes them for an older model.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medner.errors import MednerError
from medner.inference.profile import (
    VOCABULARY_FILE,
    note_profile,
    words,
)
from medner.models.base import NerModel

PROFILE_FILE = "reference_profile.json"


def build_vocabulary(texts: Iterable[str], min_count: int = 2) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    return sorted(w for w, c in counts.items() if c >= min_count)


def write_reference(
    model: NerModel,
    model_dir: Path,
    texts: Sequence[str],
    held_out: Sequence[str] = (),
    sample: int = 2000,
    seed: int = 29,
) -> dict[str, Any]:
    """Write ``vocabulary.txt`` (from the training ``texts``) and ``reference_profile.json``
    (the profile of a seeded sample of notes as the model tags them) into ``model_dir``.

    The profile is of ``held_out`` notes of the same source when given (the dev split): on the
    notes it trained on, a model is more confident, and their words are all in its vocabulary,
    so a profile of them makes new notes of the same source look drifted. Without them, the
    training notes are profiled and the reference says so (``source``)."""
    from medner.inference.extract import entity_records

    if not texts:
        raise MednerError("a reference profile needs training notes: none were given")
    vocabulary = build_vocabulary(texts)
    (model_dir / VOCABULARY_FILE).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    chosen = list(held_out or texts)
    if len(chosen) > sample:
        chosen = random.Random(seed).sample(chosen, sample)
    vocab = frozenset(vocabulary)
    features: dict[str, list[float]] = {}
    confidences: list[float] = []
    label_counts: Counter[str] = Counter()
    for text in chosen:
        records = entity_records(model, text)
        for name, value in note_profile(text, records, model.labels, vocab).items():
            features.setdefault(name, []).append(value)
        confidences += [float(r["confidence"]) for r in records]
        label_counts.update(str(r["label"]) for r in records)
    reference = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": "held-out" if held_out else "training (in-sample: drift reads high)",
        "notes": len(chosen),
        "vocabulary_size": len(vocabulary),
        "labels": list(model.labels),
        "features": features,
        "confidence": confidences,
        "label_counts": dict(sorted(label_counts.items())),
    }
    (model_dir / PROFILE_FILE).write_text(json.dumps(reference) + "\n", encoding="utf-8")
    return reference


def read_reference(model_dir: Path) -> dict[str, Any]:
    path = model_dir / PROFILE_FILE
    if not path.is_file():
        raise MednerError(
            f"{model_dir} has no reference profile ({PROFILE_FILE}): write one with "
            f"`medner profile {model_dir} --data TRAINING_DATA`"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
