"""The prescription-ready default against the BioText-only CRF: accuracy on the synthetic
prescription split and on BioText test, names never seen, headings over MTSamples.

Scores the models given (trained by `medner experiment run prescriptions/crf` and
`medner experiment run biotext/crf`) on:
- the prescription dev split (which chose the model) and, once, its test split, strict micro
  and per-label F1, plus the F1 on drug names absent from every vocabulary and training note;
- BioText test (the goal: no more than 1 point under the BioText CRF);
- all MTSamples notes: the share of entities that are a heading followed by a colon, and the
  most frequent entity texts.

Usage: python bench/prescriptions.py --model models/default --baseline models/crf-biotext
       [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from _common import NOTES, REPO, provenance, write_section
from medner.data.documents import load_documents
from medner.data.vocabulary import drug_names
from medner.evaluation.evaluate import evaluate_model
from medner.inference import entity_records
from medner.models import load_model
from medner.models.base import NerModel

RX = REPO / "data/prescriptions"
_HEADING_AFTER = re.compile(r"[ \t]*:")


def _name_key(text: str) -> str:
    """A drug mention's name without its strength: "Dolo 650" -> "dolo"."""
    return text.lower().split()[0] if text.split() else ""


def unseen_drug_f1(model: NerModel, split: Path) -> dict[str, float]:
    """Strict F1 restricted to TREATMENT names that no training note and no vocabulary has."""
    seen = set()
    for line in (RX / "train.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        seen |= {_name_key(e["text"]) for e in record["entities"]}
    vocabulary = drug_names()
    docs = load_documents([split])
    gold: set[tuple[str, int, int]] = set()
    predicted: set[tuple[str, int, int]] = set()
    for doc in docs:
        for e in doc.entities:
            key = _name_key(e.text)
            if e.label == "TREATMENT" and key not in seen and key not in vocabulary:
                gold.add((doc.id, e.start, e.end))
        for p in model.predict(doc.text):
            key = _name_key(p.text)
            if p.label == "TREATMENT" and key not in seen and key not in vocabulary:
                predicted.add((doc.id, p.start, p.end))
    tp = len(gold & predicted)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"mentions": len(gold), "precision": precision, "recall": recall, "f1": f1}


def mtsamples_headings(model: NerModel) -> dict[str, Any]:
    texts = [t for t in pq.read_table(NOTES, columns=["transcription"]).column(0).to_pylist() if t]
    total = headings = 0
    top: dict[str, Counter[str]] = {"DISEASE": Counter(), "TREATMENT": Counter()}
    for text in texts:
        for e in entity_records(model, text):
            total += 1
            if _HEADING_AFTER.match(text, e["end"]):
                headings += 1
            if e["label"] in top:
                top[e["label"]][e["text"].lower()] += 1
    return {
        "entities": total,
        "headings": headings,
        "share": headings / total if total else 0.0,
        "top": {label: c.most_common(20) for label, c in top.items()},
    }


def _heading_row(name: str, m: dict[str, Any], bold: bool = False) -> str:
    share = f"{m['share']:.2%}"
    return (
        f"| {name} | {m['entities']:,} | {m['headings']:,} | {f'**{share}**' if bold else share} |"
    )


def scores(model: NerModel, path: Path) -> dict[str, Any]:
    result = evaluate_model(model, load_documents([path]))
    return {
        "micro": result.scores.micro.f1,
        "per_label": {k: v.f1 for k, v in result.scores.per_label.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models/default")
    parser.add_argument("--baseline", type=Path, default=REPO / "models/crf-biotext")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    models = {
        "prescription default": load_model(args.model),
        "BioText CRF": load_model(args.baseline),
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        row = {
            "rx_dev": scores(model, RX / "dev.jsonl"),
            "rx_test": scores(model, RX / "test.jsonl"),
            "unseen": unseen_drug_f1(model, RX / "test.jsonl"),
            "biotext": scores(model, REPO / "data/biotext/test_sent"),
            "mtsamples": mtsamples_headings(model),
        }
        rows[name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "mtsamples"}), file=sys.stderr)
    new, old = rows["prescription default"], rows["BioText CRF"]

    def f(x: Any) -> str:
        return f"{float(x):.3f}"

    lines = [
        "## Indian e-prescriptions (issue 22)",
        "",
        *provenance("prescriptions.py", " --model models/default --baseline models/crf-biotext"),
        "The models: `medner experiment run prescriptions/crf` (the product default: the CRF"
        " with lexicon features on BioText train + prescription train) and `medner experiment"
        " run biotext/crf` (the default before it). The prescription set is **synthetic**"
        " (data/README.md); its dev split chose the model, its test split is scored once.",
        "",
        "| model | prescription dev | prescription test | DISEASE (test) | TREATMENT (test) |"
        " unseen drug names (test) | BioText test |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in rows.items():
        test = r["rx_test"]
        lines.append(
            f"| {name} | {f(r['rx_dev']['micro'])} | **{f(test['micro'])}** |"
            f" {f(test['per_label'].get('DISEASE', 0))}"
            f" | {f(test['per_label'].get('TREATMENT', 0))} |"
            f" {f(r['unseen']['f1'])} ({r['unseen']['mentions']} mentions) |"
            f" {f(r['biotext']['micro'])} |"
        )
    m_new, m_old = new["mtsamples"], old["mtsamples"]
    lines += [
        "",
        "Unseen drug names: TREATMENT mentions of the test split whose name (first word, as"
        " `Dolo` in `Dolo 650`) is in no training note and not in the drug dictionary; strict F1"
        " over those mentions and the predictions of such names.",
        "",
        "Over all 4,966 MTSamples notes, entities that are a heading followed by a colon:",
        "",
        "| model | entities | heading + colon | share |",
        "| --- | --- | --- | --- |",
        _heading_row("prescription default", m_new, bold=True),
        _heading_row("BioText CRF", m_old),
        "",
        "The prescription default's 20 most frequent entity texts over MTSamples:",
        "",
    ]
    for label in ("DISEASE", "TREATMENT"):
        top = ", ".join(f"{t} ({n:,})" for t, n in m_new["top"][label])
        lines.append(f"- {label}: {top}")
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "prescriptions", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
