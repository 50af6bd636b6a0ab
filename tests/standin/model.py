"""In-memory GitHub data the stand-in serves (plain, mutable dataclasses).

Conventions that mirror GitHub:

* A ``Bot`` user's ``login`` has no ``[bot]`` suffix (GraphQL shows ``dependabot``); REST shows
  ``dependabot[bot]`` with ``type: "Bot"``.
* A deleted account is ``None`` wherever a user is referenced: GraphQL answers a ``null`` actor,
  REST shows the ``ghost`` user.
* Timestamps are aware UTC datetimes; GitHub has second precision, the generator produces that.

Rate limits default to GitHub's published budgets — core 5,000 requests/h, search 30 requests/min
(REST ``/search/...``), GraphQL 5,000 points/h, and the secondary limits of 2,000 GraphQL and 900 REST
points a minute (``state.secondary``, a :class:`PointsBudget`) — so a REST client paging through 1,000 search
results with ``per_page=30`` really waits for the reset. ``state.unlimited()`` lifts them;
``state.rate["graphql"].set(3)`` makes one nearly exhausted.

After mutating a pull request that was already added to a :class:`GitHubState` in a way that
changes search results (``merged_at``, ``state``, ``repo``...), call :meth:`GitHubState.touch`
so the search index is rebuilt.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .apps import AppRegistry
from .bypasses import BypassLog

UserType = Literal["User", "Bot"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"]
PRState = Literal["MERGED", "OPEN", "CLOSED"]
ReviewDecision = Literal["APPROVED", "CHANGES_REQUESTED", "REVIEW_REQUIRED"]
RequestKind = Literal["graphql", "rest", "search"]


@functools.lru_cache(maxsize=1 << 16)
def stable_id(*parts: object) -> int:
    """A deterministic positive integer id for an object (GitHub ids are integers)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) % 900_000_000 + 1_000


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class User:
    login: str
    type: UserType = "User"

    @property
    def id(self) -> int:
        return stable_id("user", self.login, self.type)

    @property
    def rest_login(self) -> str:
        """The login as REST (and people) write it: bots get a ``[bot]`` suffix."""
        return f"{self.login}[bot]" if self.type == "Bot" else self.login

    def __hash__(self) -> int:
        return hash((self.login, self.type))


@dataclass
class Repository:
    owner: str
    name: str
    default_branch: str = "main"
    archived: bool = False
    private: bool = True
    pushers: set[str] = field(default_factory=set)
    #: whether the default branch requires reviews (drives ``reviewDecision`` in generated data)
    requires_review: bool = True
    #: git history (see ``standin.git``): commits by oid, branch → head oid, last push
    commits: dict[str, GitCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    pushed_at: datetime | None = None
    #: branch protection rules and rulesets (``Ref.branchProtectionRule``, ``Ref.rules``)
    branch_rules: list[BranchRule] = field(default_factory=list)
    rulesets: list[Ruleset] = field(default_factory=list)
    #: repository activity (``GET /repos/{o}/{r}/activity``), oldest first: who moved which branch, and how
    activity: list[Activity] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def id(self) -> int:
        return stable_id("repo", self.owner, self.name)

    def can_push(self, user: User | None) -> bool:
        return user is not None and user.login in self.pushers

    def __hash__(self) -> int:
        return hash((self.owner, self.name))


@dataclass
class GitCommit:
    """One commit. ``introduced_by`` is the merged PR that brought it into the repository (what GitHub's
    ``associatedPullRequests`` returns first); ``open_prs`` are open PRs whose branch contains it."""

    oid: str
    parents: list[str]
    message: str
    author: User | None
    committer: User | None
    authored_at: datetime
    committed_at: datetime
    introduced_by: int | None = None
    open_prs: list[int] = field(default_factory=list)
    #: ``Co-authored-by`` trailers of the message, in order (``Commit.authors`` lists them after the author)
    co_authors: list[CoAuthor] = field(default_factory=list)


@dataclass
class CoAuthor:
    """A ``Co-authored-by: name <email>`` trailer: plain text, linked to ``user`` when GitHub knows the e-mail."""

    name: str
    email: str
    user: User | None = None


ZERO_OID = "0" * 40  # GitHub's ``before`` of a branch creation and ``after`` of a deletion


@dataclass
class Activity:
    """One entry of a repository's activity: ``actor`` is who pushed or merged (the authenticated pusher,
    not the commit's identities, which the client sets)."""

    id: int
    ref: str  # refs/heads/NAME
    before: str
    after: str
    activity_type: str  # push | force_push | branch_creation | branch_deletion | pr_merge | merge_queue_merge
    actor: User | None
    timestamp: datetime


@dataclass
class BranchRule:
    """A classic branch protection rule (``BranchProtectionRule``), matched by ``fnmatch`` pattern."""

    pattern: str
    required_approvals: int | None = 1
    dismiss_stale: bool = False
    code_owner: bool = False
    admin_enforced: bool = False
    bypass_pull_request: list[str] = field(default_factory=list)  # user logins


@dataclass
class Ruleset:
    """A repository ruleset with a pull-request rule. ``include`` holds ``fnmatch`` patterns or
    ``~DEFAULT_BRANCH``; ``bypass`` holds ``("Team", slug)``, ``("App", slug)`` or ``("OrganizationAdmin", "")``."""

    name: str
    include: list[str] = field(default_factory=lambda: ["~DEFAULT_BRANCH"])
    required_approvals: int = 1
    dismiss_stale: bool = False
    code_owner: bool = False
    enforcement: Literal["ACTIVE", "EVALUATE", "DISABLED"] = "ACTIVE"
    bypass: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Review:
    author: User | None
    state: ReviewState
    submitted_at: datetime
    commit_oid: str
    #: ``None`` → derived from the repository's ``pushers``
    author_can_push: bool | None = None
    body: str = ""
    id: int = 0
    #: for DISMISSED reviews: who dismissed it and when (drives ``ReviewDismissedEvent``)
    dismissed_by: User | None = None
    dismissed_at: datetime | None = None
    #: ``ReviewDismissedEvent.previousReviewState``: the state the review had before its dismissal
    previous_state: ReviewState = "APPROVED"


@dataclass
class LabelEvent:
    label: str
    action: Literal["labeled", "unlabeled"]
    actor: User | None
    at: datetime


@dataclass
class TitleRename:
    """A ``RenamedTitleEvent`` on the PR's timeline."""

    previous: str
    current: str
    at: datetime
    actor: User | None


@dataclass
class BodyRevision:
    """One entry of the description's edit history (``userContentEdits``). GitHub keeps the whole text of
    each revision (in the field it calls ``diff``); once the description is edited, the first entry is the
    text it was opened with. ``deleted_at``: someone deleted this revision from the history (text gone)."""

    text: str
    at: datetime
    editor: User | None
    deleted_at: datetime | None = None
    deleted_by: User | None = None


@dataclass
class PullRequest:
    repo: Repository
    number: int
    title: str
    body: str
    author: User | None
    base_ref: str
    head_ref: str
    head_oid: str
    created_at: datetime
    merged_at: datetime | None = None
    merged_by: User | None = None
    merge_commit_oid: str | None = None
    state: PRState = "MERGED"
    labels: list[str] = field(default_factory=list)
    label_events: list[LabelEvent] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    title_renames: list[TitleRename] = field(default_factory=list)
    #: the description's edit history, oldest first (empty while it was never edited)
    body_history: list[BodyRevision] = field(default_factory=list)
    review_decision: ReviewDecision | None = None
    #: search-index lag: visible to *search* only once the clock reaches it (None = immediately)
    indexed_at: datetime | None = None
    closed_at: datetime | None = None
    #: human-readable tag for demo output (not a GitHub field)
    scenario: str = ""
    #: the PR's commits, oldest first (``GitCommit``s; none given → one commit at the head by the author)
    commits: list[GitCommit] = field(default_factory=list)

    def pr_commits(self) -> list[GitCommit]:
        """What ``PullRequest.commits`` lists: the given commits, else the head commit (from the repository's
        history when it is there, else one the PR author wrote and committed): a PR has at least one."""
        if self.commits:
            return self.commits
        known = self.repo.commits.get(self.head_oid)
        if known is not None:
            return [known]
        at = self.created_at
        return [GitCommit(self.head_oid, [], self.title, self.author, self.author, at, at)]

    @property
    def id(self) -> int:
        return stable_id("pr", self.repo.owner, self.repo.name, self.number)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.repo.owner.lower(), self.repo.name.lower(), self.number)

    def review_author_can_push(self, review: Review) -> bool:
        if review.author_can_push is not None:
            return review.author_can_push
        return self.repo.can_push(review.author)

    def updated_at(self) -> datetime:
        times = [self.created_at]
        times += [t for t in (self.merged_at, self.closed_at) if t is not None]
        times += [r.submitted_at for r in self.reviews]
        times += [e.at for e in self.label_events]
        times += [r.at for r in self.title_renames] + [r.at for r in self.body_history]
        return max(times)

    def last_edited_at(self) -> datetime | None:
        """``lastEditedAt``: when the description was last edited (None if never)."""
        return self.body_history[-1].at if self.body_history else None

    def rename(self, title: str, at: datetime, actor: User | None) -> None:
        """Rename the PR, as the web UI or ``PATCH /pulls/N`` does: a RenamedTitleEvent on the timeline."""
        self.title_renames.append(TitleRename(self.title, title, at, actor))
        self.title = title

    def edit_body(self, body: str, at: datetime, editor: User | None) -> None:
        """Edit the description: the first edit also records the text the PR was opened with."""
        if not self.body_history:
            self.body_history.append(BodyRevision(self.body, self.created_at, self.author))
        self.body_history.append(BodyRevision(body, at, editor))
        self.body = body


# --------------------------------------------------------------------------- faults

FaultKind = Literal[
    "http_500",
    "http_502",
    "http_503",
    "timeout",
    "disconnect",
    "secondary_rate_limit",
    "primary_rate_limit",
    "graphql_errors",
    "incomplete_results",
    "redirect",
    "malformed_count",
]

FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


@dataclass
class Fault:
    """One declarative fault: fires on ``times`` matching requests after skipping ``after`` of them.

    * ``match`` — request kind (``"graphql"``, ``"rest"``, ``"search"`` = REST ``/search/...``) or
      ``None`` for any kind the fault applies to (``graphql_errors`` only applies to GraphQL;
      ``incomplete_results`` only to searches: REST ``/search/issues`` or a GraphQL document whose
      operation selects ``search``).
    * ``path`` — optional substring the request path must contain.
    * ``delay_s`` — ``timeout``: seconds to stall before answering normally (set it above the
      client's timeout).
    * ``retry_after`` — ``secondary_rate_limit``: the ``Retry-After`` value (GitHub sends 60;
      1 keeps tests fast).
    * ``reset_in`` — ``primary_rate_limit``: seconds until the advertised ``X-RateLimit-Reset``.
    * ``error_type`` / ``message`` / ``partial`` — ``graphql_errors``: the error entry; with
      ``partial`` the query is executed and the error is appended to real (partial) data,
      otherwise ``data`` is null.
    * ``keep`` — ``incomplete_results``: fraction of the page's items that survive.
    * ``status`` / ``location`` — ``redirect``: the 3xx answered instead (as a proxy, a load balancer or a
      moved GitHub Enterprise host would), and its ``Location``.
    * ``malformed_count`` (GraphQL searches): ``issueCount`` comes back as a string, not an Int.
    """

    kind: FaultKind
    times: int = 1
    match: RequestKind | None = None
    after: int = 0
    path: str | None = None
    delay_s: float = 2.0
    retry_after: int = 1
    reset_in: int = 1
    error_type: str | None = None
    message: str | None = None
    partial: bool = False
    keep: float = 0.5
    status: int = 301
    location: str = "https://github.example.net/api/graphql"
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.times < 1:
            raise ValueError("times must be >= 1")

    def applies_to(self, kind: str, path: str, is_search: bool) -> bool:
        if self.match is not None and self.match != kind:
            return False
        if self.path is not None and self.path not in path:
            return False
        if self.kind == "graphql_errors" and kind != "graphql":
            return False
        if self.kind == "malformed_count" and not (kind == "graphql" and is_search):
            return False
        return not (self.kind == "incomplete_results" and not is_search)


class FaultPlan:
    """Thread-safe list of pending faults plus counters of what was injected and fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: list[Fault] = []
        self.injected: int = 0
        self.fired: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []  # (fault kind, request kind, path)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.pending.append(fault)
            self.injected += 1
        return fault

    def clear(self) -> None:
        with self._lock:
            self.pending.clear()

    def take(self, kind: str, path: str, *, is_search: bool) -> Fault | None:
        """The fault to fire for this request, if any (consumes one ``times``)."""
        with self._lock:
            for fault in self.pending:
                if not fault.applies_to(kind, path, is_search):
                    continue
                if fault.seen < fault.after:
                    fault.seen += 1
                    continue
                fault.fired += 1
                if fault.fired >= fault.times:
                    self.pending.remove(fault)
                self.fired[fault.kind] += 1
                self.log.append((fault.kind, kind, path))
                return fault
        return None

    @property
    def fired_total(self) -> int:
        return sum(self.fired.values())


# --------------------------------------------------------------------------- rate limits


@dataclass
class RateBucket:
    """A GitHub rate-limit bucket. ``reset`` is a real epoch second (PyGithub compares it with
    the wall clock, so it does not follow the injectable model clock)."""

    resource: str
    limit: int
    window_s: int
    remaining: int = -1
    reset: int = 0

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.limit

    @property
    def used(self) -> int:
        return self.limit - self.remaining

    def refresh(self) -> None:
        now = int(time.time())
        if self.reset == 0:
            self.reset = now + self.window_s
        elif now >= self.reset:
            self.remaining = self.limit
            self.reset = now + self.window_s

    def set(self, remaining: int, *, limit: int | None = None) -> None:
        if limit is not None:
            self.limit = limit
        self.remaining = remaining


@dataclass
class PointsBudget:
    """GitHub's secondary rate limit as points per minute, per endpoint family: 2,000 for GraphQL, 900 for
    REST (GitHub's REST rate-limit docs, "About secondary rate limits"); a GET or a query without mutations
    costs 1 point, a POST/PATCH/PUT/DELETE or a mutation 5. The stand-in keeps a sliding window of
    ``window_s`` seconds (stricter than any fixed minute): a request that would take a family over its
    points is answered 403 with ``Retry-After`` (the seconds until enough points leave the window), and
    costs nothing. ``state.secondary = PointsBudget(graphql=20, rest=20, window_s=2)`` makes it small for
    tests; ``state.unlimited()`` switches it off."""

    graphql: int = 2000
    rest: int = 900
    window_s: float = 60.0
    spent: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: {"graphql": [], "rest": []})
    rejected: int = 0

    def charge(self, family: str, points: int, now: float) -> float | None:
        """Spend ``points`` now; None when allowed, else the seconds to wait (the request is refused)."""
        limit = self.graphql if family == "graphql" else self.rest
        window = [(at, p) for at, p in self.spent[family] if at > now - self.window_s]
        self.spent[family] = window
        used = sum(p for _, p in window)
        if used + points <= limit:
            window.append((now, points))
            return None
        self.rejected += 1
        freed, wait = 0, self.window_s
        for at, p in window:  # the oldest points leave the window first
            freed += p
            if used - freed + points <= limit:
                wait = at + self.window_s - now
                break
        return max(wait, 0.001)


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    kind: RequestKind
    duration_ms: float
    fault: str | None = None
    cost: int = 0
    #: the GraphQL operation's name (``query AuditSearch(...)`` → ``AuditSearch``), None for REST
    operation: str | None = None


# --------------------------------------------------------------------------- state


@dataclass
class GitHubState:
    orgs: dict[str, list[Repository]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    prs: list[PullRequest] = field(default_factory=list)
    tokens: set[str] = field(default_factory=lambda: {"test-token"})
    #: GitHub Apps, their installations and the installation tokens issued (see ``apps``)
    apps: AppRegistry = field(default_factory=AppRegistry)
    #: login of the authenticated user (``viewer``, ``GET /user``)
    viewer: str = "auditor"
    clock: Callable[[], datetime] = utcnow
    latency_ms: float = 0.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    rate: dict[str, RateBucket] = field(
        default_factory=lambda: {
            "core": RateBucket("core", 5000, 3600),
            "search": RateBucket("search", 30, 60),
            "graphql": RateBucket("graphql", 5000, 3600),
        }
    )
    requests: list[RequestRecord] = field(default_factory=list)
    #: GitHub's secondary limits in points per minute (None: not enforced)
    secondary: PointsBudget | None = field(default_factory=PointsBudget)
    #: The bench's shortcut (None: off): a GraphQL request body seen before gets the same answer again,
    #: without executing it (for contenders that ask the same questions of unchanging data)
    answer_cache: dict[bytes, Any] | None = None
    #: bumped by add_pr/touch; search indexes are rebuilt when it changes
    version: int = 0
    #: False: the token may not read branch protection or ruleset bypass actors (no admin rights / no
    #: "Administration: read" for an App): ``viewerCanAdminister`` false, ``branchProtectionRule`` null
    protection_readable: bool = True
    #: organisations GraphQL answers as ``null`` with no error entry (the schema types ``organization`` as
    #: nullable; GitHub usually adds a NOT_FOUND or FORBIDDEN error, a client must not rely on it)
    null_orgs: set[str] = field(default_factory=set)
    #: GitHub's own records of bypasses: rule suites and the organisation audit log (``standin.bypasses``)
    bypasses: BypassLog = field(default_factory=BypassLog)
    #: False: an older GitHub Enterprise Server without ``GET /repos/{o}/{r}/activity`` (it answers 404)
    activity_served: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._index_version = -1
        self._by_key: dict[tuple[str, str, int], PullRequest] = {}
        self._merged_sorted: list[PullRequest] = []
        self._merged_keys: list[datetime] = []
        self._unmerged: list[PullRequest] = []
        #: run_search cache: (version, query, sort) → (sorted matches, any indexed_at set)
        self.search_cache: dict[Any, tuple[list[PullRequest], bool]] = {}
        for pr in self.prs:
            self._register_repo(pr.repo)

    # ----------------------------------------------------------------- building
    def add_org(self, login: str) -> list[Repository]:
        return self.orgs.setdefault(login, [])

    def add_repo(self, repo: Repository) -> Repository:
        self._register_repo(repo)
        return repo

    def _register_repo(self, repo: Repository) -> None:
        repos = self.orgs.setdefault(repo.owner, [])
        if not any(r is repo or r.name == repo.name for r in repos):
            repos.append(repo)

    def add_user(self, user: User) -> User:
        self.users[user.login] = user
        return user

    def add_pr(self, pr: PullRequest) -> PullRequest:
        self._register_repo(pr.repo)
        self.prs.append(pr)
        self.touch()
        return pr

    def touch(self) -> None:
        """Invalidate search indexes after mutating pull requests in place."""
        self.version += 1

    # ----------------------------------------------------------------- lookups
    def org_exists(self, login: str) -> bool:
        low = login.lower()
        return any(o.lower() == low for o in self.orgs)

    def org_repos(self, login: str) -> list[Repository] | None:
        low = login.lower()
        for o, repos in self.orgs.items():
            if o.lower() == low:
                return repos
        return None

    def find_repo(self, owner: str, name: str) -> Repository | None:
        repos = self.org_repos(owner) or []
        low = name.lower()
        for r in repos:
            if r.name.lower() == low:
                return r
        return None

    def _reindex(self) -> None:
        with self._lock:
            if self._index_version == self.version:
                return
            self._by_key = {pr.key: pr for pr in self.prs}
            merged = [pr for pr in self.prs if pr.merged_at is not None]
            merged.sort(key=lambda p: p.merged_at)  # type: ignore[arg-type,return-value]
            self._merged_sorted = merged
            self._merged_keys = [p.merged_at for p in merged]  # type: ignore[misc]
            self._unmerged = [pr for pr in self.prs if pr.merged_at is None]
            self._index_version = self.version

    def get_pr(self, owner: str, name: str, number: int) -> PullRequest | None:
        self._reindex()
        return self._by_key.get((owner.lower(), name.lower(), number))

    def repo_prs(self, repo: Repository) -> list[PullRequest]:
        return sorted((p for p in self.prs if p.repo is repo), key=lambda p: p.number)

    def merged_between(self, lo: datetime | None, hi: datetime | None) -> list[PullRequest]:
        """Merged PRs with ``lo <= merged_at < hi`` (bisect on the merged-time index)."""
        self._reindex()
        keys = self._merged_keys
        i = 0 if lo is None else bisect.bisect_left(keys, lo)
        j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
        return self._merged_sorted[i:j]

    def all_prs_for_search(self) -> Iterable[PullRequest]:
        self._reindex()
        return [*self._merged_sorted, *self._unmerged]

    # ----------------------------------------------------------------- request log
    def record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)

    def count(self, kind: RequestKind | None = None, *, status: int | None = None) -> int:
        with self._lock:
            return sum(
                1 for r in self.requests if (kind is None or r.kind == kind) and (status is None or r.status == status)
            )

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.fired.clear()
            self.faults.log.clear()

    def unlimited(self) -> GitHubState:
        """Lift every rate-limit budget (defaults are GitHub's: core 5,000/h, search 30/min,
        GraphQL 5,000 points/h) — for benchmarks and long demos."""
        for bucket in self.rate.values():
            bucket.set(10**9, limit=10**9)
        self.secondary = None
        return self

    def bucket_for(self, kind: RequestKind) -> RateBucket:
        return self.rate["graphql" if kind == "graphql" else "search" if kind == "search" else "core"]

    def consume(self, kind: RequestKind, points: int = 1) -> tuple[bool, RateBucket]:
        """Charge ``points`` to the request kind's bucket; False when the budget is exhausted."""
        with self._lock:
            bucket = self.bucket_for(kind)
            bucket.refresh()
            if bucket.remaining < points:
                return False, bucket
            bucket.remaining -= points
            return True, bucket
