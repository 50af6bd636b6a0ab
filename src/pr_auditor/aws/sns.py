"""The adapter that publishes one message per finding to the alarm topic (SNS → the ops SQS queue).

What a message says is built in ``pr_auditor.core.messages``; this module only sends it.
"""

from __future__ import annotations

import json
from typing import Any

from pr_auditor.audit.ports import Notifier, Record
from pr_auditor.core.errors import NotifyError
from pr_auditor.core.messages import Console, finding_message, subject


class SnsNotifier:
    """Publishes findings to the alarm topic. Raises NotifyError (type and code only, never the body)."""

    def __init__(self, topic_arn: str, *, console: Console | None = None, client: Any = None) -> None:
        if client is None:
            import boto3  # the Lambda runtime has it

            client = boto3.client("sns")
        self._client = client
        self._topic = topic_arn
        self._console = console
        self.published = 0

    def publish(self, record: Record) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        body, attributes = finding_message(record, console=self._console)
        try:
            self._client.publish(
                TopicArn=self._topic,
                Subject=subject(record),
                Message=json.dumps(body, ensure_ascii=True, separators=(",", ":")),
                MessageAttributes=attributes,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise NotifyError(f"publishing {record.get('record_id')} to the alarm topic failed ({code})") from exc
        except BotoCoreError as exc:
            raise NotifyError(
                f"publishing {record.get('record_id')} to the alarm topic failed ({type(exc).__name__})"
            ) from exc
        self.published += 1


_: Notifier = SnsNotifier("arn:aws:sns:eu-west-1:000000000000:t", client=object())
