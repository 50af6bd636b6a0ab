"""Never miss a change, never report one twice: simulated scheduled runs with faults, over real HTTP.

An organisation keeps merging PRs; the search index lags behind some of them; every run of the real Lambda
handler (in-process, moto DynamoDB for the watermark and the ledger) meets one injected fault or none:
5xx (passing and lasting), secondary rate limits, GraphQL errors with partial data (passing and lasting),
incomplete search results, or the handler killed after writing some records. Invariants checked after every
run, and at the end: the watermark never passed an unaudited in-scope PR; every merged in-scope PR is
recorded exactly once (so every non-compliant one raises exactly one finding).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from pr_auditor import handler
from pr_auditor.audit import scope_of

from harness import (
    REGION,
    LambdaContext,
    aws_environment,
    captured_function_logs,
    deploy,
    function_environment,
    read_queue,
)
from standin.generate import add_pr, make_state, review
from standin.model import Fault, GitHubState
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_faultinjection000000000000000000000"
START = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
OVERLAP = timedelta(minutes=120)
RUNS = 36
MAX_INDEX_LAG_MINUTES = 90  # below the overlap: the guarantee the overlap buys
LONG_LAG_HOURS = (3, 7)  # beyond the overlap: the reconciliation sweep's job
SWEEP_EVERY = timedelta(hours=6)
POLICY = "required_approvals: 1\nemergency_labels: [emergency]\n"


class Killed(BaseException):
    """The Lambda runtime ending the process (timeout, OOM): not an Exception the code could catch."""


FAULTS: dict[str, Callable[[GitHubState], None] | None] = {
    "none": None,
    "5xx-passing": lambda s: s.faults.add(Fault("http_502", times=2, match="graphql")),
    "5xx-lasting": lambda s: s.faults.add(Fault("http_500", times=60, match="graphql")),
    "secondary-rate-limit": lambda s: s.faults.add(Fault("secondary_rate_limit", retry_after=1, match="graphql")),
    "graphql-errors-passing": lambda s: s.faults.add(
        Fault("graphql_errors", partial=True, error_type="SERVICE_UNAVAILABLE", match="graphql", after=1)
    ),
    "graphql-errors-lasting": lambda s: s.faults.add(
        Fault("graphql_errors", times=20, partial=True, error_type="SERVICE_UNAVAILABLE", match="graphql", after=1)
    ),
    "incomplete-results": lambda s: s.faults.add(Fault("incomplete_results", keep=0.5, match="graphql")),
    "killed-mid-run": None,  # handled in the run: the process dies after writing some records
    "killed-between-claim-and-write": None,  # the process dies after a ledger claim, before its record
}


class Simulation:
    def __init__(self, state: GitHubState, route: Any, rng: random.Random, clock: list[datetime]) -> None:
        self.state, self.route, self.rng = state, route, rng
        self._clock = clock  # the stand-in's clock: what GitHub's search index has caught up with
        self.now = START
        self.records: list[dict[str, Any]] = []
        self.faults: Counter[str] = Counter()
        self.failed_runs = 0
        self.numbers = Counter[str]()

    def advance(self, moment: datetime) -> None:
        self.now = moment
        self._clock[0] = moment

    def merge_prs(self, since: datetime, until: datetime) -> None:
        """People keep merging: a mix of compliant and non-compliant PRs, some lagging in the index."""
        span = int((until - since).total_seconds())
        for _ in range(self.rng.randint(4, 14)):
            repo = self.rng.choice(["api", "web", "infra"])
            merged_at = since + timedelta(seconds=self.rng.randrange(span))
            kind = self.rng.choice(["approved", "approved", "unreviewed", "self-approved", "emergency", "release"])
            draw = self.rng.random()
            lag = (
                timedelta(minutes=self.rng.randint(1, MAX_INDEX_LAG_MINUTES))
                if draw < 0.3
                else timedelta(hours=self.rng.uniform(*LONG_LAG_HOURS))
                if draw < 0.4
                else None
            )
            add_pr(
                self.state,
                repo,
                author="alice",
                merged_at=merged_at,
                reviews={"approved": [review("bob")], "self-approved": [review("alice")]}.get(kind, []),
                labels=["emergency"] if kind == "emergency" else [],
                base_ref="release/1.0" if kind == "release" else None,
                indexed_at=merged_at + lag if lag else None,
                scenario=kind,
            )

    def run(self, fault: str) -> None:
        self.faults[fault] += 1
        self.state.faults.clear()
        inject = FAULTS[fault]
        if inject is not None:
            inject(self.state)
        event = {
            "version": "0",
            "id": f"run-{self.now:%H%M}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        original_emit = handler.emit
        kill_after = self.rng.randint(1, 4) if fault.startswith("killed") else None
        before_write = fault == "killed-between-claim-and-write"
        written = 0

        def emit_then_maybe_die(record: dict[str, Any]) -> None:
            nonlocal written
            if before_write and kill_after is not None and written + 1 >= kill_after:
                raise Killed  # claimed in the ledger, never written
            original_emit(record)
            written += 1
            if kill_after is not None and written >= kill_after:
                raise Killed

        handler.emit = emit_then_maybe_die  # type: ignore[assignment]
        try:
            with captured_function_logs(handler.logger) as lines:
                try:
                    handler.lambda_handler(event, LambdaContext(aws_request_id=f"req-{self.now:%d%H}"))
                except (Exception, Killed):  # the runtime records the failure; the alarm fires
                    self.failed_runs += 1
        finally:
            handler.emit = original_emit  # type: ignore[assignment]
        # What reached CloudWatch Logs before the end (or the kill) is what auditors have.
        assert not [line for line in lines if TOKEN in line], "the token reached a log line"
        self.records.extend(json.loads(line) for line in lines)

    def watermark(self) -> datetime | None:
        item = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=self.route.state_table, Key={"pk": {"S": f"watermark#{scope_of(('acme',))}"}}
        )
        value = item.get("Item", {}).get("until", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def in_scope_merged_before(self, moment: datetime, *, overlap_covers: bool = False) -> set[tuple[str, int]]:
        """PRs merged before ``moment``; with ``overlap_covers``, only those the trailing overlap can catch
        (index lag shorter than the overlap) — the others are the sweep's."""
        return {
            (pr.repo.full_name, pr.number)
            for pr in self.state.prs
            if pr.merged_at is not None
            and pr.merged_at < moment
            and pr.base_ref == pr.repo.default_branch
            and not (overlap_covers and pr.indexed_at is not None and pr.indexed_at - pr.merged_at > OVERLAP)
        }

    def recorded(self) -> Counter[tuple[str, int]]:
        return Counter((r["repository"], r["number"]) for r in self.records if r.get("kind") == "pull_request")


@pytest.fixture
def simulation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulation]:
    aws_environment()
    sim_clock: list[datetime] = [START]
    state = make_state(org="acme", repos=("api", "web", "infra"), tokens=(TOKEN,), clock=lambda: sim_clock[0])
    state.unlimited()
    with StandIn(state) as server, mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
        route = deploy(token=TOKEN, policy_text=POLICY)
        env = function_environment(
            route,
            server.base_url,
            START_AT=START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            OVERLAP_MINUTES=str(int(OVERLAP.total_seconds() // 60)),
            GITHUB_RETRIES="2",
            SWEEP_DAYS="1",
            SWEEP_EVERY_HOURS=str(int(SWEEP_EVERY.total_seconds() // 3600)),
            GITHUB_BACKOFF_SECONDS="0.01",
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(handler, "wall_clock", lambda: sim_clock[0])  # the function's clock is the simulation's
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        yield Simulation(state, route, random.Random(20261121), sim_clock)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()


def test_scheduled_runs_under_faults_lose_nothing_and_report_nothing_twice(simulation: Simulation) -> None:
    sim = simulation
    plan = [fault for fault in FAULTS for _ in range(4)]  # every fault several times
    plan += ["none"] * (RUNS - len(plan))
    sim.rng.shuffle(plan)
    for hour, fault in enumerate(plan, start=1):
        sim.merge_prs(START + (hour - 1) * HOUR, START + hour * HOUR)
        sim.advance(START + hour * HOUR)
        sim.run(fault)
        # The watermark never passes an unaudited PR: all merged before it, minus the index-lag overlap, are recorded.
        watermark = sim.watermark()
        if watermark is not None:
            missing = sim.in_scope_merged_before(watermark - OVERLAP, overlap_covers=True) - set(sim.recorded())
            assert not missing, f"after run {hour} ({fault}): watermark {watermark} passed unaudited PRs {missing}"
    # Quiet runs after the last merge let the lagging index, the sweep and any failed window catch up.
    quiet = int((timedelta(hours=LONG_LAG_HOURS[1]) + 2 * SWEEP_EVERY) / HOUR)
    for extra in range(1, quiet + 1):
        sim.advance(START + (len(plan) + extra) * HOUR)
        sim.run("none")

    recorded = sim.recorded()
    merged = sim.in_scope_merged_before(START + len(plan) * HOUR)
    lost = merged - set(recorded)
    repeated = {key: n for key, n in recorded.items() if n > 1}
    ids: dict[tuple[str, int], set[str]] = {}
    for r in sim.records:
        if r.get("kind") == "pull_request":
            ids.setdefault((r["repository"], r["number"]), set()).add(r["record_id"])
    messages = [m for m in read_queue(sim.route) if "record_id" in m["alarm"]]
    notified = Counter(m["alarm"]["record_id"] for m in messages)
    non_compliant = {r["record_id"] for r in sim.records if r.get("verdict") == "non_compliant"}
    late = sum(s["counts"]["late_indexed"] for s in sim.records if s.get("kind") == "run_summary")
    long_lag = merged - sim.in_scope_merged_before(START + len(plan) * HOUR, overlap_covers=True)
    report = {
        "runs": len(plan) + quiet,
        "failed_runs": sim.failed_runs,
        "prs_merged_in_scope": len(merged),
        "prs_out_of_scope": sum(1 for pr in sim.state.prs if pr.base_ref != pr.repo.default_branch),
        "prs_lagging_in_index": sum(1 for pr in sim.state.prs if pr.indexed_at is not None),
        "faults_planned": dict(sim.faults),
        "faults_fired": sim.state.faults.fired_total,
        "prs_lagging_beyond_overlap": len(long_lag),
        "late_indexed_counted": late,
        "lost": len(lost),
        "repeated_records": sum(n - 1 for n in repeated.values()),
        "non_compliant_prs": len(non_compliant),
        "messages": len(messages),
        "duplicate_messages": sum(n - 1 for n in notified.values()),
    }
    print("\nnever-miss simulation:", json.dumps(report))
    assert len(plan) >= 30
    assert sim.failed_runs >= 12  # the lasting faults and the kills really failed runs
    assert long_lag and late >= len(long_lag)  # PRs the overlap could not catch were found late
    assert lost == set()
    # A crash may repeat a record (claimed, written, not yet confirmed): a repeat carries the same record_id.
    assert all(len(found) == 1 for found in ids.values())
    # Every finding reaches the ops queue exactly once.
    assert set(notified) == non_compliant
    assert all(n == 1 for n in notified.values())
    assert set(recorded) <= merged | sim.in_scope_merged_before(sim.now)  # nothing invented, nothing out of scope
