"""The only module that talks to GitHub (PyGithub): GraphQL search → frozen PullRequest snapshots.

Facts relied on (see shared GITHUB_FACTS.md): GraphQL ``search`` returns the true total in ``issueCount``
but stops paging at 1,000 results; ``merged:A..B`` is inclusive to the second; a GraphQL 200 may carry
``errors`` with partial data (PyGithub raises on any ``errors``, and we treat that as a failure, never
as a result); a Bot's GraphQL login has no ``[bot]`` suffix; deleted accounts are ``null`` actors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededException

from pr_auditor import queries
from pr_auditor.errors import (
    AuthError,
    IncompleteSearchError,
    MalformedAnswerError,
    NotFoundError,
    RateLimitError,
    SourceError,
    UnavailableError,
    UnknownOrgError,
)
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


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One search page, already turned into snapshots (so a malformed answer is retried as a whole)."""

    total: int
    complete: list[PullRequest]
    unfinished: list[dict[str, Any]]
    has_next: bool
    cursor: str | None


def open_source(token: str, connection: Connection) -> GitHubSource:
    """The configured source: PyGithub's transport retries plus this module's answer retries."""
    return GitHubSource(
        connect(token, connection),
        attempts=connection.answer_attempts,
        backoff_seconds=connection.backoff_seconds,
        max_wait_seconds=connection.max_wait_seconds,
    )


class GitHubSource:
    """Finds every PR merged in a window for a set of organisations, as complete snapshots.

    Failures: PyGithub retries 5xx, time-outs and rate limits with ``Retry-After`` itself (bounded by
    ``Connection``); on top of that, answers PyGithub cannot judge — GraphQL ``errors`` (partial data is a
    failure), malformed or null fields, 5xx that outlived PyGithub's retries — are retried here a bounded
    number of times with exponential backoff, and an exhausted GraphQL point budget is waited out when
    its reset is within ``max_wait_seconds``. Then the error is raised: the caller fails the run and the
    same window is audited again later. A bad token or an unknown organisation is never retried.
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
        self._sleep = sleep
        self._now = now
        self.requests = 0
        self.sub_windows = 0
        self.retries = 0
        self.rate_limit_remaining: int | None = None

    # --- requests ---------------------------------------------------------------------------------

    def _query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        try:
            _, body = self._github.requester.graphql_query(document, dict(variables))
        except BadCredentialsException as exc:
            raise AuthError("GitHub rejected the token (401 Bad credentials)") from exc
        except RateLimitExceededException as exc:
            raise RateLimitError("GitHub rate limit exceeded and would outlast the allowed wait") from exc
        except GithubException as exc:
            raise _translate(exc, self._now()) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            # After its retries PyGithub surfaces 5xx as requests' RetryError, not a GithubException.
            raise UnavailableError(f"GitHub unreachable or failing after retries: {type(exc).__name__}") from exc
        data = body.get("data")
        if not isinstance(data, dict):
            raise UnavailableError("GitHub GraphQL answer has no data")
        return data

    def _attempt(self, action: Callable[..., T], *args: Any) -> T:
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
                self._sleep(exc.retry_in)
            except UnavailableError as exc:
                if attempt >= self._attempts:
                    raise
                log.warning("GitHub failed (%s); retry %d of %d in %.1f s", exc, attempt, self._attempts - 1, delay)
                self._sleep(delay)
                delay *= 2
            attempt += 1
            self.retries += 1

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        """Fail fast on a bad token or an unknown organisation, before any search. Returns the viewer."""
        document, variables = queries.access_check(orgs)
        try:
            data = self._attempt(self._query, document, variables)
        except NotFoundError as exc:
            missing = _not_found_orgs(exc.__cause__, orgs) or list(orgs)
            raise UnknownOrgError(f"unknown organisation or not visible to this token: {', '.join(missing)}") from exc
        missing = [org for i, org in enumerate(orgs) if not data.get(f"o{i}")]
        if missing:
            raise UnknownOrgError(f"unknown organisation or not visible to this token: {', '.join(missing)}")
        viewer = data.get("viewer") or {}
        return str(viewer.get("login", ""))

    # --- search -----------------------------------------------------------------------------------

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        """Every PR merged in [since, until) in the organisations. Windows past the cap are split."""
        unfinished: list[tuple[dict[str, Any], Window]] = []  # PRs with >100 reviews, labels or label events
        for group in qualifier_groups(tuple(f"org:{org}" for org in orgs), window):
            yield from self._search_window(group, window, unfinished)
        yield from self._finish(unfinished)

    def _search_window(
        self, scope: tuple[str, ...], window: Window, unfinished: list[tuple[dict[str, Any], Window]]
    ) -> Iterator[PullRequest]:
        """Page through one window; PRs that need follow-ups are parked in ``unfinished`` and completed in
        batches, so that a few PRs with long review histories cost one request between them."""
        query = search_query(scope, window)
        after: str | None = None
        while True:
            try:
                page = self._attempt(self._search_page, query, after)
            except IncompleteSearchError:
                # GitHub timed out and returned part of the page: ask for less at a time.
                halves = split_window(window, 2, target=1)
                if not halves:
                    raise
                self.sub_windows += 1
                log.info("search for %s came back incomplete: bisecting", window.as_dict())
                for half in halves:
                    yield from self._search_window(scope, half, unfinished)
                return
            if page.total >= SEARCH_CAP:
                # Past the cap GitHub stops paging silently: split until every part is complete. PRs
                # already yielded come again in a part and are deduplicated by the caller.
                yield from self._split(scope, window, page.total, unfinished)
                return
            for pr in page.complete:
                yield from _in_window(pr, window)
            unfinished.extend((node, window) for node in page.unfinished)
            if len(unfinished) >= FOLLOW_UP_BATCH:
                yield from self._finish(unfinished)
                unfinished.clear()
            if not page.has_next:
                return
            after = page.cursor

    def _search_page(self, query: str, after: str | None) -> Page:
        data = self._query(queries.SEARCH_MERGED, {"query": query, "first": PAGE_SIZE, "after": after})
        self._note_rate_limit(data)
        search = _field(data, "search")
        complete: list[PullRequest] = []
        unfinished: list[dict[str, Any]] = []
        for node in _field(search, "nodes"):
            if node is None or node.get("__typename") != "PullRequest":
                continue
            if _has_more(node):
                unfinished.append(node)
            else:
                complete.append(snapshot(node))
        page = _field(search, "pageInfo")
        return Page(
            total=int(_field(search, "issueCount")),
            complete=complete,
            unfinished=unfinished,
            has_next=bool(page.get("hasNextPage")),
            cursor=page.get("endCursor"),
        )

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
            answers = self._attempt(self._follow_up_answers, document, variables, wanted)
            for (node, connection), more in zip(wanted, answers, strict=True):
                node[connection]["nodes"].extend(_field(more, "nodes"))
                node[connection]["pageInfo"] = _field(more, "pageInfo")
        for node, (_, window) in zip(nodes, parked, strict=True):
            yield from _in_window(snapshot(node), window)

    def _follow_up_answers(
        self, document: str, variables: Mapping[str, Any], wanted: list[tuple[dict[str, Any], str]]
    ) -> list[dict[str, Any]]:
        data = self._query(document, variables)
        return [
            _field(_field(_field(data, f"c{i}"), "pullRequest"), connection) for i, (_, connection) in enumerate(wanted)
        ]

    def _split(
        self,
        scope: tuple[str, ...],
        window: Window,
        total: int,
        unfinished: list[tuple[dict[str, Any], Window]],
    ) -> Iterator[PullRequest]:
        parts = split_window(window, total, target=SPLIT_TARGET)
        if parts:
            self.sub_windows += len(parts) - 1
            log.info("window %s holds %d PRs: split into %d parts", window.as_dict(), total, len(parts))
            for part in parts:
                yield from self._search_window(scope, part, unfinished)
            return
        # One second still holds more than the cap: partition by repository instead of by time.
        if all(term.startswith("org:") for term in scope):
            repos = tuple(f"repo:{name}" for term in scope for name in self._repositories(term.removeprefix("org:")))
            groups = qualifier_groups(repos, window)
        elif len(scope) > 1:
            groups = [scope[: len(scope) // 2], scope[len(scope) // 2 :]]
        else:
            raise SourceError(f"{total} PRs merged in one second in {scope[0]} exceed GitHub's search cap")
        self.sub_windows += len(groups) - 1
        log.info(
            "%d PRs merged in one second (%s): searching %d repository groups", total, window.as_dict(), len(groups)
        )
        for group in groups:
            yield from self._search_window(group, window, unfinished)

    def _repositories(self, org: str) -> list[str]:
        names: list[str] = []
        after: str | None = None
        while True:
            data = self._attempt(self._query, queries.ORG_REPOSITORIES, {"login": org, "after": after})
            connection = _field(_field(data, "organization"), "repositories")
            names.extend(str(_field(node, "nameWithOwner")) for node in _field(connection, "nodes") if node)
            page = _field(connection, "pageInfo")
            if not page.get("hasNextPage"):
                return names
            after = page.get("endCursor")

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
        raise MalformedAnswerError(f"malformed review in GitHub's answer: unknown state {state!r}") from None
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
        raise MalformedAnswerError(f"malformed timestamp in GitHub's answer: {value!r}") from None
    if moment.tzinfo is None:
        raise MalformedAnswerError(f"timestamp without a timezone in GitHub's answer: {value!r}")
    return moment


def search_query(scope: tuple[str, ...], window: Window) -> str:
    """``is:pr is:merged merged:A..B org:X …`` — A and B inclusive, to the second, in UTC."""
    first, last = search_range(window)
    return f"is:pr is:merged merged:{iso(first)}..{iso(last)} {' '.join(scope)} sort:created-asc"


def qualifier_groups(qualifiers: tuple[str, ...], window: Window) -> list[tuple[str, ...]]:
    """Group ``org:``/``repo:`` qualifiers so that each search query stays within GitHub's 256 characters."""
    groups: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    for qualifier in qualifiers:
        candidate = (*current, qualifier)
        if current and len(search_query(candidate, window)) > MAX_QUERY_LENGTH:
            groups.append(current)
            candidate = (qualifier,)
        current = candidate
    if current:
        groups.append(current)
    return groups


def _field(node: Any, name: str) -> Any:
    """A required field: a null or missing one makes the whole answer unusable (never silently skipped)."""
    value = node.get(name) if isinstance(node, Mapping) else None
    if value is None:
        raise MalformedAnswerError(f"malformed answer from GitHub: field {name!r} is missing or null")
    return value


def _nodes(node: Mapping[str, Any], connection: str) -> list[dict[str, Any]]:
    return [n for n in (_field(_field(node, connection), "nodes")) if n is not None]


def _translate(exc: GithubException, now: float) -> SourceError:
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
