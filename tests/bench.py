"""`make bench`: the auditor's costs, each checked against its goal in the same run (PASS only if all hold).

- Requests, wall time and peak RSS of the auditor against a naive REST baseline (REST search in hour slices,
  then ``GET /pulls/N`` and ``/reviews`` per PR through PyGithub) for N PRs merged in one day (default 1,000,
  20 ms stand-in latency), counted by the stand-in: search pages + access <= 1.02 x ceil(N/100) + 3, and the
  baseline >= 50x the auditor's requests.
- Search requests at 50,000 and 100,000 PRs (the search code against the stand-in's index in process) and
  the branch audit's requests for 500 repositories of which 50 were pushed, each within its bound.
- Memory (docs/memory.md): peak RSS of ``pr-auditor audit`` (direct-push check included) and of the
  function's backfill, each in a fresh process, at 10,000, 50,000 and 100,000 PRs in one window: <= 128 MiB
  and <= 256 MiB. The stand-in runs in its own process; a GraphQL request it answered before is answered
  from its cache (both contenders ask the same questions; GraphQL execution is the slow part). Requests by
  source at the largest size: search, activity, compare, rule suites, audit log ("not built" when the source's
  module does not exist yet), counted by the stand-in by URL path or GraphQL operation.
- Pacing (docs/pacing.md): the shipped settings against no pacing, alternated on one stand-in at 50 ms
  latency that enforces GitHub's secondary limits (2,000 GraphQL / 900 REST points a minute): wall <= 1.3x,
  and 0 secondary-limit refusals.
- Cold start (docs/cold-start.md): ``import pr_auditor.handler`` <= 1.5x ``import boto3``, both in python3.13
  from the built artifact (``make build`` first), interleaved; every module of the function ships bytecode.
- Hostile input: the 449-byte YAML alias bomb, a 1 MB policy, a scheduled event in year 9999, and catastrophic
  or merely slow ticket patterns on a 64 KB body; each must end in < 1 s.
- ``pr-auditor verify`` over a year of hourly evidence chunks (8,760), and ``pr-auditor report`` over 90 days
  of N generated changes (default 200,000) in < 60 s, each in a fresh process.

``python -m bench --only memory --only pacing`` runs some sections; ``BENCH_MEMORY_SIZES=10000`` shrinks the
memory table for a quick look (the goal needs the 100,000 row).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)
TOKEN = "bench-token"


# --------------------------------------------------------------------------- the stand-in, in its own process
def serve(n_prs: int, latency_ms: float, pipe: Connection, budget: bool = False, cache: bool = False) -> None:
    """The stand-in for ``n_prs`` PRs merged in one day. ``budget``: it enforces GitHub's secondary limits
    (2,000 GraphQL and 900 REST points a minute, 403 + Retry-After beyond them) instead of none. ``cache``:
    a GraphQL request identical to an earlier one gets the earlier answer again (the contenders of the memory
    table ask the same questions; GraphQL execution, not the client, is what takes the time)."""
    sys.path.insert(0, str(TESTS))
    from standin.generate import generate_org
    from standin.model import PointsBudget
    from standin.server import StandIn

    state = generate_org(seed=5000, n_prs=n_prs, since=SINCE, until=UNTIL, tokens=(TOKEN,)).unlimited()
    if budget:
        state.secondary = PointsBudget()
    if cache:
        state.answer_cache = {}
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
                counts = {kind: state.count(kind) for kind in ("graphql", "rest", "search")} | {"all": state.count()}
                with state._lock:
                    counts["by_source"] = dict(Counter(source_of(r.kind, r.path, r.operation) for r in state.requests))
                    counts["refused"] = sum(1 for r in state.requests if r.fault == "secondary_budget")
                pipe.send(counts)


#: Where a request goes, by URL path (REST) or operation (GraphQL): the sources of issue-by-issue growth.
#: A source whose module is not in the package yet shows "not built".
SOURCES = {
    "search": "pr_auditor/github/search.py",
    "activity": "pr_auditor/github/activity.py",
    "compare": "pr_auditor/github/history.py",
    "rule suites": "pr_auditor/github/rule_suites.py",
    "audit log": "pr_auditor/github/audit_log.py",
}


def source_of(kind: str, path: str, operation: str | None) -> str:
    if kind == "graphql":
        if operation == "AuditSearch":
            return "search"
        if operation == "AuditFollowUp":
            return "search follow-ups"
        if operation in ("AuditRepositoriesByPush", "AuditOrgRepositories", "AuditBranchRefs"):
            return "push check: listing"
        if operation in ("AuditCommitsBetween", "AuditHistory"):
            return "push check: history"
        return f"graphql {operation or 'anonymous'}"
    if "/compare/" in path:
        return "compare"
    if path.rstrip("/").endswith("/activity"):
        return "activity"
    if "/rule-suites" in path:
        return "rule suites"
    if path.rstrip("/").endswith("/audit-log"):
        return "audit log"
    return "rest other"


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


def run_paced(base_url: str, *, paced: bool, spaced: bool = False) -> dict[str, Any]:
    """The auditor with the shipped settings (``paced``: the environment's defaults, as the function and
    the CLI read them) or with pacing off (budgets no run can reach), for the pacing's wall-time cost."""
    from dataclasses import replace

    from pr_auditor.audit.runs import AuditRequest, run_audit
    from pr_auditor.core.model import Window
    from pr_auditor.core.policy import policy_from_mapping
    from pr_auditor.github import open_source
    from pr_auditor.settings import connection_from_env

    connection = connection_from_env({"GITHUB_API_URL": base_url}, max_wait_seconds=120.0)
    if not paced:
        connection = replace(connection, graphql_points_per_minute=1e9, rest_points_per_minute=1e9)
    if spaced:  # what shipped before: PyGithub's 0.25 s between requests, kept from their starts
        connection = replace(connection, throttle_seconds=0.25)
    source = open_source(TOKEN, connection)
    policy = policy_from_mapping({"branches": ["*"]})
    audited = 0

    def count(record: dict[str, Any]) -> None:
        nonlocal audited
        audited += record["kind"] == "pull_request"

    run_audit(AuditRequest(("acme",), Window(SINCE, UNTIL), "bench"), source=source, policy=policy, emit=count)
    return {"prs": audited, "client_requests": source.requests, "paced_wait_s": source.transport.pacing.waited}


def run_cli(base_url: str) -> dict[str, Any]:
    """``pr-auditor audit`` over the day, direct-push check included, records to a sink that counts them."""
    import io

    os.environ.update(GITHUB_TOKEN=TOKEN, GITHUB_API_URL=base_url)
    from pr_auditor.cli import main as cli_main

    class Counted(io.TextIOBase):
        prs = 0

        def write(self, text: str) -> int:
            self.prs += text.count('"kind":"pull_request"')
            return len(text)

    out = Counted()
    with tempfile.TemporaryDirectory(prefix="pr-auditor-bench-") as folder:
        policy = Path(folder) / "policy.yaml"
        policy.write_text('branches: ["*"]\n')  # every PR in scope: each one is recorded
        argv = ["audit", "--org", "acme", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
        code = cli_main([*argv, "--policy", str(policy), "--quiet"], out=out)  # type: ignore[arg-type]
    return {"exit": code, "prs": out.prs}


def run_lambda_backfill(base_url: str) -> dict[str, Any]:
    """The function's backfill of the day in one chunk (its default chunk is a day): the real run — search,
    evaluation, delivery, the evidence archive's encoding and hash chain — with the function's settings and
    boto3 with its three clients loaded as in the function. Two stand-ins: the ledger (DynamoDB, which keeps
    its entries elsewhere) keeps nothing here, and the archive writes to a temporary folder instead of S3."""
    from datetime import datetime as _datetime

    import boto3

    session = boto3.session.Session(region_name="eu-west-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    clients = [session.client(name) for name in ("dynamodb", "s3", "sns")]  # noqa: F841 - resident, as in the function
    from pr_auditor.audit.ports import LedgerEntry, LocalSigner, MemoryState, Record
    from pr_auditor.audit.runs import AuditPorts, run_backfill
    from pr_auditor.core.model import Window
    from pr_auditor.core.policy import policy_from_mapping
    from pr_auditor.evidence.archive import EvidenceArchive
    from pr_auditor.evidence.dir_store import DirStore
    from pr_auditor.github import open_source
    from pr_auditor.handler import json_line
    from pr_auditor.settings import connection_from_env

    class RemoteLedger:
        def claim(self, record: Record, *, notify: bool, now: _datetime) -> bool:
            return True

        def save(self, entries: Any) -> None:
            pass

        def open_entries(self, *, claimed_before: _datetime) -> list[LedgerEntry]:
            return []

    prs = 0
    with open(os.devnull, "w") as sink, tempfile.TemporaryDirectory(prefix="pr-auditor-bench-") as folder:

        def emit(record: Record) -> None:
            nonlocal prs
            prs += record["kind"] == "pull_request"
            sink.write(json_line(record) + "\n")

        source = open_source(TOKEN, connection_from_env({"GITHUB_API_URL": base_url}, max_wait_seconds=120.0))
        # Signed as the function signs every manifest (a local P-256 key standing in for KMS)
        archive = EvidenceArchive(DirStore(Path(folder)), MemoryState(), signer=LocalSigner.generate())
        policy = policy_from_mapping({"branches": ["*"]})  # every PR in scope: each one is recorded
        ports = AuditPorts(source, policy, emit, RemoteLedger(), archive)
        run = run_backfill(("acme",), Window(SINCE, UNTIL), chunk=timedelta(days=1), run_id="bench", ports=ports)
    return {"prs": prs, "chunks": len(run.summaries)}


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
    runs = {
        "auditor": run_auditor,
        "baseline": run_baseline,
        "report": run_report,
        "paced": lambda url: run_paced(url, paced=True),
        "unpaced": lambda url: run_paced(url, paced=False),
        "spaced": lambda url: run_paced(url, paced=False, spaced=True),
        "cli": run_cli,
        "lambda": run_lambda_backfill,
    }
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


# --------------------------------------------------------------------------- memory, pacing, cold start: goals
MEMORY_SIZES = tuple(int(n) for n in os.environ.get("BENCH_MEMORY_SIZES", "10000,50000,100000").split(","))
CLI_RSS_GOAL_MB = 128.0
LAMBDA_RSS_GOAL_MB = 256.0
PACING_LATENCY_MS = 50.0
PACING_GOAL = 1.3  # shipped pacing's wall time / no pacing's, same stand-in, same run
IMPORT_GOAL = 1.5  # import pr_auditor.handler / import boto3, both from the built artifact
Goal = tuple[str, bool]
Row = tuple[str, str, str]


@contextmanager
def standin(n_prs: int, latency_ms: float, *, budget: bool = False, cache: bool = False) -> Iterator[Any]:
    """A stand-in in a process of its own (its memory is not the contenders'); yields a ``measure`` function."""
    parent, child = mp.Pipe()
    context = mp.get_context("spawn")
    server = context.Process(target=serve, args=(n_prs, latency_ms, child, budget, cache), daemon=True)
    server.start()
    info = parent.recv()
    try:
        yield info, lambda name: measure(name, info["base_url"], parent)
    finally:
        parent.send("stop")
        server.join(timeout=10)


def memory_table() -> tuple[list[Row], list[Goal], dict[str, Any]]:
    """Peak RSS of the CLI and of the function's backfill at 10k, 50k and 100k PRs in one window."""
    rows: list[Row] = []
    goals: list[Goal] = []
    at_largest: dict[str, Any] = {}
    for size in MEMORY_SIZES:
        with standin(size, 0.0, cache=True) as (info, run):
            cli = run("cli")
            backfill = run("lambda")
        n = info["in_window"]
        cli_ok = cli["exit"] == 0 and cli["prs"] == n and cli["peak_rss_mb"] <= CLI_RSS_GOAL_MB
        lambda_ok = backfill["prs"] == n and backfill["peak_rss_mb"] <= LAMBDA_RSS_GOAL_MB
        rows.append(
            (
                f"peak RSS, {size:,} PRs",
                f"{cli['peak_rss_mb']:.0f} MiB",
                f"CLI (goal <= {CLI_RSS_GOAL_MB:.0f}) {cli['wall_s']:.0f} s; function backfill "
                f"{backfill['peak_rss_mb']:.0f} MiB (goal <= {LAMBDA_RSS_GOAL_MB:.0f}) {backfill['wall_s']:.0f} s; "
                f"{cli['prs']:,} and {backfill['prs']:,} of {n:,} PRs recorded",
            )
        )
        goals += [
            (f"CLI peak RSS at {size:,} PRs <= {CLI_RSS_GOAL_MB:.0f} MiB", cli_ok),
            (f"function backfill peak RSS at {size:,} PRs <= {LAMBDA_RSS_GOAL_MB:.0f} MiB", lambda_ok),
        ]
        at_largest = {"size": size, "in_window": n, "cli": cli}
    return rows, goals, at_largest


def requests_by_source(largest: dict[str, Any]) -> tuple[list[Row], list[Goal]]:
    """The CLI's requests at the largest size, by source (counted by the stand-in, by URL path or operation)."""
    counted: dict[str, int] = largest["cli"]["requests"]["by_source"]
    n = largest["in_window"]
    rows: list[Row] = []
    package = TESTS.parent / "src"
    for name, module in SOURCES.items():
        built = (package / module).is_file()
        rows.append((f"  requests: {name}", f"{counted.get(name, 0)}" if built else "not built", ""))
    for name in sorted(set(counted) - set(SOURCES)):
        rows.append((f"  requests: {name}", f"{counted[name]}", ""))
    search_bound = 1.02 * math.ceil(n / 100) + 3
    search = counted.get("search", 0)
    rows[0] = (rows[0][0], rows[0][1], f"{n:,} PRs; bound 1.02 x ceil(N/100) + 3 = {search_bound:.0f}")
    total = sum(counted.values())
    rows.insert(0, (f"CLI requests at {largest['size']:,} PRs", f"{total}", "by source, counted by the stand-in"))
    return rows, [(f"search requests at {largest['size']:,} PRs within 1.02 x floor + 3", search <= search_bound)]


def pacing_ratio(n_prs: int) -> tuple[list[Row], list[Goal]]:
    """Shipped pacing against none, alternated twice on one stand-in at 50 ms latency that enforces GitHub's
    secondary limits (2,000 GraphQL / 900 REST points a minute); best of two each."""
    with standin(n_prs, PACING_LATENCY_MS, budget=True) as (info, run):
        runs: dict[str, list[dict[str, Any]]] = {"unpaced": [], "paced": []}
        for _ in range(2):
            for name in runs:
                runs[name].append(run(name))
        spaced = run("spaced")  # for comparison only: the fixed spacing this pacing replaced
    n = info["in_window"]
    best = {name: min(results, key=lambda r: r["wall_s"]) for name, results in runs.items()}
    ratio = best["paced"]["wall_s"] / best["unpaced"]["wall_s"]
    refused = sum(r["requests"]["refused"] for results in runs.values() for r in results)
    refused_paced = sum(r["requests"]["refused"] for r in runs["paced"])
    rows = [
        (f"wall, shipped pacing, {PACING_LATENCY_MS:g} ms", f"{best['paced']['wall_s']:.1f} s",
         f"{ratio:.2f}x no pacing ({best['unpaced']['wall_s']:.1f} s; goal <= {PACING_GOAL}); {n:,} PRs, "
         f"{best['paced']['client_requests']} requests, {best['paced']['paced_wait_s']:.1f} s waited for the budget"),
        ("wall, fixed 0.25 s spacing", f"{spaced['wall_s']:.1f} s",
         f"{spaced['wall_s'] / best['unpaced']['wall_s']:.2f}x no pacing: what shipped before (for comparison)"),
        ("secondary-limit refusals", f"{refused_paced}",
         f"shipped pacing, stand-in enforcing 2,000 points/min (goal 0); {refused} in all four runs"),
    ]  # fmt: skip
    prs_ok = all(r["prs"] == n for results in runs.values() for r in results)
    return rows, [
        (f"shipped pacing <= {PACING_GOAL}x no pacing at {PACING_LATENCY_MS:g} ms", ratio <= PACING_GOAL and prs_ok),
        ("0 secondary-limit errors at the shipped pacing", refused_paced == 0),
    ]


BUILD = TESTS.parent / ".aws-sam" / "build"
FUNCTION_DIR, LAYER_DIR = BUILD / "AuditorFunction", BUILD / "DependenciesLayer" / "python"
HOST = TESTS.parent / ".aws-sam" / "bench-host"  # what this machine needs besides the artifact, cached


def _python313() -> str | None:
    venv = TESTS.parent / ".venv-py313" / "bin" / "python"
    return str(venv) if venv.exists() else shutil.which("python3.13")


def _host_paths(python: str) -> list[Path]:
    """The layer's native extensions are aarch64 (the function's architecture); on another machine the same
    locked distributions are installed for it (hash-checked, from layer/requirements.txt) and compiled as the
    build compiles. boto3 is the runtime's, not the layer's: the development lock's versions, compiled."""
    import platform

    pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target"]
    paths: list[Path] = []
    if platform.machine() not in ("aarch64", "arm64"):
        layer = HOST / "layer"
        if not layer.is_dir():
            subprocess.run(  # noqa: S603 - pip, from this repository's lock
                [*pip, str(layer), "--require-hashes", "-r", str(TESTS.parent / "layer" / "requirements.txt")],
                check=True,
            )
        paths.append(layer)
    runtime = HOST / "boto3"
    if not runtime.is_dir():
        lock = (TESTS.parent / "requirements-dev.lock").read_text()
        names = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
        pins = [line.split()[0] for line in lock.splitlines() if line.split("==")[0] in names]
        subprocess.run([*pip, str(runtime), *pins], check=True)  # noqa: S603
    paths.append(runtime)
    subprocess.run(  # noqa: S603 - compileall on our own folders
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", *map(str, paths)],
        check=True,
    )
    return paths


def import_ratio(repeat: int = 9) -> tuple[list[Row], list[Goal]]:
    """``import pr_auditor.handler`` against ``import boto3``, each in a fresh python3.13 on the built
    artifact's paths (function, then layer, then the runtime's boto3, as Lambda orders them), interleaved."""
    python = _python313()
    goal = f"import pr_auditor.handler <= {IMPORT_GOAL}x import boto3, from the built artifact"
    if python is None or not FUNCTION_DIR.is_dir():
        return [("import ratio", "not built", "run `make build` first (needs python3.13)")], [(goal, False)]
    paths = [FUNCTION_DIR, *([LAYER_DIR] if _layer_runs_here() else []), *_host_paths(python)]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    sources = list(FUNCTION_DIR.rglob("*.py"))
    compiled = sum(1 for f in sources if any((f.parent / "__pycache__").glob(f"{f.stem}.cpython-313*.pyc")))
    samples: dict[str, list[float]] = {"boto3": [], "pr_auditor.handler": []}
    for _ in range(repeat):
        for module in samples:
            code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
            done = subprocess.run([python, "-s", "-c", code], capture_output=True, text=True, check=True, env=env)  # noqa: S603
            samples[module].append(float(done.stdout))
    boto3_s, handler_s = (statistics.median(samples[m]) for m in ("boto3", "pr_auditor.handler"))
    ratio = handler_s / boto3_s
    rows = [
        ("import pr_auditor.handler", f"{handler_s * 1000:.0f} ms",
         f"{ratio:.2f}x import boto3 ({boto3_s * 1000:.0f} ms; goal <= {IMPORT_GOAL}); medians of {repeat}, "
         f"interleaved, python3.13 on .aws-sam/build; {compiled} of {len(sources)} modules ship bytecode"),
    ]  # fmt: skip
    return rows, [
        (goal, ratio <= IMPORT_GOAL),
        ("every module of the function ships 3.13 bytecode", compiled == len(sources)),
    ]


def _layer_runs_here() -> bool:
    import platform

    return platform.machine() in ("aarch64", "arm64")


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


def auditor_against_baseline(n_prs: int, latency_ms: float) -> tuple[list[Row], list[Goal]]:
    """Requests, wall time and memory of the auditor and the naive REST baseline, on one stand-in."""
    with standin(n_prs, latency_ms) as (info, run):
        auditor = run("auditor")
        baseline = run("baseline")
    n = info["in_window"]
    floor = math.ceil(n / 100)
    requests_auditor = auditor["requests"]["all"]
    requests_baseline = baseline["requests"]["all"]
    operations = auditor["operations"]
    search_and_access = operations.get("AuditSearch", 0) + operations.get("AuditAccess", 0)
    bound = 1.02 * floor + 3
    rows = [
        ("PRs merged in the window", f"{n}", f"auditor recorded {auditor['prs']}, baseline read {baseline['prs']}; {latency_ms:g} ms latency"),
        ("GitHub requests, auditor", f"{requests_auditor}", f"by operation {operations} (counted by the stand-in too)"),
        ("  search pages + access", f"{search_and_access}", f"floor ceil(N/100) = {floor}; bound 1.02 x floor + 3 = {bound:.1f}"),
        ("GitHub requests, baseline", f"{requests_baseline}", f"{requests_baseline / requests_auditor:.1f}x the auditor's"),
        ("wall time, auditor", f"{auditor['wall_s']:.1f} s", "shipped pacing"),
        ("wall time, baseline", f"{baseline['wall_s']:.1f} s", f"{baseline['wall_s'] / auditor['wall_s']:.1f}x the auditor's"),
        ("peak RSS, auditor", f"{auditor['peak_rss_mb']:.0f} MiB", f"{auditor['peak_rss_mb'] / baseline['peak_rss_mb']:.2f}x the baseline's"),
        ("peak RSS, baseline", f"{baseline['peak_rss_mb']:.0f} MiB", ""),
    ]  # fmt: skip
    return rows, [
        ("every PR recorded by the auditor", auditor["prs"] == n),
        ("search pages + access within 1.02 x floor + 3", search_and_access <= bound),
        ("every request the auditor sent counted by the stand-in", requests_auditor == sum(operations.values())),
        (">= 50x fewer requests than the REST baseline", requests_baseline >= 50 * requests_auditor),
    ]


def search_and_branch_costs() -> tuple[list[Row], list[Goal]]:
    rows: list[Row] = []
    goals: list[Goal] = []
    for size in (50_000, 100_000):
        counted = search_requests(size)
        size_floor = math.ceil(counted["prs"] / 100)
        size_bound = 1.02 * size_floor + 3
        rows.append((f"search requests, N={size:,}", f"{counted['requests']}",
                     f"floor {size_floor}; bound {size_bound:.1f}; {counted['found']} of {counted['prs']} PRs found"))  # fmt: skip
        goals.append((f"search at N={size:,}: every PR found within the bound",
                      counted["found"] == counted["prs"] and counted["requests"] <= size_bound))  # fmt: skip
    history = branch_cost(repos=500, active=100)
    by_source = history["by_source"]
    pushed, compares = history["pushed_repos"], by_source.get("compare", 0)
    # The push detection bound: one activity read per repository pushed since the last run, one compare per
    # push, the commits' follow-ups a page per 100, and the listing (100 repositories a page).
    history_bound = (
        math.ceil(history["repos"] / 100) + pushed + compares + math.ceil(max(history["new_commits"], 1) / 100)
    )
    rows.append(("branch audit requests", f"{history['requests']}",
                 f"{history['repos']} repos, {pushed} pushed ({history['direct_pushes']} direct pushes, the rest "
                 f"merges), {history['new_commits']} new commits; bound ceil(repos/100) + pushed + compares + "
                 f"ceil(new/100) = {history_bound}"))  # fmt: skip
    for source in ("listing", "activity", "compare", "commits", "history", "protection"):
        rows.append((f"  requests by source: {source}", f"{by_source.get(source, 0)}", ""))
    goals.append(("branch audit within ceil(repos/100) + pushed + compares + ceil(new/100)",
                  history["requests"] <= history_bound))  # fmt: skip
    goals.append(("activity: at most one request per pushed repository", by_source.get("activity", 0) <= pushed))
    goals.append(("no head walk where activity explains every move", by_source.get("history", 0) == 0))
    suites = rule_suite_cost(repos=100, bypasses=5)
    rows.append(("requests by source: rule suites", f"{suites['requests']}",
                 f"{suites['repos']} repos, {suites['bypasses']} bypasses; bound 1 per org + 1 per bypass = "
                 f"{1 + suites['bypasses']}"))  # fmt: skip
    goals.append(("rule suites within 1 per org + 1 per bypass", suites["requests"] <= 1 + suites["bypasses"]))
    rows.append(("requests by source: audit log", f"{suites['audit_log_requests']}",
                 "3 categories per org (Enterprise Cloud, opt-in), + 1 per 100 events"))  # fmt: skip
    goals.append(("audit log: 3 requests per org on a quiet day", suites["audit_log_requests"] <= 3))
    return rows, goals


def hostile_rows() -> tuple[list[Row], list[Goal]]:
    hostile = hostile_input()
    rows = [(f"hostile: {name}", f"{seconds * 1000:.1f} ms", outcome) for name, seconds, outcome in hostile]
    return rows, [("hostile input handled in < 1 s each", all(seconds < 1.0 for _, seconds, _ in hostile))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prs", type=int, default=int(os.environ.get("BENCH_PRS", "1000")))
    parser.add_argument("--latency-ms", type=float, default=float(os.environ.get("BENCH_LATENCY_MS", "20")))
    parser.add_argument("--pacing-prs", type=int, default=int(os.environ.get("BENCH_PACING_PRS", "5000")))
    parser.add_argument("--report-records", type=int, default=int(os.environ.get("BENCH_REPORT_RECORDS", "200000")))
    contenders = ["auditor", "baseline", "verify", "report", "paced", "unpaced", "spaced", "cli", "lambda"]
    parser.add_argument("--contender", choices=contenders, help=argparse.SUPPRESS)
    sections = ["requests", "costs", "hostile", "verify", "report", "memory", "pacing", "import"]
    parser.add_argument("--only", choices=sections, action="append", help="run these measurements only (repeatable)")
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(
            json.dumps(
                run_verify(args.base_url) if args.contender == "verify" else contender(args.contender, args.base_url)
            )
        )
        return 0
    chosen = args.only or sections
    print(f"pr-auditor bench: {', '.join(chosen)}")
    rows: list[Row] = []
    goals: list[Goal] = []

    def add(section: tuple[list[Row], list[Goal]]) -> None:
        rows.extend(section[0])
        goals.extend(section[1])
        for name, value, note in section[0]:
            print(f"  {name:<32} {value:>10}   {note}", flush=True)

    if "requests" in chosen:
        add(auditor_against_baseline(args.prs, args.latency_ms))
    if "costs" in chosen:
        add(search_and_branch_costs())
    if "hostile" in chosen:
        add(hostile_rows())
    if "pacing" in chosen:
        add(pacing_ratio(args.pacing_prs))
    if "import" in chosen:
        add(import_ratio())
    if "memory" in chosen:
        table, memory_goals, largest = memory_table()
        add((table, memory_goals))
        add(requests_by_source(largest))
    if "verify" in chosen:
        verify_rows, verify_ok = bench_verify()
        add((verify_rows, [("the year's chain intact", verify_ok)]))
    if "report" in chosen:
        report_rows, report_ok = bench_report(args.report_records)
        add((report_rows, [(f"the report over {args.report_records:,} changes in under 60 s", report_ok)]))
    print()
    for text, ok in goals:
        print(f"  {'ok  ' if ok else 'MISS'} {text}")
    passed = all(ok for _, ok in goals)
    print(
        f"\n  {'PASS' if passed else 'FAIL'}: {sum(ok for _, ok in goals)} of {len(goals)} goals held, each measured in this run"
    )
    return 0 if passed else 1


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
                "commits": empty,
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
        before = reader.requests_by_source
        state.reset_counters()
        audit = run("second")
        after = reader.requests_by_source
        return {
            "repos": repos,
            "pushed_repos": audit.repositories,
            "new_commits": audit.new_commits,
            "direct_pushes": sum(r["kind"] == "direct_push" for r in audit.records),
            "requests": state.count(),
            "by_source": {key: after.get(key, 0) - before.get(key, 0) for key in after},
        }


def rule_suite_cost(*, repos: int, bypasses: int) -> dict[str, int]:
    """One scheduled read of GitHub's bypass records for an organisation of ``repos`` repositories holding
    ``bypasses`` ruleset bypasses in the last day: the rule suites (org endpoint) and the audit log."""
    from pr_auditor.audit.ports import NotReadable
    from pr_auditor.github.audit_log import AuditLogReader
    from pr_auditor.github.rule_suites import RuleSuiteReader
    from pr_auditor.github.transport import Connection, Transport

    from standin.bypasses import ruleset_bypass
    from standin.generate import make_state
    from standin.server import StandIn

    now = datetime(2026, 11, 30, tzinfo=UTC)
    state = make_state(org="acme", repos=tuple(f"r{i:03}" for i in range(repos)), tokens=(TOKEN,), clock=lambda: now)
    state.unlimited()
    for i in range(bypasses):
        ruleset_bypass(state, state.orgs["acme"][i], actor="olivia", before="a" * 40, after=f"{i:040x}",
                       at=now - timedelta(hours=i + 1))  # fmt: skip
    state.bypasses.audit_log = "enabled"
    with StandIn(state) as server:
        transport = Transport.open(TOKEN, Connection(api_url=server.base_url, throttle_seconds=0))
        reader = RuleSuiteReader(transport)
        listed = reader.bypasses("acme", period="day")
        assert not isinstance(listed, NotReadable)
        for suite in listed:
            reader.evaluated("acme", suite)
        log = AuditLogReader(transport)
        for category in ("protected_branch", "repository_ruleset", "integration_installation.repositories_removed"):
            log.events("acme", since=now - timedelta(hours=1), category=category)
        return {"repos": repos, "bypasses": bypasses, "requests": reader.requests, "audit_log_requests": log.requests}


if __name__ == "__main__":
    sys.exit(main())
