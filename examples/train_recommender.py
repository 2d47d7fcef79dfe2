"""Train title recommenders on MovieLens, pick the best offline, register it with its lineage.

Load, split (seeded 80/20 per user), fit several models in parallel (foreach), evaluate them
over the full catalogue, choose the best by NDCG@10 and register it as ``movielens-recs`` with
its metrics. The dataset is recorded with its usage rights (MovieLens: research-only), so the
registry's usage gate will keep this model out of ``champion``.

    limelight run examples/train_recommender.py --data ../shared/datasets/movielens/ml-100k
    limelight models show movielens-recs
"""

from limelight.flows import Flow, Param, current, step
from limelight.recsys import (
    EASE,
    ImplicitALS,
    ItemKNN,
    Popularity,
    evaluate,
    load_dataset,
    random_holdout,
)

MODELS = {"popularity": Popularity, "ease": EASE, "itemknn": ItemKNN, "ials": ImplicitALS}


class TrainRecommender(Flow):
    dataset = Param(
        default="movielens-100k", help="a dataset name known to limelight datasets list"
    )
    data = Param(default="", help="its folder (default: $LIMELIGHT_DATA or the download cache)")
    configs = Param(
        default=[
            {"model": "popularity"},
            {"model": "itemknn", "neighbors": 100},
            {"model": "ease", "l2": 500.0},
            {"model": "ials", "factors": 64, "iterations": 15},
        ],
        help="the models to try: {'model': name, **keyword arguments}",
    )
    test_fraction = Param(default=0.2)
    seed = Param(default=0)

    @step
    def start(self):
        for config in self.configs:
            if not isinstance(config, dict) or config.get("model") not in MODELS:
                raise ValueError(f"each config needs 'model' in {sorted(MODELS)}, got {config!r}")
        data = load_dataset(self.dataset, self.data or None)
        current.use_dataset(
            data.name, path=self.data or None, license=data.license, usage=data.usage
        )
        self.train, self.test = random_holdout(data, self.test_fraction, seed=self.seed)
        self.next(self.fit, foreach="configs")

    @step
    def fit(self):
        config = dict(self.input)
        name = config.pop("model")
        self.model = MODELS[name](**config).fit(self.train)
        self.label = f"{name} {config}" if config else name
        self.metrics = {
            k: float(v)
            for k, v in evaluate(self.model, self.test, k=[10, 20]).items()
            if isinstance(v, int | float)
        }
        for metric, value in self.metrics.items():
            current.log_metric(metric, value)
        print(f"{self.label}: ndcg@10={self.metrics['ndcg@10']:.4f}")
        self.next(self.choose)

    @step
    def choose(self, inputs):
        self.leaderboard = sorted(
            ((i.label, i.metrics["ndcg@10"]) for i in inputs), key=lambda pair: -pair[1]
        )
        best = max(inputs, key=lambda i: i.metrics["ndcg@10"])
        self.best = best.label
        self.version = current.register_model(
            "movielens-recs", best.model, metrics=best.metrics
        ).version
        self.next(self.end)

    @step
    def end(self):
        for label, ndcg in self.leaderboard:
            print(f"{ndcg:.4f}  {label}")
        print(f"registered movielens-recs/{self.version}: {self.best}")
