"""Thin Lambda entry point: settings once per cold start, wiring, one call into the audit."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from pr_auditor.audit.invocation import BackfillRun, ScheduledRun, parse_event
from pr_auditor.audit.one_run import one_run_at_a_time
from pr_auditor.audit.ports import NoArchive, NoNotifier, Record
from pr_auditor.audit.runs import (
    AuditFailedError,
    AuditPorts,
    AuditRejectedError,
    ChunkedRun,
    failed_run_summary,
    run_backfill,
    run_scheduled,
)
from pr_auditor.aws.metrics import SECONDS, record_metrics
from pr_auditor.aws.signer import KmsSigner
from pr_auditor.aws.sns import SnsNotifier
from pr_auditor.aws.state_table import StateDocuments, StateTable
from pr_auditor.core.errors import ConfigError, PolicyError
from pr_auditor.core.messages import Console
from pr_auditor.core.model import Window, iso
from pr_auditor.core.policy import DEFAULT_POLICY, Policy, parse_policy
from pr_auditor.core.redact import REDACTOR, install_log_guard
from pr_auditor.evidence.archive import S3Archive
from pr_auditor.github.credentials import AppCredentials, Credentials, TokenCredentials
from pr_auditor.settings import (
    Settings,
    credentials_from_secret,
    require_orgs,
    setting_error,
    settings_from_env,
)


class _Null:
    """Stands in for a record's ``null`` on its way through Powertools, which drops top-level keys whose value
    is None before it serialises a line. A record's nulls belong to its schema (``merged_by: null`` is a
    deleted account, not a missing field); ``json_line`` writes this back as ``null``."""

    def __repr__(self) -> str:
        return "null"


NULL = _Null()


def _json_default(value: Any) -> Any:
    return None if value is NULL else str(value)


def json_line(document: dict[str, Any]) -> str:
    """Every line the function writes: compact JSON, ASCII only (U+2028/U+2029 and any other non-ASCII
    character escaped, so readers that split on Unicode line ends still see one record per line)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True, default=_json_default)


# Before any logger writes: no credential reaches a line at any level (botocore's DEBUG bodies included).
install_log_guard()
# service name from POWERTOOLS_SERVICE_NAME; json_serializer is Powertools' public hook for the line itself
logger = Logger(utc=True, json_serializer=json_line)
# embedded metrics for the dashboard: namespace from POWERTOOLS_METRICS_NAMESPACE, dimension "service"
metrics = Metrics()
CACHE_SECONDS = 300  # ops can rotate the token or change the policy without a redeploy
# Start no new chunk with less than this left: a chunk that is cut off is harmless (the watermark stays,
# the ledger prevents second findings) but wastes the work; 5 minutes fits a day of PRs with retries.
SAFETY_MARGIN_MS = 300_000


@cache
def settings() -> Settings:
    config = settings_from_env(os.environ)
    if config.state_table is None:
        raise ConfigError("STATE_TABLE: required (the DynamoDB table holding the watermark and the ledger)")
    return config


def metric_names() -> None:
    """Read with the rest of the environment, not at import (the dashboard expects these two)."""
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "PrAuditor"
    metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or "pr-auditor"


@cache
def state_table(name: str, ttl_days: int) -> StateTable:
    return StateTable(name, ttl=timedelta(days=ttl_days))


def wall_clock() -> datetime:
    """The function's own clock: ledger claims, leases, and the bound on a scheduled event's time."""
    return datetime.now(UTC)


@cache
def signer(key_id: str) -> KmsSigner:
    """One per container: the public key is fetched once."""
    return KmsSigner(key_id)


@cache
def notifier(topic_arn: str, log_group: str) -> SnsNotifier:
    region = os.environ.get("AWS_REGION", "us-east-1")
    return SnsNotifier(topic_arn, console=Console(region=region, log_group=log_group))


@cache
def _policy_from_text(text: str) -> Policy:
    return parse_policy(text)


def current_policy(config: Settings) -> Policy:
    if config.policy_parameter is None:
        return DEFAULT_POLICY
    from aws_lambda_powertools.utilities import parameters  # imports boto3: at the first read, not at import

    text = parameters.get_parameter(config.policy_parameter, max_age=CACHE_SECONDS)
    try:
        return _policy_from_text(str(text))
    except PolicyError as exc:
        raise PolicyError(f"policy parameter {config.policy_parameter}: {exc}") from None


def policy_origin(name: str) -> Record:
    """Who last changed the policy parameter, and when (SSM keeps the last 100 versions, oldest first). An
    unreadable history leaves both null: the change itself is still recorded."""
    import boto3  # the Lambda runtime has it
    from botocore.exceptions import BotoCoreError, ClientError

    latest: Mapping[str, Any] = {}
    try:
        for page in boto3.client("ssm").get_paginator("get_parameter_history").paginate(Name=name):
            if page.get("Parameters"):
                latest = page["Parameters"][-1]
    except (BotoCoreError, ClientError) as exc:
        logger.warning(f"policy history unreadable ({type(exc).__name__}); policy_change names no author")
        return {}
    changed_at = latest.get("LastModifiedDate")
    return {
        "changed_by": latest.get("LastModifiedUser"),
        "changed_at": iso(changed_at) if isinstance(changed_at, datetime) else None,
    }


def secret_texts(secret: str | bytes, credentials: Credentials) -> list[str]:
    """Everything the secret holds that must never be logged: the whole value, the token or the App's key."""
    raw = secret.decode(errors="replace") if isinstance(secret, bytes) else str(secret)
    found = [raw]
    if isinstance(credentials, TokenCredentials):
        found.append(credentials.token)
    elif isinstance(credentials, AppCredentials):
        found.append(credentials.private_key)
    return found


def emit(record: Record) -> None:
    """One log line per record; Powertools writes the keys at the top level of the JSON line."""
    fields = {key: NULL if value is None else value for key, value in record.items() if key != "message"}
    failed = record.get("status") == "failed"
    non_compliant = record.get("verdict") == "non_compliant"
    level = logger.error if failed else logger.warning if non_compliant else logger.info
    level(record["message"], extra=fields)
    for name, value in record_metrics(record).items():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds if name in SECONDS else MetricUnit.Count, value=value)


def run_invocation(
    invocation: ScheduledRun | BackfillRun, config: Settings, context: LambdaContext, *, now: datetime
) -> ChunkedRun:
    """Wire the adapters and run the scheduled catch-up or the backfill. ``now`` is the function's clock at
    the start of the invocation: the scheduled window ends there, whatever time the event names."""
    # Imported where they are needed, not at a cold start's import: Powertools' parameters (boto3) and the
    # GitHub side (PyGithub, its JWT and cryptography).
    from aws_lambda_powertools.utilities import parameters

    from pr_auditor.github import branch_readers, bypass_readers
    from pr_auditor.github.auth import open_github

    assert config.state_table is not None
    table = state_table(config.state_table, config.dedupe_ttl_days)
    origin = (lambda: policy_origin(parameter)) if (parameter := config.policy_parameter) else None
    backfill_orgs = (invocation.orgs or ()) if isinstance(invocation, BackfillRun) else ()
    secret = parameters.get_secret(config.token_secret, max_age=CACHE_SECONDS)
    credentials = credentials_from_secret(secret)
    REDACTOR.remember(secret_texts(secret, credentials))
    wanted = require_orgs(backfill_orgs or config.orgs, credentials, name="GITHUB_ORGS")
    source, orgs = open_github(credentials, config.connection, wanted)  # a GitHub App may resolve "*"
    ports = AuditPorts(
        source=source,
        policy=current_policy(config),
        emit=emit,
        ledger=table,
        archive=(
            S3Archive(
                config.evidence_bucket, StateDocuments(table), signer=signer(config.signing_key_id), clock=wall_clock
            )
            if config.evidence_bucket and config.signing_key_id
            else NoArchive()
        ),
        notifier=notifier(config.alarm_topic_arn, context.log_group_name) if config.alarm_topic_arn else NoNotifier(),
        now=wall_clock,
        branches=lambda groups: branch_readers(source, groups),
        bypasses=lambda groups: bypass_readers(source, groups, audit_log=config.read_audit_log),
    )

    def has_time() -> bool:
        return context.get_remaining_time_in_millis() > SAFETY_MARGIN_MS

    if isinstance(invocation, BackfillRun):
        run = run_backfill(
            orgs,
            invocation.window,
            chunk=timedelta(minutes=config.chunk_minutes),
            run_id=context.aws_request_id,
            has_time=has_time,
            ports=ports,
            state=StateDocuments(table),
            policy_origin=origin,
        )
    else:
        run = run_scheduled(
            orgs,
            now=now,
            schedule=config.schedule(now),
            checkpoint=table,
            run_id=context.aws_request_id,
            has_time=has_time,
            ports=ports,
            state=StateDocuments(table),
            policy_origin=origin,
        )
    return run


@metrics.log_metrics  # flushed even when the run fails, so RunsFailed is published
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Record:
    metric_names()
    now = wall_clock()  # every time the run writes comes from here, never from the event
    try:
        config = settings()
    except ConfigError as exc:
        # A bad setting still leaves a line: the failed summary names the variable, never its value.
        named = setting_error(exc)
        emit(failed_run_summary((), Window(now - timedelta(hours=1), now), context.aws_request_id, None, named))
        raise named from None
    window = Window(now - timedelta(minutes=config.schedule_minutes), now)
    try:
        invocation = parse_event(event, now=now, backfill_max_days=config.backfill_max_days)
    except ConfigError as exc:
        # Rejected before any work: nothing is audited, nothing is recorded but the rejection itself.
        logger.error(f"rejected event: {exc}", extra={"kind": "event_rejected"})
        emit(failed_run_summary(config.orgs, window, context.aws_request_id, None, exc))
        raise
    if isinstance(invocation, BackfillRun):
        window = invocation.window
    orgs = (invocation.orgs if isinstance(invocation, BackfillRun) else None) or config.orgs
    try:
        with one_run_at_a_time(
            state_table(str(config.state_table), config.dedupe_ttl_days).lease,
            run_id=context.aws_request_id,
            now=wall_clock,
            until=now + timedelta(milliseconds=context.get_remaining_time_in_millis()),
            orgs=orgs,
            window=window,
            emit=emit,
        ) as skipped:
            if skipped is not None:
                return {"status": "skipped", "held_by": skipped["held_by"]}
            run = run_invocation(invocation, config, context, now=now)
    except (AuditFailedError, AuditRejectedError):
        raise  # its failed run_summary is written
    except Exception as exc:
        # Failed before any chunk (the lease, the secret, the policy, the state table): still one failed summary.
        emit(failed_run_summary(config.orgs, window, context.aws_request_id, None, exc))
        raise
    if run.pending:
        logger.warning(
            f"out of time with {len(run.pending)} chunk(s) left; resume from {run.as_result()['resume_from']}",
            extra={"kind": "run_continues"},
        )
    return run.as_result()
