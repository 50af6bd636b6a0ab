"""Keeps credentials out of PyGithub's debug log.

PyGithub masks the ``Authorization`` header when it logs a request at DEBUG, but it logs response bodies
as they are, and the answer to ``POST /app/installations/{id}/access_tokens`` is the installation token.
This filter rewrites any token- or JWT-shaped string in a ``github.*`` log record before a handler sees
it, whatever level an operator turns on. The entry points also install the process-wide guard of
``core.redact`` (every logger, every level); this filter keeps PyGithub covered where that guard is not
installed (a library user of ``pr_auditor.github``), with the same rules.
"""

from __future__ import annotations

import logging
import re

from pr_auditor.core.redact import REDACTOR

# GitHub's token prefixes (ghp_ personal, gho_ OAuth, ghu_ user-to-server, ghs_ installation, ghr_ refresh,
# github_pat_ fine-grained) and a JWT (three base64url parts, the first a JSON object: "eyJ").
SECRET = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_\-]{8,}|github_pat_[A-Za-z0-9_]{8,}|eyJ[\w-]*\.[\w-]+\.[\w-]*)")
PYGITHUB_LOGGERS = ("github", "github.Requester", "github.GithubRetry")  # every logger PyGithub 2.x creates
REDACTED = "[redacted]"


class RedactCredentials(logging.Filter):
    """Replaces credentials in a record's message (formatted once, so arguments are covered too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = REDACTOR.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactCredentials()


def protect_pygithub_logs() -> None:
    """Attach the filter to PyGithub's loggers (a logger's filters apply to its own records only, so each
    one that logs is named). Idempotent."""
    for name in PYGITHUB_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
