"""The watermark in the state table: ``watermark#<scope>``, the end of the last window audited, recorded and
archived completely. It never moves backwards (a conditional write)."""

from __future__ import annotations

from datetime import datetime

from pr_auditor.aws.table_client import ConditionFailedError, TableClient, key, sortable
from pr_auditor.core.model import iso


class WatermarkTable:
    """Implements the ``Checkpoint`` port of ``audit.ports``."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def watermark(self, scope: str) -> datetime | None:
        value = (self._table.get(f"watermark#{scope}") or {}).get("until", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None:
        """Move the watermark to ``until``, never backwards (a late retry of an old chunk is a no-op)."""
        try:
            self._table.call(
                "update_item",
                TableName=self._table.name,
                Key=key(f"watermark#{scope}"),
                UpdateExpression="SET #until = :until, run_id = :run, updated_at = :now",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={
                    ":until": {"S": sortable(until)},
                    ":run": {"S": run_id},
                    ":now": {"S": iso(self._table.clock())},
                },
            )
        except ConditionFailedError:
            return
