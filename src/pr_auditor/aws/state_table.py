"""The audit state in DynamoDB: watermarks, the ledger of records, and small state documents.

One table, one string key ``pk`` (the layout is in docs/state-and-delivery.md), one module per job:

- ``watermark#<scope>``: the end of the last window audited, recorded and archived completely
  (``aws.watermark``);
- ``rec#<record_id>``: a ledger entry (``ports.LedgerEntry``) holding the record itself, so a later run can
  re-emit it; ``open`` is set while the entry is unfinished, which puts it in the sparse ``open-index``
  (``aws.ledger_table``);
- ``doc#<name>``: JSON documents with a ``revision`` for optimistic concurrency (policy in force, heads…)
  (``aws.state_documents``).

Claims and watermark moves are conditional writes, so two runs never both record the same change and the
watermark never moves backwards. Only the function's role may write the table (the template's resource
policy); the CLI only reads it (``is_recorded``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.audit.ports import Document, LedgerEntry, Record
from pr_auditor.aws.ledger_table import OPEN_INDEX, LedgerTable
from pr_auditor.aws.run_lease import LeaseTable
from pr_auditor.aws.state_documents import DocumentsTable
from pr_auditor.aws.table_client import TableClient
from pr_auditor.aws.watermark import WatermarkTable

__all__ = ["OPEN_INDEX", "StateDocuments", "StateTable"]


class StateTable:
    """Implements ``Checkpoint``, ``Ledger`` and ``LedgerReader`` of ``audit.ports`` on one DynamoDB table,
    by handing each call to the part that owns it (``documents`` is the ``StateStore``)."""

    def __init__(
        self,
        table_name: str,
        *,
        ttl: timedelta = timedelta(days=400),
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.table = TableClient(table_name, client=client, clock=clock)
        self.ledger = LedgerTable(self.table, ttl=ttl)
        self.documents = DocumentsTable(self.table)
        self.checkpoint = WatermarkTable(self.table)
        self.lease = LeaseTable(self.table)

    def watermark(self, scope: str) -> datetime | None:
        return self.checkpoint.watermark(scope)

    def advance(self, scope: str, until: datetime, *, run_id: str) -> None:
        self.checkpoint.advance(scope, until, run_id=run_id)

    def claim(self, record: Record, *, notify: bool, now: datetime) -> bool:
        return self.ledger.claim(record, notify=notify, now=now)

    def save(self, entries: Sequence[LedgerEntry]) -> None:
        self.ledger.save(entries)

    def open_entries(self, *, claimed_before: datetime) -> list[LedgerEntry]:
        return self.ledger.open_entries(claimed_before=claimed_before)

    def is_recorded(self, record_id: str) -> bool:
        return self.ledger.is_recorded(record_id)

    def load(self, name: str) -> tuple[Document | None, int]:
        return self.documents.load(name)

    def save_document(self, name: str, document: Document, *, revision: int) -> None:
        self.documents.save(name, document, revision=revision)


class StateDocuments(DocumentsTable):
    """The ``StateStore`` port of one ``StateTable`` (the same documents, under the name callers know)."""

    def __init__(self, table: StateTable) -> None:
        super().__init__(table.table)
