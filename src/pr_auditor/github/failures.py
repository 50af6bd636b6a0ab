"""GitHub's failures → our error tree, by status and GitHub's error types (never by message text).

Facts relied on (docs/github-facts.md): PyGithub raises on any GraphQL ``errors`` entry, even when the 200
also carries partial data (we treat that as a failure, never as a result); an exhausted GraphQL point
budget is a ``RATE_LIMITED`` error with the reset in ``x-ratelimit-reset``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from github import GithubException
from github.GithubException import BadCredentialsException, RateLimitExceededException

from pr_auditor.core.errors import (
    AuthError,
    IncompleteSearchError,
    NotFoundError,
    RateLimitError,
    RedirectedError,
    SourceError,
    UnavailableError,
)

REDIRECTED = "GitHub answered with a redirect, which is not followed; check GITHUB_API_URL"
T = TypeVar("T")


def translated(call: Callable[[], T], failure: Callable[[GithubException], Exception]) -> T:
    """``call()`` (one PyGithub request), its exceptions raised as our error tree; ``failure`` translates a
    ``GithubException`` (the transport's, which also counts rate-limit hits)."""
    try:
        return call()
    except BadCredentialsException as exc:
        raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
    except GithubException as exc:
        raise failure(exc) from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        # A dropped connection or a time-out (PyGithub does not retry those here, see client_options).
        raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
    except RuntimeError as exc:
        # PyGithub refuses a 301 to another scheme, host or the same path with a RuntimeError; its text
        # names the server's Location, which we do not repeat.
        raise RedirectedError(REDIRECTED) from exc


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
            reset = header(exc.headers, "x-ratelimit-reset")
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


def header(headers: Mapping[str, Any] | None, name: str) -> float | None:
    """A numeric response header (``name`` in lower case), None when absent or not a number."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


#: GitHub: with neither ``Retry-After`` nor an exhausted ``x-ratelimit-remaining``, "wait for at least one
#: minute before retrying", longer each time: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
SECONDARY_WAIT_SECONDS = 60.0


def is_rate_limited(exc: GithubException) -> bool:
    """A rate-limit answer: a 429, or a 403 that GitHub marks as one (its message, or a ``Retry-After``)."""
    if exc.status == 429 or isinstance(exc, RateLimitExceededException):
        return True
    return exc.status == 403 and header(exc.headers, "retry-after") is not None


def rate_limited(exc: GithubException, now: float, *, earlier_hits: int = 0) -> RateLimitError:
    """How long GitHub asks us to wait: ``Retry-After`` seconds; else, when the budget is spent
    (``x-ratelimit-remaining: 0``), until ``x-ratelimit-reset``; else a minute, doubled per earlier hit."""
    retry_after = header(exc.headers, "retry-after")
    reset = header(exc.headers, "x-ratelimit-reset")
    if retry_after is not None:
        wait = retry_after
    elif header(exc.headers, "x-ratelimit-remaining") == 0 and reset is not None:
        wait = max(0.0, reset - now) + 1
    else:
        wait = SECONDARY_WAIT_SECONDS * 2 ** min(earlier_hits, 6)
    return RateLimitError(
        f"GitHub rate limit exceeded (HTTP {exc.status}); it asks for a {wait:.0f} s wait", retry_in=wait
    )
