"""Domain-adaptive pretraining (DAPT) of the transformer's encoder.

The encoder is trained further as a masked language model on unlabelled clinical and biomedical
text (the MTSamples notes, the corpora's training text) before it is fine-tuned for NER
(Gururangan et al. 2020, "Don't stop pretraining"). The result is an encoder directory that
``transformer.encoder`` can name.

Texts are tokenized, joined with ``[SEP]`` and cut into blocks of ``block`` word pieces; 15% of
the pieces are chosen for prediction (80% masked, 10% a random piece, 10% kept). The output
layer is applied to the chosen positions only, which saves most of the vocabulary projection.
A small share of blocks is held out and its masked-LM loss is reported before and after.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medner.errors import ConfigError
from medner.models.transformer import (
    BUILTIN_ENCODER,
    _device,
    encoder_path,
    linear_schedule,
)

logger = logging.getLogger(__name__)

SUMMARY_FILE = "pretrain.json"


class PretrainConfig(BaseModel):
    """Settings of masked-language-model pretraining."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(BUILTIN_ENCODER, description="Encoder to start from (as in training).")
    steps: int = Field(300, ge=1, description="Optimiser steps of the whole model.")
    head_steps: int = Field(
        100,
        ge=0,
        description="Steps first spent on the output layer alone, encoder frozen: the builtin "
        "encoder ships without one, and a random layer's gradients would blur the encoder.",
    )
    head_learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1, description="Blocks per step.")
    block: int = Field(128, ge=16, le=512, description="Word pieces per block.")
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.06, ge=0, lt=1, description="Share of steps with a rising LR.")
    mask_probability: float = Field(0.15, gt=0, lt=1)
    held_out: float = Field(0.02, ge=0, lt=0.5, description="Share of blocks scored, not trained.")
    seed: int = 13
    device: str = "auto"


def text_blocks(texts: Sequence[str], tokenizer: Any, block: int) -> list[list[int]]:
    """``[CLS] pieces [SEP]`` blocks of exactly ``block`` ids cut from the texts joined by
    ``[SEP]``; the remainder shorter than a block is dropped."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        stream.append(tokenizer.sep_token_id)
    body = block - 2
    return [
        [tokenizer.cls_token_id, *stream[i : i + body], tokenizer.sep_token_id]
        for i in range(0, len(stream) - body + 1, body)
    ]


def mask_blocks(ids: Any, tokenizer: Any, probability: float, generator: Any) -> tuple[Any, Any]:
    """BERT's masking of a ``(batch, block)`` id tensor: the inputs and the targets (-100 where
    nothing is predicted)."""
    import torch

    special = torch.zeros_like(ids, dtype=torch.bool)
    for token in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id):
        special |= ids == token
    chosen = (torch.rand(ids.shape, generator=generator) < probability) & ~special
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    inputs = ids.clone()
    draw = torch.rand(ids.shape, generator=generator)
    inputs[chosen & (draw < 0.8)] = tokenizer.mask_token_id
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[swap] = torch.randint(len(tokenizer), ids.shape, generator=generator)[swap]
    return inputs, targets


def _masked_loss(model: Any, inputs: Any, targets: Any, frozen: bool = False) -> Any:
    import torch

    with torch.set_grad_enabled(not frozen and torch.is_grad_enabled()):
        hidden = model.bert(input_ids=inputs).last_hidden_state
    chosen = targets != -100
    logits = model.cls(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits, targets[chosen])


def _held_out_loss(
    model: Any, blocks: list[list[int]], tokenizer: Any, config: PretrainConfig, where: Any
) -> float | None:
    import torch

    if not blocks:
        return None
    generator = torch.Generator().manual_seed(config.seed + 1)  # the same masks every time
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(blocks), config.batch_size):
            ids = torch.tensor(blocks[i : i + config.batch_size])
            inputs, targets = mask_blocks(ids, tokenizer, config.mask_probability, generator)
            loss = _masked_loss(model, inputs.to(where), targets.to(where))
            total += loss.item() * len(ids)
            n += len(ids)
    model.train()
    return total / n


def pretrain_encoder(
    texts: Sequence[str],
    output: Path,
    config: PretrainConfig | None = None,
    sources: Sequence[dict[str, Any]] = (),
    on_step: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the encoder as a masked language model on ``texts`` and save it (with its
    tokenizer and a ``pretrain.json`` summary) to ``output``; returns the summary.

    Raises:
        ConfigError: the texts do not fill one block per step's batch.
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    config = config or PretrainConfig()
    started = time.perf_counter()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    where = _device(config.device)
    source = encoder_path(config.encoder)
    tokenizer = AutoTokenizer.from_pretrained(source)
    unique = list(dict.fromkeys(t for t in texts if t and t.strip()))
    blocks = text_blocks(unique, tokenizer, config.block)
    random.shuffle(blocks)
    n_held = int(len(blocks) * config.held_out)
    held, train = blocks[:n_held], blocks[n_held:]
    if len(train) < config.batch_size:
        raise ConfigError(
            f"pretraining needs at least {config.batch_size} blocks of {config.block} word "
            f"pieces; the {len(unique)} distinct texts give {len(train)}"
        )
    logger.info(
        "pretraining on %d distinct texts: %d blocks of %d word pieces (%d held out), "
        "%d steps (%.2f epochs), device %s",
        len(unique),
        len(train),
        config.block,
        len(held),
        config.head_steps + config.steps,
        (config.head_steps + config.steps) * config.batch_size / len(train),
        where,
    )
    model = AutoModelForMaskedLM.from_pretrained(source).float().to(where)
    before = _held_out_loss(model, held, tokenizer, config, where)
    embeddings = model.get_input_embeddings().weight
    head = [p for p in model.cls.parameters() if p is not embeddings]  # decoder is tied
    phases = [
        (head, config.head_steps, config.head_learning_rate, True),
        (list(model.parameters()), config.steps, config.learning_rate, False),
    ]
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    order: list[int] = []
    losses: list[float] = []
    done = 0
    head_loss = before
    for params, steps, rate, frozen in phases:
        optimizer = torch.optim.AdamW(params, lr=rate, weight_decay=config.weight_decay)
        warm = max(1, int(steps * config.warmup))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(steps, warm))
        for _ in range(steps):
            if len(order) < config.batch_size:
                fresh = list(range(len(train)))
                random.shuffle(fresh)
                order += fresh
            picked, order = order[: config.batch_size], order[config.batch_size :]
            ids = torch.tensor([train[i] for i in picked])
            inputs, targets = mask_blocks(ids, tokenizer, config.mask_probability, generator)
            loss = _masked_loss(model, inputs.to(where), targets.to(where), frozen)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            done += 1
            if on_step is not None:
                on_step(done, losses[-1])
        if frozen and steps:
            head_loss = _held_out_loss(model, held, tokenizer, config, where)
    after = _held_out_loss(model, held, tokenizer, config, where)
    model.eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    summary: dict[str, Any] = {
        "config": config.model_dump(),
        "sources": list(sources),
        "distinct_texts": len(unique),
        "train_blocks": len(train),
        "held_out_blocks": len(held),
        "epochs": round(done * config.batch_size / len(train), 3),
        "held_out_loss_before": _round(before),
        "held_out_loss_after_head": _round(head_loss),
        "held_out_loss_after": _round(after),
        "train_loss_first_10": _round(sum(losses[:10]) / len(losses[:10])),
        "train_loss_last_10": _round(sum(losses[-10:]) / len(losses[-10:])),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "held-out masked-LM loss %s, %s after the output layer alone, %s at the end (%.0f s)",
        summary["held_out_loss_before"],
        summary["held_out_loss_after_head"],
        summary["held_out_loss_after"],
        summary["seconds"],
    )
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)
