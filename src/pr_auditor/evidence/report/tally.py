"""Pure aggregation for ``summary.json``: counts per verdict, kind, repository, violation code and ISO week,
the policy versions in force, and completeness (the windows the completed runs covered, the failed runs).
No I/O; one record at a time, so a period of any size is summarised in constant memory per key."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pr_auditor.core.model import iso
from pr_auditor.evidence.report.core import Record, is_exception, iso_week, parse_moment, weeks_between

Span = tuple[datetime, datetime]


def gaps(period: Span, covered: Iterable[Span]) -> list[Span]:
    """The parts of ``period`` that no span in ``covered`` covers (spans are half-open [since, until);
    overlapping and touching spans merge)."""
    since, until = period
    cursor = since
    found: list[Span] = []
    for start, end in sorted(covered):
        if end <= cursor or start >= until:
            continue
        if start > cursor:
            found.append((cursor, start))
        cursor = max(cursor, end)
        if cursor >= until:
            break
    if cursor < until:
        found.append((cursor, until))
    return found


@dataclass(frozen=True, slots=True)
class Story:
    """What the report keeps of a record to tell a repeat (same content) from a conflict (other content)."""

    digest: bytes
    kind: Any
    brief: dict[str, Any]

    @classmethod
    def of(cls, record: Record) -> Story:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        brief = {"verdict": record.get("verdict"), "run_id": record.get("run_id")}
        return cls(hashlib.sha256(text.encode()).digest()[:16], record.get("kind"), brief)


def _window(record: Record) -> Span | None:
    window = record.get("window")
    if not isinstance(window, Mapping) or not window.get("since") or not window.get("until"):
        return None
    return parse_moment(window["since"], key="window.since"), parse_moment(window["until"], key="window.until")


@dataclass
class PolicySeen:
    changes: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, when: datetime) -> None:
        self.changes += 1
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)


@dataclass
class Tally:
    """Everything ``summary.json`` counts, fed one record at a time."""

    since: datetime
    until: datetime
    changes: int = 0
    exceptions: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_violation_code: Counter[str] = field(default_factory=Counter)
    by_repository: dict[str, Counter[str]] = field(default_factory=dict)
    changes_per_week: Counter[str] = field(default_factory=Counter)
    exceptions_per_week: Counter[str] = field(default_factory=Counter)
    policy_versions: dict[str, PolicySeen] = field(default_factory=dict)
    completed_windows: list[Span] = field(default_factory=list)
    failed_runs: list[dict[str, Any]] = field(default_factory=list)
    policy_changes: list[dict[str, Any]] = field(default_factory=list)
    run_windows: dict[str, Span] = field(default_factory=dict)  # every run's window, to place undated changes
    undated: list[str] = field(default_factory=list)  # record ids of changes nothing could place in time
    #: The same record id with other content in two objects: the archive tells two stories (never dropped).
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    records_read: int = 0
    duplicates: int = 0
    outside_period: int = 0
    other_kinds: Counter[str] = field(default_factory=Counter)

    def add_conflict(self, key: str, counted: Story, other: Story) -> None:
        """A record id seen before with other content: the archive tells two stories. The first one read
        is the one counted; both are listed."""
        self.conflicts.append({"record_id": key, "kind": counted.kind, "counted": counted.brief, "other": other.brief})

    def in_period(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def add_change(self, record: Record, when: datetime) -> None:
        verdict = str(record.get("verdict"))
        exception = is_exception(record)
        week = iso_week(when)
        self.changes += 1
        self.by_verdict[verdict] += 1
        self.by_kind[str(record.get("kind"))] += 1
        repository = self.by_repository.setdefault(str(record.get("repository")), Counter())
        repository["changes"] += 1
        repository[verdict] += 1
        self.changes_per_week[week] += 1
        for violation in record.get("violations") or []:
            self.by_violation_code[str(violation.get("code"))] += 1
        if exception:
            self.exceptions += 1
            repository["exceptions"] += 1
            self.exceptions_per_week[week] += 1
        self.policy_versions.setdefault(str(record.get("policy_version")), PolicySeen()).add(when)

    def add_run_summary(self, record: Record) -> None:
        """A completed run's window counts as covered; a failed run in the period is listed."""
        window = _window(record)
        if window is not None and record.get("run_id"):
            self.run_windows.setdefault(str(record["run_id"]), window)
        if window is None or window[1] <= self.since or window[0] >= self.until:
            return
        if record.get("status") == "completed":
            self.completed_windows.append(window)
        else:
            error = record.get("error") or {}
            self.failed_runs.append(
                {
                    "run_id": record.get("run_id"),
                    "window": {"since": iso(window[0]), "until": iso(window[1])},
                    "error": f"{error.get('type', 'error')}: {error.get('message', '')}".strip(": "),
                }
            )

    def add_policy_change(self, record: Record) -> None:
        """A change of the policy in force during the period (who, when, which keys, whether it relaxed the
        rules) is listed; one without a time, or outside the period, is only counted."""
        changed_at = record.get("changed_at")
        when = parse_moment(changed_at, key="changed_at") if changed_at else None
        if when is None or not self.in_period(when):
            self.other_kinds["policy_change"] += 1
            return
        self.policy_changes.append(
            {
                "changed_at": iso(when),
                "changed_by": record.get("changed_by"),
                "previous_policy_version": record.get("previous_policy_version"),
                "policy_version": record.get("policy_version"),
                "keys": [str(change.get("key")) for change in record.get("changes") or []],
                "relaxed": bool(record.get("relaxed")),
                "record_id": record.get("record_id"),
            }
        )

    def weeks(self) -> list[dict[str, Any]]:
        """Changes and exceptions per ISO week of the period, quiet weeks included, in order."""
        return [
            {"week": week, "changes": self.changes_per_week[week], "exceptions": self.exceptions_per_week[week]}
            for week in weeks_between(self.since, self.until)
        ]

    def summary(self, *, chain: Mapping[str, Any], sample: Mapping[str, Any]) -> dict[str, Any]:
        missing = gaps((self.since, self.until), self.completed_windows)
        return {
            "period": {"since": iso(self.since), "until": iso(self.until)},
            "changes": self.changes,
            "exceptions": self.exceptions,
            "counts": {
                "by_verdict": dict(sorted(self.by_verdict.items())),
                "by_kind": dict(sorted(self.by_kind.items())),
                "by_violation_code": dict(sorted(self.by_violation_code.items())),
                "by_repository": {name: dict(sorted(c.items())) for name, c in sorted(self.by_repository.items())},
                "by_week": self.weeks(),
            },
            "completeness": {
                "chain": dict(chain),
                "windows_covered": not missing,
                "completed_runs": len(self.completed_windows),
                "gaps": [{"since": iso(start), "until": iso(end)} for start, end in missing],
                "failed_runs": self.failed_runs,
            },
            "policy_versions": [
                {
                    "policy_version": version,
                    "changes": seen.changes,
                    "first_change": iso(seen.first) if seen.first else None,
                    "last_change": iso(seen.last) if seen.last else None,
                }
                for version, seen in sorted(self.policy_versions.items(), key=lambda item: item[1].first or self.since)
            ],
            "conflicts": self.conflicts,
            "policy_changes": sorted(self.policy_changes, key=lambda change: str(change["changed_at"])),
            "sample": dict(sample),
            "input": {
                "records_read": self.records_read,
                "duplicates_dropped": self.duplicates,
                "conflicts": len(self.conflicts),
                "changes_outside_period": self.outside_period,
                "undated_changes": self.undated,
                "other_records": dict(sorted(self.other_kinds.items())),
            },
        }
