"""Progress as researchers read it: "12 / 40 items, ETA 3 min"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from studies.jobs.progress import Progress, estimate_eta, format_duration

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_progress_text_names_done_total_unit_and_eta():
    assert Progress(12, 40, "items", timedelta(minutes=3)).text() == "12 / 40 items, ETA 3 min"
    assert Progress(40, 40, "items").text() == "40 / 40 items"
    assert Progress(0, 0, "items").text() == "preparing"
    assert Progress(1, 4, "steps").fraction == 0.25


def test_eta_uses_the_rate_of_the_current_run_only():
    started = NOW - timedelta(minutes=10)
    # 10 items in 10 minutes this run (2 were done before it): 28 left take 28 minutes.
    assert estimate_eta(12, 40, 2, started, NOW) == timedelta(minutes=28)
    assert estimate_eta(2, 40, 2, started, NOW) is None  # nothing done in this run yet
    assert estimate_eta(40, 40, 0, started, NOW) is None  # nothing left
    assert estimate_eta(5, 40, 0, None, NOW) is None  # not started


def test_durations_are_rounded_for_people():
    assert format_duration(timedelta(seconds=20)) == "< 1 min"
    assert format_duration(timedelta(minutes=3, seconds=10)) == "3 min"
    assert format_duration(timedelta(minutes=125)) == "2 h 05 min"
