"""Training configuration: one pydantic model, from defaults, a YAML file and dotted overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medner.errors import ConfigError
from medner.labels import CANONICAL_LABELS
from medner.models.crf import CRFConfig
from medner.models.transformer import TransformerConfig


class TrainConfig(BaseModel):
    """Everything that decides what a training run produces."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["crf", "transformer"] = Field("crf", description="Model backend to train.")
    labels: list[str] | None = Field(
        None,
        description="Train (and score dev) on these labels only; other entities become O. Use "
        "it when training files annotate different types, e.g. [DISEASE] for NCBI + BC5CDR + "
        "BioText: NCBI's O words include chemicals and treatments that BC5CDR and BioText label.",
    )
    crf: CRFConfig = Field(default_factory=CRFConfig)
    transformer: TransformerConfig = Field(default_factory=TransformerConfig)
    clusters: str = Field(
        "builtin",
        description="Word-cluster file for the cluster features: 'builtin' (shipped with "
        "medner, learned from MTSamples and the corpora's train/devel text) or a path.",
    )

    @field_validator("labels")
    @classmethod
    def _canonical(cls, labels: list[str] | None) -> list[str] | None:
        if labels is None:
            return None
        if not labels:
            raise ValueError("give at least one label, or leave labels unset for all")
        unknown = [label for label in labels if label not in CANONICAL_LABELS]
        if unknown:
            raise ValueError(f"unknown labels {unknown}; known: {list(CANONICAL_LABELS)}")
        return labels


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def read_config(path: Path, section: str | None = None, required: bool = True) -> dict[str, Any]:
    """A YAML config file as a mapping, or its ``section`` key (the ``train`` or ``retrain``
    section of ``params.yaml``; an empty mapping when it is missing and not ``required``).

    Raises:
        ConfigError: unreadable file, not a mapping, or a required section missing.
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must be a mapping")
    if section is None:
        return loaded
    if loaded.get(section) is None and not required:
        return {}
    if not isinstance(loaded.get(section), dict):
        raise ConfigError(f"{path}: no mapping under key {section!r}")
    return dict(loaded[section])


def load_config(
    path: Path | None = None, overrides: list[str] | None = None, section: str | None = None
) -> TrainConfig:
    """Defaults, then a YAML file (if given; its ``section`` key when given, as the ``train``
    section of ``params.yaml``), then ``key.path=value`` overrides (YAML values).

    Raises:
        ConfigError: unreadable file, malformed override, or a value the schema rejects
            (the message names the field).
    """
    tree = read_config(path, section) if path is not None else {}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. crf.c1=0.1")
        _set_dotted(tree, key.strip(), yaml.safe_load(raw))
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid training config: {problems}") from exc
