"""Pipeline runs in a real browser: the list, runs compared side by side, a run's live DAG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlharbor.pipelines import PipelineStore, RunState, run_pipeline, submit
from tests.api.conftest import LiveServer
from tests.pipelines.conftest import LIGHT_PIPELINE, write_churn
from tests.ui.conftest import open_page


def test_two_runs_are_compared_with_what_differs_marked(
    browser: Any, live_sqlite: LiveServer, tmp_path: Path, shot: Any
) -> None:
    hub = live_sqlite.hub
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    first = run_pipeline(hub, LIGHT_PIPELINE)
    second = run_pipeline(hub, LIGHT_PIPELINE, params={"share": "0.4"})
    assert first.state == second.state == "succeeded"

    page = open_page(browser)
    page.goto(f"{live_sqlite.url}/pipelines")
    rows = page.locator("tr[data-run]")
    assert rows.count() == 2
    assert "share=0.4" in page.locator(f"tr[data-run='{second.id}']").inner_text()
    page.get_by_label(f"compare run {first.id}").check()
    page.get_by_label(f"compare run {second.id}").check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url(f"**/pipelines/compare?run={second.id}&run={first.id}")

    heads = page.locator("table[data-compare-table=Parameter] thead th").all_inner_texts()
    assert heads[1:] == [f"run {first.id}", f"run {second.id}"]  # oldest first
    share = page.locator("table[data-compare-table=Parameter] tr[data-row=share]")
    assert share.get_attribute("data-differs") is not None
    assert "differs" in share.inner_text() and "0.25" in share.inner_text()
    assert "0.4" in share.inner_text()
    where = page.locator("table[data-compare-table=Parameter] tr[data-row=where]")
    assert where.get_attribute("data-differs") is None and "differs" not in where.inner_text()
    rows_metric = page.locator("table[data-compare-table=Metric] tr[data-row='quality.warnings']")
    assert rows_metric.count() == 1
    # The second run reused the data step; the split ran again with the other share.
    split = page.locator("table[data-compare-table=Step] tr[data-row=split]")
    assert split.inner_text().count("done") == 2
    for run in (first, second):
        nodes = page.locator(f"figure[data-dag-run='{run.id}'] g.dag-node")
        assert nodes.count() == 4
        assert (
            page.locator(
                f"figure[data-dag-run='{run.id}'] g.dag-node[data-step=drift]"
            ).get_attribute("data-state")
            == "done"
        )
    shot(page, "pipelines-compare")
    assert page.errors == []


def test_a_run_page_shows_step_states_change_while_it_runs(
    browser: Any, live_sqlite: LiveServer, tmp_path: Path
) -> None:
    hub = live_sqlite.hub
    hub.datasets.ingest_file(write_churn(tmp_path), name="churn")
    store = PipelineStore(hub.sessions)
    # A run as a runner elsewhere holds it: the page follows what it records.
    run = submit(hub, LIGHT_PIPELINE, origin="cli", state=RunState.RUNNING, owner="elsewhere")
    store.update_step(run.id, "data", state="running", progress=0.5, message="reading")

    page = open_page(browser)
    page.goto(f"{live_sqlite.url}/pipelines/runs/{run.id}")
    node = page.locator("svg.dag g.dag-node[data-step=data]")
    assert node.get_attribute("data-state") == "running"
    assert page.locator("svg.dag g.dag-node[data-step=drift]").get_attribute("data-state") == (
        "pending"
    )
    assert "50%" in page.locator("tr[data-step=data]").inner_text()

    store.update_step(run.id, "data", state="done", message="churn v1, 240 rows", progress=1.0)
    store.update_step(run.id, "split", state="failed", message="no column 'ghost'")
    store.finish_run(
        run.id, RunState.FAILED, error={"message": "no column 'ghost'", "step": "split"}
    )
    page.locator("svg.dag g.dag-node[data-step=data][data-state=done]").wait_for(timeout=15_000)
    page.locator("[data-run-state]", has_text="failed").wait_for(timeout=15_000)
    assert page.locator("svg.dag g.dag-node[data-step=split]").get_attribute("data-state") == (
        "failed"
    )
    assert page.locator("svg.dag g.dag-node[data-step=drift]").get_attribute("data-state") == (
        "skipped"
    )
    assert "Step split failed: no column 'ghost'" in page.get_by_role("alert").inner_text()
    assert page.errors == []


def test_comparing_fewer_than_two_runs_says_so(browser: Any, live_sqlite: LiveServer) -> None:
    page = open_page(browser)
    page.goto(f"{live_sqlite.url}/pipelines")
    assert "No pipeline runs yet" in page.inner_text("main")
    response = page.goto(f"{live_sqlite.url}/pipelines/compare?run=1")
    assert response.status == 422
    assert "pick 2 to 10 runs to compare" in page.inner_text("main")
