"""Drift detection quality (issue 21): false alarms on windows of the training source, the
smallest window at which three real shifts are flagged, and what profiling costs per note.

The reference is the BioText CRF's training profile (`write_reference` over BioText train, as
`medner train` writes it). The detector is `medner.monitoring.drift.compare`, as `medner
monitor` and the API's gauges run it (Bonferroni over the features, alpha 0.01, minimum
effect 0.1).

1. False alarms: 100 windows of ``--window`` sentences drawn (seeded) from BioText test (the
   training source, sentences the model never trained on); a window alarms when any feature
   drifts. The goal: at most 5 %.
2. Shifts, each against the BioText reference: MTSamples notes, NCBI-disease abstracts'
   sentences (test split), and the synthetic prescription notes (dev split). For each window
   size, 20 seeded windows; the smallest size at which at least 95 % of them alarm.
3. Cost: the median time of `note_profile` per MTSamples note, beside `entity_records` on the
   same note (the extraction the API does), over 300 notes.

Usage: python bench/drift.py [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import provenance, write_section
from medner.data.corpora import corpus_path
from medner.data.documents import load_documents
from medner.inference import entity_records, read_notes
from medner.models import load_model
from medner.monitoring.drift import compare
from medner.monitoring.profile import note_profile, read_vocabulary, write_reference

REPO = Path(__file__).resolve().parents[1]
SIZES = (30, 50, 100, 200, 400)


def tagged(model, texts, vocabulary):  # type: ignore[no-untyped-def]
    out = []
    for text in texts:
        records = entity_records(model, text)
        out.append((note_profile(text, records, model.labels, vocabulary), records))
    return out


def alarms(reference, pool, size: int, windows: int, seed: int) -> list[bool]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    out = []
    for _ in range(windows):
        window = [pool[rng.randrange(len(pool))] for _ in range(size)]
        verdicts = compare(reference, [p for p, _ in window], [r for _, r in window])
        out.append(any(v.drift for v in verdicts))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--window", type=int, default=200)
    args = parser.parse_args()
    model_dir = REPO / "models/crf-biotext"
    if not (model_dir / "config.json").is_file():
        medner = Path(sys.executable).parent / "medner"
        subprocess.run([str(medner), "experiment", "run", "biotext/crf"], check=True, cwd=REPO)
    profiled = Path(tempfile.mkdtemp()) / "model"  # the profile goes into a copy
    shutil.copytree(model_dir, profiled)
    model = load_model(profiled)
    train_texts = [d.text for d in load_documents([corpus_path("biotext/train")])]
    reference = write_reference(model, profiled, train_texts)
    vocabulary = read_vocabulary(profiled)

    same = tagged(
        model, [d.text for d in load_documents([corpus_path("biotext/test")])], vocabulary
    )
    false = alarms(reference, same, args.window, 100, 1)
    mts = [
        n.text
        for n in itertools.islice(
            read_notes(corpus_path("mtsamples/notes"), "note_id", "transcription"), 600
        )
        if n.text
    ]
    shifts = {
        "MTSamples notes": tagged(model, mts, vocabulary),
        "NCBI-disease abstracts (test sentences)": tagged(
            model, [d.text for d in load_documents([corpus_path("ncbi-disease/test")])], vocabulary
        ),
        "prescription notes (dev split)": tagged(
            model, [d.text for d in load_documents([corpus_path("prescriptions/dev")])], vocabulary
        ),
    }
    found = {}
    for name, pool in shifts.items():
        rates = {}
        for size in SIZES:
            rates[size] = sum(alarms(reference, pool, size, 20, 2)) / 20
        smallest = next((s for s in SIZES if rates[s] >= 0.95), None)
        found[name] = (rates, smallest)
        print(f"{name}: {rates} -> {smallest}", file=sys.stderr)

    profile_us, extract_us = [], []
    for text in mts[:300]:
        t0 = time.perf_counter()
        records = entity_records(model, text)
        t1 = time.perf_counter()
        note_profile(text, records, model.labels, vocabulary)
        t2 = time.perf_counter()
        extract_us.append((t1 - t0) * 1e6)
        profile_us.append((t2 - t1) * 1e6)
    p_med, e_med = statistics.median(profile_us), statistics.median(extract_us)

    lines = [
        "## Drift detection (issue 21)",
        "",
        *provenance("drift.py"),
        f"Reference: the BioText CRF's training profile ({reference['notes']:,} of"
        f" {len(train_texts):,} BioText train sentences, vocabulary of"
        f" {reference['vocabulary_size']:,} words). Detector: `medner.monitoring.drift`"
        " (KS per numeric feature and on confidence, chi-squared on label shares; Bonferroni,"
        " alpha 0.01, minimum effect 0.1).",
        "",
        f"- **False alarms**: {sum(false)} of 100 windows of {args.window} BioText test"
        f" sentences (**{sum(false)}%**; the goal: at most 5 %).",
        "",
        "| shift, against the BioText reference | share of 20 windows flagged at "
        + " / ".join(str(s) for s in SIZES)
        + " notes | smallest window flagged in 95 % |",
        "| --- | --- | --- |",
    ]
    for name, (rates, smallest) in found.items():
        lines.append(
            f"| {name} | "
            + " / ".join(f"{rates[s]:.0%}" for s in SIZES)
            + f" | {smallest if smallest else 'not within ' + str(SIZES[-1])} |"
        )
    lines += [
        "",
        f"- **Cost of profiling** (300 MTSamples notes, median): `note_profile` {p_med:.0f} µs"
        f" against `entity_records` {e_med:,.0f} µs per note: **{p_med / e_med:.1%}** of"
        " extraction (the goal: under 5 %).",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "drift", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
