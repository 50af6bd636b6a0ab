"""Per-finding messages, pure: which records are findings, what a message carries, and the console link."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from pr_auditor.core.messages import Console, finding_message, is_finding, logs_insights_url, subject

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
