"""Branch histories: the ``BranchSource`` port (wiring), history pages, commits by SHA.

The listing (repositories by push time, branch heads) is ``heads``; protection is ``protection``.
Facts relied on: ``Repository.object(oid:)`` gives the
commit a walk started from even after the branch moved; ``Commit.history`` lists a commit's ancestors newest
first, 100 a page; ``Commit.associatedPullRequests`` returns the merged PR that introduced the commit and,
off the default branch, open PRs too (so the caller checks state, base and merge commit itself); a
``GitActor.user`` is null when the e-mail is linked to no account. Compare is ``compare``, activity
``activity``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pr_auditor.core.branch_model import (
    Activity,
    ActivityMark,
    BranchKey,
    Commit,
    Comparison,
    Protection,
    PullRef,
    RepoHeads,
    Unreadable,
    Walk,
    Walked,
)
from pr_auditor.core.model import iso
from pr_auditor.github import queries
from pr_auditor.github.activity import ActivityReader, Get
from pr_auditor.github.compare import CompareReader
from pr_auditor.github.decode import nodes, required, timestamp
from pr_auditor.github.heads import BATCH, HeadLister, Query, split
from pr_auditor.github.protection import read_protection
from pr_auditor.github.transport import PAGE_SIZE, Transport


class BranchReader:
    """The ``BranchSource`` port over one transport: each job is its own reader (listing, history,
    activity, compare, protection); this class wires them and counts requests by source
    (``requests_by_source``) beside the transport's total (``requests``)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._counts: Counter[str] = Counter()
        self._heads = HeadLister(self._counted("listing"))
        self._history = HistoryReader(self._counted("history"), self._counted("commits"))
        self._activity = ActivityReader(self._rest("activity"))
        self._compare = CompareReader(self._rest("compare"))

    @property
    def requests(self) -> int:
        return self.transport.requests

    @requests.setter
    def requests(self, value: int) -> None:  # the protocol declares a plain attribute
        self.transport.requests = value

    @property
    def requests_by_source(self) -> dict[str, int]:
        """Requests sent so far per source (retries included): listing, history, commits, activity, compare,
        protection. They add up to what this reader sent through the transport."""
        return dict(self._counts)

    def _counted(self, source: str) -> Query:
        def send(document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
            self._counts[source] += 1
            return self.transport.query(document, variables)

        return lambda document, variables: self.transport.attempt(send, document, variables)

    def _rest(self, source: str) -> Get:
        def send(url: str, params: Mapping[str, str]) -> tuple[Any, str | None] | None:
            self._counts[source] += 1
            return self.transport.rest_page(url, params)

        return lambda url, params: self.transport.attempt(send, url, params)

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]:
        return self._heads.repositories(orgs, pushed_since=pushed_since, all_branches=all_branches)

    def activity(
        self, repository: str, branch: str, *, mark: ActivityMark | None, since: datetime | None = None
    ) -> list[Activity] | None:
        return self._activity.read(repository, branch, mark=mark, since=since)

    def walk(self, walks: Sequence[Walk]) -> dict[BranchKey, Walked]:
        return self._history.walk(walks)

    def commits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Commit]:
        return self._history.commits(wanted)

    def commits_between(
        self, branches: Sequence[BranchKey], since: datetime, until: datetime
    ) -> dict[BranchKey, list[Commit]]:
        return self._history.commits_between(branches, since, until)

    def compare(self, repository: str, base: str, head: str, *, commits: bool = False) -> Comparison | None:
        return self._compare.compare(repository, base, head, commits=commits)

    def protection(self, branches: Sequence[BranchKey]) -> dict[BranchKey, Protection | Unreadable]:
        return read_protection(self._counted("protection"), branches)


class HistoryReader:
    """Branch histories through GraphQL ``Commit.history``: batched walks, and a branch's commits by date."""

    def __init__(self, query: Query, lookup: Query) -> None:
        self._query = query
        self._lookup = lookup

    def commits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Commit]:
        """Commits by (repository, sha), 100 a request across repositories. A commit GitHub does not have
        (collected since) is left out."""
        found: dict[tuple[str, str], Commit] = {}
        unique = list(dict.fromkeys(wanted))
        for start in range(0, len(unique), PAGE_SIZE):
            batch = unique[start : start + PAGE_SIZE]
            document, variables = queries.commits_by_oid([(*split(repo), sha) for repo, sha in batch])
            data = self._lookup(document, variables)
            for i, key in enumerate(batch):
                node = (data.get(f"c{i}") or {}).get("object")
                if node:
                    found[key] = decode_commit(node)
        return found

    # --- history ------------------------------------------------------------------------------------------

    def walk(self, walks: Sequence[Walk]) -> dict[BranchKey, Walked]:
        """Every walk paged until its stop, its limit or the start of history; pages of several walks share
        a request."""
        collected: dict[BranchKey, list[Commit]] = {(w.repository, w.branch): [] for w in walks}
        reached: dict[BranchKey, bool] = dict.fromkeys(collected, False)
        cursors: dict[BranchKey, str | None] = dict.fromkeys(collected, None)
        pending = list(walks)
        while pending:
            batch, pending = pending[:BATCH], pending[BATCH:]
            pages = [(*split(w.repository), w.head, PAGE_SIZE, cursors[(w.repository, w.branch)]) for w in batch]
            document, variables = queries.history_pages(pages)
            data = self._query(document, variables)
            for i, w in enumerate(batch):
                key = (w.repository, w.branch)
                connection = required(required(required(data, f"w{i}"), "object"), "history")
                for node in required(connection, "nodes"):
                    commit = decode_commit(node)
                    if commit.oid == w.stop:
                        reached[key] = True
                        break
                    collected[key].append(commit)
                    if len(collected[key]) >= w.limit:
                        break
                page = required(connection, "pageInfo")
                done = reached[key] or len(collected[key]) >= w.limit or not page.get("hasNextPage")
                if not done:
                    cursors[key] = page.get("endCursor")
                    pending.append(w)
        return {key: Walked(tuple(commits), reached[key]) for key, commits in collected.items()}

    def commits_between(
        self, branches: Sequence[BranchKey], since: datetime, until: datetime
    ) -> dict[BranchKey, list[Commit]]:
        """Each branch's commits *dated* in [since, until] (client-set dates: best effort), pages of up to
        ``BATCH`` branches sharing a request, as the walk does."""
        found: dict[BranchKey, list[Commit]] = {key: [] for key in branches}
        pending: list[tuple[BranchKey, str | None]] = [(key, None) for key in found]
        while pending:
            batch, pending = pending[:BATCH], pending[BATCH:]
            pages = [(*split(repo), f"refs/heads/{branch}", cursor) for (repo, branch), cursor in batch]
            document, variables = queries.commits_between_pages(pages, iso(since), iso(until))
            data = self._query(document, variables)
            for i, (key, _) in enumerate(batch):
                ref = required(data, f"b{i}").get("ref")
                if not ref:
                    continue  # the branch is gone
                connection = required(required(ref, "target"), "history")
                found[key].extend(decode_commit(node) for node in required(connection, "nodes"))
                page = required(connection, "pageInfo")
                if page.get("hasNextPage"):
                    pending.append((key, page.get("endCursor")))
        return found


def decode_commit(node: Mapping[str, Any]) -> Commit:
    """A history node → Commit. Logins, and the names the commit claims (read only to spot a forged exempt
    identity, never recorded unless they name one); e-mail addresses are never read."""
    return Commit(
        oid=str(required(node, "oid")),
        parents=tuple(str(required(p, "oid")) for p in nodes(node, "parents")),
        committed_date=timestamp(required(node, "committedDate")),
        url=str(required(node, "url")),
        author=_login(node.get("author")),
        committer=_login(node.get("committer")),
        pulls=tuple(
            PullRef(
                number=int(required(pr, "number")),
                state=str(required(pr, "state")),
                base=str(required(pr, "baseRefName")),
                merge_commit=(pr.get("mergeCommit") or {}).get("oid"),
            )
            for pr in nodes(node, "associatedPullRequests")
        ),
        claimed=_names(node),
    )


def _names(node: Mapping[str, Any]) -> tuple[str, ...]:
    actors = (node.get("author"), node.get("committer"))
    return tuple(str(actor["name"]) for actor in actors if actor and actor.get("name"))


def _login(git_actor: Mapping[str, Any] | None) -> str | None:
    user = (git_actor or {}).get("user")
    return str(user["login"]) if user and user.get("login") else None
