"""In a real browser: a table with every kind of column, trained, promoted, asked from the
form (yes/no as the data says it, an unknown level warned about), two versions compared;
at a desktop and a phone size. Screenshots: ``shot`` in conftest.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer
from tests.ui.conftest import open_page
from tests.ui.mixed_data import mixed_table
from tests.ui.test_browser import _drop_file, _look

pytestmark = pytest.mark.slow
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def _train(url: str, hub: Any, trees: int) -> None:
    job = {
        "kind": "train",
        "params": {
            "dataset": "patients",
            "target": "risk",
            "model": "random-forest",
            "params": {"n_estimators": trees},
            "cv_folds": 2,
            "name": "patients-risk",
        },
    }
    r = httpx.post(f"{url}/api/v1/jobs", json=job, timeout=30)
    assert r.status_code == 202, r.text
    assert hub.wait(r.json()["id"], timeout=120).state == "succeeded"


def test_every_column_type_from_the_form_and_two_versions_compared(
    browser: Any, live_worker: LiveServer, shot: Any
) -> None:
    from playwright.sync_api import expect

    url = live_worker.url
    page = open_page(browser, DESKTOP["width"], DESKTOP["height"])
    page.goto(url + "/datasets")
    _drop_file(page, "[data-dropzone]", "patients.csv", mixed_table().to_csv(index=False))
    page.wait_for_url(re.compile(r"/datasets/patients\?version=1"))
    _train(url, live_worker.hub, 5)
    _train(url, live_worker.hub, 30)

    # The overview: two versions, the task, the algorithm and a main metric.
    page.goto(url + "/models")
    row = page.locator('tr[data-model="patients-risk"]')
    expect(row.locator("[data-versions]")).to_have_text("2")
    expect(row.locator("[data-task]")).to_have_text("binary")
    expect(row.locator("[data-algorithm]")).to_have_text("RandomForestClassifier")
    expect(row.locator("[data-main-metric]")).to_contain_text("roc auc")
    _look(page, shot, "20-models-overview")

    # Promote v1, then ask the form right away.
    page.goto(url + "/models/patients-risk?version=1")
    page.locator('[data-set-alias="champion"][data-version="1"]').click()
    expect(page.locator('h1 [data-alias="champion"]')).to_be_visible()
    smoker = page.get_by_label("smoker yes/no")
    assert sorted(smoker.locator("option").all_text_contents()) == ["(missing)", "no", "yes"]
    smoker.select_option(label="yes")
    expect(page.locator("[data-setting=threshold]")).to_contain_text("0.5")
    # An unknown level: "other…" opens a text box, and the value is warned about.
    page.get_by_label("region category").select_option(label="other…")
    page.get_by_label("region: another value").fill("atlantis")
    warning = page.locator('[data-warning-for="region"]')
    expect(warning).to_contain_text("never occurred in training")
    page.get_by_label("bmi number").fill("95")
    expect(page.locator('[data-warning-for="bmi"]')).to_contain_text("outside what the model saw")

    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda req: sent.append(json.loads(req.post_data)[0]) if "/predict" in req.url else None,
    )
    button = page.locator("[data-predict-button]")
    expect(button).to_be_enabled()
    # Three quick clicks: the first one disables the button, so one request goes out.
    disabled_after_first = page.evaluate(
        """() => { const b = document.querySelector('[data-predict-button]');
                   b.click(); const off = b.disabled; b.click(); b.click(); return off; }"""
    )
    assert disabled_after_first
    result = page.locator("[data-predict-result]")
    expect(result).to_contain_text("Prediction:", timeout=30_000)
    expect(result.locator("[data-unseen]")).to_contain_text("atlantis")
    expect(button).to_be_enabled()
    assert len(sent) == 1, sent
    assert sent[0]["smoker"] == "yes" and sent[0]["region"] == "atlantis"
    assert sent[0]["bmi"] == 95 and re.fullmatch(r"2024-\d\d-\d\d", sent[0]["seen"])
    _look(page, shot, "21-model-predict-form")

    # Compare: v1 and v2 are ticked; the page marks what differs and overlays the curves.
    page.get_by_role("button", name="Compare selected versions").click()
    page.wait_for_url(re.compile(r"/models/patients-risk/compare\?v=\d&v=\d"))
    expect(page.locator("h1")).to_contain_text("v1 v2")
    expect(page.locator('tr[data-row="n_estimators"][data-differs]')).to_be_visible()
    expect(page.locator("[data-best]").first).to_be_visible()
    page.wait_for_selector('[data-plot-name="roc_curve"] .main-svg')
    page.wait_for_selector('[data-plot-name="pr_curve"] .main-svg')
    _look(page, shot, "22-compare")
    assert page.errors == []

    phone = open_page(browser, PHONE["width"], PHONE["height"])
    for path, name in (
        ("/models", "23-models-phone"),
        ("/models/patients-risk?version=1", "24-model-phone"),
        ("/models/patients-risk/compare?v=1&v=2", "25-compare-phone"),
    ):
        phone.goto(url + path)
        expect(phone.locator("h1")).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} is {width}px wide in a 390px window"
        _look(phone, shot, name)
    assert phone.errors == []
