"""Attack: a finding over SNS's 256 KiB. An account from outside the organisation leaves thousands of comments
on a merged non-compliant PR; every one is a post-merge review in the record, and the record grows past what
SNS accepts in one publish. Before: the publish failed on every run until the ledger entry expired, so ops never
heard of the change. After: one message is delivered, cut to fit, saying ``truncated: true`` with the counts,
and keeping the record id, the codes and the console link. SNS → SQS delivery is moto's own (moto enforces
the 256 KiB limit on publish)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pr_auditor import handler
from pr_auditor.aws.sns import SnsNotifier
from pr_auditor.core.errors import NotifyError
from pr_auditor.core.messages import SNS_MESSAGE_LIMIT, Console

from harness import (
    REGION,
    LambdaContext,
    captured_function_logs,
    deployed_function,
    function_clock,
    read_queue,
    scheduled_event,
    ship,
)
from standin.generate import add_pr, make_state, review
from standin.model import GitHubState

pytestmark = pytest.mark.integration

TOKEN = "ghp_oversizedTOKEN0123456789abcdefSECRET"
POLICY = "required_approvals: 2\n"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
OUTSIDER = "outside-account-commenting-after-merge"  # 38 characters: GitHub allows 39
COMMENTS = 2_800


@pytest.fixture
def oversized(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubState, Any]]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    merged = EVENT_TIME - timedelta(minutes=30)
    after = [review(OUTSIDER, "COMMENTED", at=merged + timedelta(seconds=i + 1)) for i in range(COMMENTS)]
    add_pr(state, "api", reviews=[review("bob"), review("carol", "CHANGES_REQUESTED"), *after], merged_at=merged)
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text=POLICY) as route:
        yield state, route


def test_a_300_kb_finding_from_thousands_of_outside_comments_reaches_ops_as_one_truncated_message(
    oversized: tuple[GitHubState, Any],
) -> None:
    _, route = oversized
    # When the scheduled run audits the PR
    event = scheduled_event(EVENT_TIME, event_id="oversized")
    with captured_function_logs(handler.logger) as lines, function_clock(event):
        result = handler.lambda_handler(event, LambdaContext())
    records = [json.loads(line) for line in ship(route, lines)]
    [finding] = [r for r in records if r.get("kind") == "pull_request"]
    [summary] = [r for r in records if r.get("kind") == "run_summary"]
    # Then the record itself is whole, and over 300 KB: too big for one SNS publish
    assert len(finding["post_merge_reviews"]) == COMMENTS
    assert len(json.dumps(finding).encode()) > 300_000 > SNS_MESSAGE_LIMIT
    # And the run completed with nothing left to publish
    assert result is not None and summary["status"] == "completed"
    assert summary["counts"]["notify_failed"] == 0
    # And exactly one message reached the ops queue, cut to fit, saying what it cut
    [message] = read_queue(route)
    body = message["alarm"]
    assert body["truncated"] is True
    assert body["truncated_lists"]["post_merge_reviews"] == {"total": COMMENTS, "kept": 10}
    assert body["record_id"] == finding["record_id"] == message["attributes"]["record_id"]
    assert body["codes"] == ["changes_requested", "insufficient_approvals"]
    assert json.loads(message["attributes"]["codes"]) == body["codes"]
    assert body["logs_insights_url"].startswith(f"https://{REGION}.console.aws.amazon.com/cloudwatch/home")
    # And the line says who and how many, how bad, and what to check
    assert "is non-compliant!" in body["message"]
    assert "1 of 2 required approvals" in body["message"]
    assert "changes still requested at merge by carol" in body["message"]
    assert body["severity"] == "high" and message["attributes"]["severity"] == "high"
    assert body["next_step"].startswith("Open the pull request")
    # And a second run sends nothing more (the ledger recorded the publish)
    later = scheduled_event(EVENT_TIME + timedelta(hours=1), event_id="next")
    with captured_function_logs(handler.logger), function_clock(later):
        handler.lambda_handler(later, LambdaContext())
    assert read_queue(route) == []


# --- the adapter alone: SNS refusing a message it counts differently -------------------------------------


class RefusingSns:
    """An SNS client (plain data) that refuses any message longer than ``limit`` characters as SNS does
    (``InvalidParameter``) and keeps what it accepted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0

    def publish(self, **request: Any) -> dict[str, str]:
        if len(request["Message"]) > self.limit:
            self.refused += 1
            error = {"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter: Message too long"}}
            raise ClientError(error, "Publish")  # type: ignore[arg-type]
        self.accepted.append(request)
        return {"MessageId": str(len(self.accepted))}


FINDING: dict[str, Any] = {
    "kind": "pull_request",
    "record_id": "pull_request:00000000000000000000000000000001",
    "repository": "acme/api",
    "number": 1,
    "merged_at": "2026-11-20T12:00:00Z",
    "verdict": "non_compliant",
    "violations": [{"code": "insufficient_approvals", "detail": "0 of 2 required approvals (counted: none)"}],
    "approvers": [f"user{i}" for i in range(400)],
    "message": "acme/api#1 is non-compliant! violations: insufficient_approvals: 0 of 2 required approvals",
}


def test_a_message_sns_still_refuses_goes_out_minimal_in_the_same_publish() -> None:
    # Given an SNS that counts more strictly than the builder (it refuses anything over 2,000 characters)
    client = RefusingSns(limit=2_000)
    notifier = SnsNotifier("arn:aws:sns:eu-west-1:000000000000:t", console=None, client=client)
    # When a finding is published
    notifier.publish(FINDING)
    # Then one refusal, then the minimal body was accepted: size never failed the publish
    assert client.refused == 1 and len(client.accepted) == 1
    body = json.loads(client.accepted[0]["Message"])
    assert body["truncated"] is True and body["record_id"] == FINDING["record_id"]
    assert body["truncated_lists"]["approvers"] == {"total": 400, "kept": 0}
    assert notifier.published == 1 and notifier.truncated == 1


def test_a_message_refused_even_minimal_fails_once_with_the_code_only() -> None:
    client = RefusingSns(limit=10)
    notifier = SnsNotifier("arn:aws:sns:eu-west-1:000000000000:t", client=client)
    with pytest.raises(
        NotifyError, match=r"^publishing pull_request:0+1 to the alarm topic failed \(InvalidParameter\)$"
    ):
        notifier.publish(FINDING)
    assert client.refused == 2 and notifier.published == 0


@pytest.fixture
def topic_to_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str, str]]:
    """moto's SNS topic subscribed by an SQS queue whose limit is 256 KiB: (sns, sqs, topic arn, queue url)."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="alarms")["TopicArn"]
        queue = sqs.create_queue(QueueName="ops", Attributes={"MaximumMessageSize": str(SNS_MESSAGE_LIMIT)})
        arn = sqs.get_queue_attributes(QueueUrl=queue["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
        yield sns, sqs, topic, queue["QueueUrl"]


def test_the_adapter_delivers_a_300_kb_finding_through_moto_sns_to_sqs(
    topic_to_queue: tuple[Any, Any, str, str],
) -> None:
    sns, sqs, topic, queue = topic_to_queue
    record = FINDING | {"post_merge_reviews": [{"login": OUTSIDER, "state": "COMMENTED"}] * 5_000}
    assert len(json.dumps(record)) > 300_000
    # Given moto refuses the whole message, as SNS would
    with pytest.raises(ClientError, match="too long"):
        sns.publish(TopicArn=topic, Message=json.dumps(record))
    # When the adapter publishes it
    SnsNotifier(topic, console=Console(REGION, "/aws/lambda/x"), client=sns).publish(record)
    # Then exactly one message arrives, cut (the first ten of each long list kept), envelope and all under 256 KiB
    [got] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(got["Body"].encode()) < SNS_MESSAGE_LIMIT
    body = json.loads(json.loads(got["Body"])["Message"])
    assert body["truncated"] is True
    assert body["truncated_lists"]["post_merge_reviews"] == {"total": 5_000, "kept": 10}
    assert body["truncated_lists"]["approvers"] == {"total": 400, "kept": 10}


def test_a_finding_sns_would_take_but_whose_envelope_outgrows_the_queue_is_cut_before_it_is_sent(
    topic_to_queue: tuple[Any, Any, str, str],
) -> None:
    sns, sqs, topic, queue = topic_to_queue
    # Given a finding of about 246 KB as JSON (SNS takes it), whose quotes escaped in the envelope make 274 KB
    record = FINDING | {"post_merge_reviews": [{"login": OUTSIDER, "state": "COMMENTED"}] * 3_400}
    assert len(json.dumps(record, separators=(",", ":"))) < SNS_MESSAGE_LIMIT < len(json.dumps(json.dumps(record)))
    # When the adapter publishes it
    SnsNotifier(topic, client=sns).publish(record)
    # Then the builder cut it (ten reviews kept: not the minimal body of a refused publish), and it arrived
    [got] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(got["Body"].encode()) < SNS_MESSAGE_LIMIT
    body = json.loads(json.loads(got["Body"])["Message"])
    assert body["truncated_lists"]["post_merge_reviews"] == {"total": 3_400, "kept": 10}
