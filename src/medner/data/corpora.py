"""The corpus registry: each shipped corpus's splits, named once (see data/README.md).

Refer to a split as ``CORPUS/SPLIT`` (``ncbi-disease/devel``); :func:`corpus_path` gives its
path, relative to the repository (the DVC-tracked ``data/`` folder).
"""

from __future__ import annotations

from pathlib import Path

from medner.errors import ConfigError

CORPORA: dict[str, dict[str, Path]] = {
    "biotext": {
        "train": Path("data/biotext/train_sent"),
        "test": Path("data/biotext/test_sent"),
    },
    "ncbi-disease": {
        "train": Path("data/ncbi-disease/train.tsv"),
        "devel": Path("data/ncbi-disease/devel.tsv"),
        "test": Path("data/ncbi-disease/test.tsv"),
    },
    "bc5cdr": {
        "train": Path("data/bc5cdr/train.tsv"),
        "devel": Path("data/bc5cdr/devel.tsv"),
        "test": Path("data/bc5cdr/test.tsv"),
    },
    "mtsamples": {"notes": Path("data/mtsamples/mtsamples.parquet")},
    # synthetic Indian e-prescriptions (medner.data.prescriptions; docs/annotation.md)
    "prescriptions": {
        "train": Path("data/prescriptions/train.jsonl"),
        "dev": Path("data/prescriptions/dev.jsonl"),
        "test": Path("data/prescriptions/test.jsonl"),
    },
}


def corpus_path(ref: str) -> Path:
    """The path of ``CORPUS/SPLIT``; a clear error naming the known ones otherwise."""
    name, _, split = ref.partition("/")
    splits = CORPORA.get(name)
    if splits is None or split not in splits:
        known = ", ".join(f"{c}/{s}" for c, ss in CORPORA.items() for s in ss)
        raise ConfigError(f"unknown corpus split {ref!r}; known: {known}")
    return splits[split]
