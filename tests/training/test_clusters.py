from __future__ import annotations

from medner.training.clusters import learn_clusters
from medner.training.train import resolve_clusters


def test_words_in_same_contexts_share_cluster_prefixes() -> None:
    texts = []
    for drug in ("metformin", "insulin", "aspirin", "warfarin"):
        texts += [f"the patient takes {drug} daily ." for _ in range(5)]
    for disease in ("asthma", "diabetes", "gout", "angina"):
        texts += [f"history of {disease} since childhood ." for _ in range(5)]
    clusters = learn_clusters(texts, min_count=2, contexts=50, dimensions=8, depth=6)
    drugs = {clusters[w] for w in ("metformin", "insulin", "aspirin", "warfarin")}
    diseases = {clusters[w] for w in ("asthma", "diabetes", "gout", "angina")}

    def common_prefix(paths: set[str]) -> int:
        a, b = min(paths), max(paths)
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    # each group agrees on a longer prefix than the two groups share with each other
    across = common_prefix(drugs | diseases)
    assert common_prefix(drugs) > across and common_prefix(diseases) > across
    assert learn_clusters(texts, min_count=2, contexts=50, dimensions=8, depth=6) == clusters


def test_builtin_clusters_ship_with_the_package() -> None:
    clusters = resolve_clusters("builtin")
    assert len(clusters) > 10_000
    assert clusters["metformin"][:8] == clusters["lisinopril"][:8]
