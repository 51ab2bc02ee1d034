"""The sweep in MLflow's runs page: short run names that tell seeds apart, run descriptions, only
the params that apply, curves apart from final values, and rayprune's saved view with its deep
link (a real SQLite store; the page itself is opened in Chromium by the integration tests)."""

import json

import pytest

from rayprune.store.metrics import canonical_metrics
from rayprune.store.point import TrialPoint
from rayprune.store.tracking import client_for, create_experiment, log_summary
from rayprune.store.views import (
    TRIALS_ONLY,
    VIEW_ID,
    ensure_view,
    runs_link,
    sweep_links,
    ui_base,
    view_tag,
)
from rayprune.sweep.config import parse_config
from rayprune.sweep.trainable import trial_params

VIEW_TAG = "mlflow.sharedViewState.rayprune-trials"


@pytest.mark.parametrize(
    "point, name, slug",
    [
        (TrialPoint("dsp", 1e-3, 0.93, 1), "dsp l1e-3 s0.93 #1", "dsp-lam0.001-sp0.93-seed1"),
        (TrialPoint("dsp", 1e-5, 0.93, 0), "dsp l1e-5 s0.93 #0", "dsp-lam1e-05-sp0.93-seed0"),
        (TrialPoint("ssl", 7.0537e-5, 0.8, 12), "ssl l7.05e-5 s0.8 #12", "ssl-lam7.0537e-05-sp0.8-seed12"),
        (TrialPoint("ppo", 0.0, 0.0, 2), "ppo #2", "ppo-seed2"),
        (TrialPoint("dropout", 0.0, 0.9, 0), "dropout s0.9 #0", "dropout-sp0.9-seed0"),
    ],
)  # fmt: skip
def test_run_names_are_short_and_tell_seeds_apart(point, name, slug):
    assert (point.run_name, point.slug) == (name, slug)


def test_every_seed_of_a_grid_has_its_own_short_name():
    points = [TrialPoint("dsp", lam, 0.93, s) for lam in (1e-5, 1e-4, 1e-3) for s in range(5)]
    names = [p.run_name for p in points]
    assert len(set(names)) == len(points) and max(map(len, names)) <= 20


def test_a_trial_run_says_what_it_is_and_where_its_parts_are():
    text = TrialPoint("dsp", 1e-3, 0.93, 1).description("qs", "CartPole-v1", "compact_policy")
    assert text.startswith("Trial of sweep 'qs' on CartPole-v1: method dsp, lambda 0.001, ")
    assert "sparsity target 0.93, seed 1" in text and "train/*, their step the env steps" in text
    assert "compact_policy/" in text and "MLflow Model" in text
    dense = TrialPoint("ppo", 0.0, 0.0, 0).description("qs", "CartPole-v1", "compact_policy")
    assert "method ppo, seed 0" in dense and "lambda" not in dense.split(".")[0]


BASE = {"name": "t", "env": "CartPole-v1", "budget_env_steps": 200_000}


def test_only_the_params_that_apply_are_logged():
    point = TrialPoint("dsp", 1e-4, 0.9, 0)
    grid = trial_params(parse_config(BASE), point)
    assert {k for k in grid if k.startswith(("search.", "scheduler."))} == {
        "search.kind",
        "scheduler.kind",
    }
    tuned = parse_config(
        {
            **BASE,
            "search": {"kind": "optuna", "num_samples": 8},
            "scheduler": {"kind": "asha", "grace_period": 20_000},
        }
    )
    params = trial_params(tuned, point)
    assert params["search.population_size"] == 50 and params["scheduler.grace_period"] == 20_000
    assert params["lambda"] == 1e-4 and grid["ppo.lr"] == params["ppo.lr"]


def test_a_runs_metrics_read_with_the_codes_names():
    """Curves lose their train/ prefix; final values are read as logged."""
    new = {"train/neurons": 18.0, "weights_removed": 0.992, "compression_ratio": 127.0}
    assert canonical_metrics(new) == {
        "neurons": 18.0,
        "weights_removed": 0.992,
        "compression_ratio": 127.0,
    }


def test_the_saved_view_is_an_mlflow_ui_view_of_trials_in_bests_order():
    key, value = view_tag(now_ms=1234)
    assert key == VIEW_TAG
    envelope = json.loads(value)
    assert (envelope["name"], envelope["createdAt"], envelope["updatedAt"]) == (
        "rayprune: trials, best first (rayprune best's rule)",
        1234,
        1234,
    )
    state = json.loads(envelope["state"])  # a string inside, as the UI saves its own views
    assert state["searchFilter"] == "tags.`rayprune.trial_key` LIKE '%'"
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`rank`", True)
    assert state["selectedColumns"] == [
        "params.`method`", "params.`lambda`", "params.`sparsity_target`", "params.`seed`",
        "metrics.`rank`", "metrics.`eval_return_mean`", "metrics.`weights_compact`",
        "metrics.`neurons_compact`",
    ]  # fmt: skip
    # curves are logged against env steps: the chart's x axis is their step
    assert state["globalLineChartConfig"]["xAxisKey"] == "step"


def test_the_deep_link_opens_the_view_in_the_model_training_view():
    assert runs_link("http://127.0.0.1:5000", "7") == (
        "http://127.0.0.1:5000/#/experiments/7/runs"
        "?workflowType=machine_learning&viewStateShareKey=rayprune-trials"
    )
    assert ui_base("sqlite:////x/mlflow.db") == "http://127.0.0.1:5000"
    assert ui_base("http://mlflow:5000/") == "http://mlflow:5000"


def test_the_view_is_saved_once_and_leaves_summary_runs_out(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    new = create_experiment(uri, "new", (tmp_path / "a").as_uri())
    other = create_experiment(uri, "other", (tmp_path / "a").as_uri())
    client.create_experiment("not_a_sweep")
    trial = client.create_run(new, run_name="dsp l1e-3 s0.5 #0", tags={"rayprune.trial_key": "k"})
    client.log_metric(trial.info.run_id, "train/episode_return_mean", 20.0, step=500)
    log_summary(uri, "new", "report", [{"a": 1}], "not a trial")

    links = dict(sweep_links(uri, []))
    assert set(links) == {"new", "other"}
    assert links["new"].endswith(
        f"/#/experiments/{new}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_ID}"
    )

    def x_axis(experiment):
        envelope = json.loads(client.get_experiment(experiment).tags[VIEW_TAG])
        return json.loads(envelope["state"])["globalLineChartConfig"]["xAxisKey"]

    assert (x_axis(new), x_axis(other)) == ("step", "step")
    saved = client.get_experiment(new).tags[VIEW_TAG]
    ensure_view(client, new)
    assert client.get_experiment(new).tags[VIEW_TAG] == saved  # current: not rewritten
    shown = client.search_runs([new], filter_string=TRIALS_ONLY)
    assert [r.info.run_name for r in shown] == ["dsp l1e-3 s0.5 #0"]  # not the report run
    everything = client.search_runs([new])
    (summary,) = [r for r in everything if r.info.run_name == "report"]
    assert summary.data.tags["mlflow.note.content"] == "not a trial"
