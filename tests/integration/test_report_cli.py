"""`rayprune report` after a real tiny sweep, and the page checked in a real browser: headless
Chromium from Debian's packages (`chromium`, `chromium-driver`; scripts/setup.sh installs them),
driven through chromedriver with selenium.

chromedriver runs in its own process group, with the browser it starts; the test quits the
browser and then ends that group, so it stops exactly what it started."""

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rayprune.store.best import choose_best
from tests.cli import one_line_error, rayprune
from tests.integration.processes import RaypruneUi
from tests.integration.sweeps import TINY, write_config

pytestmark = pytest.mark.integration

NAME = "rep"
GRID = {"method": ["ppo", "dsp"], "lambda": [1e-4, 1e-3], "sparsity_target": [0.5], "seed": [0, 1]}
FIGURES = {f"{NAME}-{kind}.png" for kind in ("sensitivity", "curves", "neurons", "weights")}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """6 trials (dense PPO x 2 seeds, DSP x 2 lambdas x 2 seeds), then `rayprune report`."""
    folder = tmp_path_factory.mktemp("report")
    sweep = rayprune("sweep", write_config(folder, name=NAME, grid=GRID), cwd=folder)
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    proc = rayprune("report", NAME, cwd=folder)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        message = (
            "no headless Chromium: apt-get install chromium chromium-driver (scripts/setup.sh)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --no-sandbox: Chromium refuses to run as root with its sandbox (CI containers run as root)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    service = Service(chromedriver, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(options=options, service=service)
    group = service.process.pid  # start_new_session: its pid is its process group's id
    try:
        yield driver
    finally:
        driver.quit()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # any browser process quit() left behind


def tracking_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'rayprune_results' / 'mlflow.db'}"


def summary_runs(folder: Path):
    client = MlflowClient(tracking_uri(folder))
    exp = client.get_experiment_by_name(NAME)
    runs = client.search_runs(
        [exp.experiment_id], filter_string="tags.`rayprune.summary` = 'report'"
    )
    return client, runs


def test_report_page_loads_in_chromium_with_every_image_and_row(browser, reported):
    out = reported / "rayprune_results" / "reports" / NAME
    assert {p.name for p in out.iterdir()} == {"report.html", *FIGURES}
    browser.get((out / "report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    assert NAME in browser.title
    images = browser.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.dataset.file])"
    )
    assert sorted(f for _, _, f in images) == sorted(FIGURES)
    assert all(done and width > 0 for done, width, _ in images), images
    assert all(
        src.startswith("data:image/png;base64,")
        for src in browser.execute_script("return [...document.images].map(i => i.src)")
    )

    def rows(selector: str) -> list[str]:
        return browser.execute_script(
            f"return [...document.querySelectorAll('{selector} tbody tr')].map(r => r.innerText)"
        )

    assert len(rows(f"#sensitivity-{NAME}")) == 3  # dense PPO; DSP at two lambdas
    comparison = rows("#comparison")
    assert len(comparison) == 2  # dense PPO; DSP at 0.5 with its best lambda
    assert "PPO (dense)" in comparison[0] and "PPO-DSP" in comparison[1]
    assert rows(".pareto") == []  # a grid sweep has no Pareto front


def test_report_is_logged_to_the_sweeps_summary_run_and_replaced_when_rerun(reported):
    client, (run,) = summary_runs(reported)
    assert "rayprune.trial_key" not in run.data.tags and run.info.status == "FINISHED"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert logged == {f"report/{f}" for f in ["report.html", *FIGURES]}
    rows = json.loads(
        Path(client.download_artifacts(run.info.run_id, "report.json", str(reported))).read_text()
    )
    assert [(r["method"], r["lambda"], r["seeds"]) for r in rows] == [
        ("ppo", 0.0, 2),
        ("dsp", 1e-4, 2),
        ("dsp", 1e-3, 2),
    ]

    again = rayprune("report", NAME, "--out", "elsewhere", cwd=reported)
    assert again.returncode == 0, again.stderr
    assert {p.name for p in (reported / "elsewhere").iterdir()} == {"report.html", *FIGURES}
    client, (rerun,) = summary_runs(reported)
    assert rerun.info.run_id == run.info.run_id  # the same run, its artifacts rewritten
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} == logged


def test_report_errors_are_one_line(reported):
    missing = rayprune("report", "nope", cwd=reported)
    one_line_error(missing, "no sweep named 'nope'")
    (reported / "mine").mkdir()
    (reported / "mine" / "notes.txt").write_text("keep")
    taken = rayprune("report", NAME, "--out", "mine", cwd=reported)
    one_line_error(taken, "is not a rayprune report")
    assert [p.name for p in (reported / "mine").iterdir()] == ["notes.txt"]


def screenshot(browser, path: Path) -> Path:
    """The browser's viewport as a PNG; kept in $RAYPRUNE_SCREENSHOTS too when that is set."""
    browser.save_screenshot(str(path))
    if os.environ.get("RAYPRUNE_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["RAYPRUNE_SCREENSHOTS"]) / path.name)
    return path


def assert_not_blank(png: Path) -> None:
    """Something was drawn: many colours, and a good part of the picture not background."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    background = max(colours)[0] / (image.width * image.height)
    assert len(colours) > 50 and background < 0.95, (png, len(colours), background)


def test_every_anchor_resolves_and_no_figure_is_wider_than_the_page(browser, reported, tmp_path):
    out = reported / "rayprune_results" / "reports" / NAME
    browser.set_window_size(1024, 900)
    browser.get((out / "report.html").as_uri())
    links = browser.execute_script(
        "return [...document.querySelectorAll('a[href^=\"#\"]')].map(a => a.hash.slice(1))"
    )
    assert {"summary", f"sweep-{NAME}", f"{NAME}-sensitivity", f"{NAME}-weights"} <= set(links)
    for anchor in links:  # each lands on its element, at the top of the window
        top = browser.execute_script(
            "const e = document.getElementById(arguments[0]); if (!e) return null;"
            "location.hash = arguments[0]; return e.getBoundingClientRect().top;",
            anchor,
        )
        assert top is not None, f"#{anchor} resolves to nothing"
        assert abs(top) < 5 or browser.execute_script(
            "return window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"
        ), (anchor, top)  # or the page ends before it can scroll further
    page = browser.execute_script("return document.documentElement.clientWidth")
    widths = browser.execute_script(
        "return [...document.images].map(i => [i.dataset.file, i.getBoundingClientRect().right])"
    )
    assert widths and all(right <= page for _, right in widths), (page, widths)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= page
    summary = browser.execute_script(
        "return [...document.querySelectorAll('#summary-table tbody tr')].map(r => r.innerText)"
    )
    assert len(summary) == 2 and "PPO (dense)" in summary[0] and "PPO-DSP" in summary[1]
    browser.execute_script("window.scrollTo(0, 0)")
    assert_not_blank(screenshot(browser, tmp_path / "report.png"))
    assert (
        browser.execute_script(  # the contents open the page, in the first screen
            "return document.getElementById('contents').getBoundingClientRect().top"
        )
        < 900
    )


@pytest.fixture(scope="module")
def ui_links(reported):
    """`rayprune ui` on loopback over the reported sweep's store, and the links it printed."""
    ui = RaypruneUi(reported)
    try:
        yield ui.wait_up()[1]
    finally:
        ui.stop()


def test_the_runs_link_opens_the_sweeps_trials_in_chromium(browser, reported, ui_links, tmp_path):
    """`rayprune ui` on loopback; its link opens the model-training view on rayprune's view:
    the six trials by name (not the report run), the columns that tell them apart, in
    `rayprune best`'s order (its pick first)."""
    client, _ = summary_runs(reported)
    experiment = client.get_experiment_by_name(NAME).experiment_id
    trials = [
        r.info.run_name
        for r in client.search_runs([experiment])
        if "rayprune.trial_key" in r.data.tags
    ]
    assert len(trials) == 6 and len(set(trials)) == 6  # seeds told apart by name
    browser.set_window_size(2400, 1000)  # MLflow's assistant panel takes a third of 1600
    text = wait_for_text(browser, ui_links[NAME], trials)
    assert "matching runs" in text and "6 matching runs" in text, text[:3000]
    for column in ("rank", "lambda", "sparsity_target", "seed", "method", "eval_return_mean"):
        assert column in text, column
    assert "Traces 0" not in text  # the model-training view, not the GenAI overview
    rows = browser.execute_script(
        "return [...document.querySelectorAll('[role=row]')].map(r => r.innerText)"
    )
    assert not any(row.split("\n")[0].strip() == "report" for row in rows), rows
    named = [row for row in rows if any(name in row for name in trials)]
    best = choose_best(tracking_uri(reported), NAME).run_name
    assert best in named[0], named  # the view's first row is `rayprune best`'s pick
    assert_not_blank(screenshot(browser, tmp_path / "runs_page.png"))


def wait_for_text(browser, url: str, wanted: list[str], timeout: float = 120) -> str:
    """The page's text once every string in `wanted` shows (the UI loads in pieces)."""
    browser.get(url)
    deadline = time.monotonic() + timeout
    text = ""
    while not all(w in text for w in wanted) and time.monotonic() < deadline:
        time.sleep(2)
        text = browser.execute_script("return document.body.innerText")
    assert all(w in text for w in wanted), text[:3000]
    return text


# Each plotly chart on the page: the metric its card is titled with (the first of its
# ancestors whose text starts with one of the names given), its traces' types and x values.
CHARTS_JS = """const names = new Set(arguments[0]);
return [...document.querySelectorAll('.js-plotly-plot')].map(p => {
  let e = p, card = null;
  for (; e && card === null; e = e.parentElement) {
    const first = e.innerText.split('\\n')[0];
    if (names.has(first)) card = first;
  }
  return {card, traces: (p.data || []).map(t => ({type: t.type, x: Array.from(t.x || [])}))};
})"""


def charts(browser, names: list[str], timeout: float = 90) -> dict[str, list[dict]]:
    """{metric: traces} of the page's plotly charts, once one has drawn for each of `names`
    (charts load as they scroll into view: the window is tall enough for all of them)."""
    deadline = time.monotonic() + timeout
    while True:
        drawn = browser.execute_script(CHARTS_JS, names)
        found = {c["card"]: c["traces"] for c in drawn if c["card"] and c["traces"]}
        if set(names) <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_a_run_page_plots_every_curve_against_env_steps(browser, reported, ui_links, tmp_path):
    """The run's own page (which always plots against the step): each train/ curve's x values
    are the env steps of its iterations, 500 per iteration up to the budget; each final value
    is a bar, not a dot on a line; no chart of env steps against themselves."""
    client, _ = summary_runs(reported)
    best = choose_best(tracking_uri(reported), NAME)
    steps = [m.step for m in client.get_metric_history(best.run_id, "train/episode_return_mean")]
    assert steps[-1] >= TINY["budget_env_steps"] and steps[0] >= TINY["ppo"]["train_batch_size"]
    experiment = client.get_experiment_by_name(NAME).experiment_id
    browser.set_window_size(1600, 6000)
    base = ui_links[NAME].split("#")[0]
    wait_for_text(browser, f"{base}#/experiments/{experiment}/runs/{best.run_id}/model-metrics",
                  ["train/episode_return_mean", "eval_return_mean"])  # fmt: skip
    metrics = client.get_run(best.run_id).data.metrics
    assert "train/env_steps" not in metrics  # the step, not a metric plotted against itself
    # the run page titles a curve without its train/ section prefix
    titles = [key.removeprefix("train/") for key in metrics]
    by_card = charts(browser, titles)
    assert set(titles) <= set(by_card), sorted(by_card)
    for key in metrics:
        (first, *_) = by_card[key.removeprefix("train/")]
        if key.startswith("train/"):
            assert first["type"] == "scatter" and first["x"] == steps, (key, first)
        else:  # a final value: one bar
            assert first["type"] == "bar" and first["x"] == [metrics[key]], (key, first)
    browser.set_window_size(1600, 1000)
    assert_not_blank(screenshot(browser, tmp_path / "mlflow_run_page.png"))


def test_the_views_charts_plot_curves_against_env_steps(browser, reported, ui_links, tmp_path):
    """The saved view's chart mode: line charts against the step (env steps), final values as
    bars of the six trials."""
    browser.set_window_size(1600, 6000)
    wait_for_text(browser, ui_links[NAME] + "&compareRunsMode=CHART", ["eval_return_mean"])
    assert "env_steps" not in browser.execute_script("return document.body.innerText")
    shown = ["train/episode_return_mean", "train/neurons", "eval_return_mean", "rank"]
    by_card = charts(browser, shown)
    line = by_card["train/episode_return_mean"]
    assert {t["type"] for t in line} == {"scatter"} and len({tuple(t["x"]) for t in line}) > 1
    assert all(max(t["x"]) >= TINY["budget_env_steps"] for t in line), line
    for final in ("eval_return_mean", "rank"):
        (bars,) = by_card[final]
        assert bars["type"] == "bar" and len(bars["x"]) == 6, (final, bars)
    assert sorted(by_card["rank"][0]["x"]) == [1, 2, 3, 4, 5, 6]
    browser.set_window_size(1600, 1000)
    assert_not_blank(screenshot(browser, tmp_path / "mlflow_view_charts.png"))
