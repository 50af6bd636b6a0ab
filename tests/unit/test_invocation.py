"""Events are checked before any work: Given an event and the function's clock, Then a run or a one-line error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pr_auditor.audit.invocation import BackfillRun, ScheduledRun, parse_event
from pr_auditor.core.errors import ConfigError
from pr_auditor.core.model import Window
from pr_auditor.core.parse import parse_orgs

NOW = datetime(2026, 11, 21, 10, 0, 30, tzinfo=UTC)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SCHEDULED: dict[str, Any] = json.loads((Path(__file__).parents[2] / "events" / "scheduled.json").read_text())


def scheduled(**changes: Any) -> dict[str, Any]:
    return {**SCHEDULED, **changes}


def test_a_scheduled_event_carries_the_time_the_run_audits_up_to() -> None:
    assert parse_event(scheduled(), now=NOW) == ScheduledRun(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))


def test_an_event_replayed_from_an_eventbridge_archive_is_accepted() -> None:
    replay = scheduled(**{"replay-name": "pr-auditor-replay-2026-11", "time": "2026-11-02T10:00:00Z"})
    assert parse_event(replay, now=NOW) == ScheduledRun(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))


def test_envelope_keys_eventbridge_adds_later_do_not_reject_the_event() -> None:
    assert parse_event(scheduled(**{"new-envelope-key": 1}), now=NOW).now == datetime(2026, 11, 21, 10, tzinfo=UTC)


def test_a_scheduled_time_within_five_minutes_of_the_clock_is_accepted() -> None:
    event = scheduled(time="2026-11-21T10:05:29Z")
    assert parse_event(event, now=NOW) == ScheduledRun(datetime(2026, 11, 21, 10, 5, 29, tzinfo=UTC))


def test_a_backfill_event_names_its_window_and_orgs() -> None:
    event = {"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": ["acme", "Acme-Labs"]}
    assert parse_event(event, now=NOW) == BackfillRun(Window(T0, T0 + timedelta(days=1)), ("acme", "Acme-Labs"))


def test_a_backfill_event_without_orgs_audits_the_configured_ones() -> None:
    event = {"action": "backfill", "since": "2026-11-01", "until": "2026-11-02"}
    assert parse_event(event, now=NOW) == BackfillRun(Window(T0, T0 + timedelta(days=1)), None)


def test_a_backfill_of_exactly_the_allowed_span_is_accepted() -> None:
    event = {"action": "backfill", "since": "2026-01-01", "until": "2026-01-31"}
    run = parse_event(event, now=NOW, backfill_max_days=30)
    assert isinstance(run, BackfillRun) and run.window.until - run.window.since == timedelta(days=30)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (scheduled(time="9999-12-31T23:59:59Z"), r"^scheduled event: time 9999-12-31T23:59:59Z is more than 5 minutes"),
        (scheduled(time="2026-11-21T10:06:00Z"), r"more than 5 minutes past the function's clock"),
        (scheduled(time="9999-12-31T23:59:59-05:00"), r"^scheduled event: time: .* is out of range$"),
        (scheduled(time="noon"), r"^scheduled event: missing or invalid time$"),
        ({"detail-type": "Scheduled Event", "time": "2026-11-01T00:00:00Z"}, r"missing or invalid account, detail, id"),
        (scheduled(resources="arn"), r"^scheduled event: missing or invalid resources$"),
        (
            {"action": "backfill", "since": "2026-11-01", "until": "9999-01-01"},
            r"^backfill event: until 9999-01-01T00:00:00Z is in the future",
        ),
        ({"action": "backfill", "since": "2026-11-21", "until": "2026-11-22"}, r"is in the future"),
        ({"action": "backfill", "since": "0001-01-01", "until": "2026-11-01"}, r"spans more than 400 days"),
        ({"action": "backfill", "since": "2026-11-02", "until": "2026-11-01"}, "must be before until"),
        ({"action": "backfill", "since": "soon", "until": "2026-11-01"}, "since: not an ISO-8601"),
        ({"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "org": "x"}, "unknown keys"),
        ({"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": "acme"}, "orgs must be a list"),
        ({"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": []}, r"orgs: at least one"),
        (
            {"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": ["acme", "evil org/../x"]},
            r"^backfill event: orgs: 'evil org/\.\./x' is not a valid GitHub organisation login$",
        ),
        (
            {"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": ["a" * 5000]},
            r"^backfill event: orgs: 'a{39}… is not a valid",
        ),
        ({"hello": "world"}, "neither an EventBridge scheduled event nor a backfill event"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
    ids=[
        "scheduled-in-year-9999",
        "scheduled-six-minutes-ahead",
        "scheduled-beyond-the-calendar",
        "scheduled-time-not-a-time",
        "scheduled-missing-envelope-keys",
        "scheduled-resources-not-a-list",
        "backfill-until-year-9999",
        "backfill-until-tomorrow",
        "backfill-longer-than-allowed",
        "backfill-since-after-until",
        "backfill-bad-date",
        "backfill-unknown-key",
        "backfill-orgs-not-a-list",
        "backfill-orgs-empty",
        "backfill-org-not-a-login",
        "backfill-org-huge",
        "unknown-shape",
        "not-an-object",
    ],
)
def test_a_hostile_or_malformed_event_is_rejected_in_one_line(event: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_event(event, now=NOW)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_the_backfill_span_is_configurable() -> None:
    event = {"action": "backfill", "since": "2026-01-01", "until": "2026-01-31T00:00:01Z"}
    with pytest.raises(ConfigError, match=r"more than 30 days \(BACKFILL_MAX_DAYS\)"):
        parse_event(event, now=NOW, backfill_max_days=30)


def test_event_orgs_and_github_orgs_follow_the_same_rules() -> None:
    assert parse_orgs(["acme,beta", "acme"], name="x") == ("acme", "beta")
    assert parse_orgs("acme, beta", name="x") == ("acme", "beta")


def test_a_scheduled_event_a_day_old_is_accepted_and_a_second_more_is_rejected() -> None:
    day_old = NOW - timedelta(hours=24)
    assert parse_event(scheduled(time=day_old.strftime("%Y-%m-%dT%H:%M:%SZ")), now=NOW) == ScheduledRun(day_old)
    with pytest.raises(ConfigError, match=r"more than 24 hours before the function's clock"):
        parse_event(scheduled(time=(day_old - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")), now=NOW)
