"""How PyGithub reaches GitHub: the connection settings, the token check and the client they make.

Facts relied on (docs/github-facts.md, docs/pacing.md): PyGithub's ``GithubRetry`` would retry 5xx itself and
then raise requests' ``RetryError``, and wait out rate limits with ``time.sleep`` where the pacer cannot see
it. Here PyGithub retries nothing: one retry budget (``Connection.retries``) covers every failure, and every
rate-limit answer reaches the transport, which pauses its pacer for as long as GitHub asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pr_auditor.core.errors import ConfigError
from pr_auditor.github.pacing import GRAPHQL_POINTS_PER_MINUTE, REST_POINTS_PER_MINUTE
from pr_auditor.github.redact import protect_pygithub_logs

if TYPE_CHECKING:
    from github import Auth, Github

PAGE_SIZE = 100  # GitHub's maximum for a connection


@dataclass(frozen=True, slots=True)
class Connection:
    """How requests reach GitHub. Requests are paced by GitHub's secondary limits (``pacing.Pacer``): at most
    ``graphql_points_per_minute`` on the GraphQL endpoint and ``rest_points_per_minute`` on REST, one request
    in flight. ``throttle_seconds`` (default 0: none) is an extra least time between the *starts* of two
    requests, for an Enterprise Server with limits of its own. ``max_wait_seconds`` bounds any rate-limit
    wait so a run fails clearly inside the Lambda timeout instead of being killed mid-wait.

    ``retries`` is the whole retry budget of one request: after a failure (5xx, time-out, dropped
    connection, GraphQL ``errors``, a malformed answer) or a rate-limit answer, a request is sent again at
    most ``retries`` times, after exponential backoff from ``backoff_seconds`` (or the wait GitHub asked
    for, when it is at most ``max_wait_seconds``)."""

    api_url: str = "https://api.github.com"
    timeout_seconds: int = 30
    throttle_seconds: float = 0.0
    retries: int = 4
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 120.0
    graphql_points_per_minute: float = GRAPHQL_POINTS_PER_MINUTE
    rest_points_per_minute: float = REST_POINTS_PER_MINUTE


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
    return {
        "base_url": connection.api_url.rstrip("/"),
        "timeout": connection.timeout_seconds,
        "retry": None,  # rate limits and failures come back to Transport.attempt (one budget, one pacer)
        "seconds_between_requests": 0,  # the transport paces requests itself (pacing.Pacer)
        "seconds_between_writes": 0,
        "per_page": PAGE_SIZE,
    }


def connect(auth: str | Auth.Auth, connection: Connection) -> Github:
    """A PyGithub client; ``auth`` is a token or any PyGithub auth (a GitHub App installation's). PyGithub is
    imported here, when the first client is made, not when settings are read at a cold start."""
    from github import Auth, Github

    return Github(auth=Auth.Token(check_token(auth)) if isinstance(auth, str) else auth, **client_options(connection))
