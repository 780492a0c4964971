"""The transformer backend on ONNX Runtime: export, int8 quantisation, and CPU inference.

``medner export-onnx MODEL_DIR`` writes, beside each member's torch weights, ``model.onnx``
(encoder + tag head + softmax, float32, dynamic batch and length) and with ``--int8`` also
``model.int8.onnx`` (dynamic int8 quantisation of the weights of the linear layers). Loading a
transformer model then picks a runtime (:data:`RUNTIMES`) from ``MEDNER_TRANSFORMER_RUNTIME``:
``auto`` (the default) takes the fastest one exported into the directory on a machine without a
GPU, and torch where CUDA is present.

Needs ``medner[neural]`` (onnxruntime; export also onnx, onnxscript and torch), imported lazily.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Literal

from medner.errors import ConfigError, ModelLoadError
from medner.models.base import MODEL_CONFIG_FILE, read_model_config

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


def _tagger_module(encoder: Any, head: Any) -> Any:
    import torch

    class Tagger(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            return torch.softmax(self.head(hidden.last_hidden_state).float(), dim=-1)

    return Tagger().eval()


def _drop_preprocessing_hint(record: logging.LogRecord) -> bool:
    """The quantiser suggests ONNX Runtime's pre-processing, whose shape inference fails on
    this graph; the hint is noise here."""
    return not record.getMessage().startswith("Please consider to run pre-processing")


def _export(
    torch: Any, encoder: Any, head: Any, sample: Any, target: Path, batch: Any, length: Any
) -> None:
    torch.onnx.export(
        _tagger_module(encoder.float(), head.float()),
        (sample["input_ids"], sample["attention_mask"]),
        str(target),
        input_names=["input_ids", "attention_mask"],
        output_names=["probabilities"],
        dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}),
        opset_version=OPSET,
        external_data=False,
        dynamo=True,
        verbose=False,
    )


def export_onnx(path: Path, int8: bool = False) -> dict[str, Any]:
    """Export every member of the transformer model in ``path`` to ONNX (and int8); record the
    files in its ``config.json``; return what was written with sizes and seconds."""
    import torch

    from medner.models.transformer import TransformerModel, load

    config = read_model_config(path)
    if config.get("backend") != "transformer":
        raise ModelLoadError(f"{path}: only transformer models export to ONNX")
    model = load(path, device="cpu", runtime="torch")
    assert isinstance(model, TransformerModel)
    started = time.perf_counter()
    written: list[dict[str, Any]] = []
    sample = model.tokenizer(
        [["Patient", "with", "asthma", "."], ["Aspirin"]],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
    for member_dir, (encoder, head) in zip(model.member_dirs(path), model.members, strict=True):
        target = member_dir / FILES["onnx"]
        with warnings.catch_warnings():  # torch.export's own notices, not ours to act on
            warnings.simplefilter("ignore")
            _export(torch, encoder, head, sample, target, batch, length)
        written.append({"file": str(target.relative_to(path)), "bytes": target.stat().st_size})
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantized = member_dir / FILES["onnx-int8"]
            # Per-channel weights, 7-bit range: plain int8 lost accuracy in a trial (u8 x s8
            # saturation on CPUs without VNNI, as the ONNX Runtime docs warn); this keeps F1
            # within a point of float32 (docs/benchmarks.md, "Backends side by side").
            root = logging.getLogger()
            root.addFilter(_drop_preprocessing_hint)
            try:
                quantize_dynamic(
                    target,
                    quantized,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    reduce_range=True,
                )
            finally:
                root.removeFilter(_drop_preprocessing_hint)
            written.append(
                {"file": str(quantized.relative_to(path)), "bytes": quantized.stat().st_size}
            )
        elif (member_dir / FILES["onnx-int8"]).exists():
            (member_dir / FILES["onnx-int8"]).unlink()  # stale: from older weights
    config["onnx"] = {
        "files": [w["file"] for w in written],
        "int8": int8,
        "opset": OPSET,
        "torch": torch.__version__,
    }
    (path / MODEL_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    summary = {"written": written, "seconds": round(time.perf_counter() - started, 1)}
    logger.info("exported %d ONNX file(s) in %.1f s", len(written), summary["seconds"])
    return summary
