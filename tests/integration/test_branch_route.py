"""The branch audit through the deployed path, in-process: scheduled event → real Lambda handler → GitHub
stand-in (HTTP: branch heads, history, compare, protection) → records in CloudWatch Logs (moto) → the evidence
bucket (moto S3) → the template's metric filters and alarms → one message per finding on the ops queue
(SNS → SQS, moto's own).

Simulated hops, as in test_lambda_route.py: metric filters producing metrics (the template's own patterns are
evaluated on the logged records) and alarm evaluation (``alarms_in_alarm``). See docs/branch-audit.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from pr_auditor import handler
from pr_auditor.evidence.archive import iter_archived_records

from harness import (
    REGION,
    AwsRoute,
    LambdaContext,
    alarms_in_alarm,
    aws_environment,
    captured_function_logs,
    deploy,
    function_environment,
    metric_values,
    read_queue,
    ship,
)
from standin.generate import make_state
from standin.git import force_push, init_branch, merge_pr, push
from standin.model import BranchRule, GitHubState, Repository
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_branchROUTE0123456789abcdefSECRET"
POLICY = "required_approvals: 1\n"
FIRST_RUN = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@dataclass
class Run:
    """One scheduled invocation: what reached the log group, and the records among it."""

    events: list[str]
    error: BaseException | None
    records: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("kind") == kind]


class Deployment:
    """The stand-in organisation (one repository, ``main`` protected by two required reviews) and the stack."""

    def __init__(self, state: GitHubState, route: AwsRoute, clock: list[datetime]) -> None:
        self.state, self.route, self._clock = state, route, clock
        self.runs = 0

    @property
    def repo(self) -> Repository:
        found = self.state.find_repo("acme", "api")
        assert found is not None
        return found

    def at(self, moment: datetime) -> None:
        """Move the world's clock: GitHub's (pushes, pushedAt) and the function's."""
        self._clock[0] = moment

    def scheduled_run(self, at: datetime) -> Run:
        """The EventBridge schedule invoking the handler at ``at``; the lines go to the log group."""
        self.at(at)
        self.runs += 1
        event = {
            "version": "0",
            "id": str(self.runs),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        with captured_function_logs(handler.logger) as lines:
            try:
                handler.lambda_handler(event, LambdaContext(aws_request_id=f"run-{self.runs}"))
                error = None
            except Exception as exc:  # the Lambda runtime would record it as a function error
                error = exc
        events = ship(self.route, lines)
        return Run(events, error, [json.loads(event) for event in events])

    def archived(self) -> list[dict[str, Any]]:
        return list(iter_archived_records(self.route.client("s3"), self.route.evidence_bucket, scope="acme"))

    def findings(self) -> list[dict[str, Any]]:
        """Per-finding messages on the ops queue (received and deleted)."""
        return [m for m in read_queue(self.route) if "record_id" in m["alarm"]]

    def firing(self, run: Run) -> set[str]:
        return {alarm.logical_id for alarm in alarms_in_alarm(self.route, metric_values(self.route, run.events))}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    aws_environment()
    clock = [FIRST_RUN - timedelta(days=60)]
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,), clock=lambda: clock[0])
    repo = state.orgs["acme"][0]
    init_branch(state, repo, at=clock[0])
    repo.branch_rules.append(BranchRule("main", required_approvals=2, dismiss_stale=True, admin_enforced=True))
    with StandIn(state) as server, mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()  # boto3 clients must be created inside this moto context
        route = deploy(token=TOKEN, policy_text=POLICY)
        for key, value in function_environment(route, server.base_url, GITHUB_BACKOFF_SECONDS="0.01").items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])  # the function's clock is the test's
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        yield Deployment(state, route, clock)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()


def test_a_direct_push_backdated_a_month_is_recorded_archived_alarmed_and_sent_to_ops_once(
    world: Deployment,
) -> None:
    # Given a first scheduled run, which takes today's head as its baseline and finds main's protection fine
    first = world.scheduled_run(FIRST_RUN)
    assert first.error is None
    assert first.of_kind("direct_push") == []
    assert [(r["status"], r["verdict"]) for r in first.of_kind("protection")] == [("first_seen", "compliant")]
    assert world.findings() == []
    # When, during the next hour, a PR is squash-merged and an admin pushes a commit dated a month back
    world.at(FIRST_RUN + timedelta(minutes=10))
    merge_pr(world.state, world.repo, style="squash", at=FIRST_RUN + timedelta(minutes=10))
    pushed_at = FIRST_RUN + timedelta(minutes=25)
    world.at(pushed_at)
    (sha,) = push(world.state, world.repo, author="olivia-admin", at=pushed_at - timedelta(days=31))
    second = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the next scheduled run records exactly that commit as a direct push (and the PR as a PR)
    assert second.error is None
    (record,) = second.of_kind("direct_push")
    assert (record["repository"], record["branch"], record["sha"]) == ("acme/api", "main", sha)
    assert record["verdict"] == "non_compliant" and record["violations"][0]["code"] == "no_pull_request"
    assert record["committed_date"] == "2026-10-21T10:25:00Z"  # dated a month back: the head walk finds it anyway
    assert [r["verdict"] for r in second.of_kind("pull_request")] == ["compliant"]
    # And it is in the evidence bucket, read back through the manifests
    archived = [r for r in world.archived() if r.get("kind") == "direct_push"]
    assert [r["record_id"] for r in archived] == [record["record_id"]]
    assert archived[0] == {key: value for key, value in record.items() if key in archived[0]}
    # And one message for it reaches the ops queue, with attributes a subscription can filter on
    (message,) = world.findings()
    assert message["attributes"]["kind"] == "direct_push"
    assert message["attributes"]["verdict"] == "non_compliant"
    assert message["attributes"]["repository"] == "acme/api"
    assert message["alarm"]["record_id"] == record["record_id"] and message["alarm"]["sha"] == sha
    # And the template's filter counts it and its alarm fires (nothing else does)
    assert metric_values(world.route, second.events)["DirectPushes"] == 1
    assert world.firing(second) == {"DirectPushAlarm"}
    # And an hour later, nothing new: the push is recorded once and sent once
    third = world.scheduled_run(FIRST_RUN + timedelta(hours=2))
    assert third.error is None
    assert third.of_kind("direct_push") == []
    assert world.findings() == []
    assert [r["sha"] for r in world.archived() if r.get("kind") == "direct_push"] == [sha]


def test_a_force_push_gives_one_history_rewrite_through_the_handler(world: Deployment) -> None:
    # Given two commits pushed and audited
    base = world.repo.branches["main"]
    world.scheduled_run(FIRST_RUN)
    world.at(FIRST_RUN + timedelta(minutes=5))
    pushed = push(world.state, world.repo, n=2)
    assert sorted(r["sha"] for r in world.scheduled_run(FIRST_RUN + timedelta(hours=1)).of_kind("direct_push")) == (
        sorted(pushed)
    )
    world.findings()
    # When someone force-pushes main back onto the old base with one new commit
    world.at(FIRST_RUN + timedelta(hours=1, minutes=5))
    new_head = force_push(world.state, world.repo, onto=base, n=1)
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=2))
    # Then one history_rewrite names the old and the new head, and the new commit is a direct push
    assert run.error is None
    (rewrite,) = run.of_kind("history_rewrite")
    assert rewrite["old_head"] == pushed[-1] and rewrite["new_head"] == new_head
    assert rewrite["comparison"] == "diverged" and rewrite["violations"][0]["code"] == "force_push"
    assert [r["sha"] for r in run.of_kind("direct_push")] == [new_head]
    # And ops get one message for each, the rewrite's alarm fires, and both are archived
    assert sorted(m["attributes"]["kind"] for m in world.findings()) == ["direct_push", "history_rewrite"]
    assert metric_values(world.route, run.events)["HistoryRewrites"] == 1
    assert world.firing(run) == {"DirectPushAlarm", "HistoryRewriteAlarm"}
    assert rewrite["record_id"] in {r.get("record_id") for r in world.archived()}
    # And the next run takes the new head as given
    assert world.scheduled_run(FIRST_RUN + timedelta(hours=3)).of_kind("history_rewrite") == []


def test_protection_lowered_from_two_reviews_to_none_gives_one_weaker_protection_record(world: Deployment) -> None:
    # Given main protected by two required reviews, first seen by the first run
    world.scheduled_run(FIRST_RUN)
    # When an admin drops the required reviews to none, and the daily protection check comes round
    world.repo.branch_rules[0].required_approvals = 0
    run = world.scheduled_run(FIRST_RUN + timedelta(days=1))
    # Then one protection record says it changed, old → new, and is weaker than the policy
    assert run.error is None
    (record,) = run.of_kind("protection")
    assert record["status"] == "changed" and record["verdict"] == "non_compliant"
    assert record["weaker_than_policy"] is True
    assert (record["previous"]["required_approvals"], record["protection"]["required_approvals"]) == (2, 0)
    assert record["violations"][0]["code"] == "weak_protection"
    # And its alarm fires, ops get one message, and the evidence bucket has it
    assert metric_values(world.route, run.events)["WeakerProtection"] == 1
    assert world.firing(run) == {"WeakerProtectionAlarm"}
    (message,) = world.findings()
    assert message["attributes"]["kind"] == "protection" and message["alarm"]["record_id"] == record["record_id"]
    assert record["record_id"] in {r.get("record_id") for r in world.archived()}
    # And the next day's check, with nothing changed, records nothing
    assert world.scheduled_run(FIRST_RUN + timedelta(days=2)).of_kind("protection") == []
