"""The ledger in the state table: ``rec#<record_id>``, one entry (``ports.LedgerEntry``) per record, holding
the record itself so that a later run can re-emit it. ``open`` is set while the entry is unfinished, which
puts it in the sparse ``open-index``. Claims are conditional writes: two runs never both record a change."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pr_auditor.audit.ports import LedgerEntry, Record
from pr_auditor.aws.table_client import ConditionFailedError, TableClient, key, sortable
from pr_auditor.core.errors import StateError

OPEN_INDEX = "open-index"
_BATCH = 25  # BatchWriteItem's limit


class LedgerTable:
    """Implements the ``Ledger`` and ``LedgerReader`` ports of ``audit.ports``."""

    def __init__(self, table: TableClient, *, ttl: timedelta) -> None:
        self._table = table
        self._ttl = ttl

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        entry = LedgerEntry(str(record["record_id"]), record, now, needs_notification=notify)
        try:
            self._table.call(
                "put_item",
                TableName=self._table.name,
                Item=self._item(entry),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConditionFailedError:
            return False
        return True

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        """Overwrite the entries with their new state, 25 to a request. Only the run that claimed an entry
        (or, after the lease, the run that recovers it) writes it, so no condition is needed."""
        for start in range(0, len(entries), _BATCH):
            pending: dict[str, Any] = {
                self._table.name: [{"PutRequest": {"Item": self._item(e)}} for e in entries[start : start + _BATCH]]
            }
            for _ in range(8):
                answer = self._table.call("batch_write_item", RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise StateError(f"audit state table {self._table.name}: ledger writes kept coming back unprocessed")

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = []
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#open = :one AND claimed_at < :before",
            "ExpressionAttributeNames": {"#open": "open"},
            "ExpressionAttributeValues": {":one": {"S": "1"}, ":before": {"S": sortable(claimed_before)}},
        }
        while True:
            page = self._table.call("query", **query)
            entries.extend(_entry(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return entries
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def is_recorded(self, record_id: str) -> bool:
        return self._table.get(f"rec#{record_id}") is not None

    def _item(self, entry: LedgerEntry) -> dict[str, Any]:
        record = json.dumps(entry.record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        item: dict[str, Any] = {
            **key(f"rec#{entry.record_id}"),
            "kind": {"S": str(entry.record.get("kind", ""))},
            "state": {"S": "recorded" if entry.recorded else "pending"},
            # Compressed: a record with a long review history stays far below DynamoDB's 400 KB item limit.
            "record_z": {"B": zlib.compress(record.encode("ascii"))},
            "run_id": {"S": str(entry.record.get("run_id", ""))},
            "claimed_at": {"S": sortable(entry.claimed_at)},
            "needs_notification": {"BOOL": entry.needs_notification},
            "notified": {"BOOL": entry.notified},
            "archived": {"BOOL": entry.archived},
            "expires_at": {"N": str(int((entry.claimed_at + self._ttl).timestamp()))},
        }
        if entry.is_open:
            item["open"] = {"S": "1"}
        return item


def _entry(item: dict[str, Any]) -> LedgerEntry:
    try:
        record = json.loads(zlib.decompress(item["record_z"]["B"]))
        return LedgerEntry(
            record_id=item["pk"]["S"].removeprefix("rec#"),
            record=record,
            claimed_at=datetime.fromisoformat(item["claimed_at"]["S"]),
            recorded=item["state"]["S"] == "recorded",
            archived=bool(item["archived"]["BOOL"]),
            needs_notification=bool(item["needs_notification"]["BOOL"]),
            notified=bool(item["notified"]["BOOL"]),
        )
    except (KeyError, ValueError, zlib.error) as exc:
        raise StateError("audit state table: a ledger entry is unreadable") from exc
