"""Small JSON state documents in the state table: ``doc#<name>`` (policy in force, branch heads, the sweep,
the evidence chain heads…), each with a ``revision`` for optimistic concurrency."""

from __future__ import annotations

import json

from pr_auditor.audit.ports import ConflictError, Document
from pr_auditor.aws.table_client import ConditionFailedError, TableClient, key
from pr_auditor.core.errors import StateError
from pr_auditor.core.model import iso


class DocumentsTable:
    """Implements the ``StateStore`` port of ``audit.ports``."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def load(self, name: str) -> tuple[Document | None, int]:
        found = self._table.get(f"doc#{name}")
        if not found:
            return None, 0
        try:
            document = json.loads(found["document"]["S"])
            revision = int(found["revision"]["N"])
        except (KeyError, ValueError) as exc:
            raise StateError(f"audit state table {self._table.name}: state document {name!r} is unreadable") from exc
        return document, revision

    def save(self, name: str, document: Document, *, revision: int) -> None:
        condition = "attribute_not_exists(pk)" if revision == 0 else "revision = :expected"
        values = {} if revision == 0 else {":expected": {"N": str(revision)}}
        try:
            self._table.call(
                "put_item",
                TableName=self._table.name,
                Item={
                    **key(f"doc#{name}"),
                    "document": {"S": json.dumps(document, sort_keys=True, ensure_ascii=True)},
                    "revision": {"N": str(revision + 1)},
                    "updated_at": {"S": iso(self._table.clock())},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ConditionFailedError:
            raise ConflictError(name) from None
