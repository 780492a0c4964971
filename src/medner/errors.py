"""The exceptions medner raises. Each message says what was wrong, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class MednerError(Exception):
    """Base class of every error medner raises on purpose."""


class DataFormatError(MednerError):
    """A corpus or notes file is malformed; the message names the file and the line."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class UnknownLabelError(MednerError):
    """A corpus label that does not map onto medner's canonical labels."""


class ModelLoadError(MednerError):
    """A model directory is missing, incomplete or was written by an incompatible version."""


class ConfigError(MednerError):
    """A configuration value is invalid."""
