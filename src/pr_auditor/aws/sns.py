"""The adapter that publishes one message per finding to the alarm topic (SNS → the ops SQS queue).

What a message says, and how it is cut to fit SNS's size limit, is built in ``pr_auditor.core.messages``;
this module only sends it.
"""

from __future__ import annotations

from typing import Any

from pr_auditor.audit.ports import Notifier, Record
from pr_auditor.core.errors import NotifyError
from pr_auditor.core.messages import Console, encoded, finding_message, fitted, minimal, subject

#: SNS's answer to a message it will not take as it is (its size among them): the one error worth a second,
#: smaller try. https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
_REJECTED_AS_SENT = frozenset({"InvalidParameter", "InvalidParameterValue"})


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
        self.truncated = 0  # findings sent cut to fit (the whole record is in the logs and the archive)

    def publish(self, record: Record) -> None:
        """Send the finding, cut to fit SNS's limit. Should SNS still refuse it as sent (a limit counted
        differently), the minimal body goes out in the same call, so size never fails a publish twice."""
        whole, attributes = finding_message(record, console=self._console)
        title = subject(record)
        body = fitted(whole, attributes, title)
        try:
            self._send(record, body, attributes, title)
        except _RejectedError as rejected:
            smallest = minimal(body)
            if body == smallest:
                raise _failed(record, rejected.code) from rejected.__cause__
            body = smallest
            try:
                self._send(record, body, attributes, title)
            except _RejectedError as again:
                raise _failed(record, again.code) from again.__cause__
        self.published += 1
        self.truncated += bool(body.get("truncated"))

    def _send(self, record: Record, body: dict[str, Any], attributes: dict[str, Any], title: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.publish(
                TopicArn=self._topic, Subject=title, Message=encoded(body), MessageAttributes=attributes
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            if code in _REJECTED_AS_SENT:
                raise _RejectedError(code) from exc
            raise _failed(record, code) from exc
        except BotoCoreError as exc:
            raise _failed(record, type(exc).__name__) from exc


class _RejectedError(Exception):
    """SNS refused the message as it was sent (internal: the publisher answers with the minimal body)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _failed(record: Record, code: str) -> NotifyError:
    return NotifyError(f"publishing {record.get('record_id')} to the alarm topic failed ({code})")


_: Notifier = SnsNotifier("arn:aws:sns:eu-west-1:000000000000:t", client=object())
