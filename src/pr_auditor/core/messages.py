"""One message per finding on the alarm topic (SNS → the ops SQS queue): the change itself, not "an alarm fired".

The body is JSON (``schema_version``) with the change, the judgement, the identifiers and a console link that
opens Logs Insights on the record; SNS message attributes carry ``kind``, ``verdict``, ``repository``, the
violation ``codes`` (String.Array) and ``emergency``, so a subscription can filter ("e-mail me emergencies
only"). ``record_id`` is the dedupe key (attribute and body): the ledger publishes each finding once, and
only a process that dies between SNS accepting a publish and the ledger update can cause a second message.
This module is the pure part (no I/O); ``pr_auditor.aws.sns.SnsNotifier`` publishes what it builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pr_auditor.core.console import logs_insights_url as console_link
from pr_auditor.core.model import Record

MESSAGE_SCHEMA_VERSION = 1
_CHANGE_KEYS = (
    "kind",
    "repository",
    "number",
    "url",
    "title",
    "author",
    "merged_by",
    "merged_at",
    "base",
    "branch",
    "sha",
    "committer",
    "committed_date",
    "old_head",
    "new_head",
)
_JUDGEMENT_KEYS = (
    "verdict",
    "violations",
    "approvers",
    "discounted_approvals",
    "emergency",
    "emergency_label",
    "post_merge_reviews",
    "post_merge_dismissals",
    "weaker_than_policy",
    "changes",
    "previous_policy_version",
)
_IDENTIFIERS = ("policy_version", "record_id", "run_id")
SNS_SUBJECT_LIMIT = 100


def is_finding(record: Record) -> bool:
    """Does this record need a person? Non-compliant and emergency changes (PRs, direct pushes, rewritten
    history, weaker protection) and every policy change. Compliant and exempt records are population only."""
    if record.get("kind") == "policy_change":
        return True
    return record.get("verdict") == "non_compliant" or record.get("emergency") is True


@dataclass(frozen=True, slots=True)
class Console:
    """Where the records live, for the link in each message."""

    region: str
    log_group: str


def finding_message(record: Record, *, console: Console | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body (a dict, sent as JSON) and the SNS message attributes of one finding."""
    body: dict[str, Any] = {"schema_version": MESSAGE_SCHEMA_VERSION}
    for key in (*_CHANGE_KEYS, *_JUDGEMENT_KEYS, *_IDENTIFIERS):
        if key in record:
            body[key] = record[key]
    body["message"] = record.get("message")
    if console is not None:
        body["logs_insights_url"] = logs_insights_url(console, record)
    codes = sorted({str(v.get("code")) for v in record.get("violations") or [] if isinstance(v, dict)})
    attributes: dict[str, Any] = {
        "kind": _string(str(record.get("kind"))),
        "verdict": _string(str(record.get("verdict"))),
        "record_id": _string(str(record.get("record_id"))),
        "emergency": _string("true" if record.get("emergency") is True else "false"),
    }
    if codes:  # a record without violations (a policy change) carries no codes attribute
        attributes["codes"] = {"DataType": "String.Array", "StringValue": json.dumps(codes)}
    if record.get("repository"):
        attributes["repository"] = _string(str(record["repository"]))
    return body, attributes


def subject(record: Record) -> str:
    """The e-mail subject: repository/number and verdict only (titles are attacker-controlled)."""
    ref = str(record.get("repository") or record.get("kind"))
    if record.get("number") is not None:
        ref += f"#{record['number']}"
    elif record.get("sha"):
        ref += f"@{str(record['sha'])[:7]}"
    text = f"pr-auditor {record.get('kind')}: {ref} {record.get('verdict')}"
    return text.encode("ascii", "replace").decode()[:SNS_SUBJECT_LIMIT]


def logs_insights_url(console: Console, record: Record) -> str:
    """A console link that opens Logs Insights on this record (its ``record_id``), over the days around it."""
    moment = _record_time(record)
    return console_link(
        region=console.region,
        log_group=console.log_group,
        record_id=str(record.get("record_id")),
        start=moment - timedelta(days=1),
        end=moment + timedelta(days=1),
    )


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _record_time(record: Record) -> datetime:
    for key in ("merged_at", "detected_at", "committed_date"):
        value = record.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                continue
    window = record.get("window") or {}
    return datetime.fromisoformat(str(window.get("until") or "1970-01-01T00:00:00+00:00"))
