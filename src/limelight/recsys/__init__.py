"""Title recommendations: datasets, splits, full-ranking metrics and recommenders (numpy/scipy).

```python
from limelight.recsys import EASE, evaluate, load_dataset, random_holdout

data = load_dataset("movielens-100k", path="ml-100k/")
train, test = random_holdout(data, 0.2, seed=0)
model = EASE(l2=500.0).fit(train)
print(evaluate(model, test, k=[10, 20])["ndcg@10"])
items, scores = model.recommend(196, k=10)  # external ids in, external ids out
```

Ids: a model fitted on :class:`Interactions` keeps its id maps, so ``recommend`` takes the
external user ids of the data (ints or strings; ``"196"`` finds ``196``) and returns external
item ids; fitted on a scipy.sparse matrix, ids are row and column indices. Users the model
does not know, or who had no training interactions, get the most popular items: serving never
sees an exception for a user. ``get_state()`` / ``Recommender.from_state(state)`` save and
rebuild any model as a flat dict of numpy arrays and scalars, with no pickle; arrays are used as
given, so memory-mapped arrays are not copied.
"""

from limelight.recsys._als import ImplicitALS
from limelight.recsys._base import Recommender, State, top_k
from limelight.recsys._datasets import (
    DATASETS,
    ChecksumError,
    DatasetSpec,
    default_cache_dir,
    download_dataset,
    load_dataset,
    load_interactions,
    read_movielens,
)
from limelight.recsys._ease import EASE
from limelight.recsys._interactions import Interactions
from limelight.recsys._itemknn import ItemKNN
from limelight.recsys._metrics import evaluate, ranking_metrics
from limelight.recsys._popularity import Popularity
from limelight.recsys._splits import (
    filter_interactions,
    leave_last_n_out,
    random_holdout,
    temporal_split,
)

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetSpec",
    "default_cache_dir",
    "download_dataset",
    "load_dataset",
    "load_interactions",
    "read_movielens",
    "EASE",
    "ImplicitALS",
    "Interactions",
    "ItemKNN",
    "Popularity",
    "Recommender",
    "State",
    "evaluate",
    "filter_interactions",
    "leave_last_n_out",
    "random_holdout",
    "ranking_metrics",
    "temporal_split",
    "top_k",
]
