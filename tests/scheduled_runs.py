"""Scheduled runs of the deployed function over several hours, for the route tests (branch audit, bypasses):
the stand-in organisation and the stack on moto share one clock; each run is the EventBridge schedule invoking
the real handler, and its lines are shipped to the log group."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pr_auditor import handler
from pr_auditor.evidence.archive import iter_archived_records

from harness import (
    REGION,
    AwsRoute,
    LambdaContext,
    alarms_in_alarm,
    captured_function_logs,
    metric_values,
    read_queue,
    ship,
)
from standin.model import GitHubState, Repository


@dataclass
class Run:
    """One scheduled invocation: what reached the log group, and the records among it."""

    events: list[str]
    error: BaseException | None
    records: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("kind") == kind]

    def sources(self) -> dict[str, Any]:
        """The bypass sources' notes, on the run's first summary."""
        return next(r["sources"] for r in self.of_kind("run_summary") if "sources" in r)


class Deployment:
    """The stand-in organisation (``acme/api``) and the deployed stack, with one clock for both."""

    def __init__(self, state: GitHubState, route: AwsRoute, clock: list[datetime]) -> None:
        self.state, self.route, self._clock = state, route, clock
        self.runs = 0

    @property
    def repo(self) -> Repository:
        found = self.state.find_repo("acme", "api")
        assert found is not None
        return found

    def at(self, moment: datetime) -> None:
        """Move the world's clock: GitHub's (pushes, pushedAt) and the function's."""
        self._clock[0] = moment

    def scheduled_run(self, at: datetime) -> Run:
        """The EventBridge schedule invoking the handler at ``at``; the lines go to the log group."""
        self.at(at)
        self.runs += 1
        event = {
            "version": "0",
            "id": str(self.runs),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        with captured_function_logs(handler.logger) as lines:
            try:
                handler.lambda_handler(event, LambdaContext(aws_request_id=f"run-{self.runs}"))
                error = None
            except Exception as exc:  # the Lambda runtime would record it as a function error
                error = exc
        events = ship(self.route, lines)
        return Run(events, error, [json.loads(event) for event in events])

    def archived(self) -> list[dict[str, Any]]:
        return list(iter_archived_records(self.route.client("s3"), self.route.evidence_bucket, scope="acme"))

    def findings(self) -> list[dict[str, Any]]:
        """Per-finding messages on the ops queue (received and deleted)."""
        return [m for m in read_queue(self.route) if "record_id" in m["alarm"]]

    def firing(self, run: Run) -> set[str]:
        return {alarm.logical_id for alarm in alarms_in_alarm(self.route, metric_values(self.route, run.events))}
