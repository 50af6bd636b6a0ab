"""Pure aggregation for ``summary.json``: counts per verdict, kind, repository, violation code, ISO week and the
chart's bucket (findings by kind and code), the policy versions in force (with what is known of their text),
and completeness (the windows the completed runs covered, the failed runs).
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
from pr_auditor.evidence.report.core import (
    Record,
    bucket_of,
    bucket_unit,
    buckets_between,
    finding_labels,
    is_exception,
    iso_week,
    parse_moment,
    weeks_between,
)

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
class ChangeCounts:
    """The changes of the period counted per verdict, kind, violation code, repository and ISO week."""

    changes: int = 0
    exceptions: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_violation_code: Counter[str] = field(default_factory=Counter)
    by_repository: dict[str, Counter[str]] = field(default_factory=dict)
    changes_per_week: Counter[str] = field(default_factory=Counter)
    exceptions_per_week: Counter[str] = field(default_factory=Counter)
    unit: str = "week"  # the chart's bucket (``bucket_unit``)
    per_bucket: dict[str, Counter[str]] = field(default_factory=dict)  # changes, exceptions
    findings_per_bucket: dict[str, Counter[str]] = field(default_factory=dict)  # "<kind>: <code>" → n
    by_kind_and_code: Counter[str] = field(default_factory=Counter)

    def add(self, record: Record, when: datetime) -> None:
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
        bucket = bucket_of(when, self.unit)
        self.per_bucket.setdefault(bucket, Counter())["changes"] += 1
        if exception:
            self.exceptions += 1
            repository["exceptions"] += 1
            self.exceptions_per_week[week] += 1
            self.per_bucket[bucket]["exceptions"] += 1
            labels = finding_labels(record)
            self.by_kind_and_code.update(labels)
            self.findings_per_bucket.setdefault(bucket, Counter()).update(labels)

    def weeks(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Changes and exceptions per ISO week of the period, quiet weeks included, in order."""
        return [
            {"week": week, "changes": self.changes_per_week[week], "exceptions": self.exceptions_per_week[week]}
            for week in weeks_between(since, until)
        ]

    def counts(self, since: datetime, until: datetime) -> dict[str, Any]:
        return {
            "by_verdict": dict(sorted(self.by_verdict.items())),
            "by_kind": dict(sorted(self.by_kind.items())),
            "by_violation_code": dict(sorted(self.by_violation_code.items())),
            "by_repository": {name: dict(sorted(c.items())) for name, c in sorted(self.by_repository.items())},
            "by_week": self.weeks(since, until),
            "by_kind_and_code": dict(sorted(self.by_kind_and_code.items())),
            "by_bucket": {"unit": self.unit, "buckets": self.buckets(since, until)},
        }

    def buckets(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Changes, exceptions and findings by kind and code per bucket of the period, quiet ones included."""
        found = []
        for bucket in buckets_between(since, until, self.unit):
            counts = self.per_bucket.get(bucket, Counter())
            findings = self.findings_per_bucket.get(bucket, Counter())
            found.append(
                {
                    "bucket": bucket,
                    "changes": counts["changes"],
                    "exceptions": counts["exceptions"],
                    "findings": dict(sorted(findings.items())),
                }
            )
        return found


@dataclass
class Coverage:
    """Which parts of the period completed runs covered, and the runs that failed in it."""

    since: datetime
    until: datetime
    completed_windows: list[Span] = field(default_factory=list)
    failed_runs: list[dict[str, Any]] = field(default_factory=list)
    run_windows: dict[str, Span] = field(default_factory=dict)  # every run's window, to place undated changes

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

    def completeness(self, chain: Mapping[str, Any]) -> dict[str, Any]:
        missing = gaps((self.since, self.until), self.completed_windows)
        return {
            "chain": dict(chain),
            "windows_covered": not missing,
            "completed_runs": len(self.completed_windows),
            "gaps": [{"since": iso(start), "until": iso(end)} for start, end in missing],
            "failed_runs": self.failed_runs,
        }


@dataclass
class PolicyHistory:
    """The policy versions in force in the period (those the changes were judged under, and those a policy
    change in the period replaced or brought in), what is known of each one's text, and the policy changes
    in the period.

    A version's text is known when a record carries it (``policy``: the canonical policy of ``policy_version``;
    ``previous_policy``: that of ``previous_policy_version``) or a policy file given to the report has that
    version. Otherwise its known settings are what the policy changes say of it: each changed key's ``new``
    value belongs to the version it changed to, its ``old`` value to the one it changed from."""

    since: datetime
    until: datetime
    versions: dict[str, PolicySeen] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_change(self, record: Record, when: datetime) -> None:
        self.versions.setdefault(str(record.get("policy_version")), PolicySeen()).add(when)

    def add_text(self, version: str, canonical: Any) -> None:
        """The canonical text of ``version`` (a record's, or a policy file's); the first one kept."""
        self.texts.setdefault(version, canonical)

    def add_policy_change(self, record: Record) -> bool:
        """A change of the policy in force during the period (who, when, which keys, whether it relaxed the
        rules) is listed; one without a time, or outside the period, is not (False: the caller counts it).
        What any policy change says of the two versions' texts is kept, wherever it lies in time."""
        self._learn(record)
        changed_at = record.get("changed_at")
        when = parse_moment(changed_at, key="changed_at") if changed_at else None
        if when is None or not self.since <= when < self.until:
            return False
        self.changes.append(
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
        return True

    def _learn(self, record: Record) -> None:
        new, old = str(record.get("policy_version")), str(record.get("previous_policy_version"))
        if isinstance(record.get("policy"), Mapping):
            self.add_text(new, record["policy"])
        if isinstance(record.get("previous_policy"), Mapping):
            self.add_text(old, record["previous_policy"])
        for change in record.get("changes") or []:
            if isinstance(change, Mapping) and change.get("key"):
                self.settings.setdefault(new, {})[str(change["key"])] = change.get("new")
                self.settings.setdefault(old, {}).setdefault(str(change["key"]), change.get("old"))

    def versions_in_force(self) -> list[dict[str, Any]]:
        """Each version in force in the period, first used first, with its text or its known settings."""
        began: dict[str, datetime] = {version: used.first or self.since for version, used in self.versions.items()}
        for change in self.changes:  # a version a change brought in counts from that change at the latest
            changed_at = parse_moment(change["changed_at"], key="changed_at")
            began.setdefault(str(change["previous_policy_version"]), self.since)
            new = str(change["policy_version"])
            began[new] = min(began.get(new, changed_at), changed_at)
        return [
            {
                "policy_version": version,
                "changes": used.changes,
                "first_change": iso(used.first) if used.first else None,
                "last_change": iso(used.last) if used.last else None,
                "text": self.texts.get(version),
                "known_settings": dict(sorted(self.settings.get(version, {}).items())),
            }
            for version, used in ((v, self.versions.get(v, PolicySeen())) for v in sorted(began, key=began.__getitem__))
        ]

    def changes_in_period(self) -> list[dict[str, Any]]:
        return sorted(self.changes, key=lambda change: str(change["changed_at"]))


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


@dataclass
class InputCounts:
    """What was read and not counted as a change of the period: repeats, changes outside it, undated ones."""

    records_read: int = 0
    duplicates: int = 0
    outside_period: int = 0
    undated: list[str] = field(default_factory=list)  # record ids of changes nothing could place in time
    other_kinds: Counter[str] = field(default_factory=Counter)
    #: The same record id with other content in two objects: the archive tells two stories (never dropped).
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def add_conflict(self, key: str, counted: Story, other: Story) -> None:
        """A record id seen before with other content: the archive tells two stories. The first one read
        is the one counted; both are listed."""
        self.conflicts.append({"record_id": key, "kind": counted.kind, "counted": counted.brief, "other": other.brief})

    def summary(self) -> dict[str, Any]:
        return {
            "records_read": self.records_read,
            "duplicates_dropped": self.duplicates,
            "conflicts": len(self.conflicts),
            "changes_outside_period": self.outside_period,
            "undated_changes": self.undated,
            "other_records": dict(sorted(self.other_kinds.items())),
        }


@dataclass
class Tally:
    """Everything ``summary.json`` counts, fed one record at a time; each part keeps one job."""

    since: datetime
    until: datetime
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    input: InputCounts = field(default_factory=InputCounts)
    coverage: Coverage = field(init=False)
    policy: PolicyHistory = field(init=False)

    def __post_init__(self) -> None:
        self.coverage = Coverage(self.since, self.until)
        self.policy = PolicyHistory(self.since, self.until)
        self.counts.unit = bucket_unit(self.since, self.until)

    def in_period(self, moment: datetime) -> bool:
        return self.since <= moment < self.until

    def add_change(self, record: Record, when: datetime) -> None:
        self.counts.add(record, when)
        self.policy.add_change(record, when)

    def add_run_summary(self, record: Record) -> None:
        self.coverage.add_run_summary(record)

    def add_policy_change(self, record: Record) -> None:
        if not self.policy.add_policy_change(record):
            self.input.other_kinds["policy_change"] += 1

    def summary(self, *, chain: Mapping[str, Any], sample: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "period": {"since": iso(self.since), "until": iso(self.until)},
            "changes": self.counts.changes,
            "exceptions": self.counts.exceptions,
            "counts": self.counts.counts(self.since, self.until),
            "completeness": self.coverage.completeness(chain),
            "policy_versions": self.policy.versions_in_force(),
            "conflicts": self.input.conflicts,
            "policy_changes": self.policy.changes_in_period(),
            "sample": dict(sample),
            "input": self.input.summary(),
        }
