"""`make bench`: the auditor against a naive REST baseline, measured in one run on the same stand-in.

- GitHub requests and wall time to audit N PRs merged in one day (default 5,000), with the stand-in adding
  a fixed latency per request (default 20 ms) — counted by the stand-in, server-side.
- Peak memory (max RSS) of each contender, each run in a fresh process of its own.
- Import time of the Lambda handler module (a cold-start proxy), against `import boto3` (which any Python
  Lambda that talks to AWS pays).
- PR search requests against the floor ceil(N/100) at N = 5,000, 50,000 and 100,000 (target
  1.02 x floor + 3). N = 5,000 is counted by the stand-in over HTTP; the larger sizes run the same search
  code against the stand-in's search index in process (GitHub's cap, issueCount, creation order, 100 a
  page) without GraphQL execution, so that the bench stays within minutes.
- Branch audit cost: 500 repositories of which 50 were pushed since the last run (target
  ceil(active/20) + ceil(new commits/100) requests), counted by the stand-in.
- Wall time of the 5,000-PR audit at the shipped throttle (0.25 s between request starts) against
  throttle 0: the ratio says how much the throttle costs when requests already take time.
- Hostile input: the 449-byte YAML alias bomb, a 1 MB policy, a scheduled event in year 9999, and catastrophic
  or merely slow ticket patterns on a 64 KB body; each must end (with a one-line error or a verdict) in < 1 s
  (`python -m bench --only hostile` runs just these).
- `pr-auditor verify` over a year of hourly evidence chunks (8,760, written to a local folder by the real
  writer): wall time and peak RSS, in a fresh process (`python -m bench --only verify` runs just this).
- `pr-auditor report` over a 90-day period of N generated changes (default 200,000) from a local JSON-lines
  file: wall time and peak RSS, in a fresh process (the file is written beforehand, untimed; `--only report`).

The baseline is what the reference tools do: REST search (hour slices, so the 1,000-result cap is never
hit), then `GET /pulls/N` (merged_by, base and merge commit are not in search items) and `GET /pulls/N/reviews`
per PR, through PyGithub with the same throttle setting (none) as the auditor here.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)
TOKEN = "bench-token"


# --------------------------------------------------------------------------- the stand-in, in its own process
def serve(n_prs: int, latency_ms: float, pipe: Connection) -> None:
    sys.path.insert(0, str(TESTS))
    from standin.generate import generate_org
    from standin.server import StandIn

    state = generate_org(seed=5000, n_prs=n_prs, since=SINCE, until=UNTIL, tokens=(TOKEN,)).unlimited()
    in_window = sum(1 for p in state.prs if p.merged_at is not None and SINCE <= p.merged_at < UNTIL)
    with StandIn(state) as server:
        state.latency_ms = latency_ms
        pipe.send({"base_url": server.base_url, "in_window": in_window})
        while True:
            command = pipe.recv()
            if command == "stop":
                return
            if command == "reset":
                state.reset_counters()
                pipe.send(None)
            elif command == "count":
                pipe.send({kind: state.count(kind) for kind in ("graphql", "rest", "search")} | {"all": state.count()})


# --------------------------------------------------------------------------- contenders (each in a fresh process)
def run_auditor(base_url: str) -> dict[str, Any]:
    from pr_auditor.audit.runs import AuditRequest, run_audit
    from pr_auditor.core.model import Window
    from pr_auditor.core.policy import policy_from_mapping
    from pr_auditor.github import Connection as GitHubConnection
    from pr_auditor.github import open_source

    audited = 0

    def count(record: dict[str, Any]) -> None:
        nonlocal audited
        audited += record["kind"] == "pull_request"

    source = open_source(TOKEN, GitHubConnection(api_url=base_url, throttle_seconds=0))
    operations: Counter[str] = Counter()
    send = source.transport.query

    def query(document: str, variables: Any) -> dict[str, Any]:
        # Which operation each request was: search pages and the access check are what the bound is about;
        # follow-ups (review, label or edit histories past a page) depend on the data, and are reported.
        operations[document.split("(", 1)[0].split("{", 1)[0].split()[-1]] += 1
        return send(document, variables)

    source.transport.query = query  # type: ignore[method-assign]
    policy = policy_from_mapping({"branches": ["*"]})
    run_audit(AuditRequest(("acme",), Window(SINCE, UNTIL), "bench"), source=source, policy=policy, emit=count)
    return {"prs": audited, "client_requests": source.requests, "operations": dict(operations)}


def run_throttled(base_url: str) -> dict[str, Any]:
    """The auditor at the shipped throttle (settings' default), for the throttle's wall-time cost."""
    from pr_auditor.audit.runs import AuditRequest, run_audit
    from pr_auditor.core.model import Window
    from pr_auditor.core.policy import policy_from_mapping
    from pr_auditor.github import Connection as GitHubConnection
    from pr_auditor.github import open_source

    source = open_source(TOKEN, GitHubConnection(api_url=base_url))  # throttle_seconds: the shipped default
    policy = policy_from_mapping({"branches": ["*"]})
    audited = 0

    def count(record: dict[str, Any]) -> None:
        nonlocal audited
        audited += record["kind"] == "pull_request"

    run_audit(AuditRequest(("acme",), Window(SINCE, UNTIL), "bench"), source=source, policy=policy, emit=count)
    return {"prs": audited, "client_requests": source.requests}


def run_baseline(base_url: str) -> dict[str, Any]:
    from github import Auth, Github

    gh = Github(
        auth=Auth.Token(TOKEN),
        base_url=base_url,
        per_page=100,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    verdicts = 0
    hour = timedelta(hours=1)
    start = SINCE
    while start < UNTIL:
        last = start + hour - timedelta(seconds=1)
        query = f"is:pr is:merged org:acme merged:{start:%Y-%m-%dT%H:%M:%SZ}..{last:%Y-%m-%dT%H:%M:%SZ}"
        for issue in gh.search_issues(query):
            pull = issue.as_pull_request()
            approvals = {
                r.user.login for r in pull.get_reviews() if r.state == "APPROVED" and r.user.login != pull.user.login
            }
            verdicts += bool(pull.merged_by) and len(approvals) >= 0
        start += hour
    return {"prs": verdicts}


def run_report(records_file: str) -> dict[str, Any]:
    import io

    from pr_auditor.cli import main as cli_main

    from report_records import PERIOD

    out = Path(records_file).parent / "pack"
    argv = ["report", "--since", PERIOD.since.isoformat(), "--until", PERIOD.until.isoformat()]
    code = cli_main(
        [*argv, "--input", records_file, "--out", str(out), "--seed", "bench", "--quiet"], out=io.StringIO()
    )
    summary = json.loads((out / "summary.json").read_text())
    return {"exit": code, "changes": summary["changes"], "exceptions": summary["exceptions"]}


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM). Linux keeps ``ru_maxrss`` across exec, so in a child
    started by a large parent it reports the parent's size; the memory map's high-water mark starts afresh."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def contender(name: str, base_url: str) -> dict[str, Any]:
    """Run one contender in this (fresh) process; ``base_url`` is the stand-in's URL, or the report's input."""
    started = time.perf_counter()
    runs = {"auditor": run_auditor, "throttled": run_throttled, "baseline": run_baseline, "report": run_report}
    result = runs[name](base_url)
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def measure(name: str, base_url: str, pipe: Connection) -> dict[str, Any]:
    pipe.send("reset")
    pipe.recv()
    env = os.environ | {"PYTHONPATH": str(TESTS)}
    done = subprocess.run(  # noqa: S603 - this very script
        [sys.executable, "-m", "bench", "--contender", name, "--base-url", base_url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=TESTS.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    pipe.send("count")
    result["requests"] = pipe.recv()
    return result


# --------------------------------------------------------------------------- verify over a year of hourly chunks
YEAR_CHUNKS = 8760


def write_year(root: Path) -> dict[str, Any]:
    """A year of hourly scheduled chunks (17 records each, 120-minute re-scans) through the real writer."""
    from pr_auditor.audit.ports import MemoryState
    from pr_auditor.evidence.archive import EvidenceArchive
    from pr_auditor.evidence.dir_store import DirStore

    from evidence import SIGNER, hourly_chunks

    started = time.perf_counter()
    archive = EvidenceArchive(DirStore(root), MemoryState(), signer=SIGNER)
    for chunk in hourly_chunks(YEAR_CHUNKS, per_chunk=17):
        archive.write_chunk(chunk)
    size = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    return {"write_s": time.perf_counter() - started, "archive_mb": size / 2**20}


def run_verify(root: str) -> dict[str, Any]:
    """``pr-auditor verify --dir`` in a fresh process (so peak RSS is verify's own)."""
    from pr_auditor.evidence.dir_store import DirStore
    from pr_auditor.evidence.verify import verify_archive

    started = time.perf_counter()
    result = verify_archive(DirStore(Path(root)))
    return {
        "intact": result.intact,
        "chunks": sum(c.chunks for c in result.chains),
        "records": sum(c.records for c in result.chains),
        "verdict": result.lines()[0],
        "wall_s": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_verify() -> tuple[list[tuple[str, str, str]], bool]:
    with tempfile.TemporaryDirectory(prefix="pr-auditor-bench-") as folder:
        written = write_year(Path(folder))
        env = os.environ | {"PYTHONPATH": str(TESTS)}
        done = subprocess.run(  # noqa: S603 - this very script
            [sys.executable, "-m", "bench", "--contender", "verify", "--base-url", folder],
            capture_output=True, text=True, check=True, env=env, cwd=TESTS.parent,
        )  # fmt: skip
    verified: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [
        ("verify, 8,760 hourly chunks", f"{verified['wall_s']:.1f} s", f"{verified['verdict']} ({written['archive_mb']:.0f} MiB on disk, written in {written['write_s']:.0f} s)"),
        ("peak RSS, verify", f"{verified['peak_rss_mb']:.0f} MiB", ""),
    ]  # fmt: skip
    return rows, verified["intact"] and verified["chunks"] == YEAR_CHUNKS


# --------------------------------------------------------------------------- report over 200,000 changes
def bench_report(n: int) -> tuple[list[tuple[str, str, str]], bool]:
    """The report over ``n`` generated changes (90 days) in its own process; generation is not timed."""
    from report_records import period_records, write_jsonl

    with tempfile.TemporaryDirectory(prefix="pr-auditor-bench-") as folder:
        records_file = Path(folder) / "records.jsonl"
        write_jsonl(records_file, period_records(n))
        env = os.environ | {"PYTHONPATH": str(TESTS)}
        done = subprocess.run(  # noqa: S603 - this very script
            [sys.executable, "-m", "bench", "--contender", "report", "--base-url", str(records_file)],
            capture_output=True, text=True, check=True, env=env, cwd=TESTS.parent,
        )  # fmt: skip
        file_mb = records_file.stat().st_size / 2**20
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [
        (f"report, {n:,} changes", f"{report['wall_s']:.1f} s", f"90 days from a {file_mb:.0f} MiB JSON-lines file; bound 60 s"),
        ("peak RSS, report", f"{report['peak_rss_mb']:.0f} MiB", f"{report['exceptions']:,} exceptions in the HTML table"),
    ]  # fmt: skip
    return rows, report["exit"] == 0 and report["changes"] == n and report["wall_s"] < 60


def import_seconds(statement: str, repeat: int = 7) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)  # noqa: S603
        for _ in range(repeat)
    ]
    return statistics.median(samples)


def hostile_input() -> list[tuple[str, float, str]]:
    """Seconds each hostile input takes to reject or judge (best of 3), with what it ended in."""
    sys.path.insert(0, str(TESTS))
    from pr_auditor.audit.invocation import parse_event
    from pr_auditor.core.errors import ConfigError
    from pr_auditor.core.evaluate import evaluate
    from pr_auditor.core.policy import parse_policy

    from builders import pull_request, review
    from policy_cases import ALIAS_BOMB as bomb

    megabyte = "exempt_authors: [" + ", ".join(["someone"] * 120_000) + "]\n"
    event = {"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
             "time": "9999-12-31T23:59:59Z", "region": "eu-west-1", "resources": [], "detail": {}}  # fmt: skip

    def rejected(action: Any) -> str:
        try:
            action()
        except ConfigError as exc:
            return str(exc)[:60]
        return "accepted"

    def verdict(pattern: str, body: str) -> str:
        policy = parse_policy(f"ticket_pattern: '{pattern}'\n")
        pr = pull_request(body=body, title="x" * 256, reviews=(review("bob"),))
        return evaluate(pr, policy.default, policy_version="v").verdict.value

    cases: list[tuple[str, Any]] = [
        (f"alias bomb ({len(bomb.encode())} bytes)", lambda: rejected(lambda: parse_policy(bomb))),
        (f"policy of {len(megabyte) / 1e6:.1f} MB", lambda: rejected(lambda: parse_policy(megabyte))),
        ("scheduled event, year 9999", lambda: rejected(lambda: parse_event(event, now=datetime.now(UTC)))),
        ("(a+)+$ on a 64 KB body", lambda: verdict("(a+)+$", "a" * 65_535 + "!")),
        ("(?i)[a-z]+-[0-9]+ on 64 KB", lambda: verdict("(?i)[a-z]+-[0-9]+", "ab" * 32_768)),
    ]
    results = []
    for name, action in cases:
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            outcome = action()
            samples.append(time.perf_counter() - started)
        results.append((name, min(samples), outcome))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prs", type=int, default=int(os.environ.get("BENCH_PRS", "5000")))
    parser.add_argument("--latency-ms", type=float, default=float(os.environ.get("BENCH_LATENCY_MS", "20")))
    parser.add_argument("--report-records", type=int, default=int(os.environ.get("BENCH_REPORT_RECORDS", "200000")))
    contenders = ["auditor", "throttled", "baseline", "verify", "report"]
    parser.add_argument("--contender", choices=contenders, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["verify", "report", "hostile"], help="run one measurement only")
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(
            json.dumps(
                run_verify(args.base_url) if args.contender == "verify" else contender(args.contender, args.base_url)
            )
        )
        return 0
    if args.only == "hostile":
        hostile_only = hostile_input()
        for name, seconds, outcome in hostile_only:
            print(f"  hostile: {name:<32} {seconds * 1000:>8.1f} ms   {outcome}")
        return 0 if all(seconds < 1.0 for _, seconds, _ in hostile_only) else 1
    if args.only:
        only_rows, only_ok = bench_verify() if args.only == "verify" else bench_report(args.report_records)
        for name, value, note in only_rows:
            print(f"  {name:<28} {value:>10}   {note}")
        return 0 if only_ok else 1

    print(f"pr-auditor bench: {args.prs} merged PRs in one day, {args.latency_ms:g} ms stand-in latency per request")
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(args.prs, args.latency_ms, child), daemon=True)
    server.start()
    info = parent.recv()
    try:
        auditor = measure("auditor", info["base_url"], parent)
        print(f"  auditor : {auditor}")
        throttled = measure("throttled", info["base_url"], parent)
        print(f"  throttled: {throttled}")
        baseline = measure("baseline", info["base_url"], parent)
        print(f"  baseline: {baseline}")
    finally:
        parent.send("stop")
        server.join(timeout=10)
    handler_import = import_seconds("import pr_auditor.handler")
    hostile = hostile_input()
    boto3_import = import_seconds("import boto3")

    n = info["in_window"]
    floor = math.ceil(n / 100)
    requests_auditor = auditor["requests"]["all"]
    requests_baseline = baseline["requests"]["all"]
    operations = auditor["operations"]
    search_and_access = operations.get("AuditSearch", 0) + operations.get("AuditAccess", 0)
    bound = 1.02 * floor + 3
    throttle_ratio = throttled["wall_s"] / auditor["wall_s"]
    rows = [
        ("PRs merged in the window", f"{n}", f"auditor recorded {auditor['prs']}, baseline read {baseline['prs']}"),
        ("GitHub requests, auditor", f"{requests_auditor}", f"by operation {operations} (counted by the stand-in too)"),
        ("  search pages + access", f"{search_and_access}", f"floor ceil(N/100) = {floor}; bound 1.02 x floor + 3 = {bound:.1f}"),
        ("GitHub requests, baseline", f"{requests_baseline}", f"{requests_baseline / requests_auditor:.1f}x the auditor's"),
        ("wall time, auditor", f"{auditor['wall_s']:.1f} s", "throttle 0"),
        ("wall time, shipped throttle", f"{throttled['wall_s']:.1f} s", f"{throttle_ratio:.2f}x throttle 0 (0.25 s between request starts)"),
        ("wall time, baseline", f"{baseline['wall_s']:.1f} s", f"{baseline['wall_s'] / auditor['wall_s']:.1f}x the auditor's"),
        ("peak RSS, auditor", f"{auditor['peak_rss_mb']:.0f} MiB", f"{auditor['peak_rss_mb'] / baseline['peak_rss_mb']:.2f}x the baseline's"),
        ("peak RSS, baseline", f"{baseline['peak_rss_mb']:.0f} MiB", ""),
        ("import pr_auditor.handler", f"{handler_import * 1000:.0f} ms", f"{handler_import / boto3_import:.2f}x import boto3 ({boto3_import * 1000:.0f} ms)"),
    ]  # fmt: skip
    search_ok = True
    for size in (50_000, 100_000):
        counted = search_requests(size)
        size_floor = math.ceil(counted["prs"] / 100)
        size_bound = 1.02 * size_floor + 3
        search_ok = search_ok and counted["found"] == counted["prs"] and counted["requests"] <= size_bound
        rows.append(
            (
                f"search requests, N={size:,}",
                f"{counted['requests']}",
                f"floor {size_floor}; bound {size_bound:.1f}; {counted['found']} of {counted['prs']} PRs found",
            )
        )
    history = branch_cost(repos=500, active=50)
    history_bound = math.ceil(history["active"] / 20) + math.ceil(history["new_commits"] / 100)
    rows.append(
        (
            "branch audit requests",
            f"{history['requests']}",
            f"{history['repos']} repos, {history['active']} pushed, {history['new_commits']} new commits, "
            f"{history['findings']} findings; bound ceil(active/20) + ceil(new/100) = {history_bound}",
        )
    )
    rows += [(f"hostile: {name}", f"{seconds * 1000:.1f} ms", outcome) for name, seconds, outcome in hostile]
    verify_rows, verify_ok = bench_verify()
    report_rows, report_ok = bench_report(args.report_records)
    rows += verify_rows + report_rows
    print()
    for name, value, note in rows:
        print(f"  {name:<28} {value:>10}   {note}")
    fast = all(seconds < 1.0 for _, seconds, _ in hostile)
    ok = auditor["prs"] == n and search_and_access <= bound and requests_auditor == sum(operations.values())
    ok = ok and requests_baseline >= 50 * requests_auditor
    ok = ok and throttled["prs"] == n and search_ok and history["requests"] <= history_bound and verify_ok
    ok = ok and report_ok and fast
    print(
        f"\n  {'PASS' if ok else 'FAIL'}: every PR recorded, requests within the bounds, >= 50x fewer than the"
        f" baseline, the year's chain intact, the report over {args.report_records:,} changes in under 60 s,"
        " hostile input handled in < 1 s each"
    )
    return 0 if ok else 1


# --------------------------------------------------------------------------- search and branch costs, in process
class SearchIndexOnly:
    """A transport answering GitHub's search semantics for the queries the auditor sends (``merged:A..B``,
    ``created:>=C``, ``org:``, ``sort:created-asc``; parsed by the stand-in's strict parser): at most 1,000
    results a query (``hasNextPage`` stops there), the true ``issueCount``, 100 a page. PR nodes carry only
    what a snapshot needs. The search code under test is the auditor's own; this only answers faster than
    GraphQL execution would at 100,000 PRs."""

    def __init__(self, state: Any) -> None:
        merged = sorted(
            (p for p in state.prs if p.merged_at is not None), key=lambda p: (p.created_at, p.repo.full_name, p.number)
        )
        self.prs = merged
        self.created = [p.created_at for p in merged]
        self.answers: dict[str, tuple[int, list[Any]]] = {}
        self.requests = 0
        self.retries = 0

    def attempt(self, action: Any, *args: Any) -> Any:
        return action(*args)

    def _search(self, query: str) -> tuple[int, list[Any]]:
        import bisect

        from standin.search import SEARCH_CAP, parse_query

        if query not in self.answers:
            parsed = parse_query(query)
            assert parsed.sort == ("created", False) and len(parsed.merged_ranges) == 1, query
            merged = parsed.merged_ranges[0]
            lo = parsed.created_ranges[0].lo if parsed.created_ranges else None
            start = 0 if lo is None else bisect.bisect_left(self.created, lo)
            hits = [p for p in self.prs[start:] if merged.contains(p.merged_at)]
            self.answers = {query: (len(hits), hits[:SEARCH_CAP])}  # one query is paged at a time
        return self.answers[query]

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        total, visible = self._search(variables["query"])
        start = int(variables.get("after") or 0)
        end = min(start + 100, len(visible))
        empty = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}
        nodes = [
            {
                "__typename": "PullRequest",
                "number": pr.number,
                "createdAt": pr.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "url": f"https://github.test/{pr.repo.full_name}/pull/{pr.number}",
                "mergedAt": pr.merged_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "baseRefName": pr.base_ref,
                "headRefOid": pr.head_oid,
                "mergeCommit": {"oid": pr.merge_commit_oid},
                "repository": {"nameWithOwner": pr.repo.full_name},
                "labels": empty,
                "reviews": empty,
                "timelineItems": empty,
            }
            for pr in visible[start:end]
        ]
        page = {"hasNextPage": end < len(visible), "endCursor": str(end)}
        return {"search": {"issueCount": total, "pageInfo": page, "nodes": nodes}}


def search_requests(n_prs: int) -> dict[str, int]:
    from pr_auditor.core.model import Window
    from pr_auditor.github.source import GitHubSource

    from standin.generate import generate_org

    state = generate_org(seed=n_prs, n_prs=n_prs, since=SINCE, until=UNTIL, tokens=(TOKEN,), outside_window=False)
    transport = SearchIndexOnly(state)
    source = GitHubSource(transport)  # type: ignore[arg-type]
    found = {pr.key for pr in source.merged_pull_requests(("acme",), Window(SINCE, UNTIL))}
    in_window = sum(1 for p in state.prs if p.merged_at is not None and SINCE <= p.merged_at < UNTIL)
    return {"prs": in_window, "found": len(found), "requests": transport.requests}


def branch_cost(*, repos: int, active: int) -> dict[str, int]:
    """Two scheduled branch audits over ``repos`` repositories; between them ``active`` get a push (every
    tenth a merged PR instead). Counts the second run's requests at the stand-in."""
    from pr_auditor.audit.branch_audit import audit_branches
    from pr_auditor.audit.ports import MemoryState
    from pr_auditor.core.policy import policy_from_mapping
    from pr_auditor.github import Connection as GitHubConnection
    from pr_auditor.github import open_branch_reader

    from standin.generate import make_state
    from standin.git import init_branch, merge_pr, push
    from standin.server import StandIn

    clock = [datetime(2026, 11, 30, tzinfo=UTC)]
    names = tuple(f"service-{i:03d}" for i in range(repos))
    state = make_state(org="acme", repos=names, tokens=(TOKEN,), clock=lambda: clock[0]).unlimited()
    for i, repo in enumerate(state.orgs["acme"]):  # created over the previous days, one after another
        clock[0] = datetime(2026, 11, 28, tzinfo=UTC) + timedelta(minutes=i)
        init_branch(state, repo)
    clock[0] = datetime(2026, 11, 30, tzinfo=UTC)
    store, policy = MemoryState(), policy_from_mapping({})
    with StandIn(state) as server:
        reader = open_branch_reader(TOKEN, GitHubConnection(api_url=server.base_url, throttle_seconds=0))

        def run(run_id: str) -> Any:
            clock[0] += timedelta(hours=1)
            audit = audit_branches(("acme",), source=reader, policy=policy, state=store, run_id=run_id, now=clock[0])
            audit.commit(store)
            return audit

        run("baseline")
        for i, repo in enumerate(state.orgs["acme"][:active]):
            if i % 10 == 0:
                merge_pr(state, repo, style=("squash", "merge", "rebase")[i % 3])
            else:
                push(state, repo)
        state.reset_counters()
        audit = run("second")
        return {
            "repos": repos,
            "active": audit.repositories,
            "new_commits": audit.new_commits,
            "findings": sum(r["kind"] == "direct_push" for r in audit.records),
            "requests": state.count(),
        }


if __name__ == "__main__":
    sys.exit(main())
