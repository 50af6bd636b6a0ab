"""Per-finding messages, pure: which records are findings, what a message carries (severity, the line with its
details, the next step), the console link, and the cut that makes any finding fit SNS's size limit."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from pr_auditor.core.messages import (
    KEPT_CHARACTERS,
    MESSAGE_BUDGET,
    SNS_MESSAGE_LIMIT,
    Console,
    finding_message,
    fitted,
    is_finding,
    logs_insights_url,
    message_size,
    next_step,
    severity,
    subject,
)

CONSOLE = Console(region="eu-west-1", log_group="/aws/lambda/pr-auditor-auditor")
FINDING: dict[str, Any] = {
    "kind": "pull_request",
    "record_id": "pull_request:0123456789abcdef0123456789abcdef",
    "repository": "acme/api",
    "number": 7,
    "url": "https://github.com/acme/api/pull/7",
    "title": "<script>alert(1)</script> \u2028 deploy",
    "merged_at": "2026-11-20T12:00:00Z",
    "verdict": "non_compliant",
    "emergency": True,
    "violations": [
        {"code": "insufficient_approvals", "detail": "0 of 1"},
        {"code": "emergency_label", "detail": "label"},
    ],
    "approvers": [],
    "discounted_approvals": ["alice: author"],
    "policy_version": "sha256:1",
    "run_id": "r:scheduled:0",
    "message": "acme/api#7 is non-compliant! insufficient_approvals, emergency_label",
    "head_sha": "not in the message body",
}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            {"kind": "pull_request", "verdict": "non_compliant", "emergency": False}, True, id="non-compliant"
        ),
        pytest.param({"kind": "pull_request", "verdict": "compliant", "emergency": False}, False, id="compliant"),
        pytest.param({"kind": "pull_request", "verdict": "exempt", "emergency": True}, True, id="exempt-emergency"),
        pytest.param({"kind": "direct_push", "verdict": "exempt"}, False, id="exempt-pusher"),
        pytest.param({"kind": "direct_push", "verdict": "non_compliant"}, True, id="direct-push"),
        pytest.param({"kind": "policy_change", "verdict": "compliant"}, True, id="policy-change"),
        pytest.param({"kind": "run_summary", "status": "completed"}, False, id="run-summary"),
    ],
)
def test_findings_are_non_compliant_or_emergency_changes_and_every_policy_change(
    record: dict[str, Any], expected: bool
) -> None:
    assert is_finding(record) is expected


def test_a_message_carries_the_change_the_judgement_and_filterable_attributes() -> None:
    body, attributes = finding_message(FINDING, console=CONSOLE)
    assert body["schema_version"] == 1
    assert {k: body[k] for k in ("repository", "number", "url", "title", "verdict", "record_id", "run_id")} == {
        k: FINDING[k] for k in ("repository", "number", "url", "title", "verdict", "record_id", "run_id")
    }
    assert body["violations"] == FINDING["violations"]
    assert "head_sha" not in body
    assert attributes["kind"] == {"DataType": "String", "StringValue": "pull_request"}
    assert attributes["emergency"]["StringValue"] == "true"
    assert attributes["codes"]["DataType"] == "String.Array"
    assert json.loads(attributes["codes"]["StringValue"]) == ["emergency_label", "insufficient_approvals"]
    assert attributes["record_id"]["StringValue"] == FINDING["record_id"]


def test_a_policy_change_message_has_no_codes_attribute_and_the_subject_never_holds_a_title() -> None:
    _, attributes = finding_message({"kind": "policy_change", "verdict": "compliant", "violations": []}, console=None)
    assert "codes" not in attributes
    text = subject(FINDING)
    assert text == "pr-auditor pull_request: acme/api#7 non_compliant"
    assert text.isascii() and len(text) <= 100


def test_the_console_link_decodes_to_a_logs_insights_query_on_that_record() -> None:
    url = logs_insights_url(CONSOLE, FINDING)
    prefix = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights"
    assert url.startswith(prefix)
    # Undo the console's layers: `$` for `%` over encodeURIComponent, then JS escape, then `*` for `%`.
    outer = unquote(url.removeprefix(prefix).replace("$", "%"))
    assert outer.startswith("?queryDetail=%7E%28")  # `~(` as JS escape writes it
    detail = unquote(outer.removeprefix("?queryDetail="))
    assert detail.startswith("~(end~'")
    fields = dict(re.findall(r"~(\w+)~('[^~()]*|\w+|\(~'[^)]*\))", detail))
    assert fields["timeType"] == "'ABSOLUTE"
    assert unquote(fields["editorString"][1:].replace("*", "%")).splitlines()[1] == (
        f'| filter record_id = "{FINDING["record_id"]}"'
    )
    assert unquote(fields["source"][3:-1].replace("*", "%")) == CONSOLE.log_group
    assert unquote(fields["start"][1:].replace("*", "%")) == "2026-11-19T12:00:00.000Z"


# --- what the person on call reads: severity, the line with its details, the next step ----------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            {"kind": "direct_push", "violations": [{"code": "no_pull_request"}]}, "critical", id="direct-push"
        ),
        pytest.param({"kind": "history_rewrite", "violations": [{"code": "force_push"}]}, "critical", id="rewrite"),
        pytest.param({"kind": "ruleset_bypass", "violations": [{"code": "ruleset_bypass"}]}, "critical", id="ruleset"),
        pytest.param({"kind": "bypass", "violations": [{"code": "admin_bypass"}]}, "critical", id="admin-override"),
        pytest.param({"kind": "bypass", "violations": []}, "critical", id="bypass-by-kind-alone"),
        pytest.param({"kind": "pull_request", "emergency": True, "violations": []}, "high", id="emergency"),
        pytest.param(
            {"kind": "pull_request", "violations": [{"code": "missing_ticket"}, {"code": "insufficient_approvals"}]},
            "high",
            id="the-worst-code-wins",
        ),
        pytest.param({"kind": "pull_request", "violations": [{"code": "missing_ticket"}]}, "medium", id="ticket"),
        pytest.param({"kind": "policy_change", "relaxed": True, "violations": []}, "high", id="policy-relaxed"),
        pytest.param({"kind": "policy_change", "relaxed": False, "violations": []}, "low", id="policy-tightened"),
        pytest.param({"kind": "protection", "violations": [{"code": "weak_protection"}]}, "high", id="weak-protection"),
        pytest.param({"kind": "protection", "violations": [{"code": "protection_unreadable"}]}, "medium", id="unread"),
        pytest.param(
            {"kind": "pull_request", "violations": [{"code": "from_the_future"}]}, "medium", id="unknown-code"
        ),
    ],
)
def test_severity_ranks_pushes_and_bypasses_above_emergencies_and_relaxations(
    record: dict[str, Any], expected: str
) -> None:
    assert severity(record) == expected


def test_every_kind_of_finding_has_its_own_next_step_and_an_emergency_pr_its_own() -> None:
    kinds = ["pull_request", "direct_push", "history_rewrite", "protection", "policy_change", "ruleset_bypass"]
    kinds += ["bypass", "coverage"]
    steps = {kind: next_step({"kind": kind}) for kind in kinds}
    steps["emergency"] = next_step({"kind": "pull_request", "emergency": True})
    assert len(set(steps.values())) == len(steps)
    assert all(step.endswith(".") and len(step) < 300 for step in steps.values())
    assert "force-push" in steps["history_rewrite"] and "bypass list" in steps["ruleset_bypass"]
    assert next_step({"kind": "something_new"}).startswith("Open the record with the console link")


def test_a_message_line_that_names_only_codes_is_completed_with_each_detail() -> None:
    # Given a record written before messages carried details
    record = FINDING | {
        "message": "acme/api#7 is non-compliant! violations: insufficient_approvals, changes_requested",
        "violations": [
            {"code": "insufficient_approvals", "detail": "1 of 2 required approvals (counted: bob)"},
            {"code": "changes_requested", "detail": "changes still requested at merge by ivan"},
        ],
    }
    # When its message is built, Then the line says who and how many, and keeps the contract phrase
    line = finding_message(record, console=None)[0]["message"]
    assert "is non-compliant!" in line
    assert "1 of 2 required approvals" in line and "changes still requested at merge by ivan" in line
    # And a line that already names every detail is left as it is
    complete = record | {"message": "x is non-compliant! " + "; ".join(v["detail"] for v in record["violations"])}
    assert finding_message(complete, console=None)[0]["message"] == complete["message"]


def test_a_message_carries_severity_next_step_codes_and_the_required_count() -> None:
    body, attributes = finding_message(FINDING | {"required_approvals": 2}, console=CONSOLE)
    assert body["severity"] == "high" and attributes["severity"]["StringValue"] == "high"
    assert body["next_step"] == next_step(FINDING)
    assert body["codes"] == ["emergency_label", "insufficient_approvals"]
    assert body["required_approvals"] == 2
    assert body["truncated"] is False


# --- a message always fits SNS's 256 KiB -------------------------------------------------------------------


OUTSIDER = "outside-account-commenting-after-merge"  # 38 characters: GitHub allows 39


def outside_reviews(n: int) -> list[dict[str, Any]]:
    """``n`` comments left after the merge by one account from outside the organisation."""
    return [{"login": OUTSIDER, "state": "COMMENTED", "submitted_at": "2026-11-20T12:30:00Z"}] * n


def sent_size(record: dict[str, Any]) -> tuple[dict[str, Any], int]:
    whole, attributes = finding_message(record, console=CONSOLE)
    body = fitted(whole, attributes, subject(record))
    return body, message_size(body, attributes, subject(record))


def test_size_counts_the_body_as_the_queue_receives_it_with_its_quotes_escaped() -> None:
    # Given a body of 100,000 quote characters (inside the SNS envelope each becomes two bytes)
    body = {"title": '"' * 100_000}
    # Then its size is counted escaped, and the attributes' names, types and values count too
    assert message_size(body, {}, "") > 200_000
    assert message_size({}, {"kind": {"DataType": "String", "StringValue": "bypass"}}, "s") == len('"{}"') + 1 + 16


def test_a_finding_that_fits_is_sent_whole() -> None:
    record = FINDING | {"post_merge_reviews": outside_reviews(100)}
    body, size = sent_size(record)
    assert body["truncated"] is False and body["post_merge_reviews"] == record["post_merge_reviews"]
    assert size < MESSAGE_BUDGET


def test_a_300_kb_finding_is_cut_to_fit_and_says_what_it_cut() -> None:
    # Given a finding with 2,800 post-merge comments from an outside account (over 300 KB as JSON)
    record = FINDING | {"post_merge_reviews": outside_reviews(2_800)}
    assert len(json.dumps(record).encode()) > 300_000
    # When the message is fitted
    body, size = sent_size(record)
    # Then it is under SNS's limit, says it was cut and how much, and keeps what ops acts on
    assert size <= MESSAGE_BUDGET < SNS_MESSAGE_LIMIT
    assert body["truncated"] is True
    assert body["truncated_lists"] == {"post_merge_reviews": {"total": 2_800, "kept": 10}}
    assert body["post_merge_reviews"] == record["post_merge_reviews"][:10]
    assert body["record_id"] == FINDING["record_id"]
    assert body["codes"] == ["emergency_label", "insufficient_approvals"]
    assert body["violations"] == FINDING["violations"]
    assert body["logs_insights_url"] == logs_insights_url(CONSOLE, FINDING)


def test_a_finding_too_big_even_after_the_lists_are_cut_is_sent_minimal_and_bounded() -> None:
    # Given a finding whose bulk is not in a list (a huge detail of one of a thousand violations, a huge url)
    violations = [{"code": f"code_{i % 3}", "detail": "d" * 2_000} for i in range(1_000)]
    record = FINDING | {"violations": violations, "url": "https://github.com/" + "u" * 400_000}
    record |= {"approvers": [f"user{i}" for i in range(30_000)]}
    body, size = sent_size(record)
    # Then the minimal body goes: record id, codes, console link, counts; every text cut
    assert size <= MESSAGE_BUDGET
    assert body["truncated"] is True
    assert body["record_id"] == FINDING["record_id"]
    assert body["codes"] == ["code_0", "code_1", "code_2"]
    assert body["logs_insights_url"] == logs_insights_url(CONSOLE, FINDING)
    assert body["truncated_lists"]["approvers"] == {"total": 30_000, "kept": 0}
    assert body["truncated_lists"]["violations"] == {"total": 1_000, "kept": 0}
    assert "violations" not in body and len(body["url"]) == KEPT_CHARACTERS
