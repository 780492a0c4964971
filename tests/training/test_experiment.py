"""Experiments as configs: the commands a config stands for, and a tiny one run end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medner.data import write_jsonl
from medner.data.corpora import CORPORA
from medner.errors import ConfigError
from medner.models.base import read_model_config
from medner.training.experiment import load_experiment, plan
from medner.types import Document

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "experiments"


def _write(root: Path, name: str, config: dict[str, object]) -> None:
    path = root / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_every_shipped_config_is_valid_and_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    names = sorted(
        p.relative_to(SHIPPED).with_suffix("").as_posix() for p in SHIPPED.rglob("*.yaml")
    )
    assert len(names) >= 26  # every model recipe the Makefile used to hold
    outputs = set()
    for name in names:
        experiment = load_experiment(SHIPPED / f"{name}.yaml")
        outputs.add(experiment.output)
        commands = plan(name, SHIPPED, force=True)
        assert commands and commands[-1].experiment == name
        for command in commands:
            for arg in command.argv:
                assert not arg.startswith(("corpus:", "experiment:")), (name, arg)
    assert len(outputs) == len(names)  # no two experiments write the same directory


def test_a_config_becomes_the_commands_it_names(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "enc",
        {
            "description": "e",
            "output": str(tmp_path / "enc"),
            "steps": [{"pretrain-encoder": {"head_steps": 0}}],
        },
    )
    _write(
        tmp_path,
        "x/b",
        {
            "description": "b",
            "output": "models/b",
            "needs": ["enc"],
            "steps": [
                {
                    "train": {
                        "backend": "transformer",
                        "train": ["corpus:ncbi-disease/train"],
                        "dev": ["corpus:ncbi-disease/devel"],
                        "set": {"transformer.encoder": "experiment:enc", "transformer.seed": 14},
                    }
                },
                {"export-onnx": {"int8": True}},
            ],
        },
    )
    commands = plan("x/b", tmp_path)
    assert [c.argv for c in commands] == [
        ["pretrain-encoder", "--head-steps", "0", "--output", str(tmp_path / "enc")],
        [
            "train",
            "--backend",
            "transformer",
            "--train",
            str(CORPORA["ncbi-disease"]["train"]),
            "--dev",
            str(CORPORA["ncbi-disease"]["devel"]),
            "--set",
            f"transformer.encoder={tmp_path / 'enc'}",
            "--set",
            "transformer.seed=14",
            "--output",
            "models/b",
            "--no-track",
        ],
        ["export-onnx", "models/b", "--int8"],
    ]
    (tmp_path / "enc").mkdir()  # a need whose output exists is not built again
    assert [c.experiment for c in plan("x/b", tmp_path)] == ["x/b", "x/b"]


def test_bad_configs_are_clear_errors(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a",
        {"description": "a", "output": "m/a", "needs": ["b"], "steps": [{"train": {}}]},
    )
    _write(
        tmp_path,
        "b",
        {"description": "b", "output": "m/b", "needs": ["a"], "steps": [{"train": {}}]},
    )
    with pytest.raises(ConfigError, match="cycle"):
        plan("a", tmp_path)
    _write(tmp_path, "c", {"description": "c", "output": "m/c", "steps": [{"fly": {}}]})
    with pytest.raises(ConfigError, match="step 1 must be one of"):
        plan("c", tmp_path)
    _write(
        tmp_path,
        "d",
        {
            "description": "d",
            "output": "m/d",
            "steps": [{"train": {"train": ["corpus:nope/train"]}}],
        },
    )
    with pytest.raises(ConfigError, match="unknown corpus split 'nope/train'"):
        plan("d", tmp_path)
    with pytest.raises(ConfigError, match="no such experiment config"):
        plan("missing", tmp_path)


def test_a_tiny_experiment_runs_end_to_end(tmp_path: Path, tiny_docs: list[Document]) -> None:
    """Train a CRF on a tiny corpus, then copy it with abbreviations on: two experiments, the
    second needing the first, through `medner experiment run`."""
    write_jsonl(tiny_docs * 3, tmp_path / "tiny.jsonl")
    root = tmp_path / "configs"
    _write(
        root,
        "tiny/crf",
        {
            "description": "a CRF on the tiny corpus",
            "output": "models/tiny-crf",
            "steps": [{"train": {"train": ["tiny.jsonl"], "set": {"crf.max_iterations": 20}}}],
        },
    )
    _write(
        root,
        "tiny/crf-abbr",
        {
            "description": "the same weights carrying abbreviations",
            "output": "models/tiny-crf-abbr",
            "needs": ["tiny/crf"],
            "steps": [{"set-decoding": {"args": ["experiment:tiny/crf"], "abbreviations": True}}],
        },
    )

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "medner",
                "experiment",
                "run",
                "tiny/crf-abbr",
                "--root",
                str(root),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "1/2 (tiny/crf) medner train" in proc.stderr
    assert "2/2 (tiny/crf-abbr) medner set-decoding" in proc.stderr
    base = read_model_config(tmp_path / "models/tiny-crf")
    copy = read_model_config(tmp_path / "models/tiny-crf-abbr")
    assert base["backend"] == copy["backend"] == "crf"
    assert copy["config"]["abbreviations"] is True
    assert not base["config"].get("abbreviations")
    again = run()
    assert again.returncode == 0 and "nothing to do" in again.stderr
