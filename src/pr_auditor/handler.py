"""Thin Lambda entry point: settings once per cold start, wiring, one call into the audit."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from pr_auditor.audit import AuditRequest, Record, run_audit
from pr_auditor.errors import ConfigError
from pr_auditor.github_source import open_source
from pr_auditor.invocation import window_from_event
from pr_auditor.policy import DEFAULT_POLICY, Policy, parse_policy
from pr_auditor.settings import Settings, settings_from_env, token_from_secret

logger = Logger(utc=True)  # service name from POWERTOOLS_SERVICE_NAME
CACHE_SECONDS = 300  # ops can rotate the token or change the policy without a redeploy


@cache
def settings() -> Settings:
    return settings_from_env(os.environ)


@cache
def _policy_from_text(text: str) -> Policy:
    return parse_policy(text, source="policy parameter")


def current_policy(config: Settings) -> Policy:
    if config.policy_parameter is None:
        return DEFAULT_POLICY
    text = parameters.get_parameter(config.policy_parameter, max_age=CACHE_SECONDS)
    return _policy_from_text(str(text))


def emit(record: Record) -> None:
    """One log line per record; Powertools writes the keys at the top level of the JSON line."""
    fields = {key: value for key, value in record.items() if key != "message"}
    failed = record.get("status") == "failed"
    non_compliant = record.get("verdict") == "non_compliant"
    level = logger.error if failed else logger.warning if non_compliant else logger.info
    level(record["message"], extra=fields)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Record:
    config = settings()
    try:
        window, orgs = window_from_event(
            event, period_minutes=config.schedule_minutes, overlap_minutes=config.overlap_minutes
        )
    except ConfigError as exc:
        # Rejected before any work: nothing is audited, nothing is recorded, the invocation fails.
        logger.error(f"rejected event: {exc}", extra={"kind": "event_rejected"})
        raise
    policy = current_policy(config)
    token = token_from_secret(parameters.get_secret(config.token_secret, max_age=CACHE_SECONDS))
    source = open_source(token, config.connection)
    request = AuditRequest(orgs=orgs or config.orgs, window=window, run_id=context.aws_request_id)
    return run_audit(request, source=source, policy=policy, emit=emit)
