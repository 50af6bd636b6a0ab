"""The access check: one request proving the credentials work and every organisation is visible."""

from __future__ import annotations

from github import GithubException

from pr_auditor.core.errors import NotFoundError, UnknownOrgError
from pr_auditor.github import queries
from pr_auditor.github.transport import Transport


def verify_access(transport: Transport, orgs: tuple[str, ...]) -> str:
    """Fail fast on a bad token or an unknown organisation, before any search. Returns the viewer."""
    document, variables = queries.access_check(orgs)
    try:
        data = transport.attempt(transport.query, document, variables)
    except NotFoundError as exc:
        missing = _not_found_orgs(exc.__cause__, orgs) or list(orgs)
        raise UnknownOrgError(f"unknown organisation or not visible to this token: {', '.join(missing)}") from exc
    missing = [org for i, org in enumerate(orgs) if not data.get(f"o{i}")]
    if missing:
        raise UnknownOrgError(f"unknown organisation or not visible to this token: {', '.join(missing)}")
    viewer = data.get("viewer") or {}
    return str(viewer.get("login", ""))


def _not_found_orgs(cause: BaseException | None, orgs: tuple[str, ...]) -> list[str]:
    """Organisations that GitHub's GraphQL errors name as NOT_FOUND (error ``path`` is the alias)."""
    if not isinstance(cause, GithubException) or not isinstance(cause.data, dict):
        return []
    missing: list[str] = []
    for error in cause.data.get("errors") or []:
        path = error.get("path") if isinstance(error, dict) else None
        if error.get("type") == "NOT_FOUND" and isinstance(path, list) and path:
            alias = str(path[0])
            if alias.startswith("o") and alias[1:].isdigit() and int(alias[1:]) < len(orgs):
                missing.append(orgs[int(alias[1:])])
    return missing
