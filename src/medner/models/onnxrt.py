"""The transformer backend on ONNX Runtime: choosing the runtime, and CPU inference.

``medner export-onnx MODEL_DIR`` writes, beside each member's torch weights, ``model.onnx``
(encoder + tag head + softmax, float32, dynamic batch and length) and with ``--int8`` also
``model.int8.onnx`` (dynamic int8 quantisation of the weights of the linear layers; see
:mod:`medner.models.onnx_export`). Loading a
transformer model then picks a runtime (:data:`RUNTIMES`) from ``MEDNER_TRANSFORMER_RUNTIME``:
``auto`` (the default) takes the fastest one exported into the directory on a machine without a
GPU, and torch where CUDA is present.

Needs ``medner[neural]`` (onnxruntime), imported lazily.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from medner.errors import ConfigError, ModelLoadError

logger = logging.getLogger(__name__)

Runtime = Literal["torch", "onnx", "onnx-int8"]
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnx", "onnx-int8")
RUNTIME_ENV = "MEDNER_TRANSFORMER_RUNTIME"
THREADS_ENV = "MEDNER_INFERENCE_THREADS"  # threads per model copy (0 or unset: the library's)
FILES: dict[str, str] = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
OPSET = 18


def inference_threads() -> int:
    """Threads one model copy may use (0: leave it to torch / ONNX Runtime)."""
    raw = os.environ.get(THREADS_ENV, "0").strip() or "0"
    try:
        threads = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{THREADS_ENV}={raw!r}: not a whole number") from exc
    if threads < 0:
        raise ConfigError(f"{THREADS_ENV}={raw!r}: must be 0 or more")
    return threads


def exported_runtimes(member_dirs: list[Path]) -> list[str]:
    """The ONNX runtimes whose files every member has, fastest first."""
    return [
        name
        for name in ("onnx-int8", "onnx")
        if all((d / FILES[name]).is_file() for d in member_dirs)
    ]


def choose_runtime(requested: str | None, member_dirs: list[Path], cuda: bool) -> Runtime:
    """The runtime to load: ``requested`` (or the environment's), ``auto`` resolved."""
    name = (requested or os.environ.get(RUNTIME_ENV, "auto")).strip() or "auto"
    if name not in RUNTIMES:
        raise ConfigError(f"{RUNTIME_ENV}={name!r}: choose one of {', '.join(RUNTIMES)}")
    available = exported_runtimes(member_dirs)
    if name == "auto":
        if cuda or not available:
            return "torch"
        name = available[0]
    if name != "torch" and name not in available:
        where = member_dirs[0]  # member 0 lives at the top of the model directory
        flag = " --int8" if name == "onnx-int8" else ""
        raise ModelLoadError(
            f"{where}: runtime {name} asked for, but the model has no {FILES[name]}; "
            f"run `medner export-onnx {where}{flag}` first"
        )
    return name  # type: ignore[return-value]


class OnnxScorer:
    """Per-word-piece tag probabilities from ONNX Runtime sessions (one per ensemble member),
    averaged over the members."""

    def __init__(self, files: list[Path]) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - the neural extra installs it
            raise ModelLoadError(
                "the onnx runtime needs onnxruntime: pip install 'medner[neural]'"
            ) from exc
        options = ort.SessionOptions()
        threads = inference_threads()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.files = files
        self.sessions = [
            ort.InferenceSession(str(f), options, providers=["CPUExecutionProvider"]) for f in files
        ]

    def subset(self, count: int) -> OnnxScorer:
        """The first ``count`` members' sessions (shared, not reloaded)."""
        clone = object.__new__(OnnxScorer)
        clone.files, clone.sessions = self.files[:count], self.sessions[:count]
        return clone

    def __call__(self, input_ids: Any, attention_mask: Any) -> Any:
        import numpy as np

        feeds = {
            "input_ids": input_ids.astype(np.int64),
            "attention_mask": attention_mask.astype(np.int64),
        }
        out = [session.run(["probabilities"], feeds)[0] for session in self.sessions]
        return out[0] if len(out) == 1 else np.mean(out, axis=0)
