"""A simulated review record, and the KPI report over it: the picture in docs/kpis.md.

The prescription dev notes are queued with the BioText CRF's predictions (10 % audit, 5 %
double review); four simulated validators submit the gold entities over four weeks, taking 40
to 120 s a note. The numbers describe this simulation, not a real team.

Usage: python bench/kpis_demo.py [--output runs/kpis-demo.html]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from medner.data.corpora import corpus_path
from medner.data.documents import load_documents
from medner.inference import Note
from medner.models import load_model
from medner.review import import_notes, next_task, queue_engine, submit

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "runs/kpis-demo.html")
    parser.add_argument("--model", type=Path, default=REPO / "models/crf-biotext")
    args = parser.parse_args()
    docs = load_documents([corpus_path("prescriptions/dev")])
    gold = {str(d.id): d for d in docs}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        engine = queue_engine(url)
        notes = [Note(str(d.id), d.text) for d in docs]
        import_notes(engine, load_model(args.model), args.model, notes, 0.10, 0.05)
        rng = random.Random(7)
        start = datetime(2026, 11, 2, 9, tzinfo=UTC)
        done = 0
        while True:
            who = f"validator{done % 4 + 1}"
            when = start + timedelta(days=done * 28 / len(docs), minutes=done)
            task = next_task(engine, who, now=when)
            if task is None:
                break
            entities = [e.to_dict() for e in gold[str(task.note_id)].entities]
            submit(engine, who, task.id, entities, seconds_active=rng.uniform(40, 120), now=when)
            done += 1
        engine.dispose()
        medner = Path(sys.executable).parent / "medner"
        subprocess.run(
            [str(medner), "kpis", "--database-url", url, "--format", "html", "--by", "validator",
             "-o", str(args.output)],
            check=True,
        )  # fmt: skip
    print(f"{done} reviews simulated; report: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
