"""``pr-auditor report``: arguments and the command, for ``cli.py``. Imports nothing optional at import time:
Jinja2, pygal and tqdm (the ``report`` extra) are loaded when the command runs, with a one-line error naming
the extra when they are missing."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pr_auditor.core.errors import ConfigError
from pr_auditor.core.model import Window
from pr_auditor.core.parse import make_window
from pr_auditor.evidence.report.core import Record, RecordError

log = logging.getLogger("pr_auditor")
EXTRA_HINT = "pip install '.[report]' in the pr-auditor clone"
DEFAULT_SAMPLE = 25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, help="inclusive, ISO-8601 (UTC unless an offset is given)")
    parser.add_argument("--until", required=True, help="exclusive, ISO-8601 (UTC unless an offset is given)")
    parser.add_argument("--bucket", help="the evidence archive (S3 bucket) to read the period from")
    parser.add_argument("--scope", help="with --bucket: the archive scope (organisations), default all")
    parser.add_argument(
        "--input", action="append", type=Path, default=[], metavar="FILE",
        help="JSON-lines records (plain or .gz), as the Lambda or the CLI wrote them; repeat for more files",
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="folder to write the evidence pack into")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help=f"sample size (default {DEFAULT_SAMPLE})")
    parser.add_argument("--seed", help="sample seed (default: a random one, written to summary.json)")
    parser.add_argument("--log-group", help="the stack's log group: sample rows get a Logs Insights link")
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="the bucket's and the log group's region (default: AWS_REGION, else AWS_DEFAULT_REGION)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--policy", action="append", type=Path, default=[], metavar="FILE",
        help="a policy file (YAML or JSON) to show on the page, matched by its hash to the versions in force",
    )  # fmt: skip


def _require_extra() -> None:
    for module in ("jinja2", "pygal", "tqdm"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"report needs {module}, from the report extra: {EXTRA_HINT}") from None


def _validated(args: argparse.Namespace) -> None:
    if bool(args.input) == bool(args.bucket):
        raise ConfigError("report: give either --bucket BUCKET or --input FILE (one or more), not both or neither")
    if args.scope and not args.bucket:
        raise ConfigError("--scope: only with --bucket")
    if args.sample < 0:
        raise ConfigError(f"--sample: expected a count >= 0, got {args.sample}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out}: exists and is not a folder")


def _with_progress(records: Iterable[Record], show: bool, unit: str) -> Iterator[Record]:
    if not show:
        yield from records
        return
    from tqdm import tqdm

    with tqdm(records, unit=unit, file=sys.stderr, desc="reading", dynamic_ncols=True) as bar:
        yield from bar


@dataclass(frozen=True, slots=True)
class _Source:
    records: Iterable[Record]
    chain: Mapping[str, Any]  # {"verified": bool | None, "detail": str}
    description: Mapping[str, Any]


def _open_source(args: argparse.Namespace, window: Window, show_progress: bool) -> _Source:
    from pr_auditor.evidence.report import sources

    if args.input:
        sources.check_inputs(args.input)
        return _Source(
            records=_files_with_progress(args.input, show_progress),
            chain=sources.local_chain_status(),
            description={"description": f"{len(args.input)} local file(s)", "inputs": [str(p) for p in args.input]},
        )
    client = sources.s3_client(args.region)
    scope = {"scope": args.scope, "since": window.since, "until": window.until}
    return _Source(
        records=_with_progress(sources.read_archive(client, args.bucket, **scope), show_progress, " records"),
        chain=sources.chain_status(client, args.bucket, **scope),
        description={
            "description": f"the evidence archive s3://{args.bucket}",
            "bucket": args.bucket,
            "scope": args.scope,
        },
    )


def report(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    """Write the evidence pack; print the HTML's path on stdout."""
    del env
    window = make_window(args.since, args.until)
    _validated(args)
    _require_extra()
    from pr_auditor.core.errors import MissingBucketError
    from pr_auditor.evidence.report.build import ReportRequest, build_report

    try:
        source = _open_source(args, window, show_progress=sys.stderr.isatty() and not args.quiet)
        request = ReportRequest(
            since=window.since,
            until=window.until,
            out=args.out,
            sample_size=args.sample,
            seed=args.seed if args.seed is not None else secrets.token_hex(4),
            generated_at=datetime.now(UTC),
            source=source.description,
            region=args.region,
            log_group=args.log_group,
            policies=_policy_files(args.policy),
        )
        result = build_report(source.records, request, chain=source.chain)
    except MissingBucketError as exc:
        raise ConfigError(str(exc)) from None
    except RecordError as exc:
        raise ConfigError(f"report: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot write ({exc.strerror or exc})") from None
    _log_outcome(result.summary)
    out.write(f"{result.html}\n")
    return 0


def _policy_files(paths: list[Path]) -> tuple[Any, ...]:
    """Each ``--policy`` file parsed (a bad one is one line naming the file and key, exit 2)."""
    from pr_auditor.core.policy import canonical_policy, parse_policy
    from pr_auditor.evidence.report.build import PolicyFile

    files = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--policy {path}: cannot read ({exc.strerror or exc})") from None
        try:
            policy = parse_policy(text)
        except ConfigError as exc:
            raise ConfigError(f"--policy {path}: {exc}") from None
        files.append(PolicyFile(str(path), policy.version, canonical_policy(policy)))
    return tuple(files)


def _files_with_progress(paths: list[Path], show: bool) -> Iterator[Record]:
    from pr_auditor.evidence.report import sources

    if not show:
        yield from sources.read_files(paths)
        return
    from tqdm import tqdm

    with tqdm(
        total=sources.total_bytes(paths), unit="B", unit_scale=True, file=sys.stderr, desc="reading", dynamic_ncols=True
    ) as bar:
        yield from sources.read_files(paths, progress=bar.update)


def _log_outcome(summary: Mapping[str, Any]) -> None:
    completeness = summary["completeness"]
    log.info(
        "report: %d changes, %d exceptions, sample of %d (seed %s)",
        summary["changes"], summary["exceptions"], summary["sample"]["size"], summary["sample"]["seed"],
    )  # fmt: skip
    if completeness["gaps"]:
        first = completeness["gaps"][0]
        log.warning(
            "report: %d gap(s) no completed run covers, first %s to %s",
            len(completeness["gaps"]), first["since"], first["until"],
        )  # fmt: skip
    if summary["input"]["undated_changes"]:
        log.warning(
            "report: %d change(s) with no time and no run to place them by, not in the population: %s",
            len(summary["input"]["undated_changes"]), ", ".join(summary["input"]["undated_changes"][:3]),
        )  # fmt: skip
    if completeness["failed_runs"]:
        log.warning("report: %d failed run(s) in the period", len(completeness["failed_runs"]))
    if completeness["chain"]["verified"] is False:
        log.warning("report: the archive's hash chain did NOT verify: %s", completeness["chain"]["detail"])
