"""GitHub's own records of bypasses through the deployed path, in-process, over several scheduled runs:
scheduled event → real Lambda handler → GitHub stand-in (rule suites, the organisation audit log) → records in
CloudWatch Logs (moto) → the evidence bucket (moto S3) → the template's metric filters and alarms → one message
per finding on the ops queue (SNS → SQS).

Simulated hops, as in test_branch_route.py: metric filters producing metrics (the template's own patterns are
evaluated on the logged records) and alarm evaluation. See docs/bypasses.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

import scheduled_runs
from pr_auditor import handler

from harness import (
    aws_environment,
    deploy,
    function_environment,
)
from standin.bypasses import admin_merge, protection_change, repositories_removed, ruleset_bypass
from standin.generate import make_state
from standin.git import init_branch, merge_pr, push
from standin.model import BranchRule
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_bypassROUTE0123456789abcdefSECRET"
POLICY = "required_approvals: 1\n"
FIRST_RUN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


class Deployment(scheduled_runs.Deployment):
    """The shared scheduled-run world, with a push past a ruleset's bypass list."""

    def bypass_push(self, at: datetime) -> tuple[str, str]:
        """An admin on the ruleset's bypass list pushes straight to main at ``at``: GitHub records a rule suite."""
        self.at(at)
        before = self.repo.branches["main"]
        (after,) = push(self.state, self.repo, author="olivia-admin")
        ruleset_bypass(self.state, self.repo, actor="olivia-admin", before=before, after=after, at=at)
        return before, after


def _world(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Deployment]:
    aws_environment()
    clock = [FIRST_RUN - timedelta(days=60)]
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,), clock=lambda: clock[0])
    repo = state.orgs["acme"][0]
    init_branch(state, repo, at=clock[0])
    # Admins may bypass it (that is how an admin merge or a ruleset bypass happens): the first run's protection
    # record says so, once.
    repo.branch_rules.append(BranchRule("main", required_approvals=1, dismiss_stale=True, admin_enforced=False))
    with StandIn(state) as server, mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()  # boto3 clients must be created inside this moto context
        route = deploy(token=TOKEN, policy_text=POLICY)
        options = {"GITHUB_BACKOFF_SECONDS": "0.01", "CHUNK_MINUTES": "10080", **env}
        for key, value in function_environment(route, server.base_url, **options).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])  # the function's clock is the test's
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        yield Deployment(state, route, clock)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    yield from _world(monkeypatch)


@pytest.fixture
def enterprise(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """An Enterprise Cloud organisation whose audit log the stack is set to read."""
    for deployment in _world(monkeypatch, READ_AUDIT_LOG="true"):
        deployment.state.bypasses.audit_log = "enabled"
        yield deployment


def test_a_ruleset_bypass_read_in_time_is_still_on_record_forty_days_later(world: Deployment) -> None:
    # Given a first scheduled run, then an admin on the ruleset's bypass list pushing straight to main
    assert world.scheduled_run(FIRST_RUN).error is None
    before, after = world.bypass_push(FIRST_RUN + timedelta(minutes=10))
    # When the next hourly run comes round
    second = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then one ruleset_bypass record names who pushed what past which rule of which ruleset
    assert second.error is None
    (record,) = second.of_kind("ruleset_bypass")
    assert (record["repository"], record["actor"], record["ref"]) == ("acme/api", "olivia-admin", "refs/heads/main")
    assert (record["before_sha"], record["after_sha"]) == (before, after)
    assert [r["rule_type"] for r in record["rules_bypassed"]] == ["pull_request"]
    assert record["rulesets_bypassed"] == ["main is protected"]
    assert record["verdict"] == "non_compliant" and record["violations"][0]["code"] == "ruleset_bypass"
    # And it is archived, alarmed and sent to ops once
    assert record["record_id"] in {r.get("record_id") for r in world.archived()}
    assert "BypassAlarm" in world.firing(second)
    assert [m["attributes"]["kind"] for m in world.findings() if m["attributes"]["kind"] == "ruleset_bypass"] == [
        "ruleset_bypass"
    ]
    # And it cost one listing and one read by id
    assert second.sources()["requests_by_source"]["rule_suites"] == 2
    # When the stack keeps running, three weeks later and forty days after the bypass
    later = [world.scheduled_run(FIRST_RUN + timedelta(days=days)) for days in (21, 40)]
    # Then no run records it again, none lost anything, and GitHub no longer serves it: only the archive has it
    assert all(run.error is None for run in later)
    assert [run.of_kind("ruleset_bypass") + run.of_kind("coverage") for run in later] == [[], []]
    assert [m for m in world.findings() if m["attributes"]["kind"] == "ruleset_bypass"] == []
    suite_age = FIRST_RUN + timedelta(days=40) - world.state.bypasses.suites[0].pushed_at
    assert suite_age > timedelta(days=30)
    assert [r["record_id"] for r in world.archived() if r.get("kind") == "ruleset_bypass"] == [record["record_id"]]


def test_a_ruleset_bypass_while_the_stack_was_off_for_forty_days_is_a_coverage_gap(world: Deployment) -> None:
    # Given a first scheduled run, and then the stack switched off
    assert world.scheduled_run(FIRST_RUN).error is None
    # When a bypass happens the next day, and the stack runs again forty days after its last run
    world.bypass_push(FIRST_RUN + timedelta(days=1))
    back = world.scheduled_run(FIRST_RUN + timedelta(days=40))
    # Then GitHub no longer lists the bypass, and one coverage record names the days that are lost
    assert back.error is None
    assert back.of_kind("ruleset_bypass") == []
    (gap,) = back.of_kind("coverage")
    assert (gap["source"], gap["reason"], gap["verdict"]) == ("rule_suites", "past_look_back", "non_compliant")
    assert gap["violations"][0]["code"] == "coverage_gap"
    assert gap["lost"] == {"since": "2026-11-02T10:00:00Z", "until": "2026-11-14T10:00:00Z"}
    assert "2026-11-03" in gap["days_lost"]  # the day of the bypass
    assert gap["days_lost"][0] == "2026-11-02" and gap["days_lost"][-1] == "2026-11-14"
    # And it is alarmed, sent to ops and archived
    assert "CoverageGapAlarm" in world.firing(back)
    assert [m["alarm"]["record_id"] for m in world.findings() if m["attributes"]["kind"] == "coverage"] == [
        gap["record_id"]
    ]
    assert gap["record_id"] in {r.get("record_id") for r in world.archived()}
    # And the next run records no second gap: the watermark never falls behind the look-back again
    assert world.scheduled_run(FIRST_RUN + timedelta(days=40, hours=1)).of_kind("coverage") == []


def test_an_admin_merge_read_from_the_audit_log_is_a_bypass_record_and_marks_its_pr(enterprise: Deployment) -> None:
    # Given a first scheduled run of a stack set to read the audit log
    first = enterprise.scheduled_run(FIRST_RUN)
    assert first.error is None
    assert first.sources()["audit_log"]["acme"]["status"] == "read"
    enterprise.findings()  # the first run's protection finding (admins may bypass), read by ops
    # When an admin merges a PR past branch protection (its one approval satisfied our policy anyway)
    merged_at = FIRST_RUN + timedelta(minutes=20)
    enterprise.at(merged_at)
    pr = merge_pr(enterprise.state, enterprise.repo, at=merged_at, merged_by="olivia-admin", approvers=("bob",))
    admin_merge(enterprise.state, pr, actor="olivia-admin", at=merged_at)
    run = enterprise.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then one bypass record names the admin, the PR and its merge commit
    assert run.error is None
    (bypass,) = run.of_kind("bypass")
    assert (bypass["actor"], bypass["from"], bypass["merge_commit_sha"]) == (
        "olivia-admin",
        "pull_requests#merge",
        pr.merge_commit_oid,
    )
    assert bypass["pull_request"]["number"] == pr.number
    assert bypass["overridden_codes"] == ["review_policy_not_satisfied"]
    assert bypass["violations"][0]["code"] == "admin_bypass"
    # And the PR's own record carries admin_bypass and is a finding, although its review satisfied the policy
    (record,) = run.of_kind("pull_request")
    assert record["approvers"] == ["bob"]
    assert record["admin_bypass"] is True and record["admin_bypass_record_id"] == bypass["record_id"]
    assert record["verdict"] == "non_compliant"
    assert [v["code"] for v in record["violations"]] == ["admin_bypass"]
    # And both reach ops, both alarms count them, and both are archived
    assert sorted(m["attributes"]["kind"] for m in enterprise.findings()) == ["bypass", "pull_request"]
    assert {"BypassAlarm", "NonCompliantChangeAlarm"} <= enterprise.firing(run)
    archived = {r.get("record_id"): r for r in enterprise.archived()}
    assert archived[record["record_id"]]["admin_bypass"] is True
    assert bypass["record_id"] in archived


def test_who_changed_protection_and_who_removed_a_repository_come_from_the_audit_log(enterprise: Deployment) -> None:
    # Given a first run, which sees main's protection for the first time
    assert enterprise.scheduled_run(FIRST_RUN).error is None
    # When an admin drops the required review and then removes a repository from the auditor's installation
    enterprise.repo.branch_rules[0].required_approvals = 0
    changed_at = FIRST_RUN + timedelta(hours=20)
    protection_change(enterprise.state, enterprise.repo, action="protected_branch.update", actor="olivia-admin",
                      at=changed_at, branch="main")  # fmt: skip
    repositories_removed(enterprise.state, "acme", ["web"], actor="olivia-admin", at=changed_at)
    run = enterprise.scheduled_run(FIRST_RUN + timedelta(days=1))
    # Then the daily protection check's record names who changed it
    assert run.error is None
    (protection,) = run.of_kind("protection")
    assert protection["weaker_than_policy"] is True
    assert protection["changed_by"] == "olivia-admin"
    assert protection["audit_log_changes"][0]["action"] == "protected_branch.update"
    # And the repository that left the installation is a coverage finding
    (coverage,) = run.of_kind("coverage")
    assert (coverage["repository"], coverage["reason"], coverage["actor"]) == (
        "acme/web",
        "repositories_removed",
        "olivia-admin",
    )
    assert "CoverageGapAlarm" in enterprise.firing(run)


def test_an_organisation_without_the_audit_log_is_reported_once_in_the_summary_never_a_failure(
    enterprise: Deployment,
) -> None:
    # Given a stack set to read the audit log of an organisation GitHub does not serve it for
    enterprise.state.bypasses.audit_log = "403"
    # When a scheduled run comes round
    run = enterprise.scheduled_run(FIRST_RUN)
    # Then the run completes, and its summary says once why the audit log was not read
    assert run.error is None
    assert {s["status"] for s in run.of_kind("run_summary")} == {"completed"}
    noted = [s["sources"]["audit_log"] for s in run.of_kind("run_summary") if "audit_log" in s.get("sources", {})]
    assert noted == [{"acme": {"status": "not_readable", "reason": "audit log of acme: GitHub answered 403"}}]
    # And the rule suites were read all the same
    assert run.sources()["rule_suites"]["acme"]["status"] == "read"
