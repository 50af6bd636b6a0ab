"""Pure core of the report: which records are changes, their identity and time, CSV rows, the sample. No I/O.

A *change* is a record of kind ``pull_request``, ``direct_push`` or ``history_rewrite``; an *exception* is a
change that is ``non_compliant`` or carries an emergency. The CSV columns below are a contract (README
"The evidence pack"): add columns at the end, never rename or reorder.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from pr_auditor.core.model import iso

Record = Mapping[str, Any]
Row = dict[str, str]
T = TypeVar("T")

CHANGE_KINDS = frozenset({"pull_request", "direct_push", "history_rewrite"})
#: Where a change's moment is found, first present wins (docs/state-and-delivery.md, "Which period a change
#: belongs to"): a PR counts when it was merged; a branch finding when it happened, i.e. when it was pushed
#: (GitHub's own time), else when the audit detected it (the function's clock); never by its committed date
#: alone, which the client sets (backdatable). A late detection never moves a push out of its period.
TIME_KEYS = ("merged_at", "pushed_at", "detected_at", "committed_date", "recorded_at")

POPULATION_COLUMNS = (
    "record_id", "kind", "changed_at", "repository", "number", "branch", "sha", "url", "title",
    "author", "merged_by", "committer", "verdict", "emergency", "violation_codes", "approvers",
    "required_approvals", "exempt_reason", "review_decision", "archived_repository", "policy_version", "run_id",
)  # fmt: skip
EXCEPTION_COLUMNS = (
    "record_id", "kind", "changed_at", "repository", "number", "branch", "sha", "url", "title",
    "author", "merged_by", "committer", "verdict", "emergency", "violation_codes", "violations", "approvers",
    "required_approvals", "discounted_approvals", "emergency_label", "emergency_present_at_merge",
    "emergency_added_by", "emergency_added_at", "review_decision", "policy_version", "run_id",
)  # fmt: skip
SAMPLE_COLUMNS = (
    "sample_rank", "sample_key", "record_id", "kind", "changed_at", "repository", "number", "url", "title",
    "verdict", "violation_codes", "approvers", "policy_version", "run_id", "logs_insights_url",
)  # fmt: skip

#: A spreadsheet runs a cell beginning with one of these as a formula (OWASP "CSV injection"); titles and
#: branch names are attacker-controlled, so such a cell is written with a leading apostrophe.
_FORMULA_STARTS = frozenset("=+-@\t\r")


class RecordError(ValueError):
    """A record is unusable (a time that does not parse); the message names the key."""


def is_change(record: Record) -> bool:
    """Is this record one change of the population (and not a run summary, protection or policy record)?"""
    return record.get("kind") in CHANGE_KINDS


def is_exception(record: Record) -> bool:
    """Is this change an exception the auditor must see: non-compliant, or made under an emergency?"""
    return record.get("verdict") == "non_compliant" or record.get("emergency") is True


def dedupe_key(record: Record) -> str:
    """The identity a repeated record shares with its first copy (a crash can re-emit a record): its
    ``record_id``; for records written before ``record_id`` existed, (repository, number, merge commit) for
    PRs and (run_id, window, status) for run summaries; otherwise the record's canonical JSON."""
    record_id = record.get("record_id")
    if isinstance(record_id, str) and record_id:
        return record_id
    kind = str(record.get("kind"))
    if kind == "pull_request":
        repository = str(record.get("repository") or "").casefold()
        return f"{kind}|{repository}|{record.get('number')}|{record.get('merge_commit_sha') or ''}"
    if kind == "run_summary":
        window = record.get("window") or {}
        return f"{kind}|{record.get('run_id')}|{window.get('since')}|{window.get('until')}|{record.get('status')}"
    return "json|" + hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def parse_moment(value: Any, *, key: str) -> datetime:
    """An ISO-8601 timestamp of a record → aware UTC datetime (no offset means UTC)."""
    if not isinstance(value, str):
        raise RecordError(f"{key}: expected an ISO-8601 timestamp, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{key}: not an ISO-8601 timestamp: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def change_time(record: Record) -> datetime | None:
    """When the change happened (see ``TIME_KEYS``); a record with none of them counts from the start of the
    window that detected it; None when the record itself cannot say (the run that wrote it may)."""
    for key in TIME_KEYS:
        if record.get(key):
            return parse_moment(record[key], key=key)
    window = record.get("window")
    if isinstance(window, Mapping) and window.get("since"):
        return parse_moment(window["since"], key="window.since")
    return None


def iso_week(moment: datetime) -> str:
    """ISO-8601 week of a moment (UTC), e.g. ``2026-W48``: weeks start on Monday; the year is the ISO year."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(since: datetime, until: datetime) -> list[str]:
    """Every ISO week that [since, until) touches, in order (so a quiet week still shows as zero)."""
    weeks: list[str] = []
    cursor = since
    while cursor < until:
        week = iso_week(cursor)
        if not weeks or weeks[-1] != week:
            weeks.append(week)
        cursor += timedelta(days=7)
    last = iso_week(until - timedelta(microseconds=1))
    if weeks[-1] != last:
        weeks.append(last)
    return weeks


#: The chart's bucket, chosen from the period's length: a day under two weeks, a week up to a quarter (92
#: days, so a calendar quarter is still weekly), a month beyond.
DAY_BUCKETS_UNDER = timedelta(days=14)
WEEK_BUCKETS_UP_TO = timedelta(days=92)


def bucket_unit(since: datetime, until: datetime) -> str:
    """``day``, ``week`` or ``month``: the bucket that gives a period's chart a readable number of bars."""
    length = until - since
    if length < DAY_BUCKETS_UNDER:
        return "day"
    return "week" if length <= WEEK_BUCKETS_UP_TO else "month"


def bucket_of(moment: datetime, unit: str) -> str:
    """The bucket a moment (UTC) falls in: ``2026-11-20``, ``2026-W47`` or ``2026-11``."""
    moment = moment.astimezone(UTC)
    if unit == "day":
        return moment.strftime("%Y-%m-%d")
    if unit == "week":
        return iso_week(moment)
    return moment.strftime("%Y-%m")


def buckets_between(since: datetime, until: datetime, unit: str) -> list[str]:
    """Every bucket that [since, until) touches, in order (a quiet one still shows as zero)."""
    if unit == "week":
        return weeks_between(since, until)
    found: list[str] = []
    cursor = since
    while cursor < until:
        bucket = bucket_of(cursor, unit)
        if not found or found[-1] != bucket:
            found.append(bucket)
        cursor += timedelta(days=1)
    last = bucket_of(until - timedelta(microseconds=1), unit)
    if found[-1] != last:
        found.append(last)
    return found


def finding_labels(record: Record) -> list[str]:
    """What an exception is, for the chart: ``<kind>: <code>`` per violation code, and ``<kind>: emergency``
    for an emergency that broke no rule."""
    kind = str(record.get("kind"))
    codes = sorted({str(v.get("code")) for v in record.get("violations") or [] if isinstance(v, Mapping)})
    if not codes and record.get("emergency") is True:
        codes = ["emergency"]
    return [f"{kind}: {code}" for code in codes]


# --- CSV rows ---------------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One CSV cell: ``null`` → empty, booleans → ``true``/``false``, a would-be formula neutralised."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    text = value if type(value) is str else str(value)
    return "'" + text if text and text[0] in _FORMULA_STARTS else text


def _joined(values: Any, separator: str) -> str:
    if not values:
        return ""
    return separator.join(str(value) for value in values)


def change_identity(record: Record, when: datetime) -> dict[str, Any]:
    """Which change a row or an exception is: id, kind, time, repository, number, branch."""
    return {
        "record_id": record.get("record_id") or dedupe_key(record),
        "kind": record.get("kind"),
        "changed_at": iso(when),
        "repository": record.get("repository"),
        "number": record.get("number"),
        "branch": record.get("base") or record.get("branch"),
    }


def _common(record: Record, when: datetime) -> dict[str, Any]:
    violations = record.get("violations") or []
    return change_identity(record, when) | {
        "sha": record.get("merge_commit_sha") or record.get("sha") or record.get("new_head"),
        "url": record.get("url"),
        "title": record.get("title"),
        "author": record.get("author"),
        "merged_by": record.get("merged_by"),
        "committer": record.get("committer"),
        "verdict": record.get("verdict"),
        "emergency": bool(record.get("emergency")),
        "violation_codes": _joined([v.get("code") for v in violations], ";"),
        "approvers": _joined(record.get("approvers"), ";"),
        "required_approvals": record.get("required_approvals"),
        "policy_version": record.get("policy_version"),
        "run_id": record.get("run_id"),
    }


def population_row(record: Record, when: datetime) -> Row:
    """A change as one row of ``population.csv``."""
    values = _common(record, when) | {
        "exempt_reason": record.get("exempt_reason"),
        "review_decision": record.get("review_decision"),
        "archived_repository": record.get("archived_repository"),
    }
    return {column: cell(values.get(column)) for column in POPULATION_COLUMNS}


def exception_row(record: Record, when: datetime) -> Row:
    """An exception as one row of ``exceptions.csv``: every violation as ``code: detail`` (one per line),
    every discounted approval with its reason (one per line), and the emergency evidence."""
    label = record.get("emergency_label") or {}
    violations = record.get("violations") or []
    values = _common(record, when) | {
        "violations": "\n".join(f"{v.get('code')}: {v.get('detail')}" for v in violations),
        "discounted_approvals": _joined(record.get("discounted_approvals"), "\n"),
        "emergency_label": label.get("label"),
        "emergency_present_at_merge": label.get("present_at_merge"),
        "emergency_added_by": label.get("added_by"),
        "emergency_added_at": label.get("added_at"),
        "review_decision": record.get("review_decision"),
    }
    return {column: cell(values.get(column)) for column in EXCEPTION_COLUMNS}


def sample_row(record: Record, when: datetime, *, rank: int, key: str, logs_insights_url: str | None) -> Row:
    """A sampled change as one row of ``sample.csv``, with its evidence links (the PR and, when the log
    group is known, a Logs Insights query on its ``record_id``)."""
    values = _common(record, when) | {"sample_rank": rank, "sample_key": key, "logs_insights_url": logs_insights_url}
    return {column: cell(values.get(column)) for column in SAMPLE_COLUMNS}


# --- the sample -------------------------------------------------------------------------------------------


def sample_key(seed: str, record_id: str) -> str:
    """A change's place in the sample draw: ``sha256("<seed>:<record_id>")`` in hex. The sample is the N
    changes with the smallest keys: the same seed always draws the same changes, whatever order the records
    were read in, and an auditor can redraw it from ``population.csv`` alone."""
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


@dataclass
class Sampler(Generic[T]):
    """Keeps the ``size`` items with the smallest sample keys (of their record ids) seen so far, in a bounded
    heap: memory is the sample's, however large the population."""

    size: int
    seed: str
    _heap: list[tuple[int, str, T]] = field(default_factory=list)

    def offer(self, record_id: str, item: T) -> None:
        if self.size <= 0:
            return
        key = int(sample_key(self.seed, record_id), 16)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, (-key, record_id, item))
        elif -key > self._heap[0][0]:
            heapq.heapreplace(self._heap, (-key, record_id, item))

    def drawn(self) -> list[tuple[str, T]]:
        """(sample key, item) of the sample, smallest key first."""
        ordered = sorted(self._heap, key=lambda entry: (entry[0], entry[1]), reverse=True)
        return [(f"{-negated:064x}", item) for negated, _, item in ordered]
