"""What a sweep's end counts (runner._finish) when Tune returns fewer trials than the sweep
planned: a grid stopped before its last points started is unfinished, not done (exit 2 and
`rayprune resume`), whatever the trials Tune did start say. A real SQLite store; no Ray."""

from types import SimpleNamespace

from rayprune.store.point import TrialPoint
from rayprune.store.tracking import create_experiment
from rayprune.sweep.config import parse_config
from rayprune.sweep.runner import _finish
from rayprune.sweep.search import trials_planned
from rayprune.sweep.workspace import Workspace
from tests.integration.sweeps import TINY

GRID = {"method": ["dsp"], "lambda": [1e-4], "sparsity_target": [0.5], "seed": [0, 1, 2]}


def finished(point: TrialPoint) -> SimpleNamespace:
    """A trial result as Tune returns it once the trainable logged its final values."""
    metrics = {"eval_return_mean": 500.0, "weights_compact": 112.0, "neurons_compact": 16.0}
    return SimpleNamespace(config={"point": point.to_params()}, metrics=metrics, error=None)


def test_trials_planned_by_hand():
    assert trials_planned(parse_config({**TINY, "grid": GRID})) == 3
    assert trials_planned(parse_config(TINY)) == 2  # dsp and ppo, one seed each
    optuna = {**TINY, "search": {"kind": "optuna", "num_samples": 7}}
    assert trials_planned(parse_config(optuna)) == 7


def test_a_grid_whose_last_points_never_started_is_unfinished(tmp_path, capsys):
    cfg = parse_config({**TINY, "name": "cut", "grid": GRID})
    ws = Workspace.create(tmp_path / "results")
    create_experiment(ws.tracking_uri, cfg.name, ws.artifact_location)
    outcome = _finish([finished(TrialPoint("dsp", 1e-4, 0.5, 0))], cfg, ws)
    assert (outcome.finished, outcome.unfinished, outcome.failed) == (1, 2, 0)
    assert "2 more trial(s) never started" in capsys.readouterr().out
    whole = _finish([finished(TrialPoint("dsp", 1e-4, 0.5, s)) for s in (0, 1, 2)], cfg, ws)
    assert (whole.finished, whole.unfinished) == (3, 0)
