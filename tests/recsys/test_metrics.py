"""Ranking metrics: known answers, and agreement with a plain-Python reference written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys import Interactions, Popularity, evaluate, ranking_metrics


def _reference(recs: list[list[int]], relevant: list[set[int]], k: int) -> dict[str, float]:
    """Textbook definitions, one user at a time (written independently of the library)."""
    sums = dict.fromkeys(["ndcg", "recall", "capped_recall", "precision", "map", "mrr", "hit"], 0.0)
    users = 0
    for ranked, rel in zip(recs, relevant, strict=True):
        if not rel:
            continue
        users += 1
        top = ranked[:k]
        dcg = sum(1 / math.log2(pos + 2) for pos, item in enumerate(top) if item in rel)
        idcg = sum(1 / math.log2(pos + 2) for pos in range(min(k, len(rel))))
        hits = sum(item in rel for item in top)
        ap, seen = 0.0, 0
        for pos, item in enumerate(top):
            if item in rel:
                seen += 1
                ap += seen / (pos + 1)
        first = next((pos + 1 for pos, item in enumerate(top) if item in rel), None)
        sums["ndcg"] += dcg / idcg
        sums["recall"] += hits / len(rel)
        sums["capped_recall"] += hits / min(k, len(rel))
        sums["precision"] += hits / k
        sums["map"] += ap / min(k, len(rel))
        sums["mrr"] += 1 / first if first else 0.0
        sums["hit"] += float(hits > 0)
    return {name: value / users for name, value in sums.items()}


def test_known_answers_on_one_user() -> None:
    recommended = np.array([[3, 1, 4, 0, 2]])
    relevant = sp.csr_matrix(np.array([[0, 1, 1, 0, 0, 0]]))  # items 1 and 2
    m = ranking_metrics(recommended, relevant, k=[2, 5], item_popularity=np.arange(6))
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["recall@2"] == 0.5 and m["capped_recall@2"] == 0.5 and m["precision@2"] == 0.5
    assert m["mrr@2"] == 0.5 and m["hit_rate@2"] == 1.0
    assert m["map@2"] == pytest.approx((1 / 2) / 2)
    assert m["recall@5"] == 1.0 and m["map@5"] == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert m["coverage@2"] == pytest.approx(2 / 6) and m["popularity@2"] == 2.0
    assert m["users"] == 1


def test_vectorised_metrics_match_the_reference_loop() -> None:
    rng = np.random.default_rng(7)
    n_users, n_items, depth = 300, 60, 20
    recommended = np.array([rng.choice(n_items, depth, replace=False) for _ in range(n_users)])
    dense = rng.random((n_users, n_items)) < rng.uniform(0.0, 0.2, (n_users, 1))
    relevant = [set(np.flatnonzero(row).tolist()) for row in dense]
    for k in (1, 5, 20):
        ours = ranking_metrics(recommended, sp.csr_matrix(dense), k=k)
        ref = _reference(recommended.tolist(), relevant, k)
        assert ours["users"] == sum(bool(r) for r in relevant)
        for name in ("ndcg", "recall", "capped_recall", "precision", "map", "mrr"):
            assert ours[f"{name}@{k}"] == pytest.approx(ref[name], rel=1e-12), name
        assert ours[f"hit_rate@{k}"] == pytest.approx(ref["hit"])


def test_evaluate_ranks_the_full_catalogue_without_training_items() -> None:
    # item 0 is the most popular but user 0 trained on it: it must not be recommended to them
    train = Interactions.from_arrays([0, 1, 2, 0], [0, 0, 0, 1])
    model = Popularity().fit(train)
    test = train.subset(np.zeros(len(train), dtype=bool))
    with pytest.raises(InvalidInputError, match="no interactions"):
        evaluate(model, test, k=1)
    held = sp.csr_matrix(np.array([[0, 0], [0, 1], [0, 0]], dtype=np.float32))
    m = evaluate(model, held, k=1)
    # user 1 trained on item 0, the most popular: excluded, so item 1 (held out) comes first
    assert m["users"] == 1 and m["hit_rate@1"] == 1.0
    assert evaluate(model, held, k=1, exclude_seen=False)["hit_rate@1"] == 0.0


def test_bad_metric_inputs() -> None:
    recs = np.array([[0, 1]])
    with pytest.raises(InvalidInputError, match="between 1 and the list length"):
        ranking_metrics(recs, sp.csr_matrix(np.ones((1, 3))), k=3)
    with pytest.raises(InvalidInputError, match="rows"):
        ranking_metrics(recs, sp.csr_matrix(np.ones((2, 3))), k=1)
    with pytest.raises(InvalidInputError, match="no user has a held-out item"):
        ranking_metrics(recs, sp.csr_matrix((1, 3)), k=1)
    model = Popularity().fit(sp.csr_matrix(np.ones((2, 2))))
    with pytest.raises(InvalidInputError, match="larger than the catalogue"):
        evaluate(model, sp.csr_matrix(np.ones((2, 2))), k=3)
    with pytest.raises(InvalidInputError, match="shape"):
        evaluate(model, sp.csr_matrix(np.ones((3, 2))), k=1)
    other = Interactions.from_arrays([5], [6])
    with pytest.raises(InvalidInputError, match="id maps"):
        evaluate(model, other, k=1)
