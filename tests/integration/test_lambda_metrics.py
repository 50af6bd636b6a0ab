"""The run figures as CloudWatch embedded metrics: the handler's EMF lines parsed as CloudWatch would
(``_aws.CloudWatchMetrics``: namespace, dimensions, metric names, units; values at the top level)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor import handler
from pr_auditor.aws.metrics import NAMES, record_metrics

from harness import LambdaContext, captured_function_logs, deployed_function, function_clock, scheduled_event
from standin.generate import add_pr, make_state, review
from standin.model import Fault, GitHubState

pytestmark = pytest.mark.integration

TOKEN = "ghp_metricsTOKEN0123456789abcdef"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SCHEDULED = scheduled_event(EVENT_TIME, event_id="1")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubState]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    merged = EVENT_TIME - timedelta(minutes=20)
    add_pr(state, "api", reviews=[review("bob")], merged_at=merged)  # compliant
    add_pr(state, "api", reviews=[], merged_at=merged)  # no approval: a finding
    with deployed_function(
        monkeypatch,
        state,
        token=TOKEN,
        policy_text="required_approvals: 1\n",
        POWERTOOLS_METRICS_NAMESPACE="PrAuditor",
        GITHUB_BACKOFF_SECONDS="0",
    ):
        handler.metrics.clear_metrics()  # figures other tests emitted outside an invocation
        yield state


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    """The embedded-metric lines among what the function printed."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


def metric_values(documents: list[dict[str, Any]]) -> dict[str, float]:
    """Sum per metric name, checking each document's declaration as CloudWatch does."""
    totals: dict[str, float] = {}
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "PrAuditor"
        assert directive["Dimensions"] == [["service"]]
        assert document["service"] == "pr-auditor"
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert metric["Unit"] == ("Seconds" if name == "RunDurationSeconds" else "Count")
            values = document[name] if isinstance(document[name], list) else [document[name]]
            totals[name] = totals.get(name, 0.0) + sum(values)
    return totals


def invoke(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], BaseException | None]:
    capsys.readouterr()
    with captured_function_logs(handler.logger), function_clock(SCHEDULED):
        try:
            handler.lambda_handler(SCHEDULED, LambdaContext())
            error = None
        except Exception as exc:
            error = exc
    return emf_documents(capsys.readouterr().out), error


def test_a_completed_run_publishes_every_dashboard_metric(
    world: GitHubState, capsys: pytest.CaptureFixture[str]
) -> None:
    documents, error = invoke(capsys)
    assert error is None
    values = metric_values(documents)
    assert set(values) == set(NAMES)
    assert values["RunsCompleted"] == 1
    assert values["RunsFailed"] == 0
    assert values["PullRequestsAudited"] == 2
    assert values["FindingsPullRequest"] == 1
    assert values["GitHubRequests"] == world.count("graphql") + world.count("rest")  # + the rule-suite listing
    assert values["RunDurationSeconds"] >= 0
    for kind in ("FindingsDirectPush", "FindingsHistoryRewrite", "FindingsProtection", "FindingsPolicyChange"):
        assert values[kind] == 0


def test_a_failed_run_still_publishes_its_failure(world: GitHubState, capsys: pytest.CaptureFixture[str]) -> None:
    world.faults.add(Fault("http_500", times=100, match="graphql"))
    documents, error = invoke(capsys)
    assert error is not None  # the invocation fails, and the metrics were flushed anyway
    values = metric_values(documents)
    # GitHub down: the branch audit and the chunk each fail with their own summary
    assert (values["RunsFailed"], values["RunsCompleted"], values["PullRequestsAudited"]) == (2, 0, 0)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param({"kind": "direct_push", "verdict": "non_compliant"}, {"FindingsDirectPush": 1}, id="direct-push"),
        pytest.param(
            {"kind": "history_rewrite", "verdict": "non_compliant"}, {"FindingsHistoryRewrite": 1}, id="history-rewrite"
        ),
        pytest.param({"kind": "protection", "verdict": "non_compliant"}, {"FindingsProtection": 1}, id="protection"),
        pytest.param({"kind": "protection", "verdict": "compliant"}, {}, id="compliant-protection-is-no-finding"),
        pytest.param({"kind": "pull_request", "verdict": "non_compliant"}, {"FindingsPullRequest": 1}, id="pr"),
        pytest.param(
            {"kind": "pull_request", "verdict": "compliant", "emergency": True},
            {"FindingsPullRequest": 1},
            id="emergency-pr",
        ),
        pytest.param({"kind": "pull_request", "verdict": "compliant"}, {}, id="compliant-pr-is-no-finding"),
        pytest.param(
            {"kind": "policy_change", "verdict": "compliant"}, {"FindingsPolicyChange": 1}, id="every-policy-change"
        ),
    ],
)
def test_each_finding_record_counts_once_for_its_kind(record: dict[str, str], expected: dict[str, float]) -> None:
    assert record_metrics(record) == expected
