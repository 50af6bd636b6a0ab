"""How requests reach GitHub: the PyGithub connection, answer retries and error translation.

Facts relied on: PyGithub retries 5xx, time-outs and rate limits with ``Retry-After`` itself, and after
its retries surfaces a 5xx as requests' ``RetryError`` rather than a ``GithubException``; PyGithub raises
on any GraphQL ``errors`` entry, even when the 200 also carries partial data (we treat that as a failure,
never as a result); an exhausted GraphQL point budget is a ``RATE_LIMITED`` error with the reset in
``x-ratelimit-reset``.
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

from pr_auditor.errors import (
    AuthError,
    IncompleteSearchError,
    NotFoundError,
    RateLimitError,
    SourceError,
    UnavailableError,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # GitHub's maximum for a connection

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Connection:
    """How PyGithub reaches GitHub. ``throttle_seconds`` spaces requests (PyGithub's own default is
    1 s between POSTs because it counts every POST as a write; GraphQL queries are reads, and GitHub's
    one-second guidance is for content-creating requests). ``max_wait_seconds`` bounds any rate-limit
    wait so a run fails clearly inside the Lambda timeout instead of being killed mid-wait."""

    api_url: str = "https://api.github.com"
    timeout_seconds: int = 30
    throttle_seconds: float = 0.25
    retries: int = 4  # PyGithub's transport retries (5xx, time-outs, rate limits with Retry-After)
    answer_attempts: int = 3  # attempts at a request whose answer is unusable (GraphQL errors, malformed)
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 120.0


def connect(token: str, connection: Connection) -> Github:
    retry = GithubRetry(
        total=connection.retries,
        backoff_factor=connection.backoff_seconds,
        backoff_max=20,
        secondary_rate_wait=min(60.0, connection.max_wait_seconds),
        max_rate_limit_wait=connection.max_wait_seconds,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=connection.api_url.rstrip("/"),
        timeout=connection.timeout_seconds,
        retry=retry,
        seconds_between_requests=connection.throttle_seconds,
        seconds_between_writes=connection.throttle_seconds,
        per_page=PAGE_SIZE,
    )


class Transport:
    """Sends GraphQL requests and retries answers PyGithub cannot judge.

    Failures: PyGithub retries 5xx, time-outs and rate limits with ``Retry-After`` itself (bounded by
    ``Connection``); on top of that, answers PyGithub cannot judge — GraphQL ``errors`` (partial data is a
    failure), malformed or null fields, 5xx that outlived PyGithub's retries — are retried here a bounded
    number of times with exponential backoff, and an exhausted GraphQL point budget is waited out when
    its reset is within ``max_wait_seconds``. Then the error is raised: the caller fails the run and the
    same work is done again later. A bad token or an unknown organisation is never retried.
    """

    def __init__(
        self,
        github: Github,
        *,
        attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_wait_seconds: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._github = github
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._max_wait = max_wait_seconds
        self.sleep = sleep
        self.now = now
        self.requests = 0
        self.retries = 0
        self.rate_limit_remaining: int | None = None

    @classmethod
    def open(cls, token: str, connection: Connection) -> Transport:
        """The configured transport: PyGithub's transport retries plus this class's answer retries."""
        return cls(
            connect(token, connection),
            attempts=connection.answer_attempts,
            backoff_seconds=connection.backoff_seconds,
            max_wait_seconds=connection.max_wait_seconds,
        )

    def query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One GraphQL request → its ``data``. Raises a SourceError for anything but a clean answer."""
        self.requests += 1
        try:
            _, body = self._github.requester.graphql_query(document, dict(variables))
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError("GitHub rate limit exceeded and would outlast the allowed wait") from exc
        except GithubException as exc:
            raise translate(exc, self.now()) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            # After its retries PyGithub surfaces 5xx as requests' RetryError, not a GithubException.
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        data = body.get("data")
        if not isinstance(data, dict):
            raise UnavailableError("GitHub GraphQL answer has no data")
        self._note_rate_limit(data)
        return data

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
            self.retries += 1

    def _note_rate_limit(self, data: Mapping[str, Any]) -> None:
        rate = data.get("rateLimit") or {}
        remaining = rate.get("remaining") if isinstance(rate, Mapping) else None
        if isinstance(remaining, int):
            self.rate_limit_remaining = remaining


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
