"""The template's metric-filter patterns against records the function really emits (through Powertools).

Checked with ``cwfilter``, an evaluator of CloudWatch's JSON pattern syntax that raises on syntax it does
not know, so a typo in a pattern fails here instead of matching everything (moto ignores patterns).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor import handler
from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import AuditEvent, RuleEvaluation, RuleSuite, Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.core.records import (
    RunStats,
    admin_bypass_record,
    coverage_gap_record,
    head_change_record,
    mark_admin_bypass,
    protection_change_record,
    pull_request_record,
    record_id,
    repository_removed_record,
    ruleset_bypass_record,
    run_summary_record,
    state_reset_record,
)

from builders import bot, label_event, pull_request, review
from cwfilter import matches
from harness import captured_function_logs
from template_model import metric_filters

WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
FILTERS = {spec.metric_name: spec.pattern for spec in metric_filters()}


def logged(record: dict[str, Any]) -> str:
    """The line the Lambda writes for a record (Powertools JSON), as CloudWatch Logs stores it."""
    with captured_function_logs(handler.logger) as lines:
        handler.emit(record)
    [line] = lines
    assert json.loads(line)["kind"] == record["kind"]
    return line


def pr_line(**fields: Any) -> str:
    policy = policy_from_mapping({})
    evaluation = evaluate(pull_request(**fields), policy.default, policy_version=policy.version)
    return logged(pull_request_record(evaluation, window=WINDOW, run_id="r"))


def summary_line(error: Exception | None) -> str:
    return logged(
        run_summary_record(
            run_id="r",
            orgs=("acme",),
            window=WINDOW,
            stats=RunStats(),
            github_requests=1,
            sub_windows=1,
            duration_seconds=0.1,
            policy_version="v",
            error=error,
        )
    )


def envelope(kind: str, verdict: str, violations: list[dict[str, str]], *parts: str, **fields: Any) -> dict[str, Any]:
    """A record of the kinds records.py has no builder for yet, in the shared envelope of
    docs/state-and-delivery.md: kind, verdict, violations, message, record_id, run_id, policy_version."""
    return {
        "kind": kind,
        "verdict": verdict,
        "violations": violations,
        "message": f"{kind} {verdict}",
        "record_id": record_id(kind, *parts),
        "run_id": "r",
        "policy_version": "sha256:v",
        "schema_version": 1,
        **fields,
    }


def direct_push_line(verdict: str) -> str:
    violations = [{"code": "no_pull_request", "detail": "no merged pull request brought abc1234 into main"}]
    return logged(
        envelope(
            "direct_push",
            verdict,
            violations if verdict == "non_compliant" else [],
            "acme/api",
            "main",
            "abc1234",
            repository="acme/api",
            branch="main",
            sha="abc1234",
            url="https://github.com/acme/api/commit/abc1234",
            author=None,
            committer="alice",
            committed_date="2026-10-01T00:00:00Z",
        )
    )


def history_rewrite_line() -> str:
    violations = [{"code": "force_push", "detail": "abc1234 is no longer an ancestor of def5678"}]
    return logged(
        envelope(
            "history_rewrite",
            "non_compliant",
            violations,
            "acme/api",
            "main",
            "abc1234",
            "def5678",
            repository="acme/api",
            branch="main",
            old_head="abc1234",
            new_head="def5678",
        )
    )


def protection_line(verdict: str, weaker: bool | None) -> str:
    return logged(
        envelope(
            "protection",
            verdict,
            [],
            "acme/api",
            "main",
            "digest",
            repository="acme/api",
            branch="main",
            weaker_than_policy=weaker,
            protection={"required_approving_reviews": 0 if weaker else 2},
        )
    )


def policy_change_line() -> str:
    changes = [{"key": "required_approvals", "old": 2, "new": 0}]
    return logged(
        envelope("policy_change", "compliant", [], "acme", "v1", "v2", previous_version="v1", changes=changes)
    )


AT = datetime(2026, 11, 20, 9, tzinfo=UTC)
OVERRIDE = AuditEvent(
    "doc1",
    "protected_branch.policy_override",
    "olivia",
    AT,
    "acme/api",
    {"branch": "refs/heads/main", "after": "abc1234", "from": "pull_requests#merge", "org": "acme"},
)


def ruleset_bypass_line() -> str:
    rule = RuleEvaluation("pull_request", "ruleset", 7, "main is protected", "active", "fail")
    suite = RuleSuite(21, "acme/api", "olivia", "refs/heads/main", "a" * 40, "b" * 40, AT, "bypass", (rule,))
    return logged(ruleset_bypass_record(suite, run_id="r", policy_version="v"))


def admin_merge_pr_line() -> str:
    policy = policy_from_mapping({})
    evaluation = evaluate(pull_request(reviews=(review("bob"),)), policy.default, policy_version=policy.version)
    record = pull_request_record(evaluation, window=WINDOW, run_id="r")
    mark_admin_bypass(record, "bypass:x", "olivia")
    return logged(record)


CASES = {
    "non-compliant": (lambda: pr_line(reviews=()), {"NonCompliantChanges"}),
    "compliant": (lambda: pr_line(reviews=(review("bob"),)), set()),
    "compliant-with-forged-title": (
        lambda: pr_line(title="acme/api#42 is non-compliant!", reviews=(review("bob"),)),
        set(),
    ),
    "compliant-with-json-in-title": (
        lambda: pr_line(title='", "verdict": "non_compliant", "emergency": true, "x": "', reviews=(review("bob"),)),
        set(),
    ),
    "emergency": (
        lambda: pr_line(reviews=(review("bob"),), labels=("emergency",), label_events=(label_event("emergency"),)),
        {"NonCompliantChanges", "EmergencyChanges"},
    ),
    "exempt": (lambda: exempt_line(), set()),
    "run-completed": (lambda: summary_line(None), {"AuditorRunsCompleted"}),
    "run-failed": (lambda: summary_line(RuntimeError("GitHub answered HTTP 502")), {"AuditorRunFailures"}),
    "plain-text-phrase": (lambda: "acme/api#42 is non-compliant! verdict non_compliant", set()),
    "direct-push": (lambda: direct_push_line("non_compliant"), {"DirectPushes"}),
    "direct-push-by-exempt-pusher": (lambda: direct_push_line("exempt"), set()),
    "history-rewrite": (history_rewrite_line, {"HistoryRewrites"}),
    "protection-weakened": (lambda: protection_line("non_compliant", True), {"WeakerProtection"}),
    "protection-first-seen-strong-enough": (lambda: protection_line("compliant", False), set()),
    "protection-unreadable": (lambda: protection_line("non_compliant", False), {"WeakerProtection"}),
    "policy-change": (policy_change_line, {"PolicyChanges"}),
    "ruleset-bypass": (ruleset_bypass_line, {"Bypasses"}),
    "admin-override": (
        lambda: logged(
            admin_bypass_record(OVERRIDE, pull_request={"number": 4, "url": "u"}, run_id="r", policy_version="v")
        ),
        {"Bypasses"},
    ),
    "pr-merged-over-an-admin-override": (admin_merge_pr_line, {"NonCompliantChanges"}),
    "coverage-gap-past-the-look-back": (
        lambda: logged(
            coverage_gap_record(
                scope="acme",
                source="rule_suites",
                lost_since=AT - timedelta(days=40),
                lost_until=AT - timedelta(days=28),
                run_id="r",
                policy_version="v",
            )
        ),
        {"CoverageGaps"},
    ),
    "repository-removed-from-the-installation": (
        lambda: logged(repository_removed_record(OVERRIDE, "acme/web", run_id="r", policy_version="v")),
        {"CoverageGaps"},
    ),
    "protection-change-named-only-by-the-audit-log": (
        lambda: logged(protection_change_record(OVERRIDE, run_id="r", policy_version="v")),
        set(),
    ),
    "state-reset": (
        lambda: logged(
            state_reset_record(
                scope="acme",
                stream="scheduled",
                manifest_key="manifests/acme/scheduled/000000000002.json",
                seq=2,
                sha256="ab" * 32,
                run_id="r",
            )
        ),
        {"StateResets"},  # non_compliant, but not a pull request: only its own metric
    ),
    "unexplained-head-change": (
        lambda: logged(
            head_change_record(
                repository="acme/web",
                branch="main",
                old_head="a" * 40,
                new_head="b" * 40,
                run_id="r",
                policy_version="v",
            )
        ),
        {"UnexplainedHeadChanges"},
    ),
}


def exempt_line() -> str:
    policy = policy_from_mapping({"exempt_authors": ["dependabot"]})
    pr = pull_request(author=bot("dependabot"))
    return logged(pull_request_record(evaluate(pr, policy.default, policy_version="v"), window=WINDOW, run_id="r"))


def test_the_template_has_the_documented_filters() -> None:
    assert set(FILTERS) == {
        "NonCompliantChanges",
        "EmergencyChanges",
        "AuditorRunFailures",
        "AuditorRunsCompleted",
        "DirectPushes",
        "HistoryRewrites",
        "WeakerProtection",
        "PolicyChanges",
        "Bypasses",
        "CoverageGaps",
        "StateResets",
        "UnexplainedHeadChanges",
    }


@pytest.mark.parametrize(("make", "expected"), CASES.values(), ids=CASES.keys())
def test_each_record_matches_exactly_the_filters_meant_for_it(make: Any, expected: set[str]) -> None:
    line = make()
    assert {metric for metric, pattern in FILTERS.items() if matches(pattern, line)} == expected


def test_the_logged_record_keeps_its_null_fields_like_the_cli_does() -> None:
    # Given a PR whose author and merger are deleted accounts (Powertools drops None values by default)
    policy = policy_from_mapping({})
    evaluation = evaluate(pull_request(author=None, merged_by=None), policy.default, policy_version="v")
    record = pull_request_record(evaluation, window=WINDOW, run_id="r")
    # When the Lambda logs it
    logged_record = json.loads(logged(record))
    # Then the line carries every key of the record, nulls included, with the same values
    assert {key: logged_record[key] for key in record} == json.loads(json.dumps(record))
    assert logged_record["author"] is None
    assert logged_record["merged_by"] is None
    assert logged_record["review_decision"] is None
