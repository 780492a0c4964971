"""The interface every model backend implements, and loading a saved model by its backend."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from medner.errors import ConfigError, ModelLoadError
from medner.text.sections import find_headings, inside_heading
from medner.types import Entity

MODEL_CONFIG_FILE = "config.json"
MODEL_CARD_FILE = "MODEL_CARD.md"

# backend name -> module that defines ``load(path) -> NerModel``; imported only when used, so
# that heavy backends (torch) never load for the CRF.
BACKENDS: dict[str, str] = {
    "crf": "medner.models.crf",
    "transformer": "medner.models.transformer",
}


@runtime_checkable
class NerModel(Protocol):
    """A trained entity extractor."""

    backend: str
    labels: list[str]
    metadata: dict[str, Any]

    def predict(self, text: str) -> list[Entity]:
        """Entities of one note, in order, non-overlapping, with ``text[start:end] == text``."""
        ...

    def predict_by_sentence(self, text: str) -> list[list[Entity]]:
        """Entities of one note grouped by sentence, in order (flattened, ``predict``)."""
        ...

    def predict_many(self, texts: Iterable[str]) -> Iterator[list[Entity]]:
        """Entities of each note, lazily, in the order given."""
        ...

    def save(self, path: Path) -> None:
        """Write the model as one self-contained directory."""
        ...


def drop_headings(text: str, by_sentence: list[list[Entity]]) -> list[list[Entity]]:
    """The entities that are not inside a section heading (``ALLERGIES:``, ``Dx:``): headings
    are structure, never entities (docs/annotation.md). Every backend's output goes through it."""
    if not any(by_sentence):
        return by_sentence
    headings = find_headings(text)
    if not headings:
        return by_sentence
    return [[e for e in s if not inside_heading(headings, e.start, e.end)] for s in by_sentence]


def read_model_config(path: Path) -> dict[str, Any]:
    """The ``config.json`` of a model directory, with a clear error if it is not one."""
    config_path = path / MODEL_CONFIG_FILE
    if not config_path.is_file():
        raise ModelLoadError(
            f"{path} is not a medner model directory (no {MODEL_CONFIG_FILE}); "
            "train one with `medner train`"
        )
    try:
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_path}: unreadable model config ({exc})") from exc
    return config


def set_sentence_cache(model: NerModel, size: int | None) -> None:
    """Set how many sentences a model keeps results for (``None``: leave its default; 0: off).

    Backends without a sentence cache ignore it.
    """
    if size is not None and hasattr(model, "sentence_cache_size"):
        model.sentence_cache_size = max(0, size)


def load_model(path: str | Path) -> NerModel:
    """Load a saved model directory, whatever its backend."""
    path = Path(path)
    config = read_model_config(path)
    backend = config.get("backend")
    module_name = BACKENDS.get(str(backend))
    if module_name is None:
        raise ModelLoadError(
            f"{path}: unknown backend {backend!r}; this medner knows {', '.join(BACKENDS)}"
        )
    module = importlib.import_module(module_name)
    model: NerModel = module.load(path)
    return model


def model_version(model_dir: Path) -> str:
    """A content fingerprint of a model directory: 12 hex digits of SHA-256 over its files."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# Decoding settings every backend has, with the value a model saved before the setting existed
# decodes with.
DECODING_SETTINGS: dict[str, Any] = {"abbreviations": False, "o_penalty": None}


def set_decoding(source: Path, output: Path, **settings: Any) -> dict[str, Any]:
    """Copy the model at ``source`` to ``output`` with other decoding settings (``abbreviations``,
    ``o_penalty``; the weights are untouched); return the settings changed, old and new.

    Decoding settings are chosen on dev data after training, never on test. The copy's
    ``metadata.decoding_changed`` and model card name the source and the change; its metrics
    and card scores are still those of the source's decoding."""
    if not settings:
        raise ConfigError("no decoding setting to change: give --abbreviations or --o-penalty")
    config = read_model_config(source)
    if output.exists():
        raise ConfigError(f"{output} exists; give a new directory")
    unknown = [k for k in settings if k not in DECODING_SETTINGS]
    if unknown:
        raise ConfigError(
            f"no decoding setting {', '.join(unknown)}; these are: {', '.join(DECODING_SETTINGS)}"
        )
    current = config.get("config", {})
    # a model saved before a setting existed decodes as its default
    changed = {
        k: {"from": current.get(k, DECODING_SETTINGS[k]), "to": v} for k, v in settings.items()
    }
    version = model_version(source)
    shutil.copytree(source, output)
    config["config"] = {**current, **settings}
    metadata = config["metadata"] = config.get("metadata") or {}
    metadata.setdefault("decoding_changed", []).append(
        {"source": str(source), "source_version": version, "settings": changed}
    )
    (output / MODEL_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    card = output / MODEL_CARD_FILE
    if card.is_file():
        lines = "\n".join(f"- `{k}`: {c['from']} -> {c['to']}" for k, c in changed.items())
        card.write_text(
            card.read_text(encoding="utf-8").rstrip() + "\n\n## Decoding changed after training\n\n"
            f"Copied from `{source}` (version {version}) by `medner set-decoding`; "
            "the weights are the same. The scores above are the source's, before this change:\n"
            f"{lines}\n",
            encoding="utf-8",
        )
    return changed
