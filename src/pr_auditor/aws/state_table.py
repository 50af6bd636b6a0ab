"""The audit state in DynamoDB: watermarks, the ledger of records, and small state documents.

One table, one string key ``pk`` (the layout is in docs/state-and-delivery.md):

- ``watermark#<scope>``: the end of the last window audited, recorded and archived completely;
- ``rec#<record_id>``: a ledger entry (``ports.LedgerEntry``) holding the record itself, so a later run can
  re-emit it; ``open`` is set while the entry is unfinished, which puts it in the sparse ``open-index``;
- ``doc#<name>``: JSON documents with a ``revision`` for optimistic concurrency (policy in force, heads…).

Claims and watermark moves are conditional writes, so two runs never both record the same change and the
watermark never moves backwards. Only the function's role may write the table (the template's resource
policy); the CLI only reads it (``is_recorded``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.audit.ports import ConflictError, Document, LedgerEntry, Record
from pr_auditor.core.errors import ConfigError, StateError
from pr_auditor.core.model import iso

OPEN_INDEX = "open-index"
_BATCH = 25  # BatchWriteItem's limit


class StateTable:
    """Implements ``Checkpoint``, ``Ledger``, ``LedgerReader`` and ``StateStore`` of ``audit.ports`` on one
    DynamoDB table."""

    def __init__(
        self,
        table_name: str,
        *,
        ttl: timedelta = timedelta(days=400),
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table = table_name
        self._ttl = ttl
        if client is None:
            try:
                import boto3  # in the Lambda runtime; for the CLI an optional extra
            except ImportError:  # pragma: no cover - depends on the installation
                raise ConfigError("--state-table needs boto3: pip install '.[aws]' in the pr-auditor clone") from None
            client = boto3.client("dynamodb")
        self._client = client
        self._clock = clock

    # --- watermark ------------------------------------------------------------------------------

    def watermark(self, scope: str) -> datetime | None:
        item = self._call("get_item", TableName=self._table, Key=_key(f"watermark#{scope}"), ConsistentRead=True)
        value = item.get("Item", {}).get("until", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None:
        """Move the watermark to ``until``, never backwards (a late retry of an old chunk is a no-op)."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=_key(f"watermark#{scope}"),
                UpdateExpression="SET #until = :until, run_id = :run, updated_at = :now",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues={
                    ":until": {"S": _sortable(until)},
                    ":run": {"S": run_id},
                    ":now": {"S": iso(self._clock())},
                },
            )
        except _ConditionFailed:
            return

    # --- ledger ---------------------------------------------------------------------------------

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        entry = LedgerEntry(str(record["record_id"]), record, now, needs_notification=notify)
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=self._item(entry),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed:
            return False
        return True

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        """Overwrite the entries with their new state, 25 to a request. Only the run that claimed an entry
        (or, after the lease, the run that recovers it) writes it, so no condition is needed."""
        for start in range(0, len(entries), _BATCH):
            pending: dict[str, Any] = {
                self._table: [{"PutRequest": {"Item": self._item(e)}} for e in entries[start : start + _BATCH]]
            }
            for _ in range(8):
                answer = self._call("batch_write_item", RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise StateError(f"audit state table {self._table}: ledger writes kept coming back unprocessed")

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#open = :one AND claimed_at < :before",
            "ExpressionAttributeNames": {"#open": "open"},
            "ExpressionAttributeValues": {":one": {"S": "1"}, ":before": {"S": _sortable(claimed_before)}},
        }
        while True:
            page = self._call("query", **query)
            entries.extend(_entry(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return entries
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def is_recorded(self, record_id: str) -> bool:
        item = self._call("get_item", TableName=self._table, Key=_key(f"rec#{record_id}"), ConsistentRead=True)
        return "Item" in item

    def _item(self, entry: LedgerEntry) -> dict[str, Any]:
        record = json.dumps(entry.record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        item: dict[str, Any] = {
            **_key(f"rec#{entry.record_id}"),
            "kind": {"S": str(entry.record.get("kind", ""))},
            "state": {"S": "recorded" if entry.recorded else "pending"},
            # Compressed: a record with a long review history stays far below DynamoDB's 400 KB item limit.
            "record_z": {"B": zlib.compress(record.encode("ascii"))},
            "run_id": {"S": str(entry.record.get("run_id", ""))},
            "claimed_at": {"S": _sortable(entry.claimed_at)},
            "needs_notification": {"BOOL": entry.needs_notification},
            "notified": {"BOOL": entry.notified},
            "archived": {"BOOL": entry.archived},
            "expires_at": {"N": str(int((entry.claimed_at + self._ttl).timestamp()))},
        }
        if entry.is_open:
            item["open"] = {"S": "1"}
        return item

    # --- state documents ------------------------------------------------------------------------

    def load(self, name: str) -> tuple[Document | None, int]:
        item = self._call("get_item", TableName=self._table, Key=_key(f"doc#{name}"), ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None, 0
        try:
            document = json.loads(found["document"]["S"])
            revision = int(found["revision"]["N"])
        except (KeyError, ValueError) as exc:
            raise StateError(f"audit state table {self._table}: state document {name!r} is unreadable") from exc
        return document, revision

    def save_document(self, name: str, document: Document, *, revision: int) -> None:
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :expected"
        values = {} if revision == 0 else {":expected": {"N": str(revision)}}
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item={
                    **_key(f"doc#{name}"),
                    "document": {"S": json.dumps(document, sort_keys=True, ensure_ascii=True)},
                    "revision": {"N": str(revision + 1)},
                    "updated_at": {"S": iso(self._clock())},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except _ConditionFailed:
            raise ConflictError(name) from None

    # --- plumbing -------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # boto3 is optional for the CLI

        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise _ConditionFailed from exc
            code = exc.response.get("Error", {}).get("Code", "error")
            raise StateError(f"audit state table {self._table}: {operation} failed ({code})") from exc
        except BotoCoreError as exc:
            raise StateError(f"audit state table {self._table}: {operation} failed ({type(exc).__name__})") from exc


class StateDocuments:
    """The ``StateStore`` port of one ``StateTable`` (its ``save`` is the ledger's, so the port is a view)."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    def load(self, name: str) -> tuple[Document | None, int]:
        return self._table.load(name)

    def save(self, name: str, document: Document, *, revision: int) -> None:
        self._table.save_document(name, document, revision=revision)


class _ConditionFailed(Exception):
    pass


def _key(pk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}}


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


def _sortable(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 so that string order is time order in conditions and index ranges."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
