"""``pr-auditor audit …`` and ``pr-auditor backfill …``: the Lambda's engine from a terminal.

stdout carries the records as JSON lines (the same records the Lambda writes); progress and errors go
to stderr. Exit 0 when the audit completed (findings are not an error), 1 when GitHub could not be read
completely, 2 for bad input; always with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from pr_auditor import verify
from pr_auditor.audit import AuditPorts, AuditRequest, PullRequestSource, ReadOnlyLedger, run_audit, run_backfill
from pr_auditor.checkpoint import StateTable
from pr_auditor.errors import AuditError, ConfigError, PolicyError
from pr_auditor.github import open_source
from pr_auditor.invocation import make_window
from pr_auditor.policy import DEFAULT_POLICY, Policy, parse_policy
from pr_auditor.ports import Ledger, MemoryLedger, Record
from pr_auditor.settings import connection_from_env, parse_orgs

EXIT_OK, EXIT_SOURCE, EXIT_USAGE = 0, 1, 2
Env = Mapping[str, str]
log = logging.getLogger("pr_auditor")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pr-auditor", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="audit PRs merged in [since, until) and print one record each")
    audit.add_argument("--org", action="append", required=True, help="organisation (repeat, or comma-separate)")
    audit.add_argument("--since", required=True, help="inclusive, ISO-8601 (UTC unless an offset is given)")
    audit.add_argument("--until", required=True, help="exclusive, ISO-8601 (UTC unless an offset is given)")
    audit.add_argument("--policy", type=Path, help="policy file (YAML or JSON); default: built-in policy")
    audit.add_argument("--quiet", action="store_true", help="no progress on stderr")
    backfill = commands.add_parser(
        "backfill",
        help="audit a historical period in chunks, recording each change once (same dedupe as the Lambda)",
    )
    for flag, text in (
        ("--org", "organisation (repeat, or comma-separate)"),
        ("--since", "inclusive, ISO-8601"),
        ("--until", "exclusive, ISO-8601"),
    ):
        backfill.add_argument(flag, required=True, action="append" if flag == "--org" else "store", help=text)
    backfill.add_argument("--policy", type=Path, help="policy file (YAML or JSON); default: built-in policy")
    backfill.add_argument("--chunk-hours", type=float, default=24.0, help="hours per chunk (default 24)")
    backfill.add_argument(
        "--state-table",
        default=os.environ.get("STATE_TABLE") or None,
        help="DynamoDB table of the deployed stack (env STATE_TABLE), read only: changes the stack already "
        "recorded are skipped; nothing is written to it (to backfill the stack itself, invoke its function "
        "with a backfill event)",
    )
    backfill.add_argument("--quiet", action="store_true", help="no progress on stderr")
    verify.add_arguments(commands.add_parser("verify", help="check the evidence archive: hash chain, windows, counts"))
    return parser  # fmt: skip


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return DEFAULT_POLICY
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file ({exc.strerror})") from None
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


class _JsonLines:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.count = 0

    def __call__(self, record: Record) -> None:
        self._stream.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self.count += 1
        if self.count % 500 == 0:
            log.info("%d records written", self.count)


def _github(env: Env) -> PullRequestSource:
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise ConfigError("GITHUB_TOKEN is not set")
    # A terminal run may wait longer for a rate-limit reset than a Lambda can.
    return open_source(token, connection_from_env(env, max_wait_seconds=900.0))


def audit(args: argparse.Namespace, env: Env, out: TextIO) -> int:
    orgs = parse_orgs(args.org, name="--org")
    window = make_window(args.since, args.until)
    policy = load_policy(args.policy)
    source = _github(env)
    request = AuditRequest(orgs=orgs, window=window, run_id=f"cli-{uuid.uuid4()}")
    log.info("auditing %s, %s", ", ".join(orgs), window.as_dict())
    summary = run_audit(request, source=source, policy=policy, emit=_JsonLines(out))
    counts = summary["counts"]
    log.info(
        "done: %d audited (%d compliant, %d non-compliant, %d exempt), %d out of scope, %d GitHub requests",
        counts["audited"], counts["compliant"], counts["non_compliant"], counts["exempt"],
        counts["out_of_scope"], summary["github_requests"],
    )  # fmt: skip
    return EXIT_OK


def backfill(args: argparse.Namespace, env: Env, out: TextIO) -> int:
    orgs = parse_orgs(args.org, name="--org")
    window = make_window(args.since, args.until)
    policy = load_policy(args.policy)
    if not 0 < args.chunk_hours <= 24 * 31:
        raise ConfigError(f"--chunk-hours: expected more than 0 and at most 744, got {args.chunk_hours}")
    ledger: Ledger
    stack: ReadOnlyLedger | None = None
    if args.state_table:
        # Read-only: the stack's ledger is written by its function alone, so that its evidence always
        # reaches its log group and archive. For the stack's own backfill, invoke the function with a
        # backfill event (README "Backfill").
        ledger = stack = ReadOnlyLedger(StateTable(args.state_table))
    else:
        ledger = MemoryLedger()
        log.warning("no --state-table: a change is recorded once within this backfill, not across runs")
    source = _github(env)
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    run = run_backfill(
        orgs,
        window,
        chunk=timedelta(hours=args.chunk_hours),
        run_id=f"cli-backfill-{uuid.uuid4()}",
        progress=bar,
        ports=AuditPorts(source, policy, _JsonLines(out), ledger),
    )
    if bar is not None:
        bar.close()
    result = run.as_result()
    if stack is not None:
        log.warning(
            "%d change(s) already recorded by the stack's function were skipped (its ledger was only read)",
            stack.skipped,
        )
    log.info(
        "backfill done: %d chunks, %d PRs recorded (%d non-compliant), %d GitHub requests",
        result["chunks_completed"], result["audited"], result["non_compliant"], result["github_requests"],
    )  # fmt: skip
    return EXIT_OK


class _ProgressBar:
    """One line on a terminal, rewritten per completed chunk."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._audited = 0
        self._findings = 0

    def __call__(self, done: int, total: int, summary: Record) -> None:
        self._audited += summary["counts"]["audited"]
        self._findings += summary["counts"]["non_compliant"]
        filled = round(30 * done / total)
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} chunks, "
            f"{self._audited} PRs, {self._findings} non-compliant, through {summary['window']['until']}"
        )
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")


def _progress_to_stderr(quiet: bool) -> logging.Handler:
    """Progress lines go to stderr (stdout is the JSON-lines record stream)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pr-auditor: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    return handler


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        progress = _progress_to_stderr(args.quiet)
        try:
            if args.command == "verify":
                return verify.run(args, out or sys.stdout)
            command = audit if args.command == "audit" else backfill
            return command(args, os.environ, out or sys.stdout)
        finally:
            log.removeHandler(progress)
    except ConfigError as exc:
        print(f"pr-auditor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuditError as exc:
        print(f"pr-auditor: error: {exc}", file=sys.stderr)
        return EXIT_SOURCE


if __name__ == "__main__":
    sys.exit(main())
