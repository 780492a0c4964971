"""Domain-adaptive pretraining: BERT masking, blocks cut from the text stream, a pretrained
encoder that the transformer backend fine-tunes from, and a clear error for too little text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from medner.cli.main import app
from medner.data import write_jsonl
from medner.errors import ConfigError
from medner.training.pretrain import PretrainConfig, mask_blocks, pretrain_encoder, text_blocks
from medner.training.train import _encoder_line
from tests.conftest import TINY_SENTENCES, make_document


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from medner.models.transformer import BUILTIN_ENCODER, encoder_path

    return AutoTokenizer.from_pretrained(encoder_path(BUILTIN_ENCODER))


def test_blocks_are_framed_and_keep_the_text_in_order(tokenizer) -> None:  # type: ignore[no-untyped-def]
    texts = ["Patient has asthma.", "Started on lisinopril for hypertension."] * 20
    blocks = text_blocks(texts, tokenizer, 16)
    assert blocks and all(len(b) == 16 for b in blocks)
    assert all(b[0] == tokenizer.cls_token_id and b[-1] == tokenizer.sep_token_id for b in blocks)
    stream = [i for text in texts for i in [*tokenizer.encode(text, add_special_tokens=False), 102]]
    assert [i for b in blocks for i in b[1:-1]] == stream[: 14 * len(blocks)]


def test_masking_follows_bert(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = torch.randint(1000, 20000, (64, 128))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    inputs, targets = mask_blocks(ids, tokenizer, 0.15, torch.Generator().manual_seed(0))
    chosen = targets != -100
    assert 0.12 < chosen.float().mean().item() < 0.18
    assert not chosen[:, 0].any() and not chosen[:, -1].any()
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    masked = (inputs[chosen] == tokenizer.mask_token_id).float().mean().item()
    assert 0.75 < masked < 0.85


def test_pretrained_encoder_learns_and_fine_tunes(tmp_path: Path) -> None:
    texts = [f"Note {i}: {t}" for i in range(12) for t, _ in TINY_SENTENCES]
    config = PretrainConfig(
        steps=3, head_steps=3, batch_size=4, block=32, held_out=0.2, device="cpu"
    )
    summary = pretrain_encoder(texts, tmp_path / "enc", config, [{"path": "tiny"}])
    assert summary["held_out_loss_after"] < summary["held_out_loss_before"]
    assert json.loads((tmp_path / "enc/pretrain.json").read_text())["sources"] == [{"path": "tiny"}]

    # pretraining further from the written encoder starts where the first run ended: its output
    # layer is kept (the same held-out blocks and masks score the same before any step)
    further = config.model_copy(update={"encoder": str(tmp_path / "enc"), "head_steps": 0})
    more = pretrain_encoder(texts, tmp_path / "enc2", further)
    assert more["held_out_loss_before"] == pytest.approx(summary["held_out_loss_after"], abs=1e-3)
    assert more["held_out_loss_after"] < more["held_out_loss_before"]

    corpus = tmp_path / "tiny.jsonl"
    write_jsonl([make_document(i, t, s) for i, (t, s) in enumerate(TINY_SENTENCES)], corpus)
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backend",
            "transformer",
            "--train",
            str(corpus),
            "--output",
            str(tmp_path / "model"),
            "--set",
            f"transformer.encoder={tmp_path / 'enc2'}",
            "--set",
            "transformer.epochs=1",
            "--set",
            "transformer.device=cpu",
            "--no-track",
        ],
    )
    assert result.exit_code == 0, result.output
    card = (tmp_path / "model/MODEL_CARD.md").read_text()
    assert f"- Encoder: `{tmp_path / 'enc2'}`, MiniLM-L6 further pretrained" in card
    assert f"starting from `{tmp_path / 'enc'}`;" in card
    assert "starting from" not in _encoder_line({"encoder": str(tmp_path / "enc")})


def test_too_little_text_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32 blocks"):
        pretrain_encoder(["Asthma."], tmp_path / "enc", PretrainConfig(device="cpu"))
    assert not (tmp_path / "enc").exists()


def test_cli_names_an_encoder_that_is_not_one(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"id": "n1", "transcription": "Asthma."}\n', encoding="utf-8")
    corpus = tmp_path / "tiny.jsonl"
    write_jsonl([make_document(0, *TINY_SENTENCES[0])], corpus)
    args = ["pretrain-encoder", "--output", str(tmp_path / "enc"), "--notes", str(notes)]
    args += ["--corpus", str(corpus), "--encoder", str(tmp_path), "--learning-rate", "1e-4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "not a Hugging Face model directory" in result.output
    assert not (tmp_path / "enc").exists()


def test_cli_refuses_an_existing_output(tmp_path: Path) -> None:
    (tmp_path / "enc").mkdir()
    result = CliRunner().invoke(app, ["pretrain-encoder", "--output", str(tmp_path / "enc")])
    assert result.exit_code == 2
    assert "exists" in result.output
