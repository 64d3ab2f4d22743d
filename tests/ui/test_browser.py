"""End to end in a real browser: from a CSV to a champion model answering the form.

Screenshots of every page are saved for people to look at (see ``shot`` in conftest.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer
from tests.ui.conftest import open_page

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HTMX_SETTLED = (
    "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
)
SNIPPETS = {"curl": ["bash", "-c"], "python": [sys.executable, "-c"], "mlflow": ["bash", "-c"]}


UNLABELLED = """() => [...document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button")]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 80))"""


def _look(page: Any, shot: Any, name: str) -> None:
    """Every control has a name a screen reader can say; then save the screenshot."""
    assert page.evaluate(UNLABELLED) == [], name
    shot(page, name)


def _drop_file(page: Any, selector: str, name: str, text: str) -> None:
    """Drag a file onto ``selector`` as a person would (a DataTransfer on a drop event)."""
    page.evaluate(
        """([selector, name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, { type: "text/csv" }));
            const zone = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true }));
            }
        }""",
        [selector, name, text],
    )


def test_csv_to_champion_model_in_the_browser(
    browser: Any, live_worker: LiveServer, shot: Any
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser)
    url = live_worker.url

    # Datasets: the empty state, then a drag-and-drop upload with its progress bar.
    page.goto(url + "/")
    expect(page.get_by_role("heading", name="No datasets yet — upload one")).to_be_visible()
    page.get_by_label("From a URL").fill("file:///etc/passwd")
    page.get_by_role("button", name="Fetch").click()
    expect(page.locator('[data-error-for="url"]')).to_contain_text("only http and https")
    _look(page, shot, "01-datasets-empty")
    _drop_file(page, "[data-dropzone]", "iris.csv", (SAMPLES / "iris.csv").read_text())

    # The dataset page: schema, preview, and the insights loaded by htmx.
    page.wait_for_url(re.compile(r"/datasets/iris\?version=1"))
    expect(page.get_by_role("heading", name="Quality warnings")).to_be_visible(timeout=20_000)
    page.get_by_label("Target column").select_option("variety")
    page.get_by_role("button", name="Analyse target").click()
    expect(page.get_by_role("heading", name="Target variety: class balance")).to_be_visible(
        timeout=20_000
    )
    expect(page.get_by_text("target leakage")).to_have_count(0)  # strong is not leaked
    page.wait_for_selector("[data-plot] .main-svg")
    assert page.locator("[data-plot][data-rendered]").count() >= 6
    _look(page, shot, "02-dataset-insights")

    # Train: the task comes from the insights; a bad parameter is refused next to its field.
    page.get_by_role("button", name="Train a model →").click()
    page.wait_for_url(re.compile(r"/datasets/iris/train"))
    expect(page.get_by_label("Task")).to_have_value("multiclass")
    page.get_by_label("Algorithm").select_option("logistic-regression")  # htmx swaps the fields
    expect(page.locator('[data-param="C"]')).to_be_visible()
    page.wait_for_function(HTMX_SETTLED)  # the swapped-in select listens once htmx settled
    page.get_by_label("Algorithm").select_option("random-forest")
    expect(page.locator('[data-param="n_estimators"]')).to_be_visible()
    page.locator("summary", has_text="All parameters").click()
    page.get_by_label("max_features").fill("bogus")
    page.get_by_role("button", name="Start training").click()
    error = page.locator('[data-error-for="params.max_features"]')
    expect(error).to_contain_text("max_features")
    _look(page, shot, "03-train-error")
    page.get_by_label("max_features").fill("sqrt")
    page.get_by_label("n_estimators").fill("10")
    page.get_by_label("Cross-validation folds").fill("2")
    page.get_by_role("button", name="Start training").click()

    # Job: live progress until the model is registered.
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.get_by_role("progressbar", name="Job progress")).to_be_visible()
    open_model = page.get_by_role("link", name="Open the model →")
    expect(open_model).to_be_visible(timeout=90_000)
    expect(page.locator("[data-job-state]")).to_have_text("succeeded")
    assert page.locator("[data-job-events] li").count() >= 4  # events arrived live
    _look(page, shot, "04-job")
    open_model.click()

    # Model: plots, promotion to champion, a prediction from the form.
    page.wait_for_url(re.compile(r"/models/iris-variety"))
    page.wait_for_selector('[data-plot-name="roc_curve"] .main-svg')
    for plot in ("confusion_matrix", "feature_importance", "learning_curve", "calibration"):
        expect(page.locator(f'[data-plot-name="{plot}"] .main-svg').first).to_be_visible()
    page.get_by_role("button", name="Promote to champion").click()
    expect(page.locator('h1 [data-alias="champion"]')).to_be_visible()
    page.get_by_role("button", name="Predict").click()
    result = page.locator("[data-predict-result]")
    # The first prediction loads the version (and builds its ONNX twin): seconds on a busy
    # machine, more than expect's default 5 s. The page says so meanwhile.
    expect(result).to_contain_text("Prediction: Setosa", timeout=60_000)
    expect(page.locator("[data-predict-button]")).to_be_enabled()
    expect(result).to_contain_text("Probability")
    page.get_by_role("tab", name="MLflow protocol").click()
    expect(page.locator("#snip-mlflow")).to_contain_text("dataframe_split")
    _look(page, shot, "05-model")
    # The snippets work as pasted: the champion answers each of them.
    snippet = {k: page.locator(f"#snip-{k} code").text_content() for k in SNIPPETS}
    for key, command in SNIPPETS.items():
        out = subprocess.run(
            [*command, snippet[key]], capture_output=True, text=True, timeout=60, check=True
        )
        assert "Setosa" in out.stdout, (key, out.stdout, out.stderr)

    # Settings: create a key (shown once), see it listed, revoke it.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Name").fill("nightly-scoring")
    page.get_by_label("predict").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("[data-new-key-value]")).to_contain_text("mlh_")
    row = page.locator("tr", has_text="nightly-scoring")
    expect(row).to_contain_text("active")
    _look(page, shot, "06-settings")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="nightly-scoring")).to_contain_text("revoked")

    # AutoML: a small budget; a bad one is refused next to its field; the board fills in.
    page.goto(url + "/datasets/iris/train?target=variety")
    page.get_by_label("AutoML: try many, keep the best").check()
    expect(page.get_by_label("Time budget (seconds)")).to_be_visible()
    expect(page.locator('[data-mode-panel="single"]')).to_be_hidden()
    page.get_by_label("Model name").fill("iris-automl")
    page.get_by_label("Time budget (seconds)").fill("1")
    page.get_by_role("button", name="Start AutoML").click()
    expect(page.locator('[data-error-for="time_budget"]')).not_to_be_empty()
    page.get_by_label("Time budget (seconds)").fill("8")
    page.get_by_label("Rank by").select_option("accuracy")
    _look(page, shot, "13-train-automl")
    page.get_by_role("button", name="Start AutoML").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
    expect(page.locator("[data-board-rows] tr").first).to_be_visible(timeout=30_000)
    best = page.get_by_role("link", name="Open the model →")
    expect(best).to_be_visible(timeout=60_000)
    # How many candidates fit in 8 s depends on the machine's load; one is always there.
    assert page.locator("[data-board-rows] tr").count() >= 1
    expect(page.locator("[data-board-rows] tr.best")).to_have_count(1)
    expect(page.locator("[data-board-metric]")).to_contain_text("accuracy")
    _look(page, shot, "14-job-automl")
    automl_job = page.url
    best.click()
    page.wait_for_url(re.compile(r"/models/iris-automl\?version=1"))
    expect(page.locator('h1 [data-alias="best_model"]')).to_be_visible()

    # Batch scoring: the best model over iris, followed on the job page, then downloaded.
    page.get_by_role("link", name="Score a dataset").click()
    page.wait_for_url(re.compile(r"/scoring"))
    expect(page.get_by_label("Model", exact=True)).to_have_value("iris-automl@1")
    page.get_by_role("button", name="Start scoring").click()
    expect(page.locator('[data-error-for="dataset"]')).to_contain_text("choose a stored dataset")
    # An uploaded file without a column the model needs is refused next to the file field.
    page.get_by_label("…or upload a file").set_input_files(
        {
            "name": "partial.csv",
            "mimeType": "text/csv",
            "buffer": b"sepal.length,sepal.width,petal.length\n5.1,3.5,1.4\n6.2,2.9,4.3\n",
        }
    )
    page.get_by_role("button", name="Start scoring").click()
    expect(page.locator('[data-error-for="file"]')).to_contain_text("petal.width")
    page.get_by_label("Dataset", exact=True).select_option("iris@1")
    _look(page, shot, "15-scoring")
    page.get_by_role("button", name="Start scoring").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    csv_link = page.get_by_role("link", name="Download CSV")
    expect(csv_link).to_be_visible(timeout=60_000)
    expect(page.locator("[data-job-result]")).to_contain_text("Scored 150 rows")
    _look(page, shot, "16-job-score")
    scored = httpx.get(url + csv_link.get_attribute("href"), timeout=30)
    header = scored.text.splitlines()[0]
    assert scored.status_code == 200 and "prediction" in header and "probability_" in header
    assert len(scored.text.splitlines()) == 151
    page.goto(url + "/scoring")
    expect(page.locator("tr", has_text="iris-scored-iris-automl")).to_contain_text("succeeded")

    # Monitoring: the form's prediction, then shifted traffic and its drift report.
    assert live_worker.hub.predlog.flush()
    page.goto(url + "/models/iris-variety")
    page.get_by_role("link", name="Monitoring").click()
    page.wait_for_url(re.compile(r"/models/iris-variety/monitoring"))
    page.get_by_label("Since").fill("last week")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('[data-error-for="since"]')).to_contain_text("neither a duration")
    page.get_by_label("Since").fill("24h")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Latest drift report")).to_be_visible()
    rows = [
        {"sepal.length": 5.0 + i / 20, "sepal.width": 3.0, "petal.length": 9.0, "petal.width": 2}
        for i in range(30)
    ]
    r = httpx.post(f"{url}/api/v1/models/iris-variety/champion/predict", json=rows, timeout=30)
    assert r.status_code == 200, r.text
    assert live_worker.hub.predlog.flush()
    page.reload()
    expect(page.locator("[data-dataset-verdict]")).to_have_text("Drift")
    petal = page.locator('[data-drift-table] tr[data-column="petal.length"]')
    expect(petal).to_contain_text("drift")
    page.wait_for_selector('[data-column-chart="petal.length"] .main-svg')
    page.get_by_role("button", name="Check now").click()
    expect(page.locator("[data-alert-event]").first).to_contain_text("input drift")
    _look(page, shot, "11-monitoring")

    # Lists, and a narrow window.
    page.goto(url + "/models")
    expect(page.get_by_role("link", name="iris-variety")).to_be_visible()
    expect(page.get_by_text("champion → v1")).to_be_visible()
    _look(page, shot, "07-models")
    page.goto(url + "/jobs")
    _look(page, shot, "08-jobs")
    narrow = open_page(browser, width=390)
    narrow.goto(url + "/datasets/iris?target=variety")
    expect(narrow.get_by_role("heading", name="Quality warnings")).to_be_visible()
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width}px wide in a 390px window"
    _look(narrow, shot, "09-dataset-narrow")
    narrow.goto(url + "/models/iris-variety/monitoring?since=24h")
    narrow.wait_for_selector('[data-column-chart="petal.length"] .main-svg')
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the monitoring page is {width}px wide in a 390px window"
    _look(narrow, shot, "12-monitoring-narrow")
    for path, name in (
        (automl_job, "17-job-automl-narrow"),
        (url + "/scoring", "18-scoring-narrow"),
    ):
        narrow.goto(path)
        expect(narrow.locator("h1")).to_be_visible()  # a page, not an error
        width = narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} is {width}px wide in a 390px window"
        _look(narrow, shot, name)
    assert page.errors == [] and narrow.errors == []


def test_browser_signs_in_with_a_key_and_keys_keep_their_scopes(
    browser: Any, secured_live: LiveServer, shot: Any
) -> None:
    from playwright.sync_api import expect

    _, reader = secured_live.hub.keys.create("analyst", ["read"])
    page = open_page(browser)
    page.goto(secured_live.url + "/datasets")
    page.wait_for_url(re.compile(r"/sign-in\?next=/datasets"))
    page.get_by_label("API key").fill("mlh_wrong_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator('[data-error-for="key"]')).not_to_be_empty()
    _look(page, shot, "10-sign-in-error")
    page.get_by_label("API key").fill(reader)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/datasets$"))
    expect(page.get_by_text("Signed in as")).to_contain_text("analyst")
    # A read-only key sees no upload and no Settings; the admin page refuses it.
    expect(page.get_by_role("heading", name="Add a dataset")).to_have_count(0)
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    page.goto(secured_live.url + "/settings")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "mlharbor_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert reader.split("_", 2)[2] not in cookie["value"]  # a session id, never the key
    page.get_by_role("button", name="Sign in with another key").click()
    page.wait_for_url(re.compile(r"/sign-in"))
    assert page.errors == []
