"""Attacks on the deployed path with one ordinary permission, each named after itself (handler on moto, GitHub
stand-in over HTTP): overlapping invocations, a relaxed policy laundering a backfill, a past-dated event, a
bad setting, and debug logging with a token or a GitHub App key in the secret.

Metric filters and alarms are stood in for as in test_lambda_route.py: the template's own patterns are
evaluated on the logged lines (``metric_values``), alarm thresholds by ``alarms_in_alarm``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from pr_auditor import handler
from pr_auditor.cli import main
from pr_auditor.core.errors import ConfigError
from pr_auditor.core.policy import parse_policy

from harness import (
    AwsRoute,
    LambdaContext,
    alarms_in_alarm,
    captured_function_logs,
    deployed_function,
    metric_values,
    scheduled_event,
    ship,
)
from standin.generate import add_pr, make_state, review
from standin.model import GitHubState

pytestmark = pytest.mark.integration

TOKEN = "ghp_runTRUST0123456789abcdefSECRET"
POLICY = "required_approvals: 1\n"
RELAXED = "required_approvals: 0\n"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
UNREVIEWED_MERGE = EVENT_TIME - timedelta(days=2)  # before the stack's first run: only a backfill reaches it


class Stack:
    """The deployed function, its clock (the test's), and every line it wrote."""

    def __init__(self, state: GitHubState, route: AwsRoute, clock: list[datetime]) -> None:
        self.state, self.route, self.clock = state, route, clock
        self.lines: list[str] = []

    def invoke(self, event: dict[str, Any], *, at: datetime, request_id: str) -> tuple[Any, BaseException | None]:
        self.clock[0] = at
        with captured_function_logs(handler.logger) as lines:
            try:
                result, error = handler.lambda_handler(event, LambdaContext(aws_request_id=request_id)), None
            except Exception as exc:  # the Lambda runtime records it as a function error
                result, error = None, exc
        self.lines.extend(lines)
        return result, error

    def scheduled(self, at: datetime, request_id: str) -> tuple[Any, BaseException | None]:
        return self.invoke(scheduled_event(at, event_id=request_id), at=at, request_id=request_id)

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [record for line in self.lines if (record := json.loads(line)).get("kind") == kind]

    def set_policy(self, text: str) -> None:
        """What an attacker with ssm:PutParameter does (Powertools' 5-minute cache cleared: time has passed)."""
        self.route.client("ssm").put_parameter(Name=self.route.policy_parameter, Value=text, Overwrite=True)
        parameters.clear_caches()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    add_pr(state, "api", reviews=[], merged_at=UNREVIEWED_MERGE, title="OPS-1 nobody reviewed this")
    add_pr(state, "api", reviews=[review("bob")], merged_at=EVENT_TIME - timedelta(minutes=20), title="OPS-2 fine")
    clock = [EVENT_TIME]
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text=POLICY) as route:
        monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])  # the function's clock is the test's
        yield Stack(state, route, clock)


def verify_bucket(route: AwsRoute) -> tuple[int, str]:
    out = io.StringIO()
    return main(["verify", "--quiet", "--bucket", route.evidence_bucket], out=out), out.getvalue()


# --------------------------------------------------------------------------- one run at a time


def test_overlapping_invocations_one_run_is_skipped_and_verify_stays_intact(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the scheduled run in progress, when a manual invoke arrives in the middle of it
    during: list[tuple[Any, BaseException | None]] = []
    scheduled_run: Callable[..., Any] = handler.run_invocation

    def run_with_a_manual_invoke_in_the_middle(*args: Any, **kwargs: Any) -> Any:
        manual = {"action": "backfill", "since": "2026-11-19T00:00:00Z", "until": "2026-11-20T00:00:00Z"}
        during.append(stack.invoke(manual, at=EVENT_TIME + timedelta(seconds=30), request_id="manual"))
        stack.clock[0] = EVENT_TIME
        return scheduled_run(*args, **kwargs)

    monkeypatch.setattr(handler, "run_invocation", run_with_a_manual_invoke_in_the_middle)
    result, error = stack.scheduled(EVENT_TIME, "scheduled-1")
    # Then the manual one audits nothing and says who holds the lease, and until when; it is no failure
    [(manual_result, manual_error)] = during
    assert error is None and manual_error is None
    assert manual_result == {"status": "skipped", "held_by": {"run_id": "scheduled-1", "until": "2026-11-21T10:15:00Z"}}
    summaries = {s["run_id"].split(":")[0]: s for s in stack.records("run_summary")}
    assert summaries["manual"]["status"] == "skipped"
    assert "run scheduled-1 holds the run lease until 2026-11-21T10:15:00Z" in summaries["manual"]["message"]
    assert summaries["scheduled-1"]["status"] == "completed" and result["audited"] == 1
    values = metric_values(stack.route, ship(stack.route, stack.lines))
    assert values["AuditorRunFailures"] == 0 and values["AuditorRunsCompleted"] == 1
    # And the evidence holds one chain, intact
    code, output = verify_bucket(stack.route)
    assert code == 0, output
    # And once the scheduled run ended, the lease is free again: the same manual invoke now runs
    monkeypatch.setattr(handler, "run_invocation", scheduled_run)
    manual = {"action": "backfill", "since": "2026-11-19T00:00:00Z", "until": "2026-11-20T00:00:00Z"}
    again, error = stack.invoke(manual, at=EVENT_TIME + timedelta(minutes=5), request_id="manual-2")
    assert error is None and again["chunks_completed"] == 1
    assert verify_bucket(stack.route)[0] == 0


def test_a_crashed_run_holds_the_lease_only_until_its_time_limit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from pr_auditor.aws.state_table import StateTable

    # Given a run that took the lease and died without giving it back (its 15 minutes are its expiry)
    lease = StateTable(stack.route.state_table).lease
    assert lease.acquire("crashed", now=EVENT_TIME, until=EVENT_TIME + timedelta(minutes=15)) is None
    # Then a run inside those 15 minutes is skipped, and the next one after them runs
    skipped, _ = stack.scheduled(EVENT_TIME + timedelta(minutes=10), "inside")
    ran, error = stack.scheduled(EVENT_TIME + timedelta(minutes=16), "after")
    assert skipped["status"] == "skipped" and skipped["held_by"]["run_id"] == "crashed"
    assert error is None and ran["chunks_completed"] >= 1


# --------------------------------------------------------------------------- judged under the policy in force


def test_relax_backfill_restore_records_two_policy_changes_raises_the_alarm_and_the_pr_stays_non_compliant(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack running under the deployed policy (one approval)
    assert stack.scheduled(EVENT_TIME, "scheduled-1")[1] is None
    # When an attacker relaxes the policy, sends a backfill over the unreviewed merge, and restores the policy
    stack.set_policy(RELAXED)
    backfill = {"action": "backfill", "since": "2026-11-18T00:00:00Z", "until": "2026-11-20T00:00:00Z"}
    _, error = stack.invoke(backfill, at=EVENT_TIME + timedelta(minutes=20), request_id="attacker-backfill")
    assert error is None
    stack.set_policy(POLICY)
    assert stack.scheduled(EVENT_TIME + timedelta(hours=1), "scheduled-2")[1] is None
    # Then both changes are recorded: the relaxation (by the backfill, before it audited) and the restore
    changes = stack.records("policy_change")
    assert [(c["previous_policy_version"], c["policy_version"], c["relaxed"]) for c in changes] == [
        (parse_policy(POLICY).version, parse_policy(RELAXED).version, True),
        (parse_policy(RELAXED).version, parse_policy(POLICY).version, False),
    ]
    assert [(c["run_id"], c["in_force_from"]) for c in changes] == [
        ("attacker-backfill", "2026-11-21T10:20:00Z"),
        ("scheduled-2", "2026-11-21T11:00:00Z"),
    ]
    # And the template's metric filter counts both, and the policy-change alarm fires
    values = metric_values(stack.route, ship(stack.route, stack.lines))
    assert values["PolicyChanges"] == 2
    assert "PolicyChangeAlarm" in {alarm.logical_id for alarm in alarms_in_alarm(stack.route, values)}
    # And the PR merged before the relaxation was recorded is judged under the policy in force at its merge
    [pr] = [r for r in stack.records("pull_request") if r["number"] == 1]
    assert pr["verdict"] == "non_compliant" and pr["policy_version"] == parse_policy(POLICY).version
    # And so it is in the auditor's report of that period
    out = io.StringIO()
    period = ["--since", "2026-11-18T00:00:00Z", "--until", "2026-11-20T00:00:00Z"]
    argv = ["report", *period, "--bucket", stack.route.evidence_bucket, "--out", str(tmp_path / "pack"), "--quiet"]
    assert main(argv, out=out) == 0, capsys.readouterr().err
    with (tmp_path / "pack" / "exceptions.csv").open(encoding="utf-8", newline="") as stream:
        assert [(row["number"], row["verdict"]) for row in csv.DictReader(stream)] == [("1", "non_compliant")]


def test_a_policy_relaxed_while_the_set_of_organisations_changes_is_still_recorded(stack: Stack) -> None:
    # Given a run over acme, when the policy is relaxed and the next run is over another set of organisations
    assert stack.scheduled(EVENT_TIME, "scheduled-1")[1] is None
    stack.set_policy(RELAXED)
    backfill = {"action": "backfill", "since": "2026-11-18T00:00:00Z", "until": "2026-11-19T00:00:00Z"}
    stack.invoke(backfill | {"orgs": ["acme", "acme-labs"]}, at=EVENT_TIME + timedelta(minutes=5), request_id="b")
    # Then the change is recorded all the same: the policy in force is the stack's, not a scope's
    assert [c["relaxed"] for c in stack.records("policy_change")] == [True]


# --------------------------------------------------------------------------- time from the function's clock


def test_a_past_dated_event_is_rejected_with_a_failed_run_summary_and_dates_nothing(stack: Stack) -> None:
    # Given the function's clock at EVENT_TIME, when someone invokes it with a scheduled event of 2025-01-01
    event = scheduled_event(datetime(2025, 1, 1, tzinfo=UTC), event_id="forged")
    _, error = stack.invoke(event, at=EVENT_TIME, request_id="forged")
    # Then it is rejected before any work, with a failed summary over the function's own clock
    assert isinstance(error, ConfigError) and "more than 24 hours before the function's clock" in str(error)
    [summary] = stack.records("run_summary")
    assert summary["status"] == "failed" and summary["window"]["until"] == "2026-11-21T10:00:00Z"
    assert stack.records("pull_request") == [] and stack.state.count() == 0
    assert metric_values(stack.route, ship(stack.route, stack.lines))["AuditorRunFailures"] == 1


def test_a_scheduled_run_audits_up_to_the_function_clock_whatever_the_event_says(stack: Stack) -> None:
    # Given an event dated 20 hours ago (inside EventBridge's retry window, so accepted)
    result, error = stack.invoke(
        scheduled_event(EVENT_TIME - timedelta(hours=20)), at=EVENT_TIME, request_id="late-delivery"
    )
    # Then the window ends at the function's clock, not at the event's time
    assert error is None
    assert result["windows"][-1]["until"] == "2026-11-21T10:00:00Z"


# --------------------------------------------------------------------------- a bad setting leaves a line


def test_a_bad_setting_at_cold_start_leaves_a_failed_run_summary_naming_the_variable_not_its_value(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHUNK_MINUTES", "ghp_pastedTOKEN0123456789abcdef")
    handler.settings.cache_clear()
    _, error = stack.scheduled(EVENT_TIME, "cold-start")
    assert isinstance(error, ConfigError) and "CHUNK_MINUTES" in str(error)
    [summary] = stack.records("run_summary")
    assert summary["status"] == "failed" and summary["error"]["message"].startswith("CHUNK_MINUTES: ")
    assert not [line for line in stack.lines if "pastedTOKEN" in line]
    assert "pastedTOKEN" not in str(error)
    assert metric_values(stack.route, ship(stack.route, stack.lines))["AuditorRunFailures"] == 1


# --------------------------------------------------------------------------- nothing secret at any level


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything any logger of the process writes, at DEBUG (botocore's request and response bodies too)."""
    buffer = io.StringIO()
    catch_all = logging.StreamHandler(buffer)
    catch_all.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(catch_all)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(catch_all)
        root.setLevel(previous)


def no_secret_in(lines: list[str], secrets: list[str]) -> list[str]:
    return [line for line in lines for secret in secrets if secret in line]


def test_root_logger_at_debug_no_secret_in_any_line_with_a_token(stack: Stack, every_log_line: io.StringIO) -> None:
    # Given the root logger at DEBUG (botocore logs Secrets Manager's whole answer there)
    result, error = stack.scheduled(EVENT_TIME, "debug-token")
    assert error is None and result["audited"] == 1
    lines = every_log_line.getvalue().splitlines() + stack.lines
    # Then the capture saw botocore's bodies, the secret's among them, and no line holds the token
    assert any("SecretString" in line for line in lines)
    assert no_secret_in(lines, [TOKEN, TOKEN[4:]]) == []


def test_root_logger_at_debug_no_secret_in_any_line_with_a_github_app_key(
    stack: Stack, every_log_line: io.StringIO
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from standin.apps import App

    # Given the stack's secret holds a GitHub App (its private key), installed on acme
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    stack.state.apps.register(App(4242, public.decode())).install("acme", 101)
    secret = json.dumps({"app_id": 4242, "private_key": pem})
    stack.route.client("secretsmanager").put_secret_value(SecretId=stack.route.secret_arn, SecretString=secret)
    parameters.clear_caches()
    # When a run goes with the root logger at DEBUG
    result, error = stack.scheduled(EVENT_TIME, "debug-app")
    assert error is None and result["audited"] == 1
    lines = every_log_line.getvalue().splitlines() + stack.lines
    # Then no line holds any line of the key, the installation token it was exchanged for, or a JWT
    key_lines = [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
    issued = list(stack.state.apps.tokens)
    assert issued and any("SecretString" in line for line in lines)
    assert no_secret_in(lines, [*key_lines, *issued, "eyJ"]) == []
