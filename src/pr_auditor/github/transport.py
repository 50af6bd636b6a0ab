"""How requests reach GitHub: the PyGithub connection, retries and error translation.

Facts relied on (docs/github-facts.md): PyGithub's ``GithubRetry`` would retry 5xx itself and then raise
requests' ``RetryError``; here it only waits out rate limits (``Retry-After``), so that one retry budget
(``Connection.retries``) covers every failure. PyGithub raises on any GraphQL ``errors`` entry, even when
the 200 also carries partial data (we treat that as a failure, never as a result); an exhausted GraphQL
point budget is a ``RATE_LIMITED`` error with the reset in ``x-ratelimit-reset``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededException

from pr_auditor.core.errors import (
    AuthError,
    ConfigError,
    IncompleteSearchError,
    NotFoundError,
    RateLimitError,
    RedirectedError,
    SourceError,
    UnavailableError,
)
from pr_auditor.github.redact import protect_pygithub_logs

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # GitHub's maximum for a connection
REDIRECTED = "GitHub answered with a redirect, which is not followed; check GITHUB_API_URL"

T = TypeVar("T")


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


class Transport:
    """Sends GraphQL requests and retries what may pass.

    Failures — 5xx, time-outs and dropped connections, GraphQL ``errors`` (partial data is a failure),
    malformed or null fields — are retried here up to ``attempts - 1`` times with exponential backoff, and
    an exhausted GraphQL point budget is waited out when its reset is within ``max_wait_seconds``. Then the
    error is raised: the caller fails the run and the same work is done again later. A bad token or an
    unknown organisation is never retried. (PyGithub itself only waits out REST rate limits.)
    """

    def __init__(
        self,
        github: Github,
        *,
        attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_wait_seconds: float = 120.0,
        throttle_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._github = github
        self._throttle = throttle_seconds
        self._monotonic = monotonic
        self._last_start: float | None = None
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._max_wait = max_wait_seconds
        self.sleep = sleep
        self.now = now
        self.requests = 0

    @classmethod
    def open(cls, auth: str | Auth.Auth, connection: Connection) -> Transport:
        """The configured transport on a token or a PyGithub auth (a GitHub App installation's)."""
        return cls(
            connect(auth, connection),
            attempts=1 + connection.retries,
            backoff_seconds=connection.backoff_seconds,
            max_wait_seconds=connection.max_wait_seconds,
            throttle_seconds=connection.throttle_seconds,
        )

    def _space(self) -> None:
        """Wait until ``throttle_seconds`` have passed since the previous request *started*."""
        if self._throttle > 0 and self._last_start is not None:
            wait = self._last_start + self._throttle - self._monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_start = self._monotonic()

    def query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One GraphQL request → its ``data``. Raises a SourceError for anything but a clean answer."""
        self._space()
        self.requests += 1
        try:
            headers, body = self._github.requester.graphql_query(document, dict(variables))
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError("GitHub rate limit exceeded and would outlast the allowed wait") from exc
        except GithubException as exc:
            raise translate(exc, self.now()) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            # A dropped connection or a time-out (PyGithub does not retry those here, see client_options).
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        except RuntimeError as exc:
            # PyGithub refuses a 301 to another scheme, host or the same path with a RuntimeError; its text
            # names the server's Location, which we do not repeat.
            raise RedirectedError(REDIRECTED) from exc
        if any(str(key).lower() == "location" for key in (headers or {})):
            # Other redirects (302, 307, 308) come back as an answer: a 200 never carries a Location.
            raise RedirectedError(REDIRECTED)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, dict):
            raise UnavailableError("GitHub GraphQL answer has no data")
        return data

    def rest_get(self, path: str) -> dict[str, Any] | None:
        """One REST GET (``path`` under the API base, e.g. ``/repos/o/r/compare/a...b``) → its JSON body;
        None when GitHub answers 404."""
        self._space()
        self.requests += 1
        try:
            _, body = self._github.requester.requestJsonAndCheck("GET", path)
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError("GitHub rate limit exceeded and would outlast the allowed wait") from exc
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise translate(exc, self.now()) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        if not isinstance(body, dict):
            raise UnavailableError(f"GitHub answered {path} with something other than an object")
        return body

    def rest_answer(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
        """One REST GET → (status, JSON body, headers). A 403 or a 404 is an *answer* here (a source the
        credentials or the plan do not serve: the audit log, rule suites), not an error; a rate limit, a bad
        token and anything else is raised like ``rest_get`` does."""
        return self._get(path, params, answered=(403, 404))

    def rest_page(self, url: str, params: Mapping[str, str] | None = None) -> tuple[Any, str | None] | None:
        """One REST GET of a listing (``url``: a path under the API base, or a ``Link`` URL GitHub gave) →
        (JSON body, ``Link`` header or None); None when GitHub answers 404 (an endpoint this server lacks)."""
        status, body, headers = self._get(url, params, answered=(404,))
        if status == 404:
            return None
        link = next((str(v) for k, v in headers.items() if str(k).lower() == "link"), None)
        return body, link

    def _get(
        self, url: str, params: Mapping[str, Any] | None, *, answered: tuple[int, ...]
    ) -> tuple[int, Any, dict[str, str]]:
        """One REST GET → (status, body, headers); the statuses in ``answered`` come back, others raise."""
        self._space()
        self.requests += 1
        try:
            headers, body = self._github.requester.requestJsonAndCheck("GET", url, parameters=dict(params or {}))
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError("GitHub rate limit exceeded and would outlast the allowed wait") from exc
        except GithubException as exc:
            if exc.status in answered:
                return exc.status, exc.data, dict(exc.headers or {})
            raise translate(exc, self.now()) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        return 200, body, dict(headers or {})

    def attempt(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` (a request and the reading of its answer), retrying what may pass."""
        delay = self._backoff
        attempt = 1
        while True:
            try:
                return action(*args)
            except IncompleteSearchError:
                raise  # the caller splits the window instead
            except RateLimitError as exc:
                if exc.retry_in is None or exc.retry_in > self._max_wait or attempt >= self._attempts:
                    raise
                log.warning("GraphQL rate limit exhausted: waiting %.0f s for its reset", exc.retry_in)
                self.sleep(exc.retry_in)
            except UnavailableError as exc:
                if attempt >= self._attempts:
                    raise
                log.warning("GitHub failed (%s); retry %d of %d in %.1f s", exc, attempt, self._attempts - 1, delay)
                self.sleep(delay)
                delay *= 2
            attempt += 1


def translate(exc: GithubException, now: float) -> SourceError:
    """PyGithub exception → our error tree, by status and GitHub's error types (never by message text)."""
    status = exc.status
    if status == 401:
        return AuthError("GitHub rejected the token (401 Bad credentials)")
    if status == 403:
        return AuthError("the token may not read this (403 Forbidden); check its scopes or the App installation")
    errors = exc.data.get("errors") if isinstance(exc.data, dict) else None
    if status == 404 and not errors:
        return NotFoundError("GitHub answered 404 Not Found")
    if isinstance(errors, list) and errors:
        entries = [e for e in errors if isinstance(e, dict)]
        kinds = sorted({str(e.get("type") or "ERROR") for e in entries})
        if "RATE_LIMITED" in kinds:
            reset = _header(exc.headers, "x-ratelimit-reset")
            wait = max(0.0, reset - now) + 1 if reset is not None else None
            return RateLimitError("GitHub GraphQL point budget exhausted", retry_in=wait)
        if kinds == ["NOT_FOUND"]:
            return NotFoundError(f"GitHub GraphQL: not found ({len(entries)} error(s))")
        if all(_path(e)[:1] == ["search"] for e in entries) and set(kinds) <= {"ERROR", "TIMEOUT"}:
            # GitHub gave up on the search in time and answered with part of the page.
            return IncompleteSearchError("GitHub search timed out and returned incomplete results")
        return UnavailableError(f"GitHub GraphQL answered with errors ({', '.join(kinds)}); partial data rejected")
    return UnavailableError(f"GitHub answered HTTP {status}")


def _path(error: Mapping[str, Any]) -> list[Any]:
    path = error.get("path")
    return path if isinstance(path, list) else []


def _header(headers: Mapping[str, Any] | None, name: str) -> float | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None
