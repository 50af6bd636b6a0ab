"""The small error tree. Adapters translate library exceptions into these at the boundary."""

from __future__ import annotations


class AuditError(Exception):
    """Base of every error pr-auditor raises on purpose; its message is one line, safe to log."""


class ConfigError(AuditError):
    """Settings, CLI arguments or an event are invalid; nothing was audited."""


class PolicyError(ConfigError):
    """The policy file is invalid; the message names the key's path."""


class SourceError(AuditError):
    """GitHub could not be read completely; the window must be audited again."""


class AuthError(SourceError):
    """The token was rejected (401) or lacks access. Retrying will not help."""


class UnknownOrgError(SourceError):
    """An organisation does not exist or is not visible to the token. Retrying will not help."""


class NotFoundError(SourceError):
    """GitHub says an object does not exist (or is not visible to the token). Retrying will not help."""


class RedirectedError(SourceError):
    """GitHub, or a proxy in front of it, answered with a redirect. Requests are not followed elsewhere (the
    token would go with them); retrying will not help: check GITHUB_API_URL."""


class RateLimitError(SourceError):
    """GitHub's rate limit would outlast the time this run may wait. ``retry_in``: seconds until reset."""

    def __init__(self, message: str, *, retry_in: float | None = None) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class UnavailableError(SourceError):
    """GitHub kept failing (5xx, time-outs, errors in a GraphQL answer) after bounded retries."""


class MalformedAnswerError(UnavailableError):
    """A required field was missing or null, or a value did not parse; the request is retried."""


class IncompleteSearchError(UnavailableError):
    """GitHub's search timed out and returned part of the results; the window is split and searched again."""


class StateError(SourceError):
    """The audit state (watermark, ledger of recorded PRs) could not be read or written; the window is
    audited again by a later run, so nothing is lost."""


class ArchiveError(StateError):
    """The evidence archive (S3) could not store a chunk; the chunk does not count and is audited again."""


class NotifyError(AuditError):
    """A per-finding message could not be published; the ledger keeps the finding un-notified and a later
    run publishes it (the run itself is not failed: the record and the alarm exist)."""


#: The most of an error's text that reaches a record or a log line.
MAX_DESCRIPTION = 200


def describe(exc: BaseException) -> str:
    """A short, sanitised text for a failure, safe to put in a record: our own errors (``AuditError``) by their
    message, which we wrote to be one safe line, truncated to ``MAX_DESCRIPTION`` characters and made one
    ASCII line; any other exception by its type name only, because its text may carry what a server, a
    library or an attacker chose (a URL with a token, a response body, a 64 KB title)."""
    if not isinstance(exc, AuditError):
        return type(exc).__name__
    text = " ".join(str(exc).split()).encode("ascii", errors="backslashreplace").decode("ascii")
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 3] + "..."
    return text or type(exc).__name__


class ObjectExistsError(ArchiveError):
    """``put_new`` found an object under that key already (S3: 412 Precondition Failed)."""


class MissingBucketError(ArchiveError):
    """The bucket (or folder) itself does not exist: bad input rather than a damaged archive."""
