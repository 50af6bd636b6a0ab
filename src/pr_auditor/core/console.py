"""Evidence links: a CloudWatch Logs Insights console link that opens the query for one record (in per-finding
messages and in the evidence pack). Pure.

The console's deep-link format is not documented by AWS; it is the one the console itself produces (and
that public write-ups have decoded): after ``#logsV2:logs-insights`` comes ``?queryDetail=<object>``, where
the object is written as ``~(key~value~key~value)``, arrays as ``~(~item~item)``, strings as ``~'`` followed
by their URI-encoding with ``%`` written ``*``; the object is then JavaScript-``escape()``d, the whole fragment
URI-encoded, and every ``%`` written ``$``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_JS_ESCAPE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@*_+-./")
_URI_COMPONENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
_VALUE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _value(value: Any) -> str:
    """One value in the console's object notation; every value starts with ``~``."""
    if isinstance(value, bool):
        return "~true" if value else "~false"
    if isinstance(value, int | float):
        return f"~{value}"
    if isinstance(value, list):
        return "~(" + "".join(_value(item) for item in value) + ")"
    if isinstance(value, dict):
        return "~(" + "~".join(f"{key}{_value(item)}" for key, item in value.items()) + ")"
    text = "".join(ch if ch in _VALUE_SAFE else "".join(f"*{b:02x}" for b in ch.encode()) for ch in str(value))
    return "~'" + text


def _escape(text: str, safe: frozenset[str], percent: str) -> str:
    return "".join(ch if ch in safe else "".join(f"{percent}{b:02X}" for b in ch.encode()) for ch in text)


def logs_insights_url(*, region: str, log_group: str, record_id: str, start: datetime, end: datetime) -> str:
    """A console link running ``filter record_id = "<id>"`` on ``log_group`` over [start, end] (UTC)."""
    query = f'fields @timestamp, @message\n| filter record_id = "{record_id}"\n| sort @timestamp asc'
    detail = _value(
        {
            "end": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "start": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timeType": "ABSOLUTE",
            "tz": "UTC",
            "editorString": query,
            "source": [log_group],
        }
    )
    fragment = "?queryDetail=" + _escape(detail, _JS_ESCAPE_SAFE, "%")
    encoded = _escape(fragment, _URI_COMPONENT_SAFE, "$")
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:logs-insights{encoded}"
