"""Word clusters learned from unlabelled text, as hierarchical bit paths (Brown-style).

Words are described by the words seen just before and after them (positive PMI of left and
right neighbours), reduced to a dense vector by an eigen-decomposition of the context Gram
matrix, then split recursively in two by spherical 2-means. Each word's path of left/right
choices is its cluster; prefixes of the path are coarser clusters. The CRF uses path prefixes as
features, which lets it generalise from a drug or disease name in the labelled corpora to
neighbours it has only seen in unlabelled notes.

This is the classic semi-supervised NER recipe (Brown clusters; Turian et al. 2010) computed
with numpy in seconds rather than with the quadratic Brown algorithm.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from medner.models.features import normalise
from medner.text import split_sentences, tokenize

logger = logging.getLogger(__name__)


def _sentences_of_words(texts: Iterable[str]) -> Iterable[list[str]]:
    for text in texts:
        for a, b in split_sentences(text):
            yield [text[s:e].lower() for s, e in tokenize(text, a, b)]


def learn_clusters(
    texts: Iterable[str],
    min_count: int = 3,
    contexts: int = 1500,
    dimensions: int = 100,
    depth: int = 20,
    seed: int = 13,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Learn ``word -> bit path`` clusters from raw texts.

    Args:
        texts: unlabelled notes or sentences.
        min_count: words seen fewer times get no cluster.
        contexts: number of most frequent words used as left/right contexts.
        dimensions: size of the dense word vectors that are clustered.
        depth: maximum length of a bit path.
        seed: random seed of the 2-means initialisation (the result is deterministic).
        progress: called with the number of texts read so far, every 100 texts.
    """
    counts: Counter[str] = Counter()
    sentences: list[list[str]] = []
    for n, words in enumerate(_sentences_of_words(texts), start=1):
        sentences.append(words)
        counts.update(words)
        if progress is not None and n % 1000 == 0:
            progress(n)
    vocab = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    n_ctx = min(contexts, len(vocab))
    logger.info("clusters: %d words (min count %d), %d contexts", len(vocab), min_count, n_ctx)

    # Sentence boundaries are context id n_ctx (a shared "edge" context); rare words are -1.
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for words in sentences:
        ids = np.fromiter((index.get(w, -1) for w in words), dtype=np.int64, count=len(words))
        ctx = np.where((ids >= 0) & (ids < n_ctx), ids, n_ctx + 1)  # n_ctx + 1: rare context
        padded = np.concatenate(([n_ctx], ctx, [n_ctx]))
        left, right = padded[:-2], padded[2:]
        keep = ids >= 0
        rows += [ids[keep], ids[keep]]
        cols += [left[keep], right[keep] + n_ctx + 2]
    width = 2 * (n_ctx + 2)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    flat, freq = np.unique(r * width + c, return_counts=True)
    matrix = np.zeros((len(vocab), width), dtype=np.float64)
    matrix[flat // width, flat % width] = freq

    total = matrix.sum()
    row_sum = matrix.sum(axis=1, keepdims=True)
    col_sum = matrix.sum(axis=0, keepdims=True) ** 0.75  # context smoothing (Levy et al. 2015)
    col_sum = col_sum / col_sum.sum() * total
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(matrix * total / (row_sum @ col_sum))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)

    gram = ppmi.T @ ppmi
    eigvals, eigvecs = np.linalg.eigh(gram)
    order = np.argsort(eigvals)[::-1][:dimensions]
    vectors = ppmi @ eigvecs[:, order]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12

    rng = np.random.default_rng(seed)
    paths = [""] * len(vocab)
    stack: list[tuple[np.ndarray, str]] = [(np.arange(len(vocab)), "")]
    while stack:
        members, path = stack.pop()
        if len(members) < 2 or len(path) >= depth:
            for m in members:
                paths[m] = path or "0"
            continue
        left_idx, right_idx = _bisect(vectors[members], rng)
        stack.append((members[left_idx], path + "0"))
        stack.append((members[right_idx], path + "1"))
    return {w: paths[i] for i, w in enumerate(vocab)}


def _bisect(
    vectors: np.ndarray, rng: np.random.Generator, iterations: int = 15
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into two groups by spherical 2-means; the larger group goes left."""
    n = len(vectors)
    first = rng.integers(n)
    dist = vectors @ vectors[first]
    second = int(np.argmin(dist))
    centroids = vectors[np.array([first, second])].copy()
    assign = np.zeros(n, dtype=bool)
    for _ in range(iterations):
        sims = vectors @ centroids.T
        new = sims[:, 1] > sims[:, 0]
        if new.all() or not new.any():
            new = np.zeros(n, dtype=bool)
            new[np.argsort(sims[:, 1] - sims[:, 0])[n // 2 :]] = True
        if (new == assign).all():
            break
        assign = new
        for k, mask in enumerate((~assign, assign)):
            centroid = vectors[mask].sum(axis=0)
            centroids[k] = centroid / (np.linalg.norm(centroid) + 1e-12)
    a, b = np.flatnonzero(~assign), np.flatnonzero(assign)
    return (a, b) if len(a) >= len(b) else (b, a)


def write_clusters(clusters: dict[str, str], path: Path) -> None:
    """Write ``bits<TAB>word`` lines, sorted by path then word."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for word, bits in sorted(clusters.items(), key=lambda kv: (kv[1], kv[0])):
            fh.write(f"{bits}\t{word}\n")


__all__ = ["learn_clusters", "normalise", "write_clusters"]
