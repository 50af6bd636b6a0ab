"""The deployed path, in-process: Lambda handler → GitHub stand-in (HTTP) → records in CloudWatch Logs (moto)
→ the template's metric filters → alarm notification on SNS → ops SQS queue (moto).

Simulated hops, because moto cannot perform them: metric filters producing metrics (the template's own
patterns are evaluated on the logged records instead) and CloudWatch publishing an alarm (the harness
publishes CloudWatch's alarm message to the alarm's topic). SNS → SQS delivery is moto's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from pr_auditor import handler
from pr_auditor.audit.runs import AuditFailedError
from pr_auditor.core.errors import ConfigError
from pr_auditor.core.policy import parse_policy

from harness import (
    REGION,
    LambdaContext,
    alarms_in_alarm,
    captured_function_logs,
    deployed_function,
    function_clock,
    metric_values,
    publish_alarm,
    read_queue,
    scheduled_event,
    ship,
)
from standin.generate import add_pr, make_state, review
from standin.model import Fault, GitHubState

pytestmark = pytest.mark.integration

TOKEN = "ghp_demoTOKEN0123456789abcdefSECRET"
POLICY = "required_approvals: 1\nemergency_labels: [emergency, hotfix]\nexempt_authors: [dependabot]\n"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SCHEDULED = scheduled_event(EVENT_TIME, event_id="1")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubState, Any]]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    merged = EVENT_TIME - timedelta(minutes=20)
    add_pr(state, "api", reviews=[review("bob")], merged_at=merged, title="OPS-1 fine")
    add_pr(state, "api", reviews=[review("alice")], merged_at=merged, title="acme/api#2 is compliant")
    add_pr(state, "api", reviews=[review("bob")], merged_at=merged, labels=["Hotfix"])
    add_pr(state, "api", reviews=[review("bob")], merged_at=EVENT_TIME - timedelta(days=3))  # outside the window
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text=POLICY) as route:
        yield state, route


def invoke(event: dict[str, Any]) -> tuple[Any, list[str], BaseException | None]:
    with captured_function_logs(handler.logger) as lines, function_clock(event):
        try:
            result, error = handler.lambda_handler(event, LambdaContext()), None
        except Exception as exc:  # the Lambda runtime would record it as a function error
            result, error = None, exc
    return result, lines, error


def test_a_scheduled_run_routes_a_non_compliant_change_to_the_ops_queue(world: tuple[GitHubState, Any]) -> None:
    state, route = world
    # When the scheduled event invokes the handler
    result, lines, error = invoke(SCHEDULED)
    assert error is None
    # Then one record per PR merged in the window lands in the log group, plus the run summary
    events = ship(route, lines)
    records = [json.loads(e) for e in events]
    prs = {r["number"]: r for r in records if r.get("kind") == "pull_request"}
    assert sorted(prs) == [1, 2, 3]
    assert (prs[1]["verdict"], prs[2]["verdict"], prs[3]["verdict"]) == ("compliant", "non_compliant", "non_compliant")
    assert prs[3]["emergency"] is True
    assert all(r["policy_version"] == parse_policy(POLICY).version for r in prs.values())
    [summary] = [r for r in records if r.get("kind") == "run_summary"]
    assert summary["status"] == "completed"
    # what the stand-in served, counted server-side: the chunk's search, the branch audit before it, and the
    # organisation's rule-suite listing (REST, one a run; docs/bypasses.md)
    assert summary["github_requests"] == state.count("graphql") + state.count("rest") == state.count("graphql") + 1
    # the first run (no watermark, no START_AT) audits one schedule period back
    assert summary["window"] == {"since": "2026-11-21T09:00:00Z", "until": "2026-11-21T10:00:00Z"}
    assert result == {
        "chunks_completed": 1,
        "chunks_pending": 0,
        "resume_from": None,
        "audited": 3,
        "non_compliant": 2,
        "late_indexed": 0,
        "github_requests": summary["github_requests"],
        "other_records": {},
        "windows": [summary["window"]],
    }
    # And the template's filters count exactly the non-compliant and emergency changes (stand-in for CloudWatch)
    values = metric_values(route, events)
    assert values == {
        "NonCompliantChanges": 2,
        "EmergencyChanges": 1,
        "AuditorRunFailures": 0,
        "AuditorRunsCompleted": 1,
        "DirectPushes": 0,
        "HistoryRewrites": 0,
        "WeakerProtection": 0,
        "PolicyChanges": 0,
        "Bypasses": 0,
        "CoverageGaps": 0,
        "StateResets": 0,
        "UnexplainedHeadChanges": 0,
    }
    # And each finding is one message on the ops queue, naming the change (SNS → SQS is moto's, for real)
    findings = read_queue(route)
    assert sorted(m["alarm"]["number"] for m in findings) == [2, 3]
    by_number = {m["alarm"]["number"]: m for m in findings}
    emergency = by_number[3]
    assert emergency["alarm"]["schema_version"] == 1
    assert emergency["alarm"]["record_id"] == prs[3]["record_id"]
    assert emergency["alarm"]["url"] == prs[3]["url"]
    assert emergency["alarm"]["violations"] == prs[3]["violations"]
    assert emergency["alarm"]["emergency_label"]["label"] == "Hotfix"
    assert emergency["alarm"]["logs_insights_url"].startswith(
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#logsV2:logs-insights$3FqueryDetail$3D"
    )
    assert emergency["attributes"]["kind"] == "pull_request"
    assert emergency["attributes"]["verdict"] == "non_compliant"
    assert emergency["attributes"]["repository"] == "acme/api"
    assert emergency["attributes"]["emergency"] == "true"
    assert json.loads(emergency["attributes"]["codes"]) == sorted(v["code"] for v in prs[3]["violations"])
    assert by_number[2]["attributes"]["emergency"] == "false"
    assert "acme/api#2 is compliant" not in by_number[2]["subject"]  # a title never reaches the subject
    # And the alarms that fire notify the topic, whose message reaches the ops queue through SNS → SQS
    firing = alarms_in_alarm(route, values)
    assert sorted(a.logical_id for a in firing) == ["EmergencyChangeAlarm", "NonCompliantChangeAlarm"]
    for alarm in firing:
        publish_alarm(route, alarm, values[alarm.metrics[0].metric_name])
    messages = read_queue(route)
    assert sorted(m["alarm"]["AlarmName"] for m in messages) == [
        "pr-auditor-emergency-change",
        "pr-auditor-non-compliant-change",
    ]
    assert all(m["alarm"]["NewStateValue"] == "ALARM" for m in messages)


def test_a_filtered_subscription_receives_only_emergencies_and_a_second_run_sends_nothing(
    world: tuple[GitHubState, Any],
) -> None:
    _, route = world
    # Given an e-mail-like subscriber that only wants emergencies (the README's filter policy), on a queue
    sqs, sns = route.client("sqs"), route.client("sns")
    url = sqs.create_queue(QueueName="emergencies-only")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=route.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"emergency": ["true"]})},
    )
    # When two scheduled runs an hour apart see the same PRs (the second one in its overlap)
    invoke(SCHEDULED)
    invoke(scheduled_event(EVENT_TIME + timedelta(hours=1), event_id="1"))
    # Then the filtered queue got the one emergency, and the ops queue each finding exactly once
    assert [m["alarm"]["number"] for m in read_queue(route, queue_url=url)] == [3]
    assert sorted(m["alarm"]["number"] for m in read_queue(route)) == [2, 3]


def test_the_token_never_reaches_a_log_line(world: tuple[GitHubState, Any]) -> None:
    _, lines, _ = invoke(SCHEDULED)
    assert lines
    assert not [line for line in lines if TOKEN in line]


def test_a_github_outage_fails_the_run_and_raises_the_error_alarm(
    world: tuple[GitHubState, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, route = world
    monkeypatch.setenv("GITHUB_BACKOFF_SECONDS", "0.01")
    handler.settings.cache_clear()
    state.faults.add(Fault("http_502", times=1000, match="graphql"))
    _, lines, error = invoke(SCHEDULED)
    assert isinstance(error, AuditFailedError)
    events = ship(route, lines)
    summaries = [json.loads(e) for e in events if '"run_summary"' in e]
    # the branch audit and the chunk each failed, each with its own summary; nothing claims completion
    assert [(s["status"], s["run_id"].rsplit(":", 1)[-1]) for s in summaries] == [
        ("failed", "branches"),
        ("failed", "0"),
    ]
    values = metric_values(route, events)
    assert values["AuditorRunFailures"] == 2
    assert values["AuditorRunsCompleted"] == 0
    firing = {a.logical_id for a in alarms_in_alarm(route, values, lambda_errors=1)}
    assert {"AuditorErrorsAlarm", "AuditorStalledAlarm"} <= firing
    assert "NonCompliantChangeAlarm" not in firing


def test_a_malformed_event_is_rejected_before_any_github_request(world: tuple[GitHubState, Any]) -> None:
    state, _ = world
    _, lines, error = invoke({"action": "backfill", "since": "2026-11-02", "until": "2026-11-01"})
    assert isinstance(error, ConfigError)
    assert state.count() == 0
    assert [json.loads(line)["kind"] for line in lines] == ["event_rejected", "run_summary"]


def test_a_backfill_event_audits_its_own_window(world: tuple[GitHubState, Any]) -> None:
    _, _ = world
    since = (EVENT_TIME - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (EVENT_TIME - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result, _, error = invoke({"action": "backfill", "since": since, "until": until})
    assert error is None
    assert result["audited"] == 1
    assert result["chunks_completed"] == 2  # two days in one-day chunks


def test_an_unread_ops_message_goes_to_the_dead_letter_queue(world: tuple[GitHubState, Any]) -> None:
    _, route = world
    sqs = route.client("sqs")
    sqs.send_message(QueueUrl=route.queue_url, MessageBody="poison")
    max_receive = json.loads(
        sqs.get_queue_attributes(QueueUrl=route.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )["maxReceiveCount"]
    for _ in range(int(max_receive)):
        got = sqs.receive_message(QueueUrl=route.queue_url, VisibilityTimeout=0)
        assert got["Messages"][0]["Body"] == "poison"
    assert "Messages" not in sqs.receive_message(QueueUrl=route.queue_url, VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=route.dlq_url)["Messages"][0]["Body"] == "poison"


def test_a_policy_relaxed_in_ssm_between_two_runs_is_recorded_and_reaches_the_ops_queue(
    world: tuple[GitHubState, Any],
) -> None:
    _, route = world
    # Given a first run under the deployed policy
    invoke(SCHEDULED)
    read_queue(route)
    # When ops relax the policy in SSM before the next run (Powertools caches it for 5 minutes: cleared here)
    route.client("ssm").put_parameter(
        Name=route.policy_parameter, Value="required_approvals: 0\n", Type="String", Overwrite=True
    )
    parameters.clear_caches()
    _, lines, error = invoke(scheduled_event(EVENT_TIME + timedelta(hours=1), event_id="1"))
    assert error is None
    # Then one policy_change record names the change, old -> new, and says it relaxes the rules
    events = ship(route, lines)
    [change] = [json.loads(e) for e in events if '"policy_change"' in e]
    assert change["previous_policy_version"] == parse_policy(POLICY).version
    assert change["policy_version"] == parse_policy("required_approvals: 0").version
    assert {c["key"]: (c["old"], c["new"], c["relaxes"]) for c in change["changes"]}["required_approvals"] == (
        1,
        0,
        True,
    )
    assert change["relaxed"] is True
    assert change["changed_at"] is not None  # from the parameter's history
    # And the template's filter counts it, and its alarm fires (CloudWatch evaluation stood in for)
    values = metric_values(route, events)
    assert values["PolicyChanges"] == 1
    assert "PolicyChangeAlarm" in {a.logical_id for a in alarms_in_alarm(route, values)}
    # And ops get it as a message of its own
    [message] = [m for m in read_queue(route) if m["attributes"].get("kind") == "policy_change"]
    assert message["alarm"]["record_id"] == change["record_id"]


def test_a_broken_policy_in_ssm_fails_the_run_with_a_failed_summary_naming_the_key(
    world: tuple[GitHubState, Any],
) -> None:
    state, route = world
    route.client("ssm").put_parameter(
        Name=route.policy_parameter, Value="required_aprovals: 2\n", Type="String", Overwrite=True
    )
    parameters.clear_caches()
    _, lines, error = invoke(SCHEDULED)
    assert isinstance(error, ConfigError)
    [summary] = [json.loads(line) for line in lines if '"run_summary"' in line]
    assert summary["status"] == "failed"
    assert summary["policy_version"] is None
    assert "required_aprovals: unknown key" in summary["error"]["message"]
    assert state.count("graphql") == 0  # bad input never reaches GitHub
    assert metric_values(route, ship(route, lines))["AuditorRunFailures"] == 1


def test_a_failed_publish_is_published_by_the_next_run_exactly_once(
    world: tuple[GitHubState, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, route = world
    # Given a first run whose publishes fail (the topic it was given does not exist)
    clock = [EVENT_TIME]
    monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])
    monkeypatch.setenv("ALARM_TOPIC_ARN", route.topic_arn + "-gone")
    handler.settings.cache_clear()
    _, lines, error = invoke(SCHEDULED)
    assert error is None  # the records and the alarms exist: a failed publish does not fail the run
    [summary] = [json.loads(line) for line in lines if '"run_summary"' in line]
    assert summary["counts"]["notify_failed"] == 2
    assert read_queue(route) == []
    # When the next run (an hour later, the same PRs in its overlap) has the real topic again
    monkeypatch.setenv("ALARM_TOPIC_ARN", route.topic_arn)
    handler.settings.cache_clear()
    for hours in (1, 2):  # past the ledger lease, which protects entries a live run may still own
        clock[0] = EVENT_TIME + timedelta(hours=hours)
        invoke(scheduled_event(clock[0], event_id="1"))
    # Then each finding reached the queue once, not again on the run after
    assert sorted(m["alarm"]["number"] for m in read_queue(route)) == [2, 3]
