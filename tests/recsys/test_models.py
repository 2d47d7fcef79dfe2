"""One conformance suite for every recommender, plus known answers for each model."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from limelight.core.errors import InvalidInputError
from limelight.recsys import (
    EASE,
    ImplicitALS,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    evaluate,
    load_dataset,
    random_holdout,
)

FACTORIES: dict[str, Callable[[], Recommender]] = {
    "Popularity": Popularity,
    "ItemKNN": lambda: ItemKNN(neighbors=5),
    "EASE": lambda: EASE(l2=1.0),
    "EASE-weighted": lambda: EASE(l2=1.0, dropout=0.2, user_weight=0.5),
    "ImplicitALS": lambda: ImplicitALS(factors=8, iterations=10, regularization=0.1, alpha=1.0),
}
PERSONAL = [name for name in FACTORIES if name != "Popularity"]


def _tiny(seed: int = 0) -> Interactions:
    """Forty users (string ids) over twelve items (int ids), clustered by taste."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(40):
        group = u % 2
        liked = rng.choice(np.arange(group, 12, 2), size=4, replace=False)
        users += [f"u{u}"] * len(liked)
        items += (100 + liked).tolist()
    users += [f"fan{j}" for j in range(15)]
    items += [100] * 15  # item 100 is the most popular
    return Interactions.from_arrays(users, items, name="tiny", license="CC0", usage="any")


def _checkerboard(n: int = 10) -> sp.csr_matrix:
    """User u likes the items of its parity; the diagonal (u, u) is held out."""
    dense = np.array([[(u + i) % 2 == 0 and u != i for i in range(n)] for u in range(n)])
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.fixture(params=list(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[], Recommender]:
    return FACTORIES[request.param]


def test_init_is_keyword_only_and_only_stores_parameters(make: Callable[[], Recommender]) -> None:
    model = make()
    params = inspect.signature(type(model).__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert set(model.get_params()) == {n for n in params if n != "self"}
    assert not [a for a in vars(model) if a.endswith("_")]
    assert type(model).__name__ in repr(model)


def test_fit_returns_self_and_fitted_attributes_end_in_underscore(
    make: Callable[[], Recommender],
) -> None:
    model = make()
    before = set(vars(model))
    assert model.fit(_tiny()) is model
    added = set(vars(model)) - before
    assert added and all(a.endswith("_") for a in added)
    assert (model.license_, model.usage_, model.dataset_) == ("CC0", "any", "tiny")


def test_recommend_takes_external_ids_and_excludes_seen_items(
    make: Callable[[], Recommender],
) -> None:
    data = _tiny()
    model = make().fit(data)
    items, scores = model.recommend("u3", k=5)
    assert items.shape == (5,) and scores.shape == (5,) and items.dtype == np.int64
    assert set(items.tolist()) <= set(data.item_ids.tolist())
    assert np.all(np.diff(scores) <= 0)
    seen = set(data.item_ids[data.item_index[data.user_ids[data.user_index] == "u3"]].tolist())
    assert not seen & set(items.tolist())
    many, many_scores = model.recommend(["u3", "u4", "u3"], k=5)
    assert (
        many.shape == (3, 5) and np.array_equal(many[0], items) and np.array_equal(many[2], items)
    )
    assert np.allclose(many_scores[0], scores, rtol=1e-5, atol=1e-6)
    with_seen, _ = model.recommend("u3", k=12, exclude_seen=False)
    assert sorted(with_seen.tolist()) == sorted(data.item_ids.tolist())


def test_seen_items_only_pad_the_list_with_minus_infinity(make: Callable[[], Recommender]) -> None:
    model = make().fit(_tiny())
    items, scores = model.recommend("u0", k=12)
    n_seen = int(model.user_items_[model.user_ids_.tolist().index("u0")].nnz)
    assert np.all(np.isneginf(scores[-n_seen:])) and np.all(np.isfinite(scores[:-n_seen]))
    assert len(set(items.tolist())) == 12


def test_unknown_users_get_the_popular_items_never_an_exception(
    make: Callable[[], Recommender],
) -> None:
    model = make().fit(_tiny())
    popular, _ = Popularity().fit(_tiny()).recommend("nobody", k=3)
    assert popular[0] == 100
    for unknown in ("nobody", 12345):
        items, _ = model.recommend(unknown, k=3)
        assert np.array_equal(items, popular)
    mixed, _ = model.recommend(["nobody", "u1"], k=3)
    assert np.array_equal(mixed[0], popular)


def test_users_without_training_data_get_the_popular_items(
    make: Callable[[], Recommender],
) -> None:
    X = _tiny().matrix().tolil()
    X[3, :] = 0  # a known user (row) with no interactions left
    model = make().fit(sp.csr_matrix(X))
    items, _ = model.recommend([3, 999], k=3)
    popular, _ = Popularity().fit(sp.csr_matrix(X)).recommend(999, k=3)
    assert np.array_equal(items[0], popular) and np.array_equal(items[1], popular)


def test_fit_on_a_matrix_uses_indices_as_ids(make: Callable[[], Recommender]) -> None:
    data = _tiny()
    by_ids = make().fit(data)
    by_matrix = make().fit(data.matrix())
    user = 5
    a, sa = by_ids.recommend(data.user_ids[user], k=4)
    b, sb = by_matrix.recommend(user, k=4)
    assert np.allclose(sa, sb, rtol=1e-4, atol=1e-6)
    assert np.array_equal(data.item_index_of(a), b) or np.allclose(sa, sb)


def test_recommend_items_scores_a_history_like_a_known_user(
    make: Callable[[], Recommender],
) -> None:
    data = _tiny()
    model = make().fit(data)
    history = data.item_ids[data.item_index[data.user_index == 7]]
    from_history, hs = model.recommend_items(history, k=4)
    assert not set(from_history.tolist()) & set(history.tolist())
    if not isinstance(model, ImplicitALS):  # ALS solves the user's factors afresh
        _, ks = model.recommend(data.user_ids[7], k=4)
        assert np.allclose(hs, ks, rtol=1e-4, atol=1e-5)
    empty, _ = model.recommend_items([], k=3)
    assert empty[0] == 100
    unknown_only, _ = model.recommend_items(["not-an-item"], k=3)
    assert unknown_only[0] == 100


def test_similar_items_never_returns_the_item_itself(make: Callable[[], Recommender]) -> None:
    model = make().fit(_tiny())
    items, _ = model.similar_items(102, k=3)
    assert items.shape == (3,) and 102 not in items.tolist()
    many, _ = model.similar_items([102, 103], k=3)
    assert many.shape == (2, 3) and 103 not in many[1].tolist()
    with pytest.raises(InvalidInputError, match="unknown item"):
        model.similar_items(999, k=3)
    with pytest.raises(InvalidInputError, match="other items"):
        model.similar_items(102, k=12)


def test_bad_k_and_unfitted_models(make: Callable[[], Recommender]) -> None:
    with pytest.raises(InvalidInputError, match="not fitted"):
        make().recommend("u1", k=1)
    model = make().fit(_tiny())
    with pytest.raises(InvalidInputError, match=r"k=13 is larger than the catalogue of 12"):
        model.recommend("u1", k=13)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError, match="positive integer"):
            model.recommend("u1", k=bad)  # type: ignore[arg-type]


def test_fit_refuses_bad_data(make: Callable[[], Recommender]) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        make().fit(sp.csr_matrix((3, 4), dtype=np.float32))
    with pytest.raises(InvalidInputError, match=r"scipy\.sparse"):
        make().fit(np.ones((3, 3)))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-negative"):
        make().fit(sp.csr_matrix(-np.ones((2, 2))))
    with pytest.raises(InvalidInputError, match="no interactions"):
        data = _tiny()
        make().fit(data.subset(np.zeros(len(data), dtype=bool)))


def test_state_round_trips_through_memory_mapped_files_without_copies(
    make: Callable[[], Recommender], tmp_path: Path
) -> None:
    model = make().fit(_tiny())
    state = model.get_state()
    assert all(isinstance(v, np.ndarray | int | float | str) for v in state.values())
    mapped: dict[str, object] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.save(tmp_path / f"{key}.npy", value, allow_pickle=False)
            mapped[key] = np.load(tmp_path / f"{key}.npy", mmap_mode="r", allow_pickle=False)
        else:
            mapped[key] = value
    again = Recommender.from_state(mapped)  # type: ignore[arg-type]
    assert type(again) is type(model) and again.get_params() == model.get_params()
    assert (again.license_, again.usage_) == ("CC0", "any")
    a, sa = model.recommend(["u1", "u2", "zz"], k=4)
    b, sb = again.recommend(["u1", "u2", "zz"], k=4)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)
    # the rebuilt model uses the memory-mapped arrays themselves
    new_state = again.get_state()
    for key, value in mapped.items():
        if isinstance(value, np.ndarray) and value.size:
            assert np.shares_memory(new_state[key], value), key
    with pytest.raises(InvalidInputError, match="not a"):
        EASE.from_state({**state, "class": "Popularity"})
    with pytest.raises(InvalidInputError, match="newer Limelight"):
        Recommender.from_state({**state, "state_version": 99})


def test_checkerboard_puts_the_held_out_diagonal_first() -> None:
    X = _checkerboard()
    for model in (
        ItemKNN(neighbors=4),
        EASE(l2=0.5),
        ImplicitALS(factors=4, alpha=5.0, regularization=0.01),
    ):
        items, _ = model.fit(X).recommend(np.arange(10), k=1)
        assert items[:, 0].tolist() == list(range(10)), type(model).__name__


def test_a_catalogue_of_one_item(make: Callable[[], Recommender]) -> None:
    model = make().fit(sp.csr_matrix(np.ones((3, 1), dtype=np.float32)))
    items, scores = model.recommend(0, k=1)
    assert items.tolist() == [0] and np.isneginf(scores[0])
    assert model.recommend_items([], k=1)[0].tolist() == [0]


def test_popularity_ranks_by_count() -> None:
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], dtype=np.float32))
    items, scores = Popularity().fit(X).recommend(2, k=2)
    assert items.tolist() == [2, 3] and scores.tolist() == [1.0, 0.0]


def test_ease_matches_the_closed_form_in_float64() -> None:
    X = _tiny().matrix().toarray().astype(np.float64)
    l2 = 3.0
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    model = EASE(l2=l2).fit(sp.csr_matrix(X))
    assert np.allclose(model.B_, B, atol=1e-4)
    # user weighting is the same closed form on D^-beta-weighted rows
    w = X.sum(axis=1) ** -0.5
    Pw = np.linalg.inv(X.T @ (w[:, None] * X) + l2 * np.eye(X.shape[1]))
    Bw = -Pw / np.diag(Pw)
    np.fill_diagonal(Bw, 0.0)
    assert np.allclose(EASE(l2=l2, user_weight=0.5).fit(sp.csr_matrix(X)).B_, Bw, atol=1e-4)


def _reference_als(C: np.ndarray, f: int, reg: float, alpha: float, seed: int) -> np.ndarray:
    """One exact ALS sweep, user by user then item by item (independent of the library)."""
    rng = np.random.default_rng(seed)
    U = rng.random((C.shape[0], f), dtype=np.float32).astype(np.float64) * 0.01
    V = rng.random((C.shape[1], f), dtype=np.float32).astype(np.float64) * 0.01
    for X, Y, R in ((U, V, C), (V, U, C.T)):
        for u in range(R.shape[0]):
            conf = 1 + alpha * R[u]
            pref = (R[u] > 0).astype(float)
            A = Y.T @ (conf[:, None] * Y) + reg * np.eye(f)
            X[u] = np.linalg.solve(A, Y.T @ (conf * pref))
    return U @ V.T


@pytest.mark.parametrize("weighted", [False, True])
def test_als_conjugate_gradient_reaches_the_exact_least_squares_solution(weighted: bool) -> None:
    rng = np.random.default_rng(1)
    C = (rng.random((30, 20)) < 0.3) * (rng.integers(1, 4, (30, 20)) if weighted else 1.0)
    model = ImplicitALS(
        factors=5, iterations=1, cg_steps=20, regularization=0.5, alpha=3.0, random_state=4
    ).fit(sp.csr_matrix(C.astype(np.float32)))
    ours = model.user_factors_ @ model.item_factors_.T
    assert np.allclose(ours, _reference_als(C, 5, 0.5, 3.0, 4), atol=1e-4)


def test_bad_parameters_are_refused_at_fit() -> None:
    X = _checkerboard()
    for model, message in (
        (EASE(l2=0.0), "l2"),
        (EASE(dropout=1.0), "dropout"),
        (EASE(user_weight=2.0), "user_weight"),
        (EASE(threads=-1), "threads"),
        (ItemKNN(neighbors=0), "neighbors"),
        (ItemKNN(shrink=-1.0), "shrink"),
        (ImplicitALS(factors=0), "factors"),
        (ImplicitALS(alpha=-1.0), "alpha"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            model.fit(X)


@pytest.mark.slow
def test_quality_on_movielens_100k(movielens_100k_dir: Path) -> None:
    """Protocol A: every rating a positive, seeded 80/20 holdout per user, full ranking."""
    data = load_dataset("movielens-100k", movielens_100k_dir)
    train, test = random_holdout(data, 0.2, seed=0)
    ndcg = {
        type(m).__name__: evaluate(m.fit(train), test, k=10)["ndcg@10"]
        for m in (Popularity(), ItemKNN(), EASE(l2=500.0), ImplicitALS())
    }
    assert ndcg["EASE"] >= 0.44
    assert min(ndcg["ItemKNN"], ndcg["ImplicitALS"]) > ndcg["Popularity"] + 0.1
