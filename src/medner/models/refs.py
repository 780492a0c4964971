"""How a model is named: a model directory, or a registry reference (``models:/NAME@ALIAS``,
``models:/NAME/VERSION``) that ``medner.tracking.registry`` resolves to one."""

from __future__ import annotations

from pathlib import Path

REGISTRY_SCHEME = "models:/"


def is_registry_ref(ref: str | Path) -> bool:
    """Whether ``ref`` names a registry version rather than a directory."""
    return isinstance(ref, str) and ref.startswith(REGISTRY_SCHEME)
