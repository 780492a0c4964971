"""The synthetic prescription set: deterministic, exact spans, and names held out of training."""

from __future__ import annotations

import json
import re
from pathlib import Path

from medner.data.prescriptions import generate, group, main
from medner.data.readers import read_jsonl


def _names(records: list[dict], label: str) -> set[str]:
    return {e["text"].lower() for r in records for e in r["entities"] if e["label"] == label}


def test_the_set_is_deterministic_and_every_span_is_exact() -> None:
    first, again = generate("dev", 40), generate("dev", 40)
    assert first == again
    for record in first:
        for e in record["entities"]:
            assert record["text"][e["start"] : e["end"]] == e["text"]
            assert e["label"] in {"DISEASE", "TREATMENT"}
            assert e["text"] == e["text"].strip() and e["text"]


def test_dev_and_test_hold_names_training_never_sees() -> None:
    train, dev, test = generate("train", 400), generate("dev", 150), generate("test", 150)
    for label in ("DISEASE", "TREATMENT"):
        seen = _names(train, label)
        assert _names(dev, label) - seen and _names(test, label) - seen
    assert group("Dolo") in {"shared", "dev", "test"}


def test_the_guidelines_hold_in_generated_notes() -> None:
    """Forms, doses with units, frequencies and headings are never inside an entity."""
    forbidden = re.compile(r"^(Tab|Cap|Syp|Inj)\b|\b(mg|OD|BD|TDS|1-0-1)$|:$")
    for record in generate("train", 300):
        for e in record["entities"]:
            assert not forbidden.search(e["text"]), e["text"]


def test_the_command_writes_readable_jsonl(tmp_path: Path) -> None:
    main(["--output", str(tmp_path), "--train", "5", "--dev", "3", "--test", "2"])
    for split, n in (("train", 5), ("dev", 3), ("test", 2)):
        docs = list(read_jsonl(tmp_path / f"{split}.jsonl"))
        assert len(docs) == n
        assert json.loads((tmp_path / f"{split}.jsonl").read_text().splitlines()[0])["id"]
