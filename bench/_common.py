"""Helpers shared by the benchmarks: machine description and writing a section of a doc."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# all MTSamples notes: the input of the speed benchmarks
NOTES = REPO / "data/mtsamples/mtsamples.parquet"


def train_default_model(path: Path) -> Path:
    """Train the product's default model at ``path``, as configs/experiments/prescriptions/
    crf.yaml does: the CRF with lexicon features on BioText train plus prescription train."""
    from medner.data.corpora import corpus_path
    from medner.training.config import TrainConfig
    from medner.training.train import train

    print("training the default model...", file=sys.stderr)
    config = TrainConfig()
    config.crf.features.lexicon = True
    train(
        [REPO / corpus_path("biotext/train"), REPO / corpus_path("prescriptions/train")],
        path,
        config,
    )
    return path


def run_extract(model: Path, notes: Path, out: Path, *options: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `medner extract` process over the MTSamples
    columns of ``notes``, with extra ``options`` (``--sentence-cache 0``, ``--meaning``)."""
    cmd = [
        sys.executable, "-m", "medner", "extract", "--model", str(model), "--input", str(notes),
        "--id-column", "note_id", "--text-column", "transcription", "--output", str(out),
        "--no-progress", *options,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(
            f"medner extract failed: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return seconds, usage.ru_maxrss


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, Python {sys.version.split()[0]}, {platform.system()}"
    )


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(script: str, options: str = "", target: str = "make bench") -> list[str]:
    """The machine, commit and command lines every benchmark section starts with."""
    return [
        f"Machine: {machine()}. Commit `{git_commit()}`.",
        f"Command: `{target}` (`python bench/{script}{options} --write docs/benchmarks.md`).",
    ]


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- bench:NAME -->`` markers in ``path``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def save_svg(fig: Any, path: Path) -> None:
    """Write a matplotlib figure as SVG without a metadata block (no date: the same data draws
    the same file) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
