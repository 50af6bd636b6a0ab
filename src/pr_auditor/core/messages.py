"""One message per finding on the alarm topic (SNS → the ops SQS queue): the change itself, not "an alarm fired".

The body is JSON (``schema_version``) with the change, the judgement, the identifiers and a console link that
opens Logs Insights on the record. For the person on call it also says how bad it is (``severity``), what
happened in one line with every violation's detail (``message``), and what to check first (``next_step``).
SNS message attributes carry ``kind``, ``verdict``, ``severity``, ``repository``, the violation ``codes``
(String.Array) and ``emergency``, so a subscription can filter ("e-mail me critical findings only").
``record_id`` is the dedupe key (attribute and body): the ledger publishes each finding once, and only a
process that dies between SNS accepting a publish and the ledger update can cause a second message.

A message always fits SNS's size limit (``fitted``): a finding too big to send whole has its bulky lists cut,
says so (``truncated: true`` and the counts), and keeps its ``record_id``, codes and console link; the whole
record is in the log group and the evidence archive. This module is the pure part (no I/O);
``pr_auditor.aws.sns.SnsNotifier`` publishes what it builds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
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
    "ref",
    "sha",
    "pusher",
    "pushed_at",
    "committer",
    "committed_date",
    "old_head",
    "new_head",
    "before_sha",
    "after_sha",
    "actor",
    "pull_request",
    "rule_suite_id",
    "scope",
    "source",
)
_JUDGEMENT_KEYS = (
    "verdict",
    "violations",
    "approvers",
    "required_approvals",
    "discounted_approvals",
    "emergency",
    "emergency_label",
    "post_merge_reviews",
    "post_merge_dismissals",
    "weaker_than_policy",
    "weaknesses",
    "rules_bypassed",
    "rulesets_bypassed",
    "changes",
    "relaxed",
    "changed_by",
    "changed_at",
    "previous_policy_version",
)
_IDENTIFIERS = ("policy_version", "record_id", "run_id")
SNS_SUBJECT_LIMIT = 100
#: SNS's limit on one publish: the body plus every attribute's name, data type and value, in UTF-8 bytes
#: (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html). The subject is counted too,
#: and 4 KiB are kept back for what SNS counts that this module does not, and for the SNS envelope's other
#: fields (signature, URLs, ids) around the body in the ops queue.
SNS_MESSAGE_LIMIT = 262_144
MESSAGE_BUDGET = SNS_MESSAGE_LIMIT - 4_096
#: Lists a finding can carry in any number (one entry per post-merge review, approver, changed key, rule...):
#: the first to be cut when a message is too big. ``violations`` keep every code (also in ``codes``).
BULKY_LISTS = (
    "post_merge_reviews",
    "post_merge_dismissals",
    "discounted_approvals",
    "approvers",
    "changes",
    "weaknesses",
    "rules_bypassed",
    "rulesets_bypassed",
    "violations",
)
KEPT_ITEMS = 10  # entries a cut list keeps, first ones first
KEPT_CHARACTERS = 1_000  # characters a cut text keeps


class Severity(StrEnum):
    """How soon someone should look, most urgent first. ``critical``: a change reached a protected branch
    around the controls (a direct push, rewritten history, a bypass); ``high``: the controls were weakened or
    set aside (an emergency, a relaxed policy, weaker protection, an unreviewed merge); ``medium``: evidence is
    missing (a ticket, unreadable protection); ``low``: nothing was weakened (a policy tightened or reformatted)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_MOST_URGENT_FIRST = list(Severity)


_SEVERITY_OF_CODE = {
    "no_pull_request": Severity.CRITICAL,
    "force_push": Severity.CRITICAL,
    "ruleset_bypass": Severity.CRITICAL,
    "admin_bypass": Severity.CRITICAL,
    "unexplained_head_change": Severity.CRITICAL,
    "insufficient_approvals": Severity.HIGH,
    "changes_requested": Severity.HIGH,
    "emergency_label": Severity.HIGH,
    "weak_protection": Severity.HIGH,
    "coverage_gap": Severity.HIGH,
    "missing_ticket": Severity.MEDIUM,
    "protection_unreadable": Severity.MEDIUM,
}
_SEVERITY_OF_KIND = {
    "direct_push": Severity.CRITICAL,
    "history_rewrite": Severity.CRITICAL,
    "ruleset_bypass": Severity.CRITICAL,
    "bypass": Severity.CRITICAL,
}

#: What to check first, per kind of finding (a PR made under an emergency has its own).
_NEXT_STEP = {
    "pull_request": (
        "Open the pull request and check who merged it without the approvals or with changes still requested; "
        "get it reviewed now, and revert it if the review finds a problem."
    ),
    "emergency": (
        "Check the incident the emergency label was used for and who added the label; the change still needs "
        "a review after the fact, and a label added after the merge needs an explanation."
    ),
    "direct_push": (
        "Check who pushed the commit and why the branch protection let it through; review the commit as if it "
        "were a pull request, and revert it if nobody can vouch for it."
    ),
    "history_rewrite": (
        "Compare the old head with the new one to see which commits left the branch, find who force-pushed "
        "in the organisation audit log, and restore the old head if the rewrite was not intended."
    ),
    "protection": (
        "Open the branch's protection rules and rulesets, restore what the policy requires, and check in the "
        "audit log who changed them (or grant the permission the auditor needs to read them)."
    ),
    "policy_change": (
        "Confirm with the policy's owner that this change to the audit policy was approved; if it was not, "
        "put the previous version back in the SSM parameter."
    ),
    "ruleset_bypass": (
        "Check why the pusher used their place on the ruleset's bypass list (repository Settings > Rules > "
        "Insights), review the pushed commits, and shorten the bypass list if nobody can explain it."
    ),
    "bypass": (
        "Check the audit-log entry for who overrode branch protection and why, and review the change it let "
        "through (the linked pull request, if any)."
    ),
    "coverage": (
        "Check why the auditor lost sight of this repository or period (installation, permissions, look-back) "
        "and restore its access; changes in the gap must be reviewed by hand."
    ),
}
_DEFAULT_NEXT_STEP = "Open the record with the console link and check what it says."


def is_finding(record: Record) -> bool:
    """Does this record need a person? Non-compliant and emergency changes (PRs, direct pushes, rewritten
    history, weaker protection) and every policy change. Compliant and exempt records are population only."""
    if record.get("kind") == "policy_change":
        return True
    return record.get("verdict") == "non_compliant" or record.get("emergency") is True


def severity(record: Record) -> str:
    """How urgent a finding is (see ``Severity``): the most urgent of its kind, its violation codes, an
    emergency and a policy relaxation. A code this version does not know is ``medium``."""
    found = [_SEVERITY_OF_KIND.get(str(record.get("kind")), Severity.LOW)]
    found += [_SEVERITY_OF_CODE.get(code, Severity.MEDIUM) for code in violation_codes(record)]
    if record.get("emergency") is True:
        found.append(Severity.HIGH)
    if record.get("kind") == "policy_change":
        found.append(Severity.HIGH if record.get("relaxed") else Severity.LOW)
    return min(found, key=_MOST_URGENT_FIRST.index).value


def next_step(record: Record) -> str:
    """One sentence per kind of finding: what the person on call should check first."""
    kind = str(record.get("kind"))
    if kind == "pull_request" and record.get("emergency") is True:
        kind = "emergency"
    return _NEXT_STEP.get(kind, _DEFAULT_NEXT_STEP)


def violation_codes(record: Record) -> list[str]:
    """The record's violation codes, sorted, each once."""
    return sorted({str(v.get("code")) for v in record.get("violations") or [] if isinstance(v, Mapping)})


def headline(record: Record) -> str:
    """The record's one-line ``message``, completed with any violation detail it does not already name
    (records of an older version named only the codes), so the line alone says who and how many."""
    line = str(record.get("message") or _reference(record))
    missing = [
        f"{v.get('code')}: {v.get('detail')}"
        for v in record.get("violations") or []
        if isinstance(v, Mapping) and v.get("detail") and str(v["detail"]) not in line
    ]
    return f"{line} ({'; '.join(missing)})" if missing else line


@dataclass(frozen=True, slots=True)
class Console:
    """Where the records live, for the link in each message."""

    region: str
    log_group: str


def finding_message(record: Record, *, console: Console | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body (a dict, sent as JSON) and the SNS message attributes of one finding, whatever its size
    (``fitted`` makes it fit)."""
    body: dict[str, Any] = {"schema_version": MESSAGE_SCHEMA_VERSION}
    for key in (*_CHANGE_KEYS, *_JUDGEMENT_KEYS, *_IDENTIFIERS):
        if key in record:
            body[key] = record[key]
    codes = violation_codes(record)
    body |= {
        "message": headline(record),
        "severity": severity(record),
        "next_step": next_step(record),
        "codes": codes,
        "truncated": False,
    }
    if console is not None:
        body["logs_insights_url"] = logs_insights_url(console, record)
    attributes: dict[str, Any] = {
        "kind": _string(str(record.get("kind"))),
        "verdict": _string(str(record.get("verdict"))),
        "severity": _string(body["severity"]),
        "record_id": _string(str(record.get("record_id"))),
        "emergency": _string("true" if record.get("emergency") is True else "false"),
    }
    if codes:  # a record without violations (a policy change) carries no codes attribute
        attributes["codes"] = {"DataType": "String.Array", "StringValue": json.dumps(codes)}
    if record.get("repository"):
        attributes["repository"] = _string(str(record["repository"]))
    return body, attributes


def encoded(body: Mapping[str, Any]) -> str:
    """The body as SNS carries it: compact JSON, ASCII only."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":"))


def message_size(body: Mapping[str, Any], attributes: Mapping[str, Any], subject_line: str) -> int:
    """What one publish counts against SNS's limit, in bytes: body, subject, and each attribute's name,
    data type and value. The body is counted as the ops queue receives it: SNS delivers it to SQS inside a
    JSON envelope, as a JSON string, where every quote and backslash is escaped, so a body SNS accepts
    whole still fits a queue whose limit is the same 256 KiB."""
    size = len(json.dumps(encoded(body)).encode()) + len(subject_line.encode())
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode())
    return size


def fitted(
    body: Mapping[str, Any], attributes: Mapping[str, Any], subject_line: str, *, budget: int = MESSAGE_BUDGET
) -> dict[str, Any]:
    """The body as sent: whole when it fits ``budget``; else with its bulky lists cut to their first
    ``KEPT_ITEMS`` and long texts to ``KEPT_CHARACTERS``; else the ``minimal`` body. A cut body says
    ``truncated: true`` and, per cut list, how many entries it had and kept."""
    whole = dict(body)
    if message_size(whole, attributes, subject_line) <= budget:
        return whole
    cut = _cut(whole)
    if message_size(cut, attributes, subject_line) <= budget:
        return cut
    return minimal(cut)


def minimal(body: Mapping[str, Any]) -> dict[str, Any]:
    """The smallest body that still lets someone act: what and where, how bad, the ``record_id``, the codes
    and the console link; every text in it is cut to ``KEPT_CHARACTERS``, so its size is bounded."""
    kept = ("schema_version", "kind", "repository", "number", "url", "branch", "verdict", "emergency")
    small = {key: _short_text(body[key]) for key in kept if key in body}
    small |= {
        key: _short_text(body.get(key))
        for key in ("message", "severity", "next_step", "record_id", "run_id", "logs_insights_url")
    }
    small["codes"] = [_short_text(code) for code in list(body.get("codes") or [])[:100]]
    totals = {key: len(body[key]) for key in BULKY_LISTS if isinstance(body.get(key), list)}
    totals |= {key: int(counts["total"]) for key, counts in (body.get("truncated_lists") or {}).items()}
    small["truncated"] = True
    small["truncated_lists"] = {key: {"total": total, "kept": 0} for key, total in totals.items()}
    return small


def _cut(body: dict[str, Any]) -> dict[str, Any]:
    cut = dict(body)
    lists: dict[str, dict[str, int]] = {}
    for key in BULKY_LISTS:
        value = cut.get(key)
        if isinstance(value, list) and len(value) > KEPT_ITEMS:
            lists[key] = {"total": len(value), "kept": KEPT_ITEMS}
            cut[key] = value[:KEPT_ITEMS]
    if isinstance(cut.get("violations"), list):
        cut["violations"] = [
            {**v, "detail": _short_text(v.get("detail"))} if isinstance(v, Mapping) else v for v in cut["violations"]
        ]
    for key in ("title", "message"):
        if isinstance(cut.get(key), str):
            cut[key] = _short_text(cut[key])
    cut["truncated"] = True
    cut["truncated_lists"] = lists
    return cut


def _short_text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > KEPT_CHARACTERS:
        return value[: KEPT_CHARACTERS - 1] + "\u2026"
    return value


def _reference(record: Record) -> str:
    ref = str(record.get("repository") or record.get("kind"))
    if record.get("number") is not None:
        ref += f"#{record['number']}"
    elif record.get("sha"):
        ref += f"@{str(record['sha'])[:7]}"
    return ref


def subject(record: Record) -> str:
    """The e-mail subject: repository/number and verdict only (titles are attacker-controlled)."""
    text = f"pr-auditor {record.get('kind')}: {_reference(record)} {record.get('verdict')}"
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
