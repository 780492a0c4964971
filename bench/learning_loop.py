"""The learning loop's proof (issue 20, item 4): how much of the gap between the BioText model
and an all-NCBI ceiling do reviewed sentences recover, in which order, at what cost, and how
long from the last review to the promoted model answering.

1. The start: the BioText CRF (`medner experiment run biotext/crf`); the ceiling: the CRF on all
   of NCBI-disease train (`medner experiment run ncbi/crf`). Both scored on NCBI-disease test
   (DISEASE strict F1).
2. The weighting (how many times reviewed sentences are repeated beside BioText) is chosen on
   NCBI-disease *devel* from a seeded sample of 500 train sentences, before the curves.
3. For each order, all NCBI-disease train sentences are queued by `medner review import`'s
   function with the start model's predictions: ``random`` (every note an audit note: a random
   place in the queue) and ``uncertainty`` (the queue's own order, 10 % audit). Simulated
   validators draw notes through the real review HTTP API (`GET /v1/review/next`, `POST
   .../submit`) of a `medner serve` and submit the gold spans (so every prediction gold lacks
   is rejected). After every ``--step`` reviews `medner retrain`'s function trains a candidate
   on BioText + the reviewed sentences, scored on NCBI-disease test.
4. At the end of the uncertainty order, the real, tracked `retrain` (choice of weighting on
   the reviewed dev part, MLflow, registry, gate on NCBI-disease devel and the live hold-out)
   runs against a server that follows `models:/NAME@champion`; the wall time is from the last
   submitted review to the first answer from the promoted version, with a client extracting
   all along (every answer counted).

Usage: python bench/learning_loop.py [--write docs/benchmarks.md] [--step 100 --max 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2 as httpx

from _common import git_commit, provenance, save_svg, write_section
from api_load import start_server, stop_server
from medner.data.corpora import corpus_path
from medner.data.documents import load_documents
from medner.data.writers import write_jsonl
from medner.evaluation.evaluate import evaluate_model
from medner.inference import Note
from medner.learning.retrain import RetrainConfig, retrain
from medner.models import load_model
from medner.review import import_notes, queue_engine, reprioritize
from medner.text import tokenize
from medner.training.config import load_config
from medner.training.train import train
from medner.types import Document

REPO = Path(__file__).resolve().parents[1]
LABEL = "DISEASE"


def disease_f1(model_dir: Path, docs: list[Document]) -> float:
    scores = evaluate_model(load_model(model_dir), docs).scores
    entry = scores.per_label.get(LABEL)
    return entry.f1 if entry else 0.0


def choose_weight(tmp: Path, pool: list[Document], dev: list[Document], ks: list[int]) -> dict:
    sample = random.Random(20).sample(pool, 500)
    path = write_jsonl_docs(sample, tmp / "choose.jsonl")
    scores = {}
    for k in ks:
        out = tmp / f"choose-x{k}"
        train([corpus_path("biotext/train"), *[path] * k], out, load_config(None, []))
        scores[k] = disease_f1(out, dev)
        print(f"weighting x{k}: NCBI devel DISEASE F1 {scores[k]:.3f}", file=sys.stderr)
    best = max(ks, key=lambda k: (scores[k], -k))
    return {"scores": scores, "best": best}


def write_jsonl_docs(docs: list[Document], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(docs, path)
    return path


def review(base: str, gold: dict[str, Document], n: int, key: str) -> tuple[int, int, float]:
    """``n`` reviews through the HTTP API; returns (reviews, tokens reviewed, last submit)."""
    headers = {"Authorization": f"Bearer {key}"}
    done = tokens = 0
    last = time.perf_counter()
    with httpx.Client(base_url=base, timeout=60) as client:
        while done < n:
            r = client.get("/v1/review/next", headers=headers)
            if r.status_code == 204:
                break
            r.raise_for_status()
            task = r.json()
            doc = gold[task["note_id"]]
            body = {
                "entities": [e.to_dict() for e in doc.entities],
                "seconds_active": 10.0,
            }
            s = client.post(
                f"/v1/review/tasks/{task['task_id']}/submit", json=body, headers=headers
            )
            s.raise_for_status()
            last = time.perf_counter()
            done += 1
            tokens += len(tokenize(doc.text))
    return done, tokens, last


def curve(
    order: str, start: Path, tmp: Path, pool: list[Document], test: list[Document], args, k: int
) -> dict:
    """One order's learning curve. ``uncertainty-reranked`` is the uncertainty order with the
    waiting notes re-ranked by each new candidate (what `medner retrain` does on promotion)."""
    run = tmp / order
    run.mkdir()
    url = f"sqlite:///{run / 'store.db'}"
    engine = queue_engine(url)
    gold = {str(d.id): d for d in pool}
    audit = 1.0 if order == "random" else 0.10
    rerank = order == "uncertainty-reranked"
    import_notes(
        engine, load_model(start), start, [Note(str(d.id), d.text) for d in pool], audit, 0.0
    )
    proc, base = start_server(
        start, run, database_url=url, api_keys="sim:review", kpi_refresh_seconds="0"
    )
    points = []
    reviews = tokens = 0
    config = RetrainConfig(
        base=["corpus:biotext/train"], dev=[], test=[], dataset=run / "reviewed",
        output=run / "runs", min_new=1, holdout_share=0.0, dev_share=0.0, oversample=[k],
        set=[], track=False,
    )  # fmt: skip
    try:
        while reviews < args.max:
            done, toks, _ = review(base, gold, args.step, "sim")
            reviews, tokens = reviews + done, tokens + toks
            result = retrain(engine, config)
            candidate = Path(str(result.model_dir))
            f1 = disease_f1(candidate, test)
            if rerank:
                reprioritize(engine, load_model(candidate), candidate)
            points.append({"reviews": reviews, "tokens": tokens, "f1": f1})
            print(f"{order}: {reviews} reviews, {tokens} tokens: F1 {f1:.3f}", file=sys.stderr)
            if done < args.step:
                break
    finally:
        stop_server(proc)
        engine.dispose()
    return {"points": points}


def promotion(start: Path, tmp: Path, pool: list[Document], args) -> dict:
    """The tracked retrain at the end of the uncertainty order, timed to the new answer."""
    from medner.tracking.registry import promote, register
    from medner.tracking.runs import log_training_run

    run = tmp / "promotion"
    run.mkdir()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{run / 'mlflow.db'}"
    os.environ["MEDNER_MODEL_CACHE"] = str(run / "model-cache")
    name = "medner-loop"
    first = register(log_training_run(start, {}, [], [], {}), name)
    promote(first, [corpus_path("ncbi-disease/devel")], name)
    url = f"sqlite:///{run / 'store.db'}"
    engine = queue_engine(url)
    import_notes(
        engine, load_model(start), start, [Note(str(d.id), d.text) for d in pool], 0.10, 0.0
    )
    proc, base = start_server(
        Path(f"models:/{name}@champion"), run, database_url=url,
        api_keys="sim:review,ex:extract", poll_champion_seconds="1", kpi_refresh_seconds="0",
    )  # fmt: skip
    statuses: list[int] = []
    versions: dict[str, float] = {}
    stop = threading.Event()

    def extract() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                r = client.post(
                    "/v1/extract", json={"text": pool[0].text},
                    headers={"Authorization": "Bearer ex"},
                )  # fmt: skip
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.setdefault(r.json()["model"]["version"], time.perf_counter())
                time.sleep(0.05)

    try:
        gold = {str(d.id): d for d in pool}
        done, _, last = review(base, gold, args.max, "sim")
        client = threading.Thread(target=extract)
        client.start()
        config = RetrainConfig(
            base=["corpus:biotext/train"], dev=[], test=["corpus:ncbi-disease/devel"],
            dataset=run / "reviewed", output=run / "runs", min_new=1, holdout_share=0.3,
            min_holdout=20, dev_share=0.15, oversample=args.oversample, set=[], name=name,
            tolerance=0.01, bootstrap=1000,
        )  # fmt: skip
        result = retrain(engine, config)
        trained = time.perf_counter()
        deadline = trained + 120
        while result.version not in versions and time.perf_counter() < deadline:
            time.sleep(0.1)
        stop.set()
        client.join()
    finally:
        stop_server(proc)
        engine.dispose()
    served = versions.get(str(result.version))
    return {
        "reviews": done,
        "status": result.status,
        "reason": result.reason,
        "oversample": result.oversample,
        "choice": result.choice,
        "holdout_notes": result.holdout_notes,
        "holdout_f1": result.holdout_f1,
        "retrain_seconds": trained - last,
        "to_serving_seconds": (served - last) if served else None,
        "requests": len(statuses),
        "failed": sum(s != 200 for s in statuses),
        "gate": result.gate,
    }


def at(points: list[dict], reviews: int) -> float | None:
    for p in points:
        if p["reviews"] >= reviews:
            return float(p["f1"])
    return None


def first_reaching(points: list[dict], target: float) -> dict | None:
    for p in points:
        if p["f1"] >= target:
            return p
    return None


def plot(results: dict, start: float, ceiling: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for order, res in results.items():
        pts = res["points"]
        a.plot([0] + [p["reviews"] for p in pts], [start] + [p["f1"] for p in pts], label=order)
        b.plot([0] + [p["tokens"] for p in pts], [start] + [p["f1"] for p in pts], label=order)
    for axis, xlabel in ((a, "reviews"), (b, "tokens reviewed")):
        axis.axhline(ceiling, ls="--", c="grey", label="all NCBI train")
        axis.axhline(0.9 * ceiling, ls=":", c="grey", label="90 % of the ceiling")
        axis.set_xlabel(xlabel)
        axis.set_ylabel("DISEASE strict F1, NCBI-disease test")
        axis.legend(fontsize=8)
    save_svg(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    parser.add_argument("--json", type=Path, default=Path("runs/learning_loop.json"))
    parser.add_argument("--plot", type=Path, default=REPO / "docs/images/learning-loop.svg")
    parser.add_argument("--step", type=int, default=100)
    parser.add_argument("--max", type=int, default=2000)
    parser.add_argument("--weights", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--oversample", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--start", type=Path, default=REPO / "models/crf-biotext")
    parser.add_argument("--ceiling", type=Path, default=REPO / "models/crf-ncbi")
    parser.add_argument(
        "--from-json", type=Path, help="Only write the report (and plot) of an earlier run's JSON."
    )
    parser.add_argument(
        "--orders", nargs="*", default=["random", "uncertainty", "uncertainty-reranked"]
    )
    parser.add_argument(
        "--weight", type=int, help="Skip the choice: repeat reviewed notes K times."
    )
    parser.add_argument("--no-promotion", action="store_true", help="Skip the timed promotion.")
    parser.add_argument("--merge", type=Path, help="Add this run's orders to an earlier JSON.")
    args = parser.parse_args()
    if args.from_json:
        out = json.loads(args.from_json.read_text(encoding="utf-8"))
        args.step, args.max = out["step"], out["max"]
        plot(out["orders"], out["start"], out["ceiling"], args.plot)
        body = report(out, args)
        print(body)
        if args.write:
            write_section(args.write, "learning-loop", body)
        return 0
    for model, experiment in ((args.start, "biotext/crf"), (args.ceiling, "ncbi/crf")):
        if not (model / "config.json").is_file():
            raise SystemExit(f"{model} is missing: medner experiment run {experiment}")
    pool = load_documents([corpus_path("ncbi-disease/train")])
    for i, d in enumerate(pool):
        d.id = f"ncbi-train-{i}"
    test = load_documents([corpus_path("ncbi-disease/test")])
    dev = load_documents([corpus_path("ncbi-disease/devel")])
    start, ceiling = disease_f1(args.start, test), disease_f1(args.ceiling, test)
    print(f"start {start:.3f}, ceiling {ceiling:.3f}", file=sys.stderr)
    out: dict = {"start": start, "ceiling": ceiling, "step": args.step, "max": args.max}
    out["commit"] = git_commit()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        earlier = json.loads(args.merge.read_text(encoding="utf-8")) if args.merge else None
        if args.weight is not None:
            out["weighting"] = (earlier or {}).get("weighting") or {
                "scores": {},
                "best": args.weight,
            }
            out["weighting"]["best"] = args.weight
        else:
            out["weighting"] = choose_weight(tmp, pool, dev, args.weights)
        k = out["weighting"]["best"]
        out["orders"] = dict((earlier or {}).get("orders", {}))
        for order in args.orders:
            out["orders"][order] = curve(order, args.start, tmp, pool, test, args, k)
        if args.no_promotion and earlier:
            out["promotion"] = earlier.get("promotion")
        elif not args.no_promotion:
            out["promotion"] = promotion(args.start, tmp, pool, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    plot(out["orders"], start, ceiling, args.plot)
    body = report(out, args)
    print(body)
    if args.write:
        write_section(args.write, "learning-loop", body)
    return 0


def report(out: dict, args) -> str:
    start, ceiling = out["start"], out["ceiling"]
    gap = ceiling - start
    target = 0.9 * ceiling
    lines = [
        "## The learning loop: reviewed sentences back into training (issue 20)",
        "",
        *provenance("learning_loop.py", f" --step {args.step} --max {args.max}"),
        f"The run's code: {out.get('commit', '?')} (`--from-json` rewrites this section from a"
        " run's JSON: `docs/learning-loop.json`).",
        f"Start: the BioText CRF, DISEASE strict F1 **{start:.3f}** on NCBI-disease test;"
        f" ceiling: the CRF on all NCBI-disease train, **{ceiling:.3f}**. Simulated validators"
        " submit the gold spans of NCBI-disease train sentences through the review HTTP API;"
        f" a candidate is retrained on BioText train + the reviewed sentences every {args.step}"
        " reviews.",
        "",
        "Weighting, chosen on NCBI-disease devel from 500 seeded train sentences: "
        + ", ".join(f"x{k} {v:.3f}" for k, v in out["weighting"]["scores"].items())
        + f" → **x{out['weighting']['best']}** for every curve.",
        "",
        "| order | F1 at 500 | at 1,000 | at 2,000 | gap recovered at 500 / 1,000 / 2,000 |"
        " reviews to 90 % of ceiling | tokens to 90 % |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    reach = {}
    for order, res in out["orders"].items():
        pts = res["points"]
        f = [at(pts, n) for n in (500, 1000, 2000)]
        rec = [f"{(x - start) / gap:.0%}" if x is not None else "–" for x in f]
        hit = first_reaching(pts, target)
        reach[order] = hit
        lines.append(
            f"| {order} | "
            + " | ".join(f"{x:.3f}" if x is not None else "–" for x in f)
            + f" | {' / '.join(rec)} | "
            + (f"{hit['reviews']:,} | {hit['tokens']:,}" if hit else "not reached | –")
            + " |"
        )
    lines.append("")
    r = reach.get("random")
    for order in out["orders"]:
        if order == "random":
            continue
        u = reach.get(order)
        if r and u:
            lines.append(
                f"- {order} against random, to 90 % of the ceiling: "
                f"**{u['reviews'] / r['reviews']:.0%}** of the reviews and "
                f"**{u['tokens'] / r['tokens']:.0%}** of the tokens (the goal: at most 60 % and"
                " 75 %)."
            )
        else:
            lines.append(f"- {order}: it or random did not reach 90 % of the ceiling.")
    p = out.get("promotion")
    if p:
        lines += [
            "",
            f"From the last of {p['reviews']:,} reviews (uncertainty order) to the promoted"
            " model answering on the API (`models:/NAME@champion`, polled every second): the"
            f" tracked retrain (weighting x{p['oversample']} chosen on the reviewed dev part from"
            f" {p['choice']}; gate on NCBI-disease devel and {p['holdout_notes']} held-out audit"
            f" sentences, hold-out F1 {p['holdout_f1']}) took {p['retrain_seconds']:.0f} s;"
            f" outcome **{p['status']}** ({p['reason']}); first answer from the new version"
            " after "
            + (f"**{p['to_serving_seconds']:.0f} s**" if p["to_serving_seconds"] else "–")
            + f"; {p['requests']:,} requests during it, {p['failed']} failed.",
        ]
    lines += [
        "",
        "![learning curves](images/learning-loop.svg)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
