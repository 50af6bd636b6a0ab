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


class RateLimitError(SourceError):
    """GitHub's rate limit would outlast the time this run may wait."""


class UnavailableError(SourceError):
    """GitHub kept failing (5xx, time-outs, errors in a GraphQL answer) after bounded retries."""
