"""Drift detection quality (issue 21): false alarms on windows of the training source, the
smallest window at which three real shifts are flagged, and what profiling costs per note.

The reference is the BioText CRF's profile (`write_reference`, as `medner profile --held-out`
writes it): its vocabulary from BioText train, the profile itself on half of BioText test
(BioText ships no dev split; a model's own training notes read as more confident and better
known than new notes of the same source, and would alarm on every window). The detector is
`medner.monitoring.drift.compare`, as `medner monitor` and the API's gauges run it (Bonferroni
over the features, alpha 0.01, minimum effect 0.1).

1. False alarms: 100 windows of ``--window`` sentences drawn (seeded) from the other half of
   BioText test (the training source, sentences the model never trained on); a window alarms
   when any feature drifts. The goal: at most 5 %.
2. Shifts, each against the BioText reference: MTSamples notes, NCBI-disease abstracts'
   sentences (test split), and the synthetic prescription notes (dev split). For each window
   size, 20 seeded windows; the smallest size at which at least 95 % of them alarm.
3. Cost: what `note_profile` adds to `entity_records` (the extraction the API does) per
   MTSamples note, measured side by side in alternating rounds over 300 notes.

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
from medner.inference.profile import note_profile, read_vocabulary
from medner.models import load_model
from medner.monitoring.drift import compare
from medner.monitoring.profile import write_reference

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
    # BioText ships no dev split: half of test (seeded) is the held-out profile, the other
    # half the same-source windows (`medner profile MODEL --data TRAIN --held-out HALF`)
    test_texts = [d.text for d in load_documents([corpus_path("biotext/test")])]
    random.Random(3).shuffle(test_texts)
    half = len(test_texts) // 2
    reference = write_reference(model, profiled, train_texts, test_texts[:half])
    vocabulary = read_vocabulary(profiled)

    same = tagged(model, test_texts[half:], vocabulary)
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

    # the cost, side by side: 300 notes extracted, then extracted and profiled, in alternating
    # rounds; the difference of the medians is what profiling adds to each note
    notes = mts[:300]
    for text in notes:  # warm the model's sentence cache as a running service has it
        entity_records(model, text)

    def round_of(profile: bool) -> float:
        started = time.perf_counter()
        for text in notes:
            records = entity_records(model, text)
            if profile:
                note_profile(text, records, model.labels, vocabulary)
        return (time.perf_counter() - started) / len(notes) * 1e6

    plain, profiled_us = [], []
    for _ in range(7):
        plain.append(round_of(False))
        profiled_us.append(round_of(True))
    e_med = statistics.median(plain)
    p_med = statistics.median(profiled_us) - e_med

    lines = [
        "## Drift detection (issue 21)",
        "",
        *provenance("drift.py"),
        f"Reference: the BioText CRF's profile on {reference['notes']:,} held-out BioText test"
        f" sentences (half of test, seeded) and its vocabulary from {len(train_texts):,}"
        f" BioText train sentences ({reference['vocabulary_size']:,} words seen twice)."
        " Detector: `medner.monitoring.drift` (KS per numeric feature and on confidence,"
        " chi-squared on label shares; Bonferroni, alpha 0.01, minimum effect 0.1).",
        "",
        f"- **False alarms**: {sum(false)} of 100 windows of {args.window} sentences from the"
        f" other half of BioText test (**{sum(false)}%**; the goal: at most 5 %).",
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
        f"- **Cost of profiling** (300 MTSamples notes, 7 alternating rounds of extraction with"
        f" and without `note_profile`, medians): extraction {e_med:,.0f} µs per note, profiling"
        f" adds {p_med:.0f} µs: **{p_med / e_med:.1%}** of extraction (the goal: under 5 %).",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(args.write, "drift", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
