"""How requests reach GitHub: one request at a time, its failures translated and retried.

The job is split by module: ``connection`` (PyGithub's client and its settings), ``pacing`` (when the next
request may start), ``failures`` (GitHub's answers → our error tree) and this module, which sends a request
and retries what may pass. The names below are re-exported so that importers keep one place to look.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from github import Auth, Github, GithubException

from pr_auditor.core.errors import (
    IncompleteSearchError,
    RateLimitError,
    RedirectedError,
    UnavailableError,
)
from pr_auditor.github.connection import PAGE_SIZE, Connection, check_token, client_options, connect
from pr_auditor.github.failures import REDIRECTED, is_rate_limited, rate_limited, translate, translated
from pr_auditor.github.pacing import Pacer

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = [
    "PAGE_SIZE",
    "REDIRECTED",
    "Connection",
    "Transport",
    "check_token",
    "client_options",
    "connect",
    "translate",
]


class Transport:
    """Sends GraphQL requests and REST reads one at a time, paced by GitHub's budget (``pacing``), and retries
    what may pass. A rate-limit answer pauses the pacer for as long as GitHub asks (``Retry-After``,
    ``x-ratelimit-reset``, else a minute, doubled while it repeats) within ``max_wait_seconds``; 5xx, time-outs,
    GraphQL ``errors`` (partial data too) and malformed fields are retried ``attempts - 1`` times with backoff,
    then raised (the run fails and the work is done again later). A bad token or unknown organisation is final."""

    def __init__(
        self,
        github: Github,
        *,
        attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_wait_seconds: float = 120.0,
        throttle_seconds: float = 0.0,
        points_per_minute: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._github = github
        self.pacing = Pacer(
            points_per_minute, throttle_seconds=throttle_seconds, sleep=lambda s: self.sleep(s), monotonic=monotonic
        )
        self._rate_limit_hits = 0  # rate-limit answers in a row: each wait without a hint is twice the last
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
            points_per_minute={
                "graphql": connection.graphql_points_per_minute,
                "rest": connection.rest_points_per_minute,
            },
        )

    def query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One GraphQL request → its ``data``. Raises a SourceError for anything but a clean answer."""
        headers, body = self._send("graphql", lambda: self._github.requester.graphql_query(document, dict(variables)))
        if any(str(key).lower() == "location" for key in (headers or {})):
            # Other redirects (302, 307, 308) come back as an answer: a 200 never carries a Location.
            raise RedirectedError(REDIRECTED)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, dict):
            raise UnavailableError("GitHub GraphQL answer has no data")
        return data

    def rest_answer(
        self, url: str, params: Mapping[str, Any] | None = None, *, answered: tuple[int, ...] = (403, 404)
    ) -> tuple[int, Any, dict[str, str]]:
        """One paced REST GET (``url``: a path under the API base, or a ``Link`` URL GitHub gave) → (status,
        JSON body, headers). The statuses in ``answered`` are *answers* (by default a 403 or a 404: a source the
        credentials or the plan do not serve, such as the audit log or rule suites), never a secondary rate
        limit's 403, which is waited out; anything else is raised in our error tree."""

        def get() -> tuple[int, Any, dict[str, str]]:
            try:
                headers, body = self._github.requester.requestJsonAndCheck("GET", url, parameters=dict(params or {}))
            except GithubException as exc:
                if exc.status in answered and not is_rate_limited(exc):
                    return exc.status, exc.data, dict(exc.headers or {})
                raise
            return 200, body, dict(headers or {})

        return self._send("rest", get)

    def rest_page(self, url: str, params: Mapping[str, str] | None = None) -> tuple[Any, str | None] | None:
        """One page of a REST listing → (JSON body, ``Link`` header or None); None when GitHub answers 404 (an
        endpoint this server lacks: an older GitHub Enterprise Server)."""
        status, body, headers = self.rest_answer(url, params, answered=(404,))
        if status == 404:
            return None
        return body, next((str(v) for k, v in headers.items() if str(k).lower() == "link"), None)

    def _send(self, family: str, call: Callable[[], T]) -> T:
        """One request of ``family`` when the pacer allows it; PyGithub's exceptions → our error tree."""
        self.pacing.before_request(family)
        self.requests += 1
        answer = translated(call, self._failure)
        self._rate_limit_hits = 0
        return answer

    def _failure(self, exc: GithubException) -> Exception:
        if is_rate_limited(exc):
            self._rate_limit_hits += 1
            return rate_limited(exc, self.now(), earlier_hits=self._rate_limit_hits - 1)
        return translate(exc, self.now())

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
                log.warning("%s: waiting before the next request", exc)
                self.pacing.pause(exc.retry_in)
            except UnavailableError as exc:
                if attempt >= self._attempts:
                    raise
                log.warning("GitHub failed (%s); retry %d of %d in %.1f s", exc, attempt, self._attempts - 1, delay)
                self.sleep(delay)
                delay *= 2
            attempt += 1
