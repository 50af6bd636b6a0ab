"""A hand-made event is checked before any work (the real handler, the GitHub stand-in, moto).

Given a deployed stack, When its function is invoked with a scheduled event dated in the future (or a
backfill reaching into the future, or one longer than BACKFILL_MAX_DAYS), or dated more than EventBridge's
24-hour retry window in the past, Then the invocation fails with one ``event_rejected`` line and a failed
``run_summary`` (so the failure alarm sees it), and nothing changes: no request to GitHub, no record, no
watermark, no ledger entry. An event replayed from an EventBridge archive is audited like any scheduled one,
up to the function's own clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from pr_auditor import handler
from pr_auditor.core.errors import ConfigError

from harness import REGION, AwsRoute, LambdaContext, captured_function_logs, deployed_function, scheduled_event
from standin.generate import add_pr, make_state
from standin.model import GitHubState

pytestmark = pytest.mark.integration

TOKEN = "ghp_eventCHECKS0123456789abcdefSECRET"
CLOCK = datetime(2026, 11, 21, 10, 0, 20, tzinfo=UTC)
SCHEDULED = scheduled_event(datetime(2026, 11, 21, 10, 0, tzinfo=UTC), event_id="event-checks")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubState, AwsRoute]]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    add_pr(state, "api", reviews=[], merged_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC))
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text="required_approvals: 1\n") as route:
        monkeypatch.setattr(handler, "wall_clock", lambda: CLOCK)
        yield state, route


def invoke(event: dict[str, Any]) -> tuple[list[dict[str, Any]], BaseException | None]:
    with captured_function_logs(handler.logger) as lines:
        try:
            handler.lambda_handler(event, LambdaContext())
            error = None
        except Exception as exc:  # the Lambda runtime records it as a function error
            error = exc
    return [json.loads(line) for line in lines], error


def table_items(route: AwsRoute) -> list[dict[str, Any]]:
    return boto3.client("dynamodb", region_name=REGION).scan(TableName=route.state_table)["Items"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {**SCHEDULED, "time": "9999-12-31T23:59:59Z"},
            "scheduled event: time 9999-12-31T23:59:59Z is more than 5 minutes",
        ),
        ({**SCHEDULED, "time": "2026-11-21T11:00:00Z"}, "past the function's clock (2026-11-21T10:00:20Z)"),
        ({**SCHEDULED, "time": "2025-01-01T00:00:00Z"}, "more than 24 hours before the function's clock"),
        ({**SCHEDULED, "time": "2026-11-20T10:00:19Z"}, "EventBridge retries a scheduled event for 24 hours"),
        ({"action": "backfill", "since": "2026-11-01", "until": "2026-12-01"}, "backfill event: until"),
        ({"action": "backfill", "since": "2020-01-01", "until": "2026-11-01"}, "spans more than 400 days"),
        ({"action": "backfill", "since": "2026-11-01", "until": "2026-11-02", "orgs": ["ev il"]}, "orgs: 'ev il'"),
    ],
    ids=[
        "scheduled-year-9999",
        "scheduled-an-hour-ahead",
        "scheduled-past-dated",
        "scheduled-a-day-and-a-second-old",
        "backfill-into-the-future",
        "backfill-too-long",
        "backfill-bad-org",
    ],
)
def test_a_hostile_event_is_rejected_and_changes_nothing(
    stack: tuple[GitHubState, AwsRoute], event: dict[str, Any], reason: str
) -> None:
    state, route = stack
    logged, error = invoke(event)
    assert isinstance(error, ConfigError) and reason in str(error)
    assert [(r["kind"], r["level"]) for r in logged] == [("event_rejected", "ERROR"), ("run_summary", "ERROR")]
    summary = logged[-1]
    assert summary["status"] == "failed" and reason in summary["error"]["message"]
    assert summary["window"]["until"] == "2026-11-21T10:00:20Z"  # the function's clock, not the event's
    assert state.count() == 0
    assert table_items(route) == []


def test_an_event_replayed_from_an_archive_is_audited(stack: tuple[GitHubState, AwsRoute]) -> None:
    _, route = stack
    logged, error = invoke({**SCHEDULED, "replay-name": "pr-auditor-replay"})
    assert error is None
    assert [r["number"] for r in logged if r.get("kind") == "pull_request"] == [1]
    assert [r["status"] for r in logged if r.get("kind") == "run_summary"] == ["completed"]
    assert table_items(route)  # the watermark and the ledger entry
