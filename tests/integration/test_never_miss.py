"""Never miss a change, never report one twice: simulated scheduled runs with faults, over real HTTP.

An organisation keeps merging PRs (squash, merge commit and rebase, each advancing the branch's git history
on the stand-in) and, between them, people push commits straight to the default branch (some backdated by
days or weeks, a few by an exempt pusher); the search index lags behind some PRs; every run of the real
Lambda handler (in-process, moto DynamoDB for the watermark, the ledger and the branch heads) meets one
injected fault or none: 5xx (passing and lasting), secondary rate limits, GraphQL errors with partial data
(passing and lasting), incomplete search results, or the handler killed after writing some records.
Invariants checked after every run, and at the end: the watermark never passed an unaudited in-scope PR;
every merged in-scope PR is recorded exactly once; every commit pushed after the branch audit's baseline is
recorded exactly once as a ``direct_push`` (``exempt`` for the exempt pusher) and no commit a merged PR
brought in ever is; every finding reaches the ops queue exactly once.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from pr_auditor import handler
from pr_auditor.audit.runs import scope_of
from pr_auditor.aws.state_table import StateTable

from harness import (
    REGION,
    LambdaContext,
    aws_environment,
    captured_function_logs,
    deploy,
    function_environment,
    read_queue,
)
from standin.generate import make_state
from standin.git import ancestors, init_branch, merge_pr, push
from standin.model import BranchRule, Fault, GitHubState, Repository
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
EXEMPT_PUSHER = "release-bot"
POLICY = f"required_approvals: 1\nemergency_labels: [emergency]\nexempt_pushers: [{EXEMPT_PUSHER}]\n"
REPOS = ("api", "web", "infra")
RELEASE = "release/1.0"  # not in scope: the policy lists no branches, so only default branches are audited


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


@dataclass(frozen=True)
class Push:
    """One commit pushed straight onto a default branch: what a complete branch audit must report."""

    repository: str
    branch: str
    sha: str
    exempt: bool
    backdated: bool


class Simulation:
    def __init__(self, state: GitHubState, route: Any, rng: random.Random, clock: list[datetime]) -> None:
        self.state, self.route, self.rng = state, route, rng
        self._clock = clock  # the stand-in's clock: what GitHub's search index has caught up with
        self.now = START
        self.records: list[dict[str, Any]] = []
        self.faults: Counter[str] = Counter()
        self.failed_runs = 0
        self.numbers = Counter[str]()
        self.pushes: list[Push] = []
        #: the head each default branch had when the branch audit first saw it (nothing before it is judged)
        self.baselines: dict[str, str] = {}

    def advance(self, moment: datetime) -> None:
        self.now = moment
        self._clock[0] = moment

    def activity(self, since: datetime, until: datetime) -> None:
        """People keep merging (a mix of compliant and non-compliant PRs, some lagging in the index) and now
        and then push straight to a default branch; everything lands in time order on the git history.
        Pushes start once the branch audit has taken its baseline (it judges nothing before it), so every
        push made is one the audit must report."""
        span = int((until - since).total_seconds())
        events: list[tuple[datetime, Callable[[], None]]] = []
        for _ in range(self.rng.randint(4, 14)):
            merged_at = since + timedelta(seconds=self.rng.randrange(span))
            events.append((merged_at, self._merge_pr(merged_at)))
        for _ in range(self.rng.choice((0, 0, 1, 1, 2, 3)) if len(self.baselines) == len(REPOS) else 0):
            pushed_at = since + timedelta(seconds=self.rng.randrange(span))
            events.append((pushed_at, self._push(pushed_at)))
        for moment, happen in sorted(events, key=lambda event: event[0]):
            self._clock[0] = moment  # the push (pushedAt, the new head) happens at its own time
            happen()

    def _merge_pr(self, merged_at: datetime) -> Callable[[], None]:
        repo = self.state.find_repo("acme", self.rng.choice(REPOS))
        assert repo is not None
        kind = self.rng.choice(["approved", "approved", "unreviewed", "self-approved", "emergency", "release"])
        style = self.rng.choice(["squash", "merge", "rebase"])
        commits = self.rng.randint(1, 3)
        draw = self.rng.random()
        lag = (
            timedelta(minutes=self.rng.randint(1, MAX_INDEX_LAG_MINUTES))
            if draw < 0.3
            else timedelta(hours=self.rng.uniform(*LONG_LAG_HOURS))
            if draw < 0.4
            else None
        )

        def happen() -> None:
            merge_pr(
                self.state,
                repo,
                style=style,
                base=RELEASE if kind == "release" else None,
                commits=commits,
                author="alice",
                at=merged_at,
                approvers={"approved": ["bob"], "self-approved": ["alice"]}.get(kind, []),
                labels=["emergency"] if kind == "emergency" else [],
                indexed_at=merged_at + lag if lag else None,
                scenario=kind,
            )

        return happen

    def _push(self, pushed_at: datetime) -> Callable[[], None]:
        repo = self.state.find_repo("acme", self.rng.choice(REPOS))
        assert repo is not None
        n = self.rng.randint(1, 3)
        exempt = self.rng.random() < 0.15
        pusher = EXEMPT_PUSHER if exempt else self.rng.choice(("olivia-admin", "alice"))
        backdate = (
            timedelta(days=self.rng.randint(1, 45), minutes=self.rng.randint(0, 600))
            if self.rng.random() < 0.35
            else None
        )

        def happen() -> None:
            at = pushed_at - backdate if backdate else None  # the commit date is the client's to set
            for sha in push(self.state, repo, n=n, author=pusher, at=at):
                self.pushes.append(Push(repo.full_name, repo.default_branch, sha, exempt, backdate is not None))

        return happen

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
        self.note_baselines()

    def note_baselines(self) -> None:
        """The heads the branch audit took as its baseline, read from its state once it has written them."""
        table = StateTable(self.route.state_table, client=boto3.client("dynamodb", region_name=REGION))
        for name in REPOS:
            repo = self.state.find_repo("acme", name)
            assert repo is not None
            if repo.full_name not in self.baselines:
                document, _ = table.load(f"head#{repo.full_name}#{repo.default_branch}")
                if document is not None:
                    self.baselines[repo.full_name] = str(document["head"])

    def pushed_before_baseline(self) -> list[Push]:
        """Pushes the baseline already contains (none, if pushes waited for it as they should)."""
        seen = {name: ancestors(self._repo(name), head) for name, head in self.baselines.items()}
        return [p for p in self.pushes if p.sha in seen.get(p.repository, set())]

    def pull_request_commits(self) -> set[str]:
        """Every commit of a merged PR (its own commits, squash and merge commits, rebased copies): none of
        these may ever be flagged."""
        return {
            oid
            for name in REPOS
            for oid, commit in self._repo(f"acme/{name}").commits.items()
            if commit.introduced_by is not None
        }

    def _repo(self, full_name: str) -> Repository:
        repo = self.state.find_repo(*full_name.split("/"))
        assert repo is not None
        return repo

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

    def pushes_recorded(self) -> Counter[str]:
        return Counter(r["sha"] for r in self.records if r.get("kind") == "direct_push")


@pytest.fixture
def simulation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulation]:
    aws_environment()
    sim_clock: list[datetime] = [START]
    state = make_state(org="acme", repos=REPOS, tokens=(TOKEN,), clock=lambda: sim_clock[0])
    state.unlimited()
    for repo in state.orgs["acme"]:
        # history from two months back (room for backdated pushes), a release branch, protection = policy
        init_branch(state, repo, at=START - timedelta(days=60))
        repo.branches[RELEASE] = repo.branches[repo.default_branch]
        repo.branch_rules.append(
            BranchRule(repo.default_branch, required_approvals=1, dismiss_stale=True, admin_enforced=True)
        )
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
        sim.activity(START + (hour - 1) * HOUR, START + hour * HOUR)
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
    # The branch side: every commit pushed after the baseline, once; nothing a merged PR brought in, ever.
    pushes = sim.pushes
    push_records = [r for r in sim.records if r.get("kind") == "direct_push"]
    pushed = sim.pushes_recorded()
    push_ids: dict[str, set[str]] = {}
    verdicts: dict[str, set[str]] = {}
    for r in push_records:
        push_ids.setdefault(r["sha"], set()).add(r["record_id"])
        verdicts.setdefault(r["sha"], set()).add(r["verdict"])
    pushes_lost = {p.sha for p in pushes} - set(pushed)
    false_findings = set(pushed) - {p.sha for p in pushes}  # includes any merged PR's commit flagged
    flagged_pr_commits = set(pushed) & sim.pull_request_commits()
    rewrites = [r for r in sim.records if r.get("kind") == "history_rewrite"]
    push_messages = Counter(m["alarm"]["record_id"] for m in messages if m["attributes"].get("kind") == "direct_push")
    non_exempt_push_ids = {next(iter(push_ids[p.sha])) for p in pushes if not p.exempt and p.sha in push_ids}
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
        "non_compliant_prs": sum(
            1 for r in sim.records if r.get("kind") == "pull_request" and r["verdict"] == "non_compliant"
        ),
        "direct_pushes_made": len(pushes),
        "direct_pushes_backdated": sum(1 for p in pushes if p.backdated),
        "direct_pushes_exempt": sum(1 for p in pushes if p.exempt),
        "direct_pushes_recorded": len(pushed),
        "direct_pushes_lost": len(pushes_lost),
        "direct_push_repeated_records": sum(n - 1 for n in pushed.values()),
        "false_findings": len(false_findings) + len(rewrites),
        "merged_pr_commits": len(sim.pull_request_commits()),
        "direct_push_messages": sum(push_messages.values()),
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
    # Direct pushes: all made after the baseline; many, backdated and exempt ones among them.
    assert set(sim.baselines) == {f"acme/{name}" for name in REPOS} and sim.pushed_before_baseline() == []
    assert len(pushes) >= 30 and any(p.backdated for p in pushes) and any(p.exempt for p in pushes)
    assert pushes_lost == set()
    assert false_findings == set() and flagged_pr_commits == set() and rewrites == []
    assert all(len(found) == 1 for found in push_ids.values())  # repeats after a kill share the record_id
    assert {sha: verdicts[sha] for sha in pushed} == {
        p.sha: {"exempt" if p.exempt else "non_compliant"} for p in pushes
    }
    # Every non-exempt direct push reaches the ops queue exactly once; exempt ones never do.
    assert set(push_messages) == non_exempt_push_ids
    assert all(n == 1 for n in push_messages.values())
