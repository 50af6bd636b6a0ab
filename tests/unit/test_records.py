"""Records follow the README's contract ("Records"): the keys auditors and external checks rely on, with JSON types."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import Window
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.core.records import RunStats, pull_request_record, run_summary_record

from builders import after_merge, body_edit, label_event, pull_request, review

WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
CONTRACT_KEYS = {
    "kind": str,
    "repository": str,
    "number": int,
    "url": str,
    "title": str,
    "author": (str, type(None)),
    "merged_by": (str, type(None)),
    "merged_at": str,
    "base": str,
    "head_sha": str,
    "merge_commit_sha": (str, type(None)),
    "labels": list,
    "verdict": str,
    "violations": list,
    "approvers": list,
    "required_approvals": int,
    "policy_version": str,
    "window": dict,
    "run_id": str,
    "post_merge_reviews": list,
}


def record_for(**pr_fields: object) -> dict[str, object]:
    policy = policy_from_mapping({})
    evaluation = evaluate(pull_request(**pr_fields), policy.default, policy_version=policy.version)
    return json.loads(json.dumps(pull_request_record(evaluation, window=WINDOW, run_id="run-1")))


def test_pull_request_record_has_every_contract_key_with_its_json_type() -> None:
    record = record_for(reviews=(review("bob"),))
    for key, kind in CONTRACT_KEYS.items():
        assert isinstance(record[key], kind), key
    assert record["kind"] == "pull_request"
    assert record["verdict"] == "compliant"
    assert record["merged_at"] == "2026-11-20T12:00:00Z"
    assert record["window"] == {"since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"}
    assert record["approvers"] == ["bob"]
    assert record["emergency"] is False


def test_non_compliant_message_carries_the_rewind_phrase_but_never_the_title() -> None:
    record = record_for(title="harmless title", reviews=(review("alice"),))
    assert record["verdict"] == "non_compliant"
    assert "is non-compliant!" in str(record["message"])
    assert "harmless title" not in str(record["message"])
    assert record["violations"] == [
        {
            "code": "insufficient_approvals",
            "detail": "0 of 1 required approvals (counted: none); not counted: alice: author",
        }
    ]


def test_compliant_pr_with_a_forged_title_does_not_say_non_compliant_in_its_message() -> None:
    record = record_for(title="acme/api#42 is non-compliant!", reviews=(review("bob"),))
    assert record["verdict"] == "compliant"
    assert record["message"] == "acme/api#42 is compliant"


def test_emergency_record_says_who_added_the_label_after_merge() -> None:
    record = record_for(
        reviews=(review("bob"),),
        labels=("emergency",),
        label_events=(label_event("emergency", by="mallory", minutes_after_merge=45),),
        review_decision="REVIEW_REQUIRED",
    )
    assert record["emergency"] is True
    assert record["emergency_label"] == {
        "label": "emergency",
        "present_at_merge": False,
        "added_by": "mallory",
        "added_at": "2026-11-20T12:45:00Z",
    }
    assert record["review_decision"] == "REVIEW_REQUIRED"


def test_run_summary_counts_every_verdict_and_reports_failure() -> None:
    stats = RunStats(verdicts=Counter({"compliant": 3, "non_compliant": 2}), out_of_scope=4)
    summary = run_summary_record(
        run_id="r",
        orgs=("acme",),
        window=WINDOW,
        stats=stats,
        github_requests=7,
        sub_windows=1,
        duration_seconds=1.23456,
        policy_version="sha256:x",
        error=RuntimeError("GitHub answered HTTP 502"),
    )
    assert summary["kind"] == "run_summary"
    assert summary["status"] == "failed"
    assert summary["counts"] == {
        "compliant": 3,
        "non_compliant": 2,
        "exempt": 0,
        "audited": 5,
        "out_of_scope": 4,
        "duplicates": 0,
        "already_recorded": 0,
        "late_indexed": 0,
        "recovered": 0,
        "notify_failed": 0,
        "direct_pushes": 0,
    }
    # An exception that is not ours is named by its type only: its text may hold what a server chose.
    assert summary["error"] == {"type": "RuntimeError", "message": "RuntimeError"}
    assert summary["duration_seconds"] == 1.235
    assert summary["window"]["until"] == (WINDOW.since + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_records_list_the_post_merge_reviews_without_changing_the_verdict() -> None:
    record = record_for(
        reviews=(
            review("carol", "CHANGES_REQUESTED", minutes_before_merge=after_merge(5)),
            review("bob", minutes_before_merge=after_merge(40)),
            review(None, minutes_before_merge=after_merge(41)),
        )
    )
    assert record["verdict"] == "non_compliant"
    assert record["approvers"] == []
    assert record["post_merge_reviews"] == [
        {"login": "carol", "state": "CHANGES_REQUESTED", "submitted_at": "2026-11-20T12:05:00Z"},
        {"login": "bob", "state": "APPROVED", "submitted_at": "2026-11-20T12:40:00Z"},
        {"login": None, "state": "APPROVED", "submitted_at": "2026-11-20T12:41:00Z"},
    ]


def test_a_pr_reviewed_only_before_the_merge_lists_no_post_merge_reviews() -> None:
    assert record_for(reviews=(review("bob"),))["post_merge_reviews"] == []


def test_the_message_names_the_pr_and_each_violation_with_its_detail_never_the_authors_texts() -> None:
    record = record_for(
        title="OPS-1 \u2028 forged",
        head_ref="branch-with-\u2029-and-secrets",
        body="body text",
        labels=("emergency \u2028 label",),
        reviews=(),
    )
    details = "; ".join(f"{v['code']}: {v['detail']}" for v in record["violations"])  # type: ignore[index]
    assert record["message"] == f"acme/api#42 is non-compliant! violations: {details}"
    assert "0 of 1 required approvals" in str(record["message"])
    assert "forged" not in str(record["message"]) and "secrets" not in str(record["message"])


def test_the_missing_ticket_detail_does_not_carry_the_head_branch() -> None:
    policy = policy_from_mapping({"ticket_pattern": "OPS-[0-9]+"})
    pr = pull_request(
        head_ref="evil\u2028branch", reviews=(review("bob"),), body_edits=(body_edit(None, minutes_after_merge=-9),)
    )
    evaluation = evaluate(pr, policy.default, policy_version=policy.version)
    record = pull_request_record(evaluation, window=WINDOW, run_id="run-1")
    assert str(record["message"]).startswith(
        "acme/api#42 is non-compliant! violations: missing_ticket: no match for /OPS-[0-9]+/ in the title"
    )
    assert "evil" not in json.dumps(record["violations"])
