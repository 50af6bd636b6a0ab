"""`make bench`: the auditor against a naive REST baseline, measured in one run on the same stand-in.

- GitHub requests and wall time to audit N PRs merged in one day (default 5,000), with the stand-in adding
  a fixed latency per request (default 20 ms) — counted by the stand-in, server-side.
- Peak memory (max RSS) of each contender, each run in a fresh process of its own.
- Import time of the Lambda handler module (a cold-start proxy), against `import boto3` (which any Python
  Lambda that talks to AWS pays).
- `pr-auditor verify` over a year of hourly evidence chunks (8,760, written to a local folder by the real
  writer): wall time and peak RSS, in a fresh process (`python -m bench --only verify` runs just this).

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
    from pr_auditor.audit import AuditRequest, run_audit
    from pr_auditor.github import Connection as GitHubConnection
    from pr_auditor.github import open_source
    from pr_auditor.model import Window
    from pr_auditor.policy import policy_from_mapping

    audited = 0

    def count(record: dict[str, Any]) -> None:
        nonlocal audited
        audited += record["kind"] == "pull_request"

    source = open_source(TOKEN, GitHubConnection(api_url=base_url, throttle_seconds=0))
    policy = policy_from_mapping({"branches": ["*"]})
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


def contender(name: str, base_url: str) -> dict[str, Any]:
    started = time.perf_counter()
    result = (run_auditor if name == "auditor" else run_baseline)(base_url)
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
    from pr_auditor.archive import EvidenceArchive
    from pr_auditor.archive_store import DirStore
    from pr_auditor.ports import MemoryState

    from evidence import hourly_chunks

    started = time.perf_counter()
    archive = EvidenceArchive(DirStore(root), MemoryState())
    for chunk in hourly_chunks(YEAR_CHUNKS, per_chunk=17):
        archive.write_chunk(chunk)
    size = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
    return {"write_s": time.perf_counter() - started, "archive_mb": size / 2**20}


def run_verify(root: str) -> dict[str, Any]:
    """``pr-auditor verify --dir`` in a fresh process (so peak RSS is verify's own)."""
    from pr_auditor.archive_store import DirStore
    from pr_auditor.verify import verify_archive

    started = time.perf_counter()
    result = verify_archive(DirStore(Path(root)))
    return {
        "intact": result.intact,
        "chunks": sum(c.chunks for c in result.chains),
        "records": sum(c.records for c in result.chains),
        "verdict": result.lines()[0],
        "wall_s": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
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


def import_seconds(statement: str, repeat: int = 7) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)  # noqa: S603
        for _ in range(repeat)
    ]
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prs", type=int, default=int(os.environ.get("BENCH_PRS", "5000")))
    parser.add_argument("--latency-ms", type=float, default=float(os.environ.get("BENCH_LATENCY_MS", "20")))
    parser.add_argument("--contender", choices=["auditor", "baseline", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["verify"], help="run one measurement only")
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(
            json.dumps(
                run_verify(args.base_url) if args.contender == "verify" else contender(args.contender, args.base_url)
            )
        )
        return 0
    if args.only == "verify":
        verify_rows, verify_ok = bench_verify()
        for name, value, note in verify_rows:
            print(f"  {name:<28} {value:>10}   {note}")
        return 0 if verify_ok else 1

    print(f"pr-auditor bench: {args.prs} merged PRs in one day, {args.latency_ms:g} ms stand-in latency per request")
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve, args=(args.prs, args.latency_ms, child), daemon=True)
    server.start()
    info = parent.recv()
    try:
        auditor = measure("auditor", info["base_url"], parent)
        print(f"  auditor : {auditor}")
        baseline = measure("baseline", info["base_url"], parent)
        print(f"  baseline: {baseline}")
    finally:
        parent.send("stop")
        server.join(timeout=10)
    handler_import = import_seconds("import pr_auditor.handler")
    boto3_import = import_seconds("import boto3")

    n = info["in_window"]
    floor = math.ceil(n / 100)
    requests_auditor = auditor["requests"]["all"]
    requests_baseline = baseline["requests"]["all"]
    bound = 1.05 * floor + 5
    rows = [
        ("PRs merged in the window", f"{n}", f"auditor recorded {auditor['prs']}, baseline read {baseline['prs']}"),
        ("GitHub requests, auditor", f"{requests_auditor}", f"floor ceil(N/100) = {floor}; bound 1.05 x floor + 5 = {bound:.1f}"),
        ("GitHub requests, baseline", f"{requests_baseline}", f"{requests_baseline / requests_auditor:.1f}x the auditor's"),
        ("wall time, auditor", f"{auditor['wall_s']:.1f} s", ""),
        ("wall time, baseline", f"{baseline['wall_s']:.1f} s", f"{baseline['wall_s'] / auditor['wall_s']:.1f}x the auditor's"),
        ("peak RSS, auditor", f"{auditor['peak_rss_mb']:.0f} MiB", f"{auditor['peak_rss_mb'] / baseline['peak_rss_mb']:.2f}x the baseline's"),
        ("peak RSS, baseline", f"{baseline['peak_rss_mb']:.0f} MiB", ""),
        ("import pr_auditor.handler", f"{handler_import * 1000:.0f} ms", f"{handler_import / boto3_import:.2f}x import boto3 ({boto3_import * 1000:.0f} ms)"),
    ]  # fmt: skip
    print()
    for name, value, note in rows:
        print(f"  {name:<28} {value:>10}   {note}")
    verify_rows, verify_ok = bench_verify()
    rows += verify_rows
    ok = auditor["prs"] == n and requests_auditor <= bound and requests_baseline >= 50 * requests_auditor
    ok = ok and verify_ok
    print(
        f"\n  {'PASS' if ok else 'FAIL'}: every PR recorded, requests within the bound, >= 50x fewer than the baseline, the year's chain intact"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
