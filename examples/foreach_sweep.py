"""A hyper-parameter sweep: one task per value of ``alphas``, in parallel, then pick the best.

Ridge regression on a small synthetic problem (numpy only), scored on a held-out split.

    limelight run examples/foreach_sweep.py --alphas '[0.01, 0.1, 1, 10, 100]' --max-workers 2
    python -c "from limelight.flows import Flow; print(Flow('RidgeSweep').latest_run.data.best)"
"""

import numpy as np

from limelight.flows import Flow, Param, current, step


class RidgeSweep(Flow):
    alphas = Param(default=[0.01, 0.1, 1.0, 10.0, 100.0], help="ridge penalties to try")
    rows = Param(default=400, help="training rows")
    seed = Param(default=7)

    @step
    def start(self):
        rng = np.random.default_rng(self.seed)
        true_w = rng.normal(size=20)
        x = rng.normal(size=(self.rows + 200, 20))
        y = x @ true_w + rng.normal(scale=2.0, size=len(x))
        self.x_train, self.y_train = x[: self.rows], y[: self.rows]
        self.x_test, self.y_test = x[self.rows :], y[self.rows :]
        self.next(self.fit, foreach="alphas")

    @step
    def fit(self):
        alpha = float(self.input)
        x, y = self.x_train, self.y_train
        self.weights = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y)
        self.alpha = alpha
        self.rmse = float(np.sqrt(np.mean((self.x_test @ self.weights - self.y_test) ** 2)))
        current.log_metric("rmse", self.rmse)
        print(f"alpha={alpha:g} rmse={self.rmse:.4f}")
        self.next(self.choose)

    @step
    def choose(self, inputs):
        best = min(inputs, key=lambda task: task.rmse)
        self.best = {"alpha": best.alpha, "rmse": best.rmse}
        self.weights = best.weights
        self.scores = {task.alpha: task.rmse for task in inputs}
        self.next(self.end)

    @step
    def end(self):
        print(f"best alpha {self.best['alpha']:g} with rmse {self.best['rmse']:.4f}")


if __name__ == "__main__":
    print(RidgeSweep.run(alphas=[0.1, 10.0]).data.best)
