"""Credentials out of every log line, whatever its level and whichever library wrote it. Pure text rules.

What can carry a credential into a log line, and the rule that takes it out:

- GitHub tokens (``ghp_`` personal, ``gho_`` OAuth, ``ghu_`` user-to-server, ``ghs_`` installation, ``ghr_``
  refresh, ``github_pat_`` fine-grained) and JWTs (a GitHub App's; three base64url parts, the first a JSON
  object, ``eyJ``): by their shape;
- a PEM private key (the GitHub App's): the whole block, however its line breaks are escaped (botocore logs a
  response body as the ``repr`` of its bytes, so a key inside JSON inside a repr shows ``\\\\n``);
- a Secrets Manager answer (``SecretString`` / ``SecretBinary``, which botocore logs at DEBUG with the whole
  body): the value, whatever it holds, so a token of any shape is covered;
- any value the function was handed as a secret (``Redactor.remember``): by its text.

``RedactingRecordFactory`` applies them to every ``logging.LogRecord`` as it is made, before any filter or
handler sees it: the root logger, botocore, boto3, urllib3, PyGithub and Powertools alike. The entry points
install it (``logging.setLogRecordFactory``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[redacted]"
SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9_\-]{8,}|github_pat_[A-Za-z0-9_]{8,}|eyJ[\w-]*\.[\w-]+\.[\w-]*)"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    re.DOTALL,
)
#: The value of a Secrets Manager field in a logged JSON body: up to the first quote no backslash escapes
#: (in a repr'd body a JSON escape ``\"`` shows as ``\\"``: any run of backslashes escapes what follows).
SECRET_FIELDS = re.compile(r'((?:SecretString|SecretBinary)\\*["\']\s*:\s*\\*["\'])((?:\\+.|[^"\'\\])*)', re.DOTALL)
_SHORTEST_REMEMBERED = 8  # shorter values are too likely to be ordinary words


class Redactor:
    """The rules above, plus the secrets this process was handed."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def remember(self, values: Iterable[str]) -> None:
        """Take these values (and each line of a multi-line one, such as a PEM body) out of every later line."""
        for value in values:
            for part in [value, *value.splitlines()]:
                part = part.strip()
                if len(part) >= _SHORTEST_REMEMBERED and "PRIVATE KEY-----" not in part:
                    self._known.add(part)

    def redact(self, text: str) -> str:
        cleaned = SECRET_FIELDS.sub(lambda m: m.group(1) + REDACTED, text)
        cleaned = SHAPES.sub(REDACTED, cleaned)
        for value in sorted(self._known, key=len, reverse=True):
            if value in cleaned:
                cleaned = cleaned.replace(value, REDACTED)
        return cleaned


class RedactingRecordFactory:
    """Wraps a ``logging`` record factory: each record's message is formatted once and redacted, so its
    arguments are covered too; a record left unchanged keeps its ``msg`` and ``args`` (structured extras
    are the function's own records, which never hold a credential)."""

    def __init__(self, inner: Callable[..., logging.LogRecord], redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg} {record.args}"
        cleaned = self.redactor.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record


#: The process's redactor: the entry points install it and tell it the secrets they load.
REDACTOR = Redactor()


def install_log_guard(redactor: Redactor = REDACTOR) -> None:
    """Make every log record of the process pass through ``redactor`` as it is made (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, RedactingRecordFactory):
        logging.setLogRecordFactory(RedactingRecordFactory(current, redactor))
