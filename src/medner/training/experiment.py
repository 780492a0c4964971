"""Experiments as configuration: a YAML file under ``configs/experiments/`` names a model
directory and the ``medner`` commands that build it; ``medner experiment run FILE`` runs them.

A config::

    description: NCBI recipe from the DAPT encoder, seed 14
    output: models/transformer-ncbi-dapt-s14
    needs: [ncbi/encoder-dapt]        # other experiments, built first when their output is missing
    steps:
      - train:
          backend: transformer
          train: [corpus:ncbi-disease/train]
          dev: [corpus:ncbi-disease/devel]
          set: {transformer.encoder: "experiment:ncbi/encoder-dapt", transformer.seed: 14}
      - export-onnx: {int8: true}

Each step is one ``medner`` command and its options (``head_steps: 0`` is ``--head-steps 0``, a
list repeats the option, ``true`` is a flag, ``set`` becomes ``--set KEY=VALUE``, ``args`` are
positional). The experiment's ``output`` is given as ``--output`` to commands that write a model
(``train``, ``ensemble``, ``set-decoding``, ``pretrain-encoder``, ``extract``) and as the model
argument to ``export-onnx``. Values ``corpus:CORPUS/SPLIT`` are paths from the corpus registry
(:mod:`medner.data.corpora`) and ``experiment:NAME`` the output of another experiment. Results
and the reasoning behind each recipe are in docs/benchmarks.md, which names the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medner.data.corpora import corpus_path
from medner.errors import ConfigError

EXPERIMENTS = Path("configs/experiments")
WRITES_OUTPUT = {"train", "ensemble", "set-decoding", "pretrain-encoder", "extract"}
IN_PLACE = {"export-onnx"}
COMMANDS = WRITES_OUTPUT | IN_PLACE
NO_TRACK = {"train"}  # experiments are not pipeline runs: not logged to MLflow


class Experiment(BaseModel):
    """One experiment config."""

    model_config = ConfigDict(extra="forbid")

    description: str
    output: Path
    needs: list[str] = Field(default_factory=list)
    steps: list[dict[str, dict[str, Any]]] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _one_known_command_each(
        cls, steps: list[dict[str, dict[str, Any]]]
    ) -> list[dict[str, dict[str, Any]]]:
        for i, step in enumerate(steps):
            if len(step) != 1 or next(iter(step)) not in COMMANDS:
                raise ValueError(
                    f"step {i + 1} must be one of {', '.join(sorted(COMMANDS))} with its options"
                )
        return steps


@dataclass(frozen=True, slots=True)
class Command:
    """One ``medner`` command of an experiment."""

    experiment: str
    argv: list[str]


def experiment_file(ref: str | Path, root: Path = EXPERIMENTS) -> Path:
    """The config of ``ref``: a path to a YAML file, or a name under ``root`` (``ncbi/x6``)."""
    path = Path(ref)
    if path.suffix in {".yaml", ".yml"}:
        return path
    return root / f"{ref}.yaml"


def load_experiment(path: Path) -> Experiment:
    """The experiment in ``path``, validated; a clear error naming the file otherwise."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Experiment.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid experiment config: {exc}") from exc


def _value(value: Any, root: Path) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text.startswith("corpus:"):
        return str(corpus_path(text.removeprefix("corpus:")))
    if text.startswith("experiment:"):
        return str(load_experiment(experiment_file(text.removeprefix("experiment:"), root)).output)
    return text


def step_argv(command: str, options: dict[str, Any], output: Path, root: Path) -> list[str]:
    """The ``medner`` arguments of one step."""
    argv = [command]
    positional = [_value(v, root) for v in options.get("args", [])]
    if command in IN_PLACE:
        positional = [str(output), *positional]
    argv += positional
    for key, value in options.items():
        if key == "args":
            continue
        flag = "--" + key.replace("_", "-")
        if key == "set":
            for name, setting in dict(value).items():
                argv += ["--set", f"{name}={_value(setting, root)}"]
        elif isinstance(value, bool):
            argv += [flag] if value else [f"--no-{key.replace('_', '-')}"]
        elif isinstance(value, list):
            for item in value:
                argv += [flag, _value(item, root)]
        else:
            argv += [flag, _value(value, root)]
    if command in WRITES_OUTPUT:
        argv += ["--output", str(output)]
    if command in NO_TRACK and "track" not in options:
        argv += ["--no-track"]
    return argv


def plan(ref: str | Path, root: Path = EXPERIMENTS, force: bool = False) -> list[Command]:
    """The commands that build experiment ``ref``: first those of each ``needs`` whose output is
    missing (recursively, each once), then its own (unless its output exists and not ``force``)."""
    commands: list[Command] = []
    done: set[Path] = set()

    def visit(name: str | Path, chain: tuple[Path, ...], top: bool) -> None:
        path = experiment_file(name, root).resolve()
        if path in chain:
            raise ConfigError(f"{path}: experiments need each other in a cycle")
        if path in done:
            return
        done.add(path)
        experiment = load_experiment(path)
        for need in experiment.needs:
            visit(need, (*chain, path), top=False)
        if experiment.output.exists() and not (top and force):
            return
        for step in experiment.steps:
            ((command, options),) = step.items()
            commands.append(
                Command(str(name), step_argv(command, options or {}, experiment.output, root))
            )

    visit(ref, (), top=True)
    return commands
