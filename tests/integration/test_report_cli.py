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

from tests.cli import one_line_error, rayprune
from tests.integration.processes import RaypruneUi
from tests.integration.sweeps import write_config

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


def summary_runs(folder: Path):
    client = MlflowClient(f"sqlite:///{folder / 'rayprune_results' / 'mlflow.db'}")
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


def test_the_runs_link_opens_the_sweeps_trials_in_chromium(browser, reported, tmp_path):
    """`rayprune ui` on loopback; its link opens the model-training view on rayprune's view:
    the six trials by name (not the report run), the columns that tell them apart."""
    client, _ = summary_runs(reported)
    experiment = client.get_experiment_by_name(NAME).experiment_id
    trials = [
        r.info.run_name
        for r in client.search_runs([experiment])
        if "rayprune.trial_key" in r.data.tags
    ]
    assert len(trials) == 6 and len(set(trials)) == 6  # seeds told apart by name
    ui = RaypruneUi(reported)
    try:
        _, links = ui.wait_up()
        browser.set_window_size(1600, 1000)
        browser.get(links[NAME])
        deadline = time.monotonic() + 120
        text = ""
        while not all(name in text for name in trials) and time.monotonic() < deadline:
            time.sleep(2)
            text = browser.execute_script("return document.body.innerText")
        assert all(name in text for name in trials), text[:3000]
        assert "matching runs" in text and "6 matching runs" in text, text[:3000]
        for column in ("lambda", "sparsity_target", "seed", "method", "eval_return_mean"):
            assert column in text, column
        assert "Traces 0" not in text  # the model-training view, not the GenAI overview
        rows = browser.execute_script(
            "return [...document.querySelectorAll('[role=row]')].map(r => r.innerText)"
        )
        assert not any(row.split("\n")[0].strip() == "report" for row in rows), rows
        assert_not_blank(screenshot(browser, tmp_path / "runs_page.png"))
    finally:
        ui.stop()
