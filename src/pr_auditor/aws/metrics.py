"""Records → CloudWatch metric values (pure; handler.py publishes them as embedded metrics).

The dashboard reads these from namespace ``PrAuditor`` with the dimension ``service``. They sit beside,
not instead of, the metric filters on the records (the alarms keep filtering the JSON fields). Every
``run_summary`` contributes every name (zeros included), so a quiet hour is a 0 on the dashboard rather
than a gap; each finding record adds 1 to its kind's count. CloudWatch sums the values of one invocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pr_auditor.core.messages import is_finding

FINDINGS = {
    "pull_request": "FindingsPullRequest",
    "direct_push": "FindingsDirectPush",
    "history_rewrite": "FindingsHistoryRewrite",
    "protection": "FindingsProtection",
    "policy_change": "FindingsPolicyChange",
}
COUNTS = ("RunsCompleted", "RunsFailed", "PullRequestsAudited", *FINDINGS.values(), "GitHubRequests")
SECONDS = ("RunDurationSeconds",)
NAMES = (*COUNTS, *SECONDS)


def record_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """What one record adds to the run's figures: a run summary its counts, a finding 1 to its kind."""
    kind = record.get("kind")
    if kind == "run_summary":
        return run_metrics(record)
    if kind in FINDINGS and is_finding(dict(record)):
        return {FINDINGS[str(kind)]: 1.0}
    return {}


def run_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """A run (chunk) summary → every metric name, findings at zero (they are counted record by record)."""
    counts = summary.get("counts") or {}
    failed = summary.get("status") == "failed"
    figures = dict.fromkeys(NAMES, 0.0)
    figures.update(
        RunsCompleted=0.0 if failed else 1.0,
        RunsFailed=1.0 if failed else 0.0,
        PullRequestsAudited=float(counts.get("audited", 0)),
        GitHubRequests=float(summary.get("github_requests", 0)),
        RunDurationSeconds=float(summary.get("duration_seconds", 0.0)),
    )
    return figures
