"""pr-auditor audit|backfill: the Lambda's engine from a terminal; ``report``: the auditor's evidence pack
(``report/command.py``).

stdout carries the records as JSON lines (the same records the Lambda writes); progress and errors go
to stderr. Exit 0 when the audit completed (findings are not an error), 1 when GitHub could not be read
completely, 2 for bad input (missing AWS credentials or region included, in every command); always with a
one-line reason. Each command's --help lists the environment variables it reads and its exit codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TextIO

from pr_auditor.audit.branch_audit import commits_in_window
from pr_auditor.audit.ports import Ledger, Record, RecordIds
from pr_auditor.audit.runs import AuditPorts, AuditRequest, Delivery, ReadOnlyLedger, run_audit, run_backfill
from pr_auditor.aws.state_table import StateTable
from pr_auditor.core.errors import AuditError, ConfigError, PolicyError
from pr_auditor.core.model import Window, iso
from pr_auditor.core.parse import make_window
from pr_auditor.core.policy import DEFAULT_POLICY, Policy, parse_policy
from pr_auditor.core.redact import install_log_guard
from pr_auditor.evidence import verify
from pr_auditor.evidence.report import command as report_command
from pr_auditor.github import GitHubSource, branch_readers
from pr_auditor.github.auth import open_github
from pr_auditor.github.per_org import PerOrgSource
from pr_auditor.settings import connection_from_env, credentials_from_env, parse_orgs, require_orgs

EXIT_OK, EXIT_SOURCE, EXIT_USAGE = 0, 1, 2
Env = Mapping[str, str]
Command = Callable[[argparse.Namespace, Env, TextIO], int]
log = logging.getLogger("pr_auditor")

DESCRIPTION = """\
Audit the pull requests merged in GitHub organisations against a change policy, as the
deployed Lambda does. Records go to stdout as JSON lines; progress and errors go to stderr."""

GITHUB_ENVIRONMENT = """\
  GITHUB_TOKEN                 token with read access to the organisations, or:
  GITHUB_APP_ID                GitHub App ID, with
  GITHUB_APP_PRIVATE_KEY       the App's private key (PEM text), or
  GITHUB_APP_PRIVATE_KEY_FILE  the path of that PEM file;
  GITHUB_APP_INSTALLATION_ID   optional: use this one installation
                               (with a GitHub App, --org '*' audits every installation)
  GITHUB_API_URL               default https://api.github.com (Enterprise Server: https://HOST/api/v3)
  GITHUB_GRAPHQL_POINTS_PER_MINUTE  pace GraphQL requests to this budget (default 1800; GitHub's
                               secondary limit is 2,000 points a minute)
  GITHUB_REST_POINTS_PER_MINUTE     the same for REST (default 800; GitHub's limit is 900)
  GITHUB_THROTTLE_SECONDS      an extra least time between request starts (default 0: none)
  GITHUB_RETRIES               retries per request after a failure: 5xx, time-out, dropped
                               connection, GraphQL errors (default 4; 0..10)
  GITHUB_BACKOFF_SECONDS       first pause before a retry, doubled each time (default 1)
  GITHUB_MAX_WAIT_SECONDS      longest wait for a rate-limit reset (default 900)
"""

# boto3's own variables (it reads AWS_DEFAULT_REGION, not AWS_REGION).
AWS_ENVIRONMENT = """\
  AWS_PROFILE                  a profile from `aws configure` or `aws configure sso`, or:
  AWS_ACCESS_KEY_ID            an access key, with
  AWS_SECRET_ACCESS_KEY        its secret (and AWS_SESSION_TOKEN for temporary credentials)
  AWS_DEFAULT_REGION           the stack's region (or the profile's region)
"""

NO_AWS_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE (a profile from `aws configure` or `aws configure sso`),"
    " or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
NO_AWS_REGION = "no AWS region: set AWS_DEFAULT_REGION (or AWS_PROFILE with a region)"
AWS_SETUP_EXIT = "  2  bad input: arguments, environment, policy file; no AWS credentials or region\n"

EPILOG = f"""\
environment:
{GITHUB_ENVIRONMENT}  STATE_TABLE                  backfill: the deployed stack's DynamoDB table (same as --state-table)
{AWS_ENVIRONMENT}                               (backfill --state-table, verify --bucket, report --bucket)

exit codes:
  0  the audit completed (findings are not an error)
  1  GitHub (or the state table) could not be read completely; nothing was reported as complete
     (verify: the archive is not intact)
{AWS_SETUP_EXIT}
each command's --help lists the environment it reads and its exit codes.
"""

AUDIT_EPILOG = f"""\
environment:
{GITHUB_ENVIRONMENT}
exit codes:
  0  the audit completed (findings are not an error)
  1  GitHub could not be read completely; nothing was reported as complete
  2  bad input: arguments, environment, policy file
"""

BACKFILL_EPILOG = f"""\
environment:
{GITHUB_ENVIRONMENT}  STATE_TABLE                  the deployed stack's DynamoDB table (same as --state-table);
                               with it, AWS credentials:
{AWS_ENVIRONMENT}
exit codes:
  0  the backfill completed (findings are not an error)
  1  GitHub or the state table could not be read completely; nothing was reported as complete
{AWS_SETUP_EXIT}"""

VERIFY_EPILOG = f"""\
environment (--bucket only; --dir reads no variable):
{AWS_ENVIRONMENT}
exit codes:
  0  the archive is intact: chain, windows and counts check out
  1  the archive is not intact (each finding is printed)
  2  bad input, or the archive could not be read; no AWS credentials or region
"""

REPORT_EPILOG = f"""\
environment (--bucket only; --input reads no variable):
{AWS_ENVIRONMENT}  AWS_REGION                   also read as --region's default (before AWS_DEFAULT_REGION)

exit codes:
  0  the evidence pack was written; its HTML's path is printed on stdout
  1  the archive could not be read completely; no pack was written
  2  bad input: arguments, records, the --out folder; no AWS credentials or region
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def _version() -> str:
    try:
        return version("pr-auditor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    plain = argparse.RawDescriptionHelpFormatter  # the epilog's columns as written
    parser = _Parser(prog="pr-auditor", description=DESCRIPTION, epilog=EPILOG, formatter_class=plain)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, epilog: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text + ".", epilog=epilog, formatter_class=plain)

    audit_parser = command("audit", "audit PRs merged in [since, until) and print one record each", AUDIT_EPILOG)
    audit_parser.set_defaults(run=audit)
    audit_parser.add_argument(
        "--org",
        action="append",
        required=True,
        help="organisation (repeat, or comma-separate; '*': every installation of a GitHub App)",
    )
    audit_parser.add_argument("--since", required=True, help="inclusive, ISO-8601 (UTC unless an offset is given)")
    audit_parser.add_argument("--until", required=True, help="exclusive, ISO-8601 (UTC unless an offset is given)")
    audit_parser.add_argument("--policy", type=Path, help="policy file (YAML or JSON); default: built-in policy")
    audit_parser.add_argument(
        "--no-direct-pushes",
        action="store_true",
        help="skip the direct-push check. That check lists the commits pushed to in-scope branches in the "
        "window that no merged PR brought in, with who pushed them (GitHub's repository activity); where "
        "activity is not served (older GitHub Enterprise Server) it falls back to committed dates, which "
        "the client sets (a backdated push escapes it)",
    )
    audit_parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    backfill_parser = command(
        "backfill",
        "audit a historical period in chunks, each change printed once (with --state-table, skipping what "
        "the deployed stack already recorded)",
        BACKFILL_EPILOG,
    )
    backfill_parser.set_defaults(run=backfill)
    for flag, text in (
        ("--org", "organisation (repeat, or comma-separate; '*': every installation of a GitHub App)"),
        ("--since", "inclusive, ISO-8601"),
        ("--until", "exclusive, ISO-8601"),
    ):
        backfill_parser.add_argument(flag, required=True, action="append" if flag == "--org" else "store", help=text)
    backfill_parser.add_argument("--policy", type=Path, help="policy file (YAML or JSON); default: built-in policy")
    backfill_parser.add_argument("--chunk-hours", type=float, default=24.0, help="hours per chunk (default 24)")
    backfill_parser.add_argument(
        "--state-table",
        default=os.environ.get("STATE_TABLE") or None,
        help="DynamoDB table of the deployed stack (env STATE_TABLE), read only: changes the stack already "
        "recorded are skipped; nothing is written to it (to backfill the stack itself, invoke its function "
        "with a backfill event)",
    )
    backfill_parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    verify_parser = command("verify", "check the evidence archive: hash chain, windows, counts", VERIFY_EPILOG)
    verify_parser.set_defaults(run=check_archive)
    verify.add_arguments(verify_parser)
    report_help = "the auditor's evidence pack for a period: population, exceptions, sample, summary, HTML"
    report_parser = command("report", report_help, REPORT_EPILOG)
    report_parser.set_defaults(run=report_command.report)
    report_command.add_arguments(report_parser)
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


def check_archive(args: argparse.Namespace, env: Env, out: TextIO) -> int:
    """``verify``: 0 when the archive is intact, 1 when it is not (see verify.py)."""
    del env  # verify reads AWS credentials the usual boto3 way
    return verify.run(args, out)


class _JsonLines:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.count = 0

    def __call__(self, record: Record) -> None:
        self._stream.write(json.dumps(record, separators=(",", ":"), ensure_ascii=True) + "\n")
        self.count += 1
        if self.count % 500 == 0:
            log.info("%d records written", self.count)


def _github(env: Env, orgs: tuple[str, ...]) -> tuple[GitHubSource | PerOrgSource, tuple[str, ...]]:
    """The source for the environment's credentials, and the organisations ('*' resolved for an App)."""
    credentials = credentials_from_env(env)
    # A terminal run may wait longer for a rate-limit reset than a Lambda can.
    connection = connection_from_env(env, max_wait_seconds=900.0)
    return open_github(credentials, connection, require_orgs(orgs, credentials, name="--org"))


def streaming_ports(
    source: GitHubSource | PerOrgSource, policy: Policy, emit: _JsonLines, ledger: Ledger | None = None
) -> AuditPorts:
    """A terminal run's ports: records go to stdout and are released at once; the in-run dedupe keeps
    record ids (``RecordIds``, or a deployed stack's ledger read through ``ReadOnlyLedger``), never records."""
    return AuditPorts(source, policy, emit, ledger if ledger is not None else RecordIds(), streaming=True)


def describe(orgs: tuple[str, ...], window: Window) -> str:
    return f"{', '.join(orgs)} from {iso(window.since)} to {iso(window.until)}"


def audit(args: argparse.Namespace, env: Env, out: TextIO) -> int:
    wanted = parse_orgs(args.org, name="--org", allow_all=True)
    window = make_window(args.since, args.until)
    policy = load_policy(args.policy)
    source, orgs = _github(env, wanted)
    request = AuditRequest(orgs=orgs, window=window, run_id=f"cli-{uuid.uuid4()}")
    log.info("auditing %s", describe(orgs, window))

    def direct_pushes() -> Iterator[Record]:
        # Pushed in the window, from GitHub's repository activity (who pushed, when); where activity is not
        # served (older GHES), best effort by committed date, which the client sets. A generator: each
        # organisation group's records are written and released before the next group is read.
        for group, reader in branch_readers(source, orgs):
            yield from commits_in_window(
                group, window.since, window.until, source=reader, policy=policy, run_id=request.run_id
            )

    emit = _JsonLines(out)
    summary = run_audit(
        request,
        source=source,
        policy=policy,
        emit=emit,
        delivery=Delivery(streaming_ports(source, policy, emit)),
        extra_records=None if args.no_direct_pushes else direct_pushes,
    )
    counts = summary["counts"]
    log.info(
        "done: %d audited (%d compliant, %d non-compliant, %d exempt), %d out of scope, %d GitHub requests",
        counts["audited"], counts["compliant"], counts["non_compliant"], counts["exempt"],
        counts["out_of_scope"], summary["github_requests"],
    )  # fmt: skip
    return EXIT_OK


def backfill(args: argparse.Namespace, env: Env, out: TextIO) -> int:
    wanted = parse_orgs(args.org, name="--org", allow_all=True)
    window = make_window(args.since, args.until)
    policy = load_policy(args.policy)
    if not 0 < args.chunk_hours <= 24 * 31:
        raise ConfigError(f"--chunk-hours: expected more than 0 and at most 744, got {args.chunk_hours}")
    chunk = timedelta(hours=args.chunk_hours)
    ledger: Ledger
    stack: ReadOnlyLedger | None = None
    if args.state_table:
        # Read-only: the stack's ledger is written by its function alone, so that its evidence always
        # reaches its log group and archive. For the stack's own backfill, invoke the function with a
        # backfill event (README, "7. First run").
        ledger = stack = ReadOnlyLedger(StateTable(args.state_table))
    else:
        ledger = RecordIds()
        log.warning("no --state-table: a change is recorded once within this backfill, not across runs")
    source, orgs = _github(env, wanted)
    log.info("backfilling %s in chunks of %g hours", describe(orgs, window), args.chunk_hours)
    with _progress_bar(window, chunk, show=sys.stderr.isatty() and not args.quiet) as progress:
        run = run_backfill(
            orgs,
            window,
            chunk=chunk,
            run_id=f"cli-backfill-{uuid.uuid4()}",
            progress=progress,
            ports=streaming_ports(source, policy, _JsonLines(out), ledger),
        )
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


Progress = Callable[[int, int, Record], None]


@contextmanager
def _progress_bar(window: Window, chunk: timedelta, *, show: bool) -> Iterator[Progress | None]:
    """A tqdm bar on stderr, one step per chunk; log lines are printed above it, never over it
    (tqdm's logging redirect). Without a terminal, or without tqdm installed, no bar."""
    if not show:
        yield None
        return
    try:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        log.info("no progress bar: pip install '.[cli]' in the pr-auditor clone (tqdm) for one")
        yield None
        return
    total = -(-(window.until - window.since) // chunk)  # chunks, rounded up
    totals = {"audited": 0, "non_compliant": 0}
    with tqdm(total=total, unit="chunk", file=sys.stderr, dynamic_ncols=True) as bar, logging_redirect_tqdm([log]):

        def progress(done: int, _total: int, summary: Record) -> None:
            totals["audited"] += summary["counts"]["audited"]
            totals["non_compliant"] += summary["counts"]["non_compliant"]
            bar.set_postfix_str(
                f"{totals['audited']} PRs, {totals['non_compliant']} non-compliant, through {summary['window']['until']}"
            )
            bar.update(done - bar.n)

        yield progress


def _progress_to_stderr(quiet: bool) -> logging.Handler:
    """Progress lines go to stderr (stdout is the JSON-lines record stream)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pr-auditor: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    return handler


def aws_setup_problem(exc: BaseException) -> str | None:
    """The plain sentence when an AWS call failed before reaching AWS (no credentials, no region), or None.
    Adapters translate boto errors into their own (``raise ... from exc``): the cause stays in the chain."""
    try:
        from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError
    except ImportError:  # boto3 (the aws extra) is not installed: no AWS call was made
        return None
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, NoCredentialsError | PartialCredentialsError):
            return NO_AWS_CREDENTIALS
        if isinstance(seen, NoRegionError):
            return NO_AWS_REGION
        seen = seen.__cause__ or seen.__context__
    return None


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    install_log_guard()  # no credential in any log line, even with botocore or PyGithub at DEBUG
    try:
        args = build_parser().parse_args(argv)
        progress = _progress_to_stderr(args.quiet)
        try:
            command: Command = args.run
            return command(args, os.environ, out or sys.stdout)
        finally:
            log.removeHandler(progress)
    except ConfigError as exc:
        print(f"pr-auditor: error: {aws_setup_problem(exc) or exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuditError as exc:
        problem = aws_setup_problem(exc)
        print(f"pr-auditor: error: {problem or exc}", file=sys.stderr)
        return EXIT_USAGE if problem else EXIT_SOURCE
    except Exception as exc:
        problem = aws_setup_problem(exc)  # boto raises these from the first call, outside any adapter
        if problem is None:
            raise
        print(f"pr-auditor: error: {problem}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
