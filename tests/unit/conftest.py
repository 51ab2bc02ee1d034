"""Fixtures the unit tests share."""

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.unit.trial_runs import log_trial


@pytest.fixture
def one_sweep_store(tmp_path):
    """An embedded store with sweep 'tiny': one finished DSP trial whose compact policy is an
    MLflow Model, as `best` needs it. (The URI, a client on it.)"""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("tiny", artifact_location=(tmp_path / "art").as_uri())
    torch.manual_seed(0)
    log_trial(client, exp, {"method": "dsp", "lambda": 1e-4, "sparsity_target": 0.5, "seed": 0}, 480.0, graph=True)  # fmt: skip
    return uri, client
