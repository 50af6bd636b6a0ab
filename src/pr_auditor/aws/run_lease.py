"""The run lease in the state table: ``lease#run``, one item for the whole stack. A run takes it with a
conditional write (free, lapsed, or already its own) and gives it back at the end by moving its expiry to
now; a run that crashed holds it only until its expiry, which the handler sizes from the invocation's
remaining time. Release is an UpdateItem, so the function's role needs no DeleteItem."""

from __future__ import annotations

from datetime import datetime

from pr_auditor.audit.ports import LeaseHolder
from pr_auditor.aws.table_client import ConditionFailedError, TableClient, key, sortable
from pr_auditor.core.errors import StateError

LEASE_KEY = "lease#run"


class LeaseTable:
    """Implements the ``RunLease`` port of ``audit.ports``."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def acquire(self, run_id: str, *, now: datetime, until: datetime) -> LeaseHolder | None:
        try:
            self._table.call(
                "put_item",
                TableName=self._table.name,
                Item={
                    **key(LEASE_KEY),
                    "holder": {"S": run_id},
                    "until": {"S": sortable(until)},
                    "taken_at": {"S": sortable(now)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #until <= :now OR holder = :run",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"S": sortable(now)}, ":run": {"S": run_id}},
            )
        except ConditionFailedError:
            return self._holder()
        return None

    def release(self, run_id: str, *, now: datetime) -> None:
        try:
            self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=key(LEASE_KEY),
                UpdateExpression="SET #until = :now",
                ConditionExpression="holder = :run AND #until > :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={":now": {"S": sortable(now)}, ":run": {"S": run_id}},
            )
        except ConditionFailedError:
            return  # lapsed, or another run's by now: nothing of ours to give back

    def _holder(self) -> LeaseHolder:
        item = self._table.get(LEASE_KEY) or {}
        try:
            return LeaseHolder(item["holder"]["S"], datetime.fromisoformat(item["until"]["S"]))
        except (KeyError, ValueError) as exc:
            raise StateError(f"audit state table {self._table.name}: the run lease is unreadable") from exc
