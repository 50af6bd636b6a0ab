"""The audit state in DynamoDB: the watermark per set of organisations, and the ledger of recorded PRs.

One table, one string key ``pk``: ``watermark#<orgs>`` items hold the end of the last window audited
completely; ``pr#<repo>#<number>#<merge sha>`` items say a merged change was recorded (with a TTL longer
than the overlap and any backfill one means to repeat). Writes are conditional, so two runs can never
both record the same change, and the watermark never moves backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.errors import ConfigError, StateError
from pr_auditor.model import Verdict, iso

PRKey = tuple[str, int, str]


class StateTable:
    """Implements the ``Checkpoint`` and ``Ledger`` protocols of audit.py on one DynamoDB table."""

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
                raise ConfigError("--state-table needs boto3: pip install 'pr-auditor[aws]'") from None
            client = boto3.client("dynamodb")
        self._client = client
        self._clock = clock

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

    def claim(self, key: PRKey, *, verdict: Verdict, run_id: str) -> bool:
        repository, number, merge_sha = key
        now = self._clock()
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item={
                    **_key(f"pr#{repository.casefold()}#{number}#{merge_sha}"),
                    "verdict": {"S": verdict.value},
                    "run_id": {"S": run_id},
                    "recorded_at": {"S": iso(now)},
                    "expires_at": {"N": str(int((now + self._ttl).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except _ConditionFailed:
            return False
        return True

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


class _ConditionFailed(Exception):
    pass


def _key(pk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}}


def _sortable(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 so that string order is time order in the condition expression."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
