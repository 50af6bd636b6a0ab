"""The only module that talks to GitHub (PyGithub): GraphQL search → frozen PullRequest snapshots.

Facts relied on (see shared GITHUB_FACTS.md): GraphQL ``search`` returns the true total in ``issueCount``
but stops paging at 1,000 results; ``merged:A..B`` is inclusive to the second; a GraphQL 200 may carry
``errors`` with partial data (PyGithub raises on any ``errors``, and we treat that as a failure, never
as a result); a Bot's GraphQL login has no ``[bot]`` suffix; deleted accounts are ``null`` actors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededException

from pr_auditor import queries
from pr_auditor.errors import AuthError, RateLimitError, SourceError, UnavailableError, UnknownOrgError
from pr_auditor.model import Actor, LabelEvent, PullRequest, Review, ReviewState, Window, iso
from pr_auditor.windows import search_range, split_window

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # GitHub's maximum for a connection
SEARCH_CAP = 1000  # GitHub search returns at most 1,000 results per query
SPLIT_TARGET = 900  # aim sub-windows below the cap with room for PRs merged while we page
MAX_QUERY_LENGTH = 256  # GitHub rejects longer search queries
FOLLOW_UP_BATCH = 25  # connections continued per follow-up request (25 x 100 nodes, far below 500,000)


@dataclass(frozen=True, slots=True)
class Connection:
    """How PyGithub reaches GitHub. ``throttle_seconds`` spaces requests (PyGithub's own default is
    1 s between POSTs because it counts every POST as a write; GraphQL queries are reads, and GitHub's
    one-second guidance is for content-creating requests). ``max_wait_seconds`` bounds any rate-limit
    wait so a run fails clearly inside the Lambda timeout instead of being killed mid-wait."""

    api_url: str = "https://api.github.com"
    timeout_seconds: int = 30
    throttle_seconds: float = 0.25
    retries: int = 4
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


class GitHubSource:
    """Finds every PR merged in a window for a set of organisations, as complete snapshots."""

    def __init__(self, github: Github) -> None:
        self._github = github
        self.requests = 0
        self.sub_windows = 0
        self.rate_limit_remaining: int | None = None

    # --- requests ---------------------------------------------------------------------------------

    def _query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        try:
            _, body = self._github.requester.graphql_query(document, dict(variables))
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError(f"GitHub rate limit exceeded and would outlast the allowed wait: {exc}") from exc
        except GithubException as exc:
            raise _translate(exc) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            # After its retries PyGithub surfaces 5xx as requests' RetryError, not a GithubException.
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        data = body.get("data")
        if not isinstance(data, dict):
            raise UnavailableError("GitHub GraphQL answer has no data")
        return data

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Fail fast on a bad token or an unknown organisation, before any search. Returns the viewer."""
        document, variables = queries.access_check(orgs)
        try:
            data = self._query(document, variables)
        except SourceError as exc:
            missing = _not_found_orgs(exc.__cause__, orgs)
            if missing:
                raise UnknownOrgError(
                    f"unknown organisation or not visible to this token: {', '.join(missing)}"
                ) from exc
            raise
        missing = [org for i, org in enumerate(orgs) if not data.get(f"o{i}")]
        if missing:
            raise UnknownOrgError(f"unknown organisation or not visible to this token: {', '.join(missing)}")
        viewer = data.get("viewer") or {}
        return str(viewer.get("login", ""))

    # --- search -----------------------------------------------------------------------------------

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until) in the organisations. Windows past the cap are split."""
        unfinished: list[tuple[dict[str, Any], Window]] = []  # PRs with more than 100 reviews, labels or label events
        for group in org_groups(orgs, window):
            yield from self._search_window(group, window, unfinished)
        yield from self._finish(unfinished)

    def _search_window(
        self, orgs: tuple[str, ...], window: Window, unfinished: list[tuple[dict[str, Any], Window]]
    ) -> Iterator[PullRequest]:
        """Page through one window; PRs that need follow-ups are parked in ``unfinished`` and completed in
        batches, so that a few PRs with long review histories cost one request between them."""
        query = search_query(orgs, window)
        after: str | None = None
        while True:
            data = self._query(queries.SEARCH_MERGED, {"query": query, "first": PAGE_SIZE, "after": after})
            self._note_rate_limit(data)
            search = _field(data, "search")
            total = int(_field(search, "issueCount"))
            if total >= SEARCH_CAP:
                # Past the cap GitHub stops paging silently: split until every part is complete. PRs
                # already yielded come again in a part and are deduplicated by the caller.
                yield from self._split(orgs, window, total, unfinished)
                return
            for node in _field(search, "nodes"):
                if node is None or node.get("__typename") != "PullRequest":
                    continue
                if _has_more(node):
                    unfinished.append((node, window))
                else:
                    yield from _in_window(snapshot(node), window)
            if len(unfinished) >= FOLLOW_UP_BATCH:
                yield from self._finish(unfinished)
                unfinished.clear()
            page = _field(search, "pageInfo")
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def _finish(self, parked: list[tuple[dict[str, Any], Window]]) -> Iterator[PullRequest]:
        """Fetch the rest of every connection that did not fit in its page, batched by alias, then snapshot."""
        nodes = [_copy_connections(node) for node, _ in parked]
        while True:
            wanted = [
                (node, connection)
                for node in nodes
                for connection in queries.FOLLOW_UP_CONNECTIONS
                if _field(_field(node, connection), "pageInfo").get("hasNextPage")
            ][:FOLLOW_UP_BATCH]
            if not wanted:
                break
            pages = []
            for node, connection in wanted:
                owner, name = str(_field(_field(node, "repository"), "nameWithOwner")).split("/", 1)
                cursor = str(_field(_field(node, connection), "pageInfo").get("endCursor"))
                pages.append((owner, name, int(_field(node, "number")), connection, cursor))
            document, variables = queries.follow_up(pages)
            data = self._query(document, variables)
            for i, (node, connection) in enumerate(wanted):
                more = _field(_field(_field(data, f"c{i}"), "pullRequest"), connection)
                node[connection]["nodes"].extend(_field(more, "nodes"))
                node[connection]["pageInfo"] = _field(more, "pageInfo")
        for node, (_, window) in zip(nodes, parked, strict=True):
            yield from _in_window(snapshot(node), window)

    def _split(
        self, orgs: tuple[str, ...], window: Window, total: int, unfinished: list[tuple[dict[str, Any], Window]]
    ) -> Iterator[PullRequest]:
        parts = split_window(window, total, target=SPLIT_TARGET)
        if not parts:
            raise SourceError(f"{total} PRs merged within one second ({window.as_dict()}) exceed GitHub's search cap")
        self.sub_windows += len(parts) - 1
        log.info("window %s holds %d PRs: split into %d parts", window.as_dict(), total, len(parts))
        for part in parts:
            yield from self._search_window(orgs, part, unfinished)

    def _note_rate_limit(self, data: Mapping[str, Any]) -> None:
        rate = data.get("rateLimit") or {}
        remaining = rate.get("remaining")
        if isinstance(remaining, int):
            self.rate_limit_remaining = remaining


def _has_more(node: Mapping[str, Any]) -> bool:
    return any(
        _field(_field(node, connection), "pageInfo").get("hasNextPage") for connection in queries.FOLLOW_UP_CONNECTIONS
    )


def _copy_connections(node: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(node)
    for connection in queries.FOLLOW_UP_CONNECTIONS:
        page = _field(node, connection)
        copied[connection] = {**page, "nodes": list(_field(page, "nodes")), "pageInfo": dict(_field(page, "pageInfo"))}
    return copied


def _in_window(pr: PullRequest, window: Window) -> Iterator[PullRequest]:
    """GitHub's range is widened to whole seconds; keep exactly [since, until)."""
    if window.contains(pr.merged_at):
        yield pr


def snapshot(node: Mapping[str, Any]) -> PullRequest:
    """A complete GraphQL PullRequest node → the frozen domain snapshot. Raises SourceError if malformed."""
    repo = _field(node, "repository")
    merge_commit = node.get("mergeCommit") or {}
    default_branch = (repo.get("defaultBranchRef") or {}).get("name") or ""
    return PullRequest(
        repository=str(_field(repo, "nameWithOwner")),
        number=int(_field(node, "number")),
        url=str(_field(node, "url")),
        title=str(node.get("title") or ""),
        body=str(node.get("body") or ""),
        author=actor(node.get("author")),
        merged_by=actor(node.get("mergedBy")),
        merged_at=timestamp(_field(node, "mergedAt")),
        base=str(_field(node, "baseRefName")),
        head_ref=str(node.get("headRefName") or ""),
        head_sha=str(_field(node, "headRefOid")),
        merge_commit_sha=merge_commit.get("oid"),
        default_branch=str(default_branch),
        labels=tuple(str(_field(label, "name")) for label in _nodes(node, "labels")),
        reviews=tuple(review(r) for r in _nodes(node, "reviews")),
        label_events=tuple(
            label_event(e) for e in _nodes(node, "timelineItems") if e.get("__typename") in _LABEL_TYPES
        ),
        review_decision=node.get("reviewDecision"),
        archived=bool(repo.get("isArchived")),
    )


_LABEL_TYPES = {"LabeledEvent": True, "UnlabeledEvent": False}


def actor(node: Mapping[str, Any] | None) -> Actor | None:
    """GraphQL actor → Actor; ``null`` (a deleted account) → None."""
    if not node or not node.get("login"):
        return None
    return Actor.of(str(node["login"]), is_bot=node.get("__typename") == "Bot")


def review(node: Mapping[str, Any]) -> Review:
    state = str(_field(node, "state"))
    try:
        parsed = ReviewState(state)
    except ValueError:
        raise SourceError(f"malformed review in GitHub's answer: unknown state {state!r}") from None
    submitted = node.get("submittedAt")
    return Review(
        author=actor(node.get("author")),
        state=parsed,
        submitted_at=timestamp(submitted) if submitted else None,
        commit_oid=(node.get("commit") or {}).get("oid"),
        author_can_push=bool(node.get("authorCanPushToRepository")),
    )


def label_event(node: Mapping[str, Any]) -> LabelEvent:
    return LabelEvent(
        label=str(_field(_field(node, "label"), "name")),
        added=_LABEL_TYPES[str(node["__typename"])],
        actor=actor(node.get("actor")),
        at=timestamp(_field(node, "createdAt")),
    )


def timestamp(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise SourceError(f"malformed timestamp in GitHub's answer: {value!r}") from None
    if moment.tzinfo is None:
        raise SourceError(f"timestamp without a timezone in GitHub's answer: {value!r}")
    return moment


def search_query(orgs: tuple[str, ...], window: Window) -> str:
    """``is:pr is:merged merged:A..B org:X …`` — A and B inclusive, to the second, in UTC."""
    first, last = search_range(window)
    scope = " ".join(f"org:{org}" for org in orgs)
    return f"is:pr is:merged merged:{iso(first)}..{iso(last)} {scope} sort:created-asc"


def org_groups(orgs: tuple[str, ...], window: Window) -> list[tuple[str, ...]]:
    """Group organisations so that each search query stays within GitHub's 256-character limit."""
    groups: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for org in orgs:
        candidate = (*current, org)
        if current and len(search_query(candidate, window)) > MAX_QUERY_LENGTH:
            groups.append(current)
            candidate = (org,)
        current = candidate
    if current:
        groups.append(current)
    return groups


def _field(node: Any, name: str) -> Any:
    """A required field: a null or missing one makes the whole answer unusable (never silently skipped)."""
    value = node.get(name) if isinstance(node, Mapping) else None
    if value is None:
        raise SourceError(f"malformed answer from GitHub: field {name!r} is missing or null")
    return value


def _nodes(node: Mapping[str, Any], connection: str) -> list[dict[str, Any]]:
    return [n for n in (_field(_field(node, connection), "nodes")) if n is not None]


def _translate(exc: GithubException) -> SourceError:
    """PyGithub exception → our error tree, by status and GitHub's error types (never by message text)."""
    status = exc.status
    if status == 401:
        return AuthError("GitHub rejected the token (401 Bad credentials)")
    if status == 403:
        return AuthError("the token may not read this (403 Forbidden); check its scopes or the App installation")
    if status == 404:
        return SourceError("GitHub answered 404 Not Found")
    errors = exc.data.get("errors") if isinstance(exc.data, dict) else None
    if isinstance(errors, list) and errors:
        kinds = sorted({str(e.get("type", "ERROR")) for e in errors if isinstance(e, dict)})
        return UnavailableError(f"GitHub GraphQL answered with errors ({', '.join(kinds)}); partial data rejected")
    return UnavailableError(f"GitHub answered HTTP {status}")


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
