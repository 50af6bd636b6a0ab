"""The bypass audit over plain-data fakes (no network): what it reads, when it re-reads, what it records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.bypasses import LOOK_BACK, read_bypasses, time_period
from pr_auditor.audit.delivery import AuditPorts, Delivery
from pr_auditor.audit.ports import BypassSources, MemoryAuditLog, MemoryLedger, MemoryRuleSuites, MemoryState, Record
from pr_auditor.core.errors import ConfigError
from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import AuditEvent, PullRequest, RuleEvaluation, RuleSuite, Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.core.records import pull_request_record
from pr_auditor.settings import settings_from_env

from builders import pull_request, review

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
POLICY = policy_from_mapping({})
FAIL = RuleEvaluation("pull_request", "ruleset", 7, "main is protected", "active", "fail")


class NoPullRequests:
    requests = 0
    sub_windows = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        return "ok"

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterable[PullRequest]:
        return ()


def suite(number: int, at: datetime) -> RuleSuite:
    return RuleSuite(number, "acme/api", "olivia", "refs/heads/main", "a" * 40, f"{number:040x}", at, "bypass", (FAIL,))


class Stack:
    """One deployment's state and ledger across runs, with fake GitHub sources and a movable clock."""

    def __init__(self, *, audit_log: bool = False) -> None:
        self.clock = [NOW]
        self.suites = MemoryRuleSuites(now=lambda: self.clock[0])
        self.log = MemoryAuditLog() if audit_log else None
        self.state = MemoryState()
        self.ledger = MemoryLedger()
        self.emitted: list[Record] = []

    def run(self, at: datetime) -> tuple[Delivery, Any]:
        self.clock[0] = at
        ports = AuditPorts(
            NoPullRequests(),
            POLICY,
            self.emitted.append,
            self.ledger,
            now=lambda: at,
            bypasses=lambda orgs: [(orgs, BypassSources(self.suites, self.log))],
        )
        delivery = Delivery(ports)
        bypasses = read_bypasses(
            ("acme",), now=at, run_id=f"run@{at:%d}", ports=ports, state=self.state, delivery=delivery
        )
        return delivery, bypasses


@pytest.mark.parametrize(
    ("back", "period"),
    [
        pytest.param(timedelta(minutes=59), "hour", id="within-the-hour"),
        pytest.param(timedelta(hours=2), "day", id="hourly-run-with-its-overlap"),
        pytest.param(timedelta(days=3), "week", id="a-weekend-off"),
        pytest.param(timedelta(days=20), "month", id="three-weeks-off"),
    ],
)
def test_the_smallest_time_period_reaching_back_to_the_read_start_is_asked(back: timedelta, period: str) -> None:
    assert time_period(NOW - back, NOW) == period


def test_a_bypass_is_read_once_even_through_the_overlap_at_one_listing_plus_one_read_per_bypass() -> None:
    # Given a stack that read an hour ago, and a bypass ten minutes before that read
    stack = Stack()
    stack.run(NOW - timedelta(hours=1))
    stack.suites.suites.append(suite(1, NOW - timedelta(hours=1, minutes=10)))
    stack.suites.requests = 0
    # When two hourly runs follow (the first overlaps the bypass's hour, the second overlaps the first)
    _, first = stack.run(NOW)
    _, second = stack.run(NOW + timedelta(hours=1))
    # Then the first records it (one listing, one read by id), the second only lists
    assert [r["rule_suite_id"] for r in first.records] == [1]
    assert first.notes["requests_by_source"]["rule_suites"] == 2
    assert second.records == [] and second.notes["requests_by_source"]["rule_suites"] == 1


def test_unreadable_rule_suites_keep_the_watermark_and_a_gap_past_the_look_back_is_recorded_once() -> None:
    # Given a stack that read once, and then lost the right to read rule suites
    stack = Stack()
    stack.run(NOW)
    stack.suites.readable = False
    # When runs go on for five weeks without an answer
    _, week = stack.run(NOW + timedelta(days=7))
    _, late = stack.run(NOW + timedelta(days=35))
    _, later = stack.run(NOW + timedelta(days=35, hours=1))
    # Then each run says so in its notes, and once the look-back is passed one coverage_gap names the lost days
    assert week.notes["rule_suites"]["acme"]["status"] == "not_readable" and week.records == []
    (gap,) = late.records
    assert gap["kind"] == "coverage" and gap["lost"]["since"] == "2026-11-21T12:00:00Z"
    assert gap["lost"]["until"] == (NOW + timedelta(days=35) - LOOK_BACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(gap["days_lost"]) == 8
    assert [r["kind"] for r in later.records] == ["coverage"]  # only the new hour: a second, adjacent gap
    assert later.records[0]["lost"]["since"] == gap["lost"]["until"]


def override(pr: PullRequest, at: datetime) -> AuditEvent:
    fields = {"branch": "refs/heads/main", "after": pr.merge_commit_sha, "from": "pull_requests#merge", "org": "acme"}
    return AuditEvent(f"doc-{pr.number}", "protected_branch.policy_override", "olivia", at, pr.repository, fields)


def test_a_pr_recorded_before_its_override_was_read_leaves_the_bypass_record_as_the_finding() -> None:
    # Given a compliant PR already recorded by an earlier run
    stack = Stack(audit_log=True)
    assert stack.log is not None
    pr = pull_request(reviews=(review("bob"),))
    evaluation = evaluate(pr, POLICY.default, policy_version=POLICY.version)
    earlier = pull_request_record(evaluation, window=Window(NOW - timedelta(hours=1), NOW), run_id="earlier")
    stack.ledger.claim(earlier, notify=False, now=NOW - timedelta(hours=1))
    # When the audit log shows, later, that an admin merged it past protection
    stack.log.log.append(override(pr, NOW - timedelta(minutes=30)))
    stack.log.pulls[(pr.repository, str(pr.merge_commit_sha))] = {"number": pr.number, "url": pr.url}
    delivery, run = stack.run(NOW)
    # Then the bypass record names the PR and is the finding; the PR's record is not written again
    (bypass,) = run.records
    assert bypass["kind"] == "bypass" and bypass["pull_request"]["number"] == pr.number
    assert bypass["verdict"] == "non_compliant"
    assert delivery.deliver(dict(earlier)) is False


def test_a_pr_recorded_after_its_override_was_read_is_marked_even_a_day_later() -> None:
    # Given an override read by one run, its PR not yet shown by the search index
    stack = Stack(audit_log=True)
    assert stack.log is not None
    pr = pull_request(reviews=(review("bob"),))
    stack.log.log.append(override(pr, NOW - timedelta(minutes=30)))
    stack.run(NOW)
    # When a run a day later records the PR
    delivery, _ = stack.run(NOW + timedelta(days=1))
    evaluation = evaluate(pr, POLICY.default, policy_version=POLICY.version)
    record = pull_request_record(evaluation, window=Window(NOW, NOW + timedelta(days=1)), run_id="later")
    assert delivery.deliver(record) is True
    # Then its record carries admin_bypass and is a finding, although the review satisfied the policy
    assert record["admin_bypass"] is True and record["verdict"] == "non_compliant"
    assert stack.ledger.entries[record["record_id"]].needs_notification


def test_a_protection_change_no_protection_record_matched_gets_a_record_of_its_own_after_two_days() -> None:
    # Given an organisation ruleset changed (no repository named), read by one run
    stack = Stack(audit_log=True)
    assert stack.log is not None
    stack.log.log.append(AuditEvent("doc-r", "repository_ruleset.update", "olivia", NOW, None, {"org": "acme"}))
    _, first = stack.run(NOW + timedelta(minutes=5))
    # When two days pass without a protection record to carry it
    _, next_day = stack.run(NOW + timedelta(days=1))
    _, after = stack.run(NOW + timedelta(days=2, hours=1))
    # Then it is recorded on its own, as evidence of who changed it (not a finding)
    assert first.records == [] and next_day.records == []
    (record,) = after.records
    assert (record["kind"], record["status"], record["changed_by"]) == ("protection", "changed_in_audit_log", "olivia")
    assert record["verdict"] == "compliant"


@pytest.mark.parametrize(
    ("value", "expected"),
    [pytest.param("", False, id="unset"), pytest.param("TRUE", True, id="on"), pytest.param("false", False, id="off")],
)
def test_the_audit_log_is_read_only_when_the_setting_says_so(value: str, expected: bool) -> None:
    env = {"GITHUB_TOKEN_SECRET": "arn:secret", "GITHUB_ORGS": "acme", "READ_AUDIT_LOG": value}
    assert settings_from_env(env).read_audit_log is expected


def test_a_setting_that_is_neither_true_nor_false_is_rejected_naming_its_key() -> None:
    env = {"GITHUB_TOKEN_SECRET": "arn:secret", "GITHUB_ORGS": "acme", "READ_AUDIT_LOG": "yes"}
    with pytest.raises(ConfigError, match=r"^READ_AUDIT_LOG: expected true or false$"):
        settings_from_env(env)
