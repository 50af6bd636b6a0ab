"""Records for the report's tests and bench: real records (evaluate → pull_request_record / run_summary_record)
of a few archetypes, cloned across repositories, numbers and merge times to any volume.

Every clone gets its own merge commit and hence its own ``record_id`` (computed as the Lambda computes it),
so a period of N changes yields N distinct records; run summaries cover the period day by day.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.core.evaluate import evaluate
from pr_auditor.core.model import Window, iso
from pr_auditor.core.policy import policy_from_mapping
from pr_auditor.core.records import RunStats, pull_request_record, pull_request_record_id, run_summary_record

from builders import MERGED_AT, OLD, bot, label_event, pull_request, review

PERIOD = Window(datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC))  # 90 days
REPOSITORIES = ("acme/api", "acme/web", "acme/payments", "acme/infra", "acme-labs/ml", "acme/docs")
_POLICY = policy_from_mapping({"exempt_authors": ["dependabot[bot]"]})
_WINDOW = Window(MERGED_AT - timedelta(days=1), MERGED_AT + timedelta(days=1))


def _record(**fields: Any) -> dict[str, Any]:
    evaluation = evaluate(pull_request(**fields), _POLICY.default, policy_version=_POLICY.version)
    record: dict[str, Any] = json.loads(json.dumps(pull_request_record(evaluation, window=_WINDOW, run_id="run-0")))
    return record


def archetypes() -> dict[str, dict[str, Any]]:
    """One real record per situation the report must show, keyed by a readable name."""
    return {
        "approved": _record(reviews=(review("bob"),)),
        "unreviewed": _record(),
        "self-approved-and-stale": _record(reviews=(review("alice"), review("carol", commit=OLD))),
        "emergency-after-merge": _record(
            reviews=(review("bob"),),
            labels=("emergency",),
            label_events=(label_event("emergency", minutes_after_merge=45),),
        ),
        "exempt-bot": _record(author=bot("dependabot")),
    }


#: How often each archetype occurs in a generated period (roughly a real organisation's mix).
MIX = (
    ("approved", 80),
    ("unreviewed", 8),
    ("self-approved-and-stale", 5),
    ("emergency-after-merge", 2),
    ("exempt-bot", 5),
)


def change(
    base: dict[str, Any], *, repository: str, number: int, merged_at: datetime, title: str | None = None
) -> dict[str, Any]:
    """A clone of ``base`` as another change (its own merge commit and record_id)."""
    record = dict(base)  # shallow: nested values are shared, never mutated
    sha = hashlib.sha1(f"{repository}#{number}".encode()).hexdigest()  # noqa: S324 - a fake commit id
    record.update(
        repository=repository,
        number=number,
        url=f"https://github.com/{repository}/pull/{number}",
        merged_at=iso(merged_at),
        merge_commit_sha=sha,
        record_id=pull_request_record_id(repository, number, sha),
    )
    if title is not None:
        record["title"] = title
    return record


def period_records(
    n: int, *, period: Window = PERIOD, seed: int = 7, run_summaries: bool = True
) -> Iterator[dict[str, Any]]:
    """``n`` changes spread over ``period`` (merge times in order), then one completed run summary a day."""
    rng = random.Random(seed)
    bases = archetypes()
    names = [name for name, weight in MIX for _ in range(weight)]
    span = (period.until - period.since).total_seconds()
    for i in range(n):
        merged_at = period.since + timedelta(seconds=int(span * i / n))
        repository = REPOSITORIES[rng.randrange(len(REPOSITORIES))]
        yield change(bases[rng.choice(names)], repository=repository, number=i + 1, merged_at=merged_at)
    if run_summaries:
        day = period.since
        while day < period.until:
            yield run_summary(Window(day, min(day + timedelta(days=1), period.until)), run_id=f"run-{iso(day)}")
            day += timedelta(days=1)


def run_summary(window: Window, *, run_id: str, error: Exception | None = None) -> dict[str, Any]:
    record: dict[str, Any] = run_summary_record(
        run_id=run_id,
        orgs=("acme",),
        window=window,
        stats=RunStats(),
        github_requests=1,
        sub_windows=1,
        duration_seconds=1.0,
        policy_version=_POLICY.version,
        error=error,
    )
    return json.loads(json.dumps(record))


def write_jsonl(path: Any, records: Any) -> int:
    """Write records as the CLI does (one compact JSON object per line); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    return count
