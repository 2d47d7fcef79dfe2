"""The MLflow client and server that the MLflow-protocol tests and benchmark drive (own venv)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peers import peer_python

__all__ = ["MLFLOW_PROTOCOL", "mlflow_python"]

MLFLOW_PROTOCOL = ["mlflow>=3.17,<3.18", "numpy", "pandas", "scikit-learn"]
"""MLflow 3.17 (client and ``mlflow server``) with scikit-learn for ``mlflow.sklearn.autolog``."""


def mlflow_python() -> Path:
    """The peer venv's Python, installed on first use."""
    return peer_python("mlflow-protocol", MLFLOW_PROTOCOL)
