"""What a mention means (issue 24): assertion, normalisation and links, scored on the
prescription split and on MTSamples sentences annotated for assertion; and what it costs.

On ``--split dev`` it compares the choices (and chooses); ``--split test`` scores the chosen
ones once. Gold data: ``data/prescriptions/{dev,test}.jsonl`` (synthetic, annotated by
construction by docs/annotation.md: each mention's assertion and concept, each note's links)
and ``data/mtsamples-assertion/{dev,test}.jsonl`` (MTSamples sentences whose DISEASE mentions
the team annotated for assertion by the same guidelines).

1. **Assertion** on the gold mentions: the rules (medner.meaning.assertion) against a learned
   classifier (logistic regression over the rules' triggers, the words around the mention and
   its section, trained on prescription train). Accuracy on mentions whose gold is present or
   absent, accuracy over all, and macro accuracy (the mean over values of the share of each
   value's mentions given that value).
2. **Brand → generic** on the gold drug mentions (brands and generics): precision of the
   generics given and coverage (the share given one), with the team's brand table whole and
   without the names held out for the test split (what a brand the table does not know meets);
   on dev, for each fuzzy-match threshold.
3. **ICD-10-CM** on the gold DISEASE mentions: the gold code first, and among the top 3.
4. **Links** (treatment → disease pairs): precision, recall and F1 with the gold mentions and
   assertions (rule variants on dev), and end to end from the model's mentions and assertions
   (a pair counts when both spans match exactly).
5. **Cost**: ``medner extract`` over all MTSamples notes with ``--meaning`` and without,
   alternating, ``--repeats`` times each; medians, tokens/s per core.

Usage: python bench/meaning.py --split dev|test [--model models/default] [--repeats 2]
       [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from _common import NOTES, REPO, provenance, run_extract, write_section
from medner.data.prescriptions import group
from medner.inference import entity_records
from medner.labels import ASSERTIONS
from medner.meaning import assertion as rules
from medner.meaning import concepts
from medner.meaning.links import link_entities
from medner.models import load_model
from medner.models.tagging import sentence_token_spans
from medner.text.sections import find_headings, section_of

RX = REPO / "data/prescriptions"
MTS = REPO / "data/mtsamples-assertion"


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# -- 1. assertion ---------------------------------------------------------------------------
def rule_assertions(records: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in records:
        spans = [(e["start"], e["end"], e["label"]) for e in r["entities"]]
        out.extend(rules.assert_entities(r["text"], spans))
    return out


_WORD = re.compile(r"[\w/?]+")


def features(
    text: str, start: int, end: int, label: str, context: Any, heads: Any
) -> dict[str, float]:
    """What the learned classifier reads of one mention."""
    f: dict[str, float] = {f"label={label}": 1.0}
    for category, phrase, distance in rules.modifiers(context, start, end):
        f[f"trigger={category}"] = 1.0
        f[f"phrase={phrase}"] = 1.0
        f[f"near={category}:{min(distance // 10, 5)}"] = 1.0
    before = [w.lower() for w in _WORD.findall(text[max(0, start - 80) : start])][-6:]
    after = [w.lower() for w in _WORD.findall(text[end : end + 60])][:3]
    for i, word in enumerate(reversed(before)):
        f[f"b{i}={word}"] = 1.0
        f[f"bag-before={word}"] = 1.0
    for i, word in enumerate(after):
        f[f"a{i}={word}"] = 1.0
    f[f"section={section_of(heads, start)}"] = 1.0
    tail = text[max(0, start - 2) : start].strip()
    f[f"mark={tail}"] = 1.0
    return f


def mention_features(records: list[dict[str, Any]]) -> tuple[list[dict[str, float]], list[str]]:
    xs, ys = [], []
    for r in records:
        heads = find_headings(r["text"])
        spans = [(e["start"], e["end"]) for e in r["entities"]]
        context = rules.NoteContext.of(r["text"], heads, spans)
        for e in r["entities"]:
            xs.append(features(r["text"], e["start"], e["end"], e["label"], context, heads))
            ys.append(e["assertion"])
    return xs, ys


def train_learned(train: list[dict[str, Any]]) -> Any:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    xs, ys = mention_features(train)
    model = make_pipeline(DictVectorizer(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(xs, ys)
    return model


def assertion_scores(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    pairs = list(zip(gold, predicted, strict=True))
    pa = [(g, p) for g, p in pairs if g in ("present", "absent")]
    per_value = {}
    for value in ASSERTIONS:
        mine = [p for g, p in pairs if g == value]
        if mine:
            per_value[value] = (sum(p == value for p in mine) / len(mine), len(mine))
    return {
        "mentions": len(pairs),
        "present_absent": sum(g == p for g, p in pa) / max(1, len(pa)),
        "accuracy": sum(g == p for g, p in pairs) / max(1, len(pairs)),
        "macro": statistics.mean(v for v, _ in per_value.values()),
        "per_value": per_value,
    }


# -- 2. brand → generic ---------------------------------------------------------------------
def drug_mentions(records: list[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    """(text, gold generic, kind, drug-like) of each gold drug mention."""
    out = []
    for r in records:
        for e in r["entities"]:
            c = e.get("concept")
            if e["label"] == "TREATMENT" and c and c.get("system") == "generic-drug":
                drug_like = rules.prescribed(r["text"], e["start"], e["end"])
                out.append((e["text"], c["name"].lower(), c["kind"], drug_like))
    return out


def drug_scores(mentions: list[tuple[str, str, str, bool]], threshold: float) -> dict[str, Any]:
    concepts.normalise_drug.cache_clear()
    given = correct = 0
    wrong: Counter[tuple[str, str, str]] = Counter()
    for text, gold, _kind, drug_like in mentions:
        c = concepts.normalise_treatment(text, drug_like, threshold)
        if c is None or c.name == "unknown" or c.system != "generic-drug":
            continue
        given += 1
        if c.name.lower() == gold:
            correct += 1
        else:
            wrong[(text, c.name, gold)] += 1
    return {
        "mentions": len(mentions),
        "precision": correct / max(1, given),
        "coverage": given / max(1, len(mentions)),
        "wrong": wrong.most_common(8),
    }


def without_test_names() -> None:
    """The brand table without the names held out for the test split."""
    table = {k: v for k, v in concepts.brand_table().items() if group(k) != "test"}
    concepts.brand_table = lambda: table  # type: ignore[assignment]
    concepts._fuzzy_pool.cache_clear()
    concepts.normalise_drug.cache_clear()


# -- 3. ICD-10-CM ---------------------------------------------------------------------------
def icd_scores(records: list[dict[str, Any]]) -> dict[str, Any]:
    total = first = top3 = 0
    misses: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        for e in r["entities"]:
            c = e.get("concept")
            if e["label"] != "DISEASE" or not c:
                continue
            total += 1
            found = concepts.normalise_disease(e["text"])
            codes = [code for code, _ in found.candidates]
            first += bool(codes) and codes[0] == c["code"]
            top3 += c["code"] in codes
            if c["code"] not in codes:
                misses[(e["text"].lower(), c["code"], codes[0] if codes else "-")] += 1
    return {
        "mentions": total,
        "top1": first / total,
        "top3": top3 / total,
        "misses": misses.most_common(12),
    }


# -- 4. links -------------------------------------------------------------------------------
def prf(gold: set[Any], predicted: set[Any]) -> dict[str, float]:
    tp = len(gold & predicted)
    p = tp / max(1, len(predicted))
    r = tp / max(1, len(gold))
    return {"precision": p, "recall": r, "f1": 2 * p * r / max(1e-9, p + r), "gold": len(gold)}


def link_scores(records: list[dict[str, Any]], **options: Any) -> dict[str, float]:
    gold: set[Any] = set()
    predicted: set[Any] = set()
    for r in records:
        ents = r["entities"]
        spans = [(e["start"], e["end"], e["label"], e["assertion"]) for e in ents]
        key = [(r["id"], e["start"], e["end"]) for e in ents]
        gold |= {(key[t], key[d]) for t, d in r["links"]}
        predicted |= {(key[t], key[d]) for t, d in link_entities(r["text"], spans, **options)}
    return prf(gold, predicted)


def end_to_end(records: list[dict[str, Any]], model: Any) -> dict[str, Any]:
    gold: set[Any] = set()
    predicted: set[Any] = set()
    for r in records:
        ents = r["entities"]
        gold |= {
            (
                (r["id"], ents[t]["start"], ents[t]["end"]),
                (r["id"], ents[d]["start"], ents[d]["end"]),
            )
            for t, d in r["links"]
        }
        found = entity_records(model, r["text"], meaning=("assertion", "links"))
        for record in found:
            for d in record.get("treats", []):
                predicted.add(
                    (
                        (r["id"], record["start"], record["end"]),
                        (r["id"], found[d]["start"], found[d]["end"]),
                    )
                )
    return prf(gold, predicted)


# -- 5. cost --------------------------------------------------------------------------------
def cost(model: Path, repeats: int) -> tuple[dict[str, float], int, int]:
    texts = [t or "" for t in pq.read_table(NOTES, columns=["transcription"])[0].to_pylist()]
    tokens = sum(len(s) for t in texts for s in sentence_token_spans(t))
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name in ("off", "on"):
                options = ["--meaning"] if name == "on" else []
                out = Path(tmp) / f"{name}.jsonl"
                seconds[name].append(run_extract(model, NOTES, out, *options)[0])
    return {k: statistics.median(v) for k, v in seconds.items()}, tokens, len(texts)


# -- the report -----------------------------------------------------------------------------
def pct(x: float) -> str:
    return f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--model", type=Path, default=REPO / "models/default")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-cost", action="store_true", help="Skip the throughput runs.")
    parser.add_argument("--write", type=Path, help="Write the results into this Markdown file.")
    args = parser.parse_args()
    split = args.split
    rx = read(RX / f"{split}.jsonl")
    mts = read(MTS / f"{split}.jsonl")
    lines = [f"### {split} split", ""]

    # the learned classifier is a choice made on dev: the test split scores the rules alone
    learned = train_learned(read(RX / "train.jsonl")) if split == "dev" else None
    lines += [
        "**Assertion** (gold mentions; macro: mean over values of each value's accuracy):",
        "",
        "| data | method | mentions | present/absent | all values | macro |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    detail = []
    for name, data in (("prescriptions", rx), ("MTSamples", mts)):
        gold = [e["assertion"] for r in data for e in r["entities"]]
        methods = [("rules", rule_assertions(data))]
        if learned is not None:
            methods.append(("learned", list(learned.predict(mention_features(data)[0]))))
        for method, predicted in methods:
            s = assertion_scores(gold, predicted)
            lines.append(
                f"| {name} | {method} | {s['mentions']} | {pct(s['present_absent'])} | "
                f"{pct(s['accuracy'])} | {pct(s['macro'])} |"
            )
            if method == "rules":
                detail.append(
                    f"{name}: "
                    + ", ".join(f"{v} {a:.3f} ({n})" for v, (a, n) in s["per_value"].items())
                )
    lines += ["", "Per value, rules (accuracy, mentions): " + "; ".join(detail) + ".", ""]

    mentions = drug_mentions(rx)
    lines += [
        "**Brand → generic** (gold drug mentions):",
        "",
        "| brand table | fuzzy threshold | mentions | precision | coverage |",
        "| --- | --- | --- | --- | --- |",
    ]
    thresholds = (
        (0.75, 0.8, 0.84, 0.88, 0.92, 1.01) if split == "dev" else (concepts.FUZZY_THRESHOLD,)
    )
    for th in thresholds:
        s = drug_scores(mentions, th)
        label = "off" if th > 1 else f"{th:.2f}"
        lines.append(
            f"| whole | {label} | {s['mentions']} | {pct(s['precision'])} | {pct(s['coverage'])} |"
        )
    whole = drug_scores(mentions, concepts.FUZZY_THRESHOLD)
    brand_table = concepts.brand_table
    without_test_names()
    unseen = [m for m in mentions if group(concepts._drug_key(m[0])[-1]) == "test"]
    s = drug_scores(mentions, concepts.FUZZY_THRESHOLD)
    u = drug_scores(unseen, concepts.FUZZY_THRESHOLD)
    concepts.brand_table = brand_table  # type: ignore[assignment]
    concepts._fuzzy_pool.cache_clear()
    concepts.normalise_drug.cache_clear()
    lines += [
        f"| without test-only names | {concepts.FUZZY_THRESHOLD:.2f} | {s['mentions']} | "
        f"{pct(s['precision'])} | {pct(s['coverage'])} |",
        f"| without test-only names: those names alone | {concepts.FUZZY_THRESHOLD:.2f} | "
        f"{u['mentions']} | {pct(u['precision'])} | {pct(u['coverage'])} |",
        "",
        "Wrong generics given (mention, given, gold): "
        + (", ".join(f"{t!r} → {g} (gold {w})" for (t, g, w), _ in whole["wrong"]) or "none")
        + ".",
        "",
    ]

    icd = icd_scores(rx)
    lines += [
        f"**ICD-10-CM** ({icd['mentions']} gold DISEASE mentions): the gold code first "
        f"{pct(icd['top1'])}, among the top 3 **{pct(icd['top3'])}**.",
        "",
        "Most frequent misses (mention, gold, first candidate): "
        + ", ".join(f"{t!r} {g} → {c}" for (t, g, c), _ in icd["misses"])
        + ".",
        "",
    ]

    model = load_model(args.model)
    lines += [
        "**Links** (treatment → disease pairs):",
        "",
        "| mentions | rules | gold pairs | precision | recall | F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    variants = {"all rules": {}}
    if split == "dev":
        variants |= {
            "without the complaints fallback": {"complaints_fallback": False},
            "without the history phrase": {"history_phrase": False},
        }
    for name, options in variants.items():
        s = link_scores(rx, **options)
        lines.append(
            f"| gold | {name} | {s['gold']} | {pct(s['precision'])} | "
            f"{pct(s['recall'])} | {pct(s['f1'])} |"
        )
    s = end_to_end(rx, model)
    lines += [
        f"| the model's | all rules | {s['gold']} | {pct(s['precision'])} | "
        f"{pct(s['recall'])} | **{pct(s['f1'])}** |",
        "",
    ]

    if not args.no_cost:
        medians, tokens, notes = cost(args.model, args.repeats)
        lines += [
            f"**Cost**: `medner extract` over all {notes:,} MTSamples notes ({tokens:,} tokens), "
            f"with `--meaning` and without, alternating, median of {args.repeats} each:",
            "",
            "| meaning | seconds | tokens/s per core | relative |",
            "| --- | --- | --- | --- |",
            f"| off | {medians['off']:.1f} | {tokens / medians['off']:,.0f} | 1.00 |",
            f"| on | {medians['on']:.1f} | **{tokens / medians['on']:,.0f}** | "
            f"{medians['off'] / medians['on']:.2f}x |",
            "",
        ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        body = "\n".join(
            [
                f"## What a mention means (issue 24), {split}",
                "",
                *provenance("meaning.py", f" --split {split}"),
                "",
                text,
            ]
        )
        write_section(args.write, f"meaning-{split}", body)


if __name__ == "__main__":
    main()
