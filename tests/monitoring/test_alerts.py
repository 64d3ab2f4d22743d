"""Monitoring checks are stored as events, once per schedule slot across replicas."""

from __future__ import annotations

from mlharbor.hub import Hub


def test_a_schedule_slot_is_checked_once_and_stored(hub: Hub) -> None:
    first = hub.alerts.check("ghost@champion", slot=7)
    assert first is not None and not first["alert"]
    assert "no registered model named 'ghost'" in first["message"]
    # A second replica reaching the same slot finds it taken.
    assert hub.alerts.check("ghost@champion", slot=7) is None
    assert hub.alerts.check("ghost@champion", slot=8) is not None
    events = hub.alerts.list_events(model="ghost")
    assert [e["ref"] for e in events] == ["champion", "champion"]
    assert hub.alerts.list_events(alerts_only=True) == []


def test_run_due_checks_every_monitored_model(hub: Hub) -> None:
    hub.settings.monitor_models = ["a@champion", "b"]
    events = hub.alerts.run_due(now=3600 * 5)
    assert sorted((e["model"], e["ref"]) for e in events) == [("a", "champion"), ("b", "latest")]
    assert hub.alerts.run_due(now=3600 * 5 + 10) == []  # same hourly slot
