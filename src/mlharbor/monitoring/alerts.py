"""Scheduled checks of monitored models, stored as events; alerts sent to a webhook.

Each model in the ``monitor_models`` setting (``name@alias``) is checked every
``monitor_interval_seconds`` over the last ``monitor_window`` of its prediction log: input
drift, output drift and, where labels arrived, performance. Every check is stored as an
event; one that finds dataset drift, output drift or a performance drop is an alert and is
POSTed as JSON to ``alert_webhook_url`` when set.

Several API replicas may run the scheduler: each check claims its schedule slot by
inserting its event row first (unique per model, kind and slot), so only one runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mlharbor.errors import HarborError, InvalidInputError
from mlharbor.monitoring.performance import performance
from mlharbor.monitoring.service import MonitoringService
from mlharbor.store.db import transaction
from mlharbor.store.orm import MonitorEvent

log = logging.getLogger(__name__)
CHECK = "check"
WEBHOOK_TIMEOUT = 5.0


def split_ref(text: str) -> tuple[str, str]:
    """``name@alias`` / ``name@3`` / ``name`` (latest) as (name, ref)."""
    name, _, ref = str(text).partition("@")
    if not name:
        raise InvalidInputError(f"model reference {text!r}: write NAME or NAME@ALIAS")
    return name, ref or "latest"


def report_path(name: str, ref: str) -> str:
    """The monitoring page of ``name@ref``, relative to the server (alerts link to it)."""
    return f"/models/{quote(name, safe='')}/monitoring?ref={quote(str(ref), safe='')}"


def drift_message(dataset: dict[str, Any], most: int = 6) -> str:
    """``input drift (serious) in 6 of 14 columns: a (importance #1), b, …`` from a verdict."""
    level = "serious" if dataset.get("status") == "bad" else "some"
    names = []
    for d in dataset.get("drifted_detail") or [{"column": c} for c in dataset["drifted_columns"]]:
        rank = d.get("importance_rank")
        names.append(d["column"] + (f" (importance #{rank})" if rank else ""))
    shown = ", ".join(names[:most]) + (
        f" and {len(names) - most} more" if len(names) > most else ""
    )
    return (
        f"input drift ({level}) in {dataset['n_drifted']} of {dataset['n_columns']} columns "
        f"({dataset['share']:.0%}): {shown}"
    )


def event_dict(row: MonitorEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "model": row.model,
        "ref": row.ref,
        "version": row.version,
        "kind": row.kind,
        "alert": row.alert,
        "message": row.message,
        "summary": row.summary,
        "webhook_status": row.webhook_status,
        "created_at": row.created_at.isoformat(),
    }


class AlertService:
    """Run checks, keep their events, notify the webhook."""

    def __init__(self, sessions: sessionmaker[Session], monitoring: MonitoringService) -> None:
        self.sessions = sessions
        self.monitoring = monitoring
        self.settings = monitoring.settings

    def check(self, model_ref: str, *, slot: int | None = None) -> dict[str, Any] | None:
        """Check one model now; the stored event, or ``None`` if another replica has the slot."""
        name, ref = split_ref(model_ref)
        event_id = self._claim(name, ref, slot)
        if event_id is None:
            return None
        version, summary, alert, message = None, {}, False, ""
        try:
            summary = self._summarise(name, ref)
            version = summary["version"]
            alert = bool(summary["alerts"])
            message = "; ".join(summary["alerts"]) or "no drift"
        except HarborError as exc:
            message = exc.message
        except Exception as exc:  # one broken model must not stop the scheduler
            log.exception("monitoring check of %s failed", model_ref)
            message = f"check failed: {type(exc).__name__}"
        status = self._notify(name, ref, version, summary, message) if alert else None
        with transaction(self.sessions) as session:
            row = session.get_one(MonitorEvent, event_id)
            row.version, row.alert, row.summary = version, alert, summary
            row.message, row.webhook_status = message[:2000], status
            session.flush()
            return event_dict(row)

    def _claim(self, name: str, ref: str, slot: int | None) -> int | None:
        try:
            with transaction(self.sessions) as session:
                row = MonitorEvent(
                    model=name, ref=ref, kind=CHECK, slot=slot, summary={}, message="running"
                )
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def _summarise(self, name: str, ref: str) -> dict[str, Any]:
        window = self.settings.monitor_window
        report = self.monitoring.model_drift(name, ref, since=window)
        perf = performance(self.monitoring, name, ref, since=window)
        alerts = []
        dataset = report["dataset"]
        if dataset["n_drifted"]:
            alerts.append(drift_message(dataset))
        pred = report.get("prediction")
        if pred and pred["drifted"]:
            alerts.append(f"output drift: the predictions' distribution changed ({pred['reason']})")
        if perf["dropped"]:
            value = perf["current"]["metrics"].get(perf["metric"])
            alerts.append(
                f"{perf['metric']} fell from {perf['baseline']:.4g} to {value:.4g} on "
                f"{perf['current']['n_labelled']} labelled predictions"
            )
        return {
            "model": report["model"],
            "version": report["version"],
            "since": report["since"],
            "until": report["until"],
            "n_predictions": report["n_predictions"],
            "drift": dataset,
            "prediction_drift": None
            if pred is None
            else {k: pred[k] for k in ("method", "statistic", "effect", "threshold", "drifted")},
            "performance": {
                "metric": perf["metric"],
                "baseline": perf["baseline"],
                "current": perf["current"],
                "dropped": perf["dropped"],
            },
            "alerts": alerts,
            "status": dataset.get("status"),
            "report_url": report_path(name, ref),
        }

    def _notify(
        self, name: str, ref: str, version: int | None, summary: dict[str, Any], message: str
    ) -> str | None:
        url = self.settings.alert_webhook_url
        if not url:
            return None
        payload = {
            "event": "mlharbor.alert",
            "report_url": summary.get("report_url"),
            "model": name,
            "ref": ref,
            "version": version,
            "message": message,
            "summary": summary,
            "time": datetime.now(UTC).isoformat(),
        }
        try:
            response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
            return f"{response.status_code}"
        except httpx.HTTPError as exc:
            log.warning("alert webhook %s failed: %s", url, exc)
            return f"error: {type(exc).__name__}"[:128]

    def run_due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Run the checks whose schedule slot has come (each slot once across replicas)."""
        now = time.time() if now is None else now
        slot = int(now // max(self.settings.monitor_interval_seconds, 1.0))
        events = []
        for model_ref in self.settings.monitor_models:
            event = self.check(model_ref, slot=slot)
            if event is not None:
                events.append(event)
        return events

    def list_events(
        self, *, model: str | None = None, alerts_only: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Stored checks, newest first."""
        query = select(MonitorEvent).order_by(MonitorEvent.id.desc()).limit(max(1, limit))
        if model:
            query = query.where(MonitorEvent.model == model)
        if alerts_only:
            query = query.where(MonitorEvent.alert.is_(True))
        with transaction(self.sessions) as session:
            return [event_dict(row) for row in session.scalars(query)]


class AlertScheduler:
    """A background thread that runs :meth:`AlertService.run_due` while the server runs."""

    def __init__(self, alerts: AlertService, poll_seconds: float = 5.0) -> None:
        self.alerts = alerts
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlharbor-alerts", daemon=True)

    def start(self) -> AlertScheduler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.alerts.run_due()
            except Exception:
                log.exception("scheduled monitoring checks failed")
            self._stop.wait(min(self.poll_seconds, self.alerts.settings.monitor_interval_seconds))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
