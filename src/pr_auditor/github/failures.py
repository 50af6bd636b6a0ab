"""GitHub's failures → our error tree, by status and GitHub's error types (never by message text).

Facts relied on (docs/github-facts.md): PyGithub raises on any GraphQL ``errors`` entry, even when the 200
also carries partial data (we treat that as a failure, never as a result); an exhausted GraphQL point
budget is a ``RATE_LIMITED`` error with the reset in ``x-ratelimit-reset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from github import GithubException

from pr_auditor.core.errors import (
    AuthError,
    IncompleteSearchError,
    NotFoundError,
    RateLimitError,
    SourceError,
    UnavailableError,
)

REDIRECTED = "GitHub answered with a redirect, which is not followed; check GITHUB_API_URL"


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
