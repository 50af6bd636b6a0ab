"""How PyGithub reaches GitHub: the connection settings, the token check and the client they make.

Facts relied on (docs/github-facts.md): PyGithub's ``GithubRetry`` would retry 5xx itself and then raise
requests' ``RetryError``; here it only waits out rate limits (``Retry-After``), so that one retry budget
(``Connection.retries``) covers every failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github import Auth, Github, GithubRetry

from pr_auditor.core.errors import ConfigError
from pr_auditor.github.redact import protect_pygithub_logs

PAGE_SIZE = 100  # GitHub's maximum for a connection


@dataclass(frozen=True, slots=True)
class Connection:
    """How PyGithub reaches GitHub. ``throttle_seconds`` is the least time between the *starts* of two
    requests, kept by ``Transport`` (PyGithub's own throttle counts from the end of the previous response, so
    it adds to every request's latency instead of overlapping it; its default is also 1 s between POSTs,
    because it counts every POST as a write, while GraphQL queries are reads and GitHub's one-second
    guidance is for content-creating requests). ``max_wait_seconds`` bounds any rate-limit wait so a run
    fails clearly inside the Lambda timeout instead of being killed mid-wait.

    ``retries`` is the whole retry budget of one request: after a failure (5xx, time-out, dropped
    connection, GraphQL ``errors``, a malformed answer) a request is sent again at most ``retries`` times,
    with exponential backoff from ``backoff_seconds``. Those retries are the transport's own; PyGithub's
    urllib3 retries are limited to rate limits (a 403/429 with ``Retry-After`` or GitHub's rate-limit
    message), which are waits bounded by ``max_wait_seconds``, not failures."""

    api_url: str = "https://api.github.com"
    timeout_seconds: int = 30
    throttle_seconds: float = 0.25
    retries: int = 4
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 120.0


def check_token(token: str) -> str:
    """A token goes into an HTTP header, which carries Latin-1 at most; GitHub's tokens (``ghp_…``,
    ``github_pat_…``, ``ghs_…``) are printable ASCII. Anything else is a mistake in the secret or the
    environment (a pasted quote, a stray line end): say so once, without the token, before any request."""
    if not token or not all("!" <= char <= "~" for char in token):
        raise ConfigError(
            "GitHub token: contains a character a token never has (whitespace, a line end or a non-ASCII "
            "character); check the secret or GITHUB_TOKEN"
        )
    return token


def client_options(connection: Connection) -> dict[str, Any]:
    """Keyword arguments shared by ``Github`` and ``GithubIntegration`` (the App's own client)."""
    protect_pygithub_logs()
    retry = GithubRetry(
        total=connection.retries,
        connect=0,  # connection and read failures come back to Transport.attempt, which retries them
        read=0,
        status_forcelist=[],  # GithubRetry adds 403 and retries it only for rate limits; 5xx is ours
        backoff_factor=connection.backoff_seconds,
        backoff_max=20,
        secondary_rate_wait=min(60.0, connection.max_wait_seconds),
        max_rate_limit_wait=connection.max_wait_seconds,
    )
    return {
        "base_url": connection.api_url.rstrip("/"),
        "timeout": connection.timeout_seconds,
        "retry": retry,
        "seconds_between_requests": 0,  # the transport spaces requests itself, from their starts
        "seconds_between_writes": 0,
        "per_page": PAGE_SIZE,
    }


def connect(auth: str | Auth.Auth, connection: Connection) -> Github:
    """A PyGithub client; ``auth`` is a token or any PyGithub auth (a GitHub App installation's)."""
    return Github(auth=Auth.Token(check_token(auth)) if isinstance(auth, str) else auth, **client_options(connection))
