"""``medner export-onnx``: a transformer model's members exported to ONNX, and int8 copies.

Writes, beside each member's torch weights, ``model.onnx`` (encoder + tag head + softmax,
float32, dynamic batch and length) and with ``int8`` also ``model.int8.onnx`` (dynamic int8
quantisation of the weights of the linear layers), and records them in the model's
``config.json``; :mod:`medner.models.onnxrt` runs them. Needs ``medner[neural]`` (torch, onnx,
onnxscript, onnxruntime), imported lazily.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

from medner.errors import ModelLoadError
from medner.models.base import MODEL_CONFIG_FILE, read_model_config
from medner.models.onnxrt import FILES, OPSET
from medner.models.transformer import TransformerModel, load

logger = logging.getLogger(__name__)


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
