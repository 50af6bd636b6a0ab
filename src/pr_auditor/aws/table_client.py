"""One DynamoDB table, as every part of the audit state uses it: calls translated into ``StateError`` (a failed
condition into ``ConditionFailedError``), keys, and time written so that string order is time order.

The parts (``aws.ledger_table``, ``aws.state_documents``, ``aws.watermark``, ``aws.run_lease``) each own one
key prefix of the same table; ``aws.state_table.StateTable`` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pr_auditor.core.errors import ConfigError, StateError


class ConditionFailedError(Exception):
    """A conditional write found the item not as expected (someone else was first)."""


class TableClient:
    """The table's name, its boto3 client and the function's clock, shared by the parts of the state."""

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = table_name
        if client is None:
            try:
                import boto3  # in the Lambda runtime; for the CLI an optional extra
            except ImportError:  # pragma: no cover - depends on the installation
                raise ConfigError("--state-table needs boto3: pip install '.[aws]' in the pr-auditor clone") from None
            client = boto3.client("dynamodb")
        self.client = client
        self.clock = clock

    def call(self, operation: str, **kwargs: Any) -> Any:
        """``operation`` on the table's client; AWS errors become ``StateError`` naming the table and the
        operation (never the request), a failed condition ``ConditionFailedError``."""
        from botocore.exceptions import BotoCoreError, ClientError  # boto3 is optional for the CLI

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailedError from exc
            code = exc.response.get("Error", {}).get("Code", "error")
            raise StateError(f"audit state table {self.name}: {operation} failed ({code})") from exc
        except BotoCoreError as exc:
            raise StateError(f"audit state table {self.name}: {operation} failed ({type(exc).__name__})") from exc

    def get(self, pk: str) -> dict[str, Any] | None:
        """The item under ``pk`` (strongly consistent), or None."""
        found: dict[str, Any] | None = self.call("get_item", TableName=self.name, Key=key(pk), ConsistentRead=True).get(
            "Item"
        )
        return found


def key(pk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}}


def sortable(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 so that string order is time order in conditions and index ranges."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
