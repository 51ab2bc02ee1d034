"""The report: aggregation math by hand, the page's tables and images, and a whole report from a
small MLflow store written here (no Ray, no training)."""

import base64
import json
import math
import re
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from rayprune.errors import ExperimentNotFound, NoEligibleRun
from rayprune.names import SUMMARY_TAG, TRIAL_KEY_TAG
from rayprune.report import REPORT_FILE, figures, write_report
from rayprune.report.aggregate import (
    best_lambda,
    best_trial,
    cells,
    front,
    lambda_picks,
    mean_std,
    seed_band,
)
from rayprune.report.data import Sweep, Trial
from rayprune.report.html import comparison_table, figure, folded, plus_minus, sensitivity_table
from rayprune.report.paper import PAPER_93, paper_return
from rayprune.report.render import store_label
from rayprune.store.best import choose_best
from rayprune.store.frontier_record import FrontierRow, log_frontier
from rayprune.store.point import TrialPoint
from tests.unit.trial_runs import log_trial

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def trial(method, lam, sparsity, seed, ret, weights=100.0, reached=1.0, **metrics):
    return Trial(
        run_id=f"{method}-{lam}-{sparsity}-{seed}",
        name=f"{method}-lam{lam:g}-sp{sparsity:g}-seed{seed}",
        point=TrialPoint(method, lam, sparsity, seed),
        metrics={
            "eval_return_mean": ret,
            "weights_compact": weights,
            "target_reached": reached,
            **metrics,
        },
    )


# Dense PPO (3 seeds) and DSP on a 2 lambda x 2 sparsity grid, one cell with a single seed.
TRIALS = [
    trial("dsp", 1e-3, 0.5, 0, 300.0, weights=40.0),
    trial("ppo", 0.0, 0.0, 1, 400.0, weights=1000.0),
    trial("dsp", 1e-4, 0.5, 0, 100.0, weights=50.0),
    trial("dsp", 1e-4, 0.5, 1, 200.0, weights=60.0),
    trial("ppo", 0.0, 0.0, 0, 500.0, weights=1000.0),
    trial("dsp", 1e-3, 0.5, 1, 300.0, weights=40.0),
    trial("dsp", 1e-4, 0.9, 0, 50.0, weights=10.0),
    trial("ppo", 0.0, 0.0, 2, 450.0, weights=1000.0),
]


def test_mean_std_is_population_std_of_the_finite_values():
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(1.25)))
    assert mean_std([7.0]) == (7.0, 0.0)
    assert mean_std([2.0, math.nan, 4.0]) == (3.0, 1.0)  # a missing seed does not count
    assert all(math.isnan(v) for v in mean_std([math.nan]))


def test_cells_pool_seeds_per_grid_point_and_dense_ppo_is_one_cell():
    grid = cells(TRIALS)
    assert [c.key for c in grid] == [
        ("ppo", 0.0, 0.0),
        ("dsp", 1e-4, 0.5),
        ("dsp", 1e-3, 0.5),
        ("dsp", 1e-4, 0.9),
    ]  # the paper's method order, then sparsity, then lambda
    ppo, dsp_low, dsp_best, dsp_high = grid
    assert ppo.dense and ppo.seeds == 3 and [t.seed for t in ppo.trials] == [0, 1, 2]
    # 500, 400, 450: mean 450, std sqrt((50^2 + 50^2 + 0) / 3)
    assert ppo.stat("eval_return_mean") == pytest.approx((450.0, math.sqrt(5000 / 3)))
    assert dsp_low.stat("eval_return_mean") == (150.0, 50.0)
    assert dsp_low.mean("weights_compact") == 55.0
    assert dsp_high.stat("eval_return_mean") == (50.0, 0.0) and dsp_high.seeds == 1
    assert dsp_best.stat("eval_return_mean") == (300.0, 0.0)
    assert math.isnan(dsp_low.mean("flops_compact"))  # never logged
    summary = dsp_low.summary()
    assert summary["seeds"] == 2 and summary["target_reached"] == 2
    assert (summary["eval_return_mean"], summary["eval_return_std"]) == (150.0, 50.0)


def test_best_lambda_per_method_and_sparsity_ties_to_fewer_weights():
    chosen = best_lambda(cells(TRIALS))
    assert [c.key for c in chosen] == [("ppo", 0.0, 0.0), ("dsp", 1e-3, 0.5), ("dsp", 1e-4, 0.9)]
    tie = [
        trial("ssl", 1e-4, 0.8, 0, 500.0, weights=90.0),
        trial("ssl", 1e-3, 0.8, 0, 500.0, weights=80.0),
    ]
    assert [c.lam for c in best_lambda(cells(tie))] == [1e-3]


def test_best_trial_prefers_reached_target_then_return_then_fewer_weights():
    short = trial("dsp", 1e-4, 0.9, 0, 500.0, reached=0.0)
    small = trial("dsp", 1e-4, 0.9, 1, 480.0, weights=10.0)
    large = trial("dsp", 1e-4, 0.9, 2, 480.0, weights=20.0)
    assert best_trial([short, large, small]) is small
    assert best_trial([]) is None


def test_seed_band_averages_each_iteration_over_the_seeds_that_logged_it():
    """Curves keyed by env steps: the seeds sample 10 steps apart, so they align by iteration."""
    # seed 0: no episode ended in iteration 1, nor in 3 (its last return holds); seed 1 ran on
    returns = [
        {100: math.nan, 200: 10.0, 300: math.nan},
        {110: 20.0, 210: 30.0, 310: 40.0, 410: 50.0},
    ]
    band = seed_band(returns)
    assert band.x == [110.0, 205.0, 305.0, 410.0]
    assert band.mean == [20.0, 20.0, 25.0, 50.0]
    assert band.std == [0.0, 10.0, 15.0, 0.0]


def test_front_is_the_sweeps_pareto_front():
    trials = [
        trial("dsp", 1e-4, 0.9, 0, 500.0, weights=135.0),
        trial("dsp", 1e-4, 0.5, 0, 500.0, weights=1000.0),  # dominated: same return, larger
        trial("dsp", 1e-4, 0.95, 0, 400.0, weights=30.0),
    ]
    assert [r.trial for r in front(trials)] == [trials[2].name, trials[0].name]


def test_paper_numbers_only_at_93_percent_or_dense():
    assert paper_return("dsp", "CartPole-v1", 0.93, dense=False) == PAPER_93[("dsp", "CartPole-v1")]
    assert paper_return("dsp", "CartPole-v1", 0.8, dense=False) is None
    assert paper_return("ppo", "CartPole-v1", 0.0, dense=True) == "449.22"
    assert paper_return("dsp", "Acrobot-v1", 0.93, dense=False) is None


def rows_of(page: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def test_tables_have_one_row_per_cell_and_per_chosen_cell():
    sweep = Sweep("s1", "CartPole-v1", "grid", tuple(TRIALS))
    grid = cells(TRIALS)
    sensitivity = rows_of(sensitivity_table(sweep, grid), "sensitivity-s1")
    assert len(sensitivity) == 4
    assert "50.0 (n=1)" in sensitivity[3] and "±" not in sensitivity[3]  # one seed: no std
    rows = rows_of(comparison_table([(sweep, p) for p in lambda_picks(grid)]), "comparison")
    assert len(rows) == 3
    assert "PPO (dense)" in rows[0] and "450.0 ± 40.8" in rows[0] and "449.22" in rows[0]
    assert ">1e-3<" in rows[1] and ">1e-4<" in rows[2]  # best lambda at 0.5, the only at 0.9
    assert all("+-" not in row for row in rows)


def test_paper_numbers_and_pages_use_one_plus_minus_sign():
    assert not [v for v in PAPER_93.values() if "+-" in v]
    assert plus_minus(450.0, 40.8, 3) == "450.0 ± 40.8"
    assert plus_minus(500.0, 0.0, 1) == "500.0 (n=1)"


def test_figure_is_inlined_as_a_data_uri(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(PNG_MAGIC + b"rest")
    (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', figure(png, "a <caption>"))
    assert base64.b64decode(data) == png.read_bytes()
    assert "a &lt;caption&gt;" in figure(png, "a <caption>")


# --- a whole report from an MLflow store written here -------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Experiment 'tiny' (grid: ppo and dsp at two lambdas, two seeds) and 'nsga' (optuna), plus
    a RUNNING trial and a FAILED one that the report must ignore."""
    root = tmp_path_factory.mktemp("store")
    torch.manual_seed(0)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    tiny = client.create_experiment("tiny", artifact_location=(root / "art").as_uri())
    for seed in (0, 1):
        log_trial(
            client,
            tiny,
            {"method": "ppo", "lambda": 0.0, "sparsity_target": 0.0, "seed": seed},
            500.0 - seed,
        )
        for lam, ret in ((1e-4, 450.0), (1e-3, 480.0)):
            log_trial(
                client,
                tiny,
                {"method": "dsp", "lambda": lam, "sparsity_target": 0.5, "seed": seed},
                ret + seed,
            )
    failed = log_trial(
        client, tiny, {"method": "dsp", "lambda": 1e-2, "sparsity_target": 0.5, "seed": 0}, 1.0
    )
    client.set_terminated(failed, "FAILED")
    nsga = client.create_experiment("nsga", artifact_location=(root / "art").as_uri())
    for i, (sp, ret) in enumerate(((0.5, 500.0), (0.75, 490.0), (0.25, 480.0))):
        log_trial(
            client,
            nsga,
            {"method": "dsp", "lambda": 1e-4, "sparsity_target": sp, "seed": i},
            ret,
            "optuna",
        )
    # 'tiny' run on in a second slice with the same settings, and one with a longer budget
    more = client.create_experiment("tiny_more", artifact_location=(root / "art").as_uri())
    longer = client.create_experiment("tiny_long", artifact_location=(root / "art").as_uri())
    dsp = {"method": "dsp", "lambda": 1e-4}
    for seed in (0, 1):
        log_trial(client, more, {**dsp, "sparsity_target": 0.75, "seed": seed}, 470.0)
    log_trial(client, more, {**dsp, "lambda": 1e-3, "sparsity_target": 0.5, "seed": 0}, 10.0)
    log_trial(client, longer, {**dsp, "sparsity_target": 0.75, "seed": 0}, 490.0, budget=4000)
    client.create_experiment("empty", artifact_location=(root / "art").as_uri())
    return uri, client, root  # fmt: skip


def summary_runs(client, name):
    exp = client.get_experiment_by_name(name)
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`{SUMMARY_TAG}` = 'report'")


def test_report_of_two_sweeps_is_self_contained_and_logged_to_each(store, tmp_path):
    uri, client, _ = store
    out = tmp_path / "reports" / "tiny"
    page_path = write_report(uri, ["tiny", "nsga"], out)
    assert page_path == out.resolve() / REPORT_FILE
    page = page_path.read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(
        [f"tiny-{k}.png" for k in ("sensitivity", "curves", "neurons", "weights")]
        + [f"nsga-{k}.png" for k in ("sensitivity", "curves", "neurons", "weights", "pareto")]
    )
    inlined = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*data-file="([^"]+)"', page)
    assert sorted(name for _, name in inlined) == pngs
    for data, name in inlined:
        assert base64.b64decode(data) == (out / name).read_bytes()
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    assert 'src="http' not in page and "<link" not in page and "<script" not in page
    assert len(rows_of(page, "sensitivity-tiny")) == 3  # ppo; dsp x 2 lambdas (FAILED ignored)
    assert len(rows_of(page, "sensitivity-nsga")) == 3
    assert len(rows_of(page, "comparison")) == 2 + 3  # tiny: ppo, dsp@0.5; nsga: 3 sparsities
    # sparsity 0.25 (480, 72 weights) is dominated by 0.5 (500, 40 weights)
    assert len(rows_of(page, "pareto-nsga")) == 2 and "pareto-tiny" not in page
    assert not list(out.parent.glob(".*"))  # no temporary folder left behind

    for name in ("tiny", "nsga"):
        (run,) = summary_runs(client, name)
        assert TRIAL_KEY_TAG not in run.data.tags and run.info.status == "FINISHED"
        logged = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
        assert logged == {f"report/{p}" for p in [*pngs, REPORT_FILE]}
        rows = json.loads(
            Path(
                client.download_artifacts(run.info.run_id, "report.json", str(tmp_path))
            ).read_text()
        )
        assert len(rows) == 3
    assert choose_best(uri, "tiny").run_name.startswith("ppo")  # the summary run is no trial


def test_slices_of_one_grid_share_a_section_and_keep_their_own_summaries(store, tmp_path):
    uri, client, _ = store
    out = tmp_path / "parts"
    page = write_report(uri, ["tiny", "tiny_more", "tiny_long"], out).read_text()
    grid = rows_of(page, "sensitivity-tiny_tiny_more")
    # ppo; dsp 1e-4 and 1e-3 at 0.5 (tiny); dsp 1e-4 at 0.75 (tiny_more)
    assert len(grid) == 4 and 'sensitivity-tiny"' not in page
    # tiny_more's seed 0 of (dsp, 1e-3, 0.5) repeats tiny's: tiny's two seeds count, once each
    (repeated,) = [r for r in grid if ">1e-3<" in r]
    assert "480.5 ± 0.5" in repeated
    assert len(rows_of(page, "sensitivity-tiny_long")) == 1  # another budget: its own section
    assert len(rows_of(page, "comparison")) == 3 + 1
    assert sorted(p.name for p in out.glob("*-curves.png")) == [
        "tiny_long-curves.png",
        "tiny_tiny_more-curves.png",
    ]
    (run,) = summary_runs(client, "tiny_more")
    rows = json.loads(
        Path(client.download_artifacts(run.info.run_id, "report.json", str(tmp_path))).read_text()
    )
    assert sorted((r["lambda"], r["sparsity_target"], r["seeds"]) for r in rows) == [
        (1e-4, 0.75, 2),
        (1e-3, 0.5, 1),
    ]


def test_report_again_replaces_the_previous_one_and_its_artifacts(store, tmp_path):
    uri, client, _ = store
    out = tmp_path / "r"
    write_report(uri, ["tiny", "nsga"], out)
    (first,) = summary_runs(client, "tiny")
    write_report(uri, ["tiny"], out)  # fewer figures than before
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [REPORT_FILE, *(f"tiny-{k}.png" for k in ("sensitivity", "curves", "neurons", "weights"))]
    )
    (again,) = summary_runs(client, "tiny")
    assert again.info.run_id == first.info.run_id
    logged = {a.path for a in client.list_artifacts(again.info.run_id, "report")}
    assert logged == {f"report/{p.name}" for p in out.iterdir()}  # nsga's PNGs are gone


def test_report_refuses_a_folder_that_is_not_a_report_and_leaves_nothing(store, tmp_path):
    uri, _, _ = store
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a rayprune report"):
        write_report(uri, ["tiny"], out)
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_report_errors_name_the_sweep(store, tmp_path):
    uri, _, _ = store
    with pytest.raises(ExperimentNotFound, match="no MLflow experiment named 'nope'"):
        write_report(uri, ["nope"], tmp_path / "r")
    with pytest.raises(NoEligibleRun, match="sweep 'empty' has no finished trial"):
        write_report(uri, ["tiny", "empty"], tmp_path / "r")
    assert not list(tmp_path.iterdir())


def test_equal_returns_get_one_colour_and_a_one_value_grid_no_scale():
    """One scale for all panels: a return of 300 is one colour wherever it is; a grid whose
    cells all returned the same has no scale to draw (no band of colours around one value)."""
    grid = cells(TRIALS)
    norm = figures.shared_norm([c for c in grid if not c.dense])
    assert (norm.vmin, norm.vmax) == (50.0, 300.0)  # the pruned cells' means, dense left out
    ssl = [trial("ssl", 1e-4, 0.5, 0, 300.0)]
    (ssl_cell,) = cells(ssl)
    dsp_cell = next(c for c in grid if c.key == ("dsp", 1e-3, 0.5))
    assert figures.cell_color(ssl_cell, norm) == figures.cell_color(dsp_cell, norm)
    same = cells([trial("dsp", lam, 0.93, 0, 500.0) for lam in (1e-5, 1e-4, 1e-3)])
    assert figures.shared_norm(same) is None
    assert {figures.cell_color(c, None) for c in same} == {figures.EQUAL_CELLS}


def test_figure_titles_wrap_to_the_figure_width():
    title = "hopper1m_with_a_long_name (Hopper-v5): eval return over lambda x sparsity"
    lines = figures.wrapped(title + "\ndense PPO 3499.2 (n=1)", 7.0).split("\n")
    assert len(lines) == 3 and all(len(line) <= 7 * figures.TITLE_CHARS_PER_INCH for line in lines)
    assert lines[-1] == "dense PPO 3499.2 (n=1)"


def test_long_tables_start_folded():
    assert folded("Every grid cell", 12, "<table></table>").startswith("<details open>")
    assert folded("Every grid cell", 13, "<table></table>").startswith("<details>")
    assert "(13 rows)" in folded("Every grid cell", 13, "")


def anchors_and_links(page: str) -> tuple[set[str], list[str]]:
    return set(re.findall(r'\sid="([^"]+)"', page)), re.findall(r'href="#([^"]*)"', page)


def test_page_opens_with_contents_and_a_summary_and_every_link_resolves(store, tmp_path):
    uri, _, root = store
    page = write_report(uri, ["tiny", "nsga"], tmp_path / "nav").read_text()
    ids, links = anchors_and_links(page)
    assert links and set(links) <= ids
    for anchor in ("summary", "sweep-tiny", "tiny-sensitivity", "tiny-curves", "tiny-neurons",
                   "tiny-weights", "sweep-nsga", "nsga-pareto"):  # fmt: skip
        assert anchor in links
    assert page.index('id="contents"') < page.index('id="summary"') < page.index('id="sweep-tiny"')
    summary = rows_of(page, "summary-table")
    # tiny: dense PPO and DSP at 0.5 (its only target); nsga: DSP at 0.75, its highest
    assert len(summary) == 3 and "PPO (dense)" in summary[0] and ">0.75<" in summary[2]
    assert str(root) not in page and "mlflow.db (embedded store)" in page  # no machine's path
    assert "+-" not in page and "500.0 (n=1)" in page  # nsga: one seed per cell
    assert "<details" in page


def test_a_store_nearby_is_named_relative_to_the_page(tmp_path):
    db = tmp_path / "rayprune_results" / "mlflow.db"
    report = tmp_path / "rayprune_results" / "reports" / "x"
    assert store_label(f"sqlite:///{db}", report) == "../../mlflow.db (embedded store)"
    assert store_label(f"sqlite:///{db}", tmp_path / "elsewhere" / "a" / "b" / "c") == (
        "mlflow.db (embedded store)"
    )
    assert store_label("http://host:5000", report) == "http://host:5000"


def test_the_comparison_row_says_the_weights_removed_and_the_ratio(store, tmp_path):
    """tiny_long's run keeps 16 of 112 weights: 85.7% removed, 7x."""
    uri, _, _ = store
    out = tmp_path / "long"
    page = write_report(uri, ["tiny_long"], out).read_text()
    (row,) = rows_of(page, "comparison")
    assert "85.7%" in row and ">7x<" in row
    assert (out / "tiny_long-neurons.png").is_file()  # its per-layer curves were found


def test_a_frontier_search_gets_its_figure_and_best_picks_its_smallest_answer(tmp_path):
    """Probes of dsp at 0.5 (8 neurons, keeps) and 0.75 (4, does not) and of ssl at 0.75
    (keeps): the report draws and lists them, and `best --frontier` takes ssl's answer, whose
    [2, 2] policy has 16 weights against dsp's [4, 4] 40."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("front", artifact_location=(tmp_path / "art").as_uri())
    probes = [("ppo", 0.0, 0.0, 500.0), ("dsp", 1e-4, 0.5, 495.0), ("dsp", 1e-4, 0.75, 100.0)]
    for method, lam, target, ret in [*probes, ("ssl", 1e-4, 0.75, 490.0)]:
        for seed in (0, 1):
            point = {"method": method, "lambda": lam, "sparsity_target": target, "seed": seed}
            rid = log_trial(client, exp, point, ret, "frontier")
            client.log_param(rid, "search.keep", "0.95")

    def row(method, target, kept, ret, retained, frontier):
        return FrontierRow(method, target, 1e-4, kept, "neurons", ret, retained, 0.0, 2,
                           retained >= 0.95, frontier)  # fmt: skip

    rows = [
        row("ppo", 0.0, 16, 500.0, 1.0, False),
        row("random", 0.0, 0, 20.0, 0.0, False),
        row("dsp", 0.5, 8, 495.0, 0.99, True),
        row("dsp", 0.75, 4, 100.0, 0.17, False),
        row("ssl", 0.75, 4, 490.0, 0.98, True),
    ]
    log_frontier(rows, uri, "front", "test")
    page = write_report(uri, ["front"], tmp_path / "report").read_text()
    assert "Frontier: retained return against units kept" in page
    assert len(rows_of(page, "frontier-front")) == 5
    assert (tmp_path / "report" / "front-frontier.png").stat().st_size > 0

    choice = choose_best(uri, "front", frontier=True)
    assert (choice.point.method, choice.point.sparsity_target) == ("ssl", 0.75)
    assert choice.weights == 16 and choice.frontier.retained_mean == 0.98
    plain = client.create_experiment("plain", artifact_location=(tmp_path / "art").as_uri())
    log_trial(client, plain, {"method": "ppo", "lambda": 0.0, "sparsity_target": 0.0, "seed": 0}, 9)
    with pytest.raises(NoEligibleRun, match="'plain' has no frontier answer"):
        choose_best(uri, "plain", frontier=True)
