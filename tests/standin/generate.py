"""Deterministic GitHub organisations for tests, the demo and the benchmark, plus small builders.

``generate_org(seed=1, n_prs=250, since=..., until=...)`` → a :class:`GitHubState` with ``n_prs``
merged PRs in ``[since, until)`` (plus PRs just outside the window and open/closed-unmerged ones,
which do not count), each tagged with a ``scenario`` string (see :data:`SCENARIOS`).

Hand-made states::

    state = make_state()                       # org "acme", repo "app", writers alice/bob/carol
    pr = add_pr(state, reviews=[review("bob")])  # approved by a writer on the final head
    pr2 = add_pr(state, author="alice", reviews=[review("alice")], review_decision="REVIEW_REQUIRED")
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from .model import (
    CoAuthor,
    GitCommit,
    GitHubState,
    LabelEvent,
    PullRequest,
    Repository,
    Review,
    ReviewDecision,
    User,
    stable_id,
)

HEAD = "HEAD"
"""``review(commit_oid=HEAD)`` (the default) means "the PR's final head commit"."""

HUMANS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
ADMIN = "olivia-admin"
OUTSIDER = "mallory-ext"
BOTS = ("dependabot", "renovate")
DEFAULT_VIEWER = "auditor"

# name, default branch, archived, requires review, logins without push access
REPO_SPECS: tuple[tuple[str, str, bool, bool, tuple[str, ...]], ...] = (
    ("api", "main", False, True, ()),
    ("web", "main", False, True, ("judy",)),
    ("infra", "master", False, True, ("ivan", "judy")),
    ("mobile", "develop", False, True, ()),
    ("legacy-billing", "main", True, True, ()),
    ("docs", "main", False, False, ()),
)

#: scenario → relative weight in generated data (each appears at least once when n_prs allows)
SCENARIOS: dict[str, float] = {
    "approved": 38,
    "two_approvals": 12,
    "approved_then_commented": 5,
    "stale_approval": 4,
    "release_branch": 4,
    "dependabot_pr": 6,
    "missing_ticket": 3,
    "outside_contributor_pr": 2,
    "unreviewed": 4,
    "admin_bypass": 2,
    "self_approved": 2,
    "changes_requested": 3,
    "approval_dismissed": 2,
    "non_pusher_approval": 2,
    "bot_approval": 2,
    "emergency_label": 1,
    "emergency_label_after_merge": 1,
    "emergency_label_removed_before_merge": 1,
    "deleted_reviewer_approval": 1,
    "ghost_author": 1,
    "many_reviews": 0.2,
    # history after the merge (GitHub accepts reviews on merged PRs; titles and descriptions stay editable)
    "approved_after_merge": 1,
    "changes_requested_then_approved_after_merge": 1,
    "ticket_added_after_merge": 1,
    "ticket_added_before_merge": 1,
}

_NOUNS = (
    "retry policy",
    "login form",
    "billing export",
    "cache layer",
    "rate limiter",
    "audit log",
    "health check",
    "feature flag",
    "search index",
    "payment webhook",
    "docs sidebar",
    "CI cache",
)
_VERBS = ("Fix", "Add", "Refactor", "Tune", "Remove", "Harden", "Document", "Speed up")
_PACKAGES = ("requests", "boto3", "urllib3", "pyyaml", "react", "lodash", "express", "pytest")


# --------------------------------------------------------------------------- small builders


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def user(state: GitHubState, login: str | User | None) -> User | None:
    """Resolve a login to the state's user (creating it); ``x[bot]`` or a known bot → Bot; None stays None."""
    if login is None or isinstance(login, User):
        if isinstance(login, User):
            state.users.setdefault(login.login, login)
        return login
    typ = "Bot" if login.endswith("[bot]") or login in BOTS else "User"
    login = login.removesuffix("[bot]")
    u = state.users.get(login)
    if u is None:
        u = state.add_user(User(login, typ))  # type: ignore[arg-type]
    return u


@dataclass
class ReviewSpec:
    author: str | User | None
    state: str = "APPROVED"
    at: datetime | None = None
    commit_oid: str = HEAD
    can_push: bool | None = None
    body: str = ""
    dismissed: tuple[datetime, str, str | User | None] | None = None  # (when, previous state, by whom)


def review(
    author: str | User | None,
    state: str = "APPROVED",
    *,
    at: datetime | None = None,
    commit_oid: str = HEAD,
    can_push: bool | None = None,
    body: str = "",
) -> ReviewSpec:
    """A review for :func:`add_pr`. ``at`` defaults to shortly before the merge, in list order."""
    return ReviewSpec(author, state, at, commit_oid, can_push, body)


def dismissed(spec: ReviewSpec, at: datetime, by: str | User | None = ADMIN) -> ReviewSpec:
    """The review ``spec``, dismissed at ``at`` by ``by``: it reads DISMISSED from then on, and the timeline
    holds a ``ReviewDismissedEvent`` with its previous state (as GitHub does)."""
    return replace(spec, state="DISMISSED", dismissed=(_as_utc(at), spec.state, by))


_COMMITS = itertools.count()  # every commit made by pr_commit gets its own oid


def pr_commit(
    state: GitHubState,
    author: str | User | None,
    *,
    committer: str | User | None = None,
    co_authors: Sequence[str | User] = (),
    at: datetime = datetime(2024, 6, 3, 9, 0, tzinfo=UTC),
) -> GitCommit:
    """A commit for :func:`add_pr` (``commits=``): git author and committer (the author unless given), and
    ``Co-authored-by`` trailers. A trailer naming a known login is linked to that account (GitHub links by
    e-mail); any other string stays plain text (``name <email>``, no account)."""
    who = user(state, author)
    trailers = []
    for co in co_authors:
        linked = state.users.get(co) if isinstance(co, str) else co
        name = linked.login if linked is not None else str(co)
        trailers.append(CoAuthor(name, f"{name}@example.com", linked))
    message = "Change\n\n" + "".join(f"Co-authored-by: {t.name} <{t.email}>\n" for t in trailers)
    seed = f"{who.login if who else None}/{co_authors}/{at.isoformat()}/{next(_COMMITS)}"
    oid = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()  # an object id, as git makes one
    by = user(state, committer) if committer is not None else who
    return GitCommit(oid, [], message, who, by, _as_utc(at), _as_utc(at), co_authors=trailers)


def make_state(
    *,
    org: str = "acme",
    repos: Sequence[str | Repository] = ("app",),
    pushers: Iterable[str] = ("alice", "bob", "carol", ADMIN),
    tokens: Iterable[str] = ("test-token",),
    viewer: str = DEFAULT_VIEWER,
    clock: Callable[[], datetime] | None = None,
) -> GitHubState:
    """An empty organisation: repositories (name or :class:`Repository`) whose writers are ``pushers``."""
    state = GitHubState(tokens=set(tokens), viewer=viewer)
    if clock is not None:
        state.clock = clock
    state.add_user(User(viewer))
    state.add_org(org)
    writers = set(pushers)
    for login in writers:
        user(state, login)
    for r in repos:
        repo = r if isinstance(r, Repository) else Repository(org, r, pushers=set(writers))
        state.add_repo(repo)
    return state


def _oid(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def add_pr(
    state: GitHubState,
    repo: str | Repository | None = None,
    *,
    number: int | None = None,
    title: str = "OPS-1 Change something",
    body: str = "",
    author: str | User | None = "alice",
    reviews: Sequence[ReviewSpec | Review] = (),
    merged_at: datetime | None = datetime(2024, 6, 3, 12, 0, tzinfo=UTC),
    merged_by: str | User | None = "bob",
    created_at: datetime | None = None,
    base_ref: str | None = None,
    head_ref: str | None = None,
    head_oid: str | None = None,
    merge_commit_oid: str | None = None,
    labels: Sequence[str] = (),
    label_events: Sequence[LabelEvent] = (),
    review_decision: ReviewDecision | str | None = "APPROVED",
    pr_state: str | None = None,
    closed_at: datetime | None = None,
    indexed_at: datetime | None = None,
    scenario: str = "",
    commits: Sequence[GitCommit] = (),
) -> PullRequest:
    """Add one pull request to ``state`` (first repository of the first org by default).

    ``merged_at=None`` makes an open PR (``pr_state="CLOSED"`` for closed-unmerged). Reviews given
    as :func:`review` specs get their author resolved, a time before the merge, and the head oid.
    Labels listed in ``labels`` without a matching event get a ``labeled`` event before the merge.
    """
    if repo is None:
        repo_obj = next(iter(state.orgs.values()))[0]
    elif isinstance(repo, Repository):
        repo_obj = state.add_repo(repo)
    else:
        owner = next(iter(state.orgs))
        found = state.find_repo(owner, repo)
        repo_obj = found or state.add_repo(
            Repository(owner, repo, pushers=set(next(iter(state.orgs.values()))[0].pushers))
        )
    rng = random.Random(stable_id(repo_obj.full_name, number, title, len(state.prs)))
    if number is None:
        number = max((p.number for p in state.prs if p.repo is repo_obj), default=0) + 1
    merged_at = _as_utc(merged_at) if merged_at is not None else None
    anchor = merged_at or _as_utc(created_at or datetime(2024, 6, 3, 12, 0, tzinfo=UTC))
    created = _as_utc(created_at) if created_at is not None else anchor - timedelta(days=1)
    head = head_oid or (commits[-1].oid if commits else _oid(rng))  # the head is the PR's last commit
    n = len(reviews)
    built: list[Review] = []
    for i, spec in enumerate(reviews):
        if isinstance(spec, Review):
            built.append(spec)
            continue
        at = spec.at or (anchor - timedelta(minutes=10 * (n - i)))
        built.append(
            Review(
                author=user(state, spec.author),
                state=spec.state,  # type: ignore[arg-type]
                submitted_at=_as_utc(at),
                commit_oid=head if spec.commit_oid == HEAD else spec.commit_oid,
                author_can_push=spec.can_push,
                body=spec.body,
            )
        )
        if spec.dismissed is not None:
            built[-1].dismissed_at, built[-1].previous_state, by = spec.dismissed  # type: ignore[assignment]
            built[-1].dismissed_by = user(state, by)
    author_u = user(state, author)
    events = list(label_events)
    for lbl in labels:
        if not any(e.label == lbl for e in events):
            events.append(LabelEvent(lbl, "labeled", author_u, anchor - timedelta(minutes=30)))
    if pr_state is None:
        pr_state = "MERGED" if merged_at is not None else "OPEN"
    pr = PullRequest(
        repo=repo_obj,
        number=number,
        title=title,
        body=body,
        author=author_u,
        base_ref=base_ref or repo_obj.default_branch,
        head_ref=head_ref or f"feature/change-{number}",
        head_oid=head,
        created_at=created,
        merged_at=merged_at,
        merged_by=user(state, merged_by) if merged_at is not None else None,
        merge_commit_oid=(merge_commit_oid or _oid(rng)) if merged_at is not None else None,
        state=pr_state,  # type: ignore[arg-type]
        labels=list(labels),
        label_events=events,
        reviews=built,
        review_decision=review_decision,  # type: ignore[arg-type]
        indexed_at=indexed_at,
        closed_at=_as_utc(closed_at) if closed_at else None,
        scenario=scenario,
        commits=list(commits),
    )
    return state.add_pr(pr)


# --------------------------------------------------------------------------- organisation generator


class _Gen:
    def __init__(self, state: GitHubState, rng: random.Random, repos: list[Repository]) -> None:
        self.state = state
        self.rng = rng
        self.repos = repos
        self.u: dict[str, User] = {u.login: u for u in state.users.values()}

    def writers(self, repo: Repository, exclude: Iterable[str] = ()) -> list[str]:
        ex = set(exclude)
        return [h for h in HUMANS if h in repo.pushers and h not in ex]

    def ticket(self) -> str:
        return f"{self.rng.choice(('OPS', 'PLAT', 'SEC'))}-{self.rng.randint(10, 9999)}"

    def times_between(self, lo: datetime, hi: datetime, k: int) -> list[datetime]:
        span = max(1, int((hi - lo).total_seconds()))
        return sorted(lo + timedelta(seconds=self.rng.randint(0, span - 1)) for _ in range(k))


def _build_pr(g: _Gen, scenario: str, merged_at: datetime | None, pr_state: str) -> PullRequest:
    rng, u = g.rng, g.u
    candidates = [r for r in g.repos if not r.archived] or g.repos
    if scenario == "unreviewed":
        repo = next((r for r in g.repos if not r.requires_review), rng.choice(candidates))
    elif rng.random() < 0.05:
        repo = rng.choice(g.repos)  # the archived repository gets a few
    else:
        repo = rng.choice(candidates)
    end = merged_at or datetime(2100, 1, 1, tzinfo=UTC)
    created = (merged_at or end) - timedelta(seconds=rng.randint(600, 5 * 86400))
    if merged_at is None:
        created = end  # placeholder, fixed by caller
    author: User | None = u[rng.choice(g.writers(repo))]
    head_oid = _oid(rng)
    ticket = g.ticket()
    noun, verb = rng.choice(_NOUNS), rng.choice(_VERBS)
    where = rng.random()
    if where < 0.7:
        title, head_ref = f"{ticket}: {verb} {noun}", f"feature/{noun.replace(' ', '-')}"
    elif where < 0.9:
        title, head_ref = f"{verb} {noun}", f"{ticket.lower()}-{noun.replace(' ', '-')}"
    else:
        title, head_ref = f"{verb} {noun}", f"fix/{noun.replace(' ', '-')}"
    body = f"Refs {ticket}." if where >= 0.9 else "Small, focused change."
    base_ref = repo.default_branch
    merged_by: User | None = u[rng.choice(g.writers(repo))] if merged_at else None
    decision: ReviewDecision | None = "APPROVED"
    reviews: list[Review] = []
    labels: list[str] = []
    events: list[LabelEvent] = []
    t_merge = merged_at or created + timedelta(hours=6)
    span_lo = created + timedelta(seconds=60)

    def rt(k: int) -> list[datetime]:
        return g.times_between(span_lo, t_merge - timedelta(seconds=1), k)

    def writer(*exclude: str) -> User:
        return u[rng.choice(g.writers(repo, [*(a.login for a in [author] if a), *exclude]))]

    if scenario == "dependabot_pr":
        author = u["dependabot"]
        pkg = rng.choice(_PACKAGES)
        old, new = f"{rng.randint(1, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}", f"{rng.randint(6, 9)}.0.0"
        title, head_ref, body = f"Bump {pkg} from {old} to {new}", f"dependabot/pip/{pkg}-{new}", f"Bumps {pkg}."
    elif scenario == "outside_contributor_pr":
        author = u[OUTSIDER]
    elif scenario == "ghost_author":
        author = None
    elif scenario in ("missing_ticket", "ticket_added_after_merge", "ticket_added_before_merge"):
        title, head_ref, body = f"{verb} {noun}", f"patch-{rng.randint(1, 99)}", "No ticket."
    elif scenario == "release_branch":
        base_ref = f"release/2024.{rng.randint(1, 12):02d}"

    def approve(who: User | None, at: datetime, commit: str | None = None, state: str = "APPROVED") -> Review:
        return Review(who, state, at, commit or head_oid)  # type: ignore[arg-type]

    if scenario in (
        "approved",
        "dependabot_pr",
        "outside_contributor_pr",
        "ghost_author",
        "missing_ticket",
        "release_branch",
        "ticket_added_after_merge",
        "ticket_added_before_merge",
        "emergency_label_after_merge",
        "emergency_label_removed_before_merge",
    ):
        (t,) = rt(1)
        reviews.append(approve(writer(), t))
    elif scenario == "two_approvals":
        a = writer()
        t1, t2 = rt(2)
        reviews += [approve(a, t1), approve(writer(a.login), t2)]
    elif scenario == "approved_then_commented":
        a = writer()
        t1, t2 = rt(2)
        reviews += [approve(a, t1), Review(a, "COMMENTED", t2, head_oid)]
    elif scenario == "stale_approval":
        (t,) = rt(1)
        reviews.append(approve(writer(), t, commit=_oid(rng)))
    elif scenario in ("unreviewed", "admin_bypass"):
        merged_by = u[ADMIN] if scenario == "admin_bypass" or repo.requires_review else merged_by
        decision = "REVIEW_REQUIRED"
        if scenario == "admin_bypass" and rng.random() < 0.5:
            (t,) = rt(1)
            reviews.append(Review(writer(), "COMMENTED", t, head_oid, body="Looks fine but not approving"))
    elif scenario == "self_approved":
        (t,) = rt(1)
        reviews.append(approve(author, t))
        decision, merged_by = "REVIEW_REQUIRED", u[ADMIN]
    elif scenario == "changes_requested":
        a = writer()
        t1, t2 = rt(2)
        reviews += [approve(a, t1), Review(writer(a.login), "CHANGES_REQUESTED", t2, head_oid, body="Please fix")]
        decision, merged_by = "CHANGES_REQUESTED", u[ADMIN]
    elif scenario == "approved_after_merge":
        reviews.append(approve(writer(), t_merge + timedelta(minutes=rng.randint(10, 120))))
        merged_by = u[ADMIN]  # GitHub's reviewDecision turns APPROVED once the late approval is in
    elif scenario == "changes_requested_then_approved_after_merge":
        a = writer()
        b = writer(a.login)
        t1, t2 = rt(2)
        late = t_merge + timedelta(minutes=rng.randint(10, 120))
        reviews += [approve(a, t1), Review(b, "CHANGES_REQUESTED", t2, head_oid, body="Please fix"), approve(b, late)]
        merged_by = u[ADMIN]
    elif scenario == "approval_dismissed":
        t1, t2 = rt(2)
        r = approve(writer(), t1, state="DISMISSED")
        r.dismissed_by, r.dismissed_at = u[ADMIN], t2
        reviews.append(r)
        decision, merged_by = "REVIEW_REQUIRED", u[ADMIN]
    elif scenario == "non_pusher_approval":
        (t,) = rt(1)
        reviews.append(approve(u[OUTSIDER], t))
        decision, merged_by = "REVIEW_REQUIRED", u[ADMIN]
    elif scenario == "bot_approval":
        (t,) = rt(1)
        r = approve(u["renovate"], t)
        r.author_can_push = True  # an App with contents:write
        reviews.append(r)
    elif scenario == "deleted_reviewer_approval":
        (t,) = rt(1)
        reviews.append(approve(None, t))
    elif scenario == "emergency_label":
        name = rng.choice(("Emergency", "EMERGENCY", "emergency"))
        labels.append(name)
        events.append(LabelEvent(name, "labeled", author, t_merge - timedelta(minutes=rng.randint(2, 90))))
        decision, merged_by = "REVIEW_REQUIRED", u[ADMIN]
    elif scenario == "many_reviews":
        n_reviews = rng.randint(120, 130)
        times = rt(n_reviews)
        approval_at = rng.randint(101, n_reviews - 1)
        who = g.writers(repo, [a.login for a in [author] if a])
        for i, t in enumerate(times):
            if i == approval_at:
                reviews.append(approve(u[who[0]], t))
            else:
                reviews.append(Review(u[rng.choice(who[1:] or who)], "COMMENTED", t, head_oid, body=f"nit {i}"))

    if scenario == "emergency_label_after_merge":
        name = rng.choice(("Emergency", "emergency"))
        labels.append(name)
        events.append(LabelEvent(name, "labeled", u[ADMIN], t_merge + timedelta(minutes=rng.randint(5, 300))))
    elif scenario == "emergency_label_removed_before_merge":
        events.append(LabelEvent("emergency", "labeled", author, t_merge - timedelta(hours=3)))
        events.append(LabelEvent("emergency", "unlabeled", author, t_merge - timedelta(hours=2)))
    if not repo.requires_review and base_ref == repo.default_branch:
        decision = None
    if rng.random() < 0.15:
        extra = rng.choice(("bug", "enhancement", "tech-debt"))
        labels.append(extra)
        events.append(LabelEvent(extra, "labeled", author, span_lo))
    pr = PullRequest(
        repo=repo,
        number=0,
        title=title,
        body=body,
        author=author,
        base_ref=base_ref,
        head_ref=head_ref,
        head_oid=head_oid,
        created_at=created,
        merged_at=merged_at,
        merged_by=merged_by,
        merge_commit_oid=_oid(rng) if merged_at else None,
        state=pr_state,  # type: ignore[arg-type]
        labels=labels,
        label_events=events,
        reviews=reviews,
        review_decision=decision if merged_at else None,
        scenario=scenario,
    )
    if scenario == "ticket_added_after_merge":
        # the title and the description get the ticket afterwards: the verdict stays missing_ticket
        pr.rename(f"{ticket}: {title}", t_merge + timedelta(minutes=rng.randint(5, 600)), author)
        pr.edit_body(f"Refs {ticket}.", t_merge + timedelta(minutes=rng.randint(5, 600)), author)
    elif scenario == "ticket_added_before_merge":
        renamed_at, edited_at = rt(2)
        pr.rename(f"{ticket}: {title}", renamed_at, author)
        pr.edit_body(f"Refs {ticket}.", edited_at, author)
    return pr


def generate_org(
    *,
    seed: int,
    n_prs: int,
    since: datetime,
    until: datetime,
    org: str = "acme",
    repos: int = 6,
    tokens: Iterable[str] = ("test-token",),
    viewer: str = DEFAULT_VIEWER,
    open_fraction: float = 0.05,
    closed_fraction: float = 0.03,
    outside_window: bool = True,
    scenarios: dict[str, float] | None = None,
    index_lag_fraction: float = 0.0,
    index_lag: timedelta = timedelta(minutes=20),
    clock: Callable[[], datetime] | None = None,
) -> GitHubState:
    """A deterministic organisation with ``n_prs`` merged PRs spread over ``[since, until)``.

    Also: PRs merged just before ``since`` (-1 s, -5 min, -2 h) and at/after ``until`` (0, +1 s,
    +3 h) tagged ``outside_window``; open and closed-unmerged PRs. One PR is merged exactly at
    ``since`` and one at ``until - 1 s`` (when ``n_prs >= 2``). Every scenario of ``scenarios``
    (default :data:`SCENARIOS`) appears at least once when ``n_prs`` is large enough.

    ``index_lag_fraction`` of the merged PRs get ``indexed_at = merged_at + U(0, index_lag)``
    (search-index lag; they are visible to search only once ``clock()`` reaches it).
    """
    since, until = _as_utc(since), _as_utc(until)
    if until <= since:
        raise ValueError("until must be after since")
    rng = random.Random(seed)
    weights = scenarios or SCENARIOS
    state = GitHubState(tokens=set(tokens), viewer=viewer)
    if clock is not None:
        state.clock = clock
    for login in (*HUMANS, ADMIN, OUTSIDER, viewer):
        state.add_user(User(login))
    for b in BOTS:
        state.add_user(User(b, "Bot"))
    state.add_org(org)
    specs = list(REPO_SPECS)
    while len(specs) < repos:
        specs.append((f"service-{len(specs)}", "main", False, True, ()))
    repo_objs: list[Repository] = []
    for name, branch, archived, requires, no_push in specs[:repos]:
        pushers = {h for h in HUMANS if h not in no_push} | {ADMIN}
        repo_objs.append(
            state.add_repo(Repository(org, name, branch, archived, True, pushers, requires_review=requires))
        )
    g = _Gen(state, rng, repo_objs)

    names = list(weights)
    forced = [s for s in names if weights[s] > 0][:n_prs] if n_prs >= len(names) else []
    rng.shuffle(forced)
    chosen = forced + rng.choices(names, weights=[weights[s] for s in names], k=n_prs - len(forced))
    span = int((until - since).total_seconds())
    merge_times = [since + timedelta(seconds=rng.randint(0, span - 1)) for _ in range(n_prs)]
    if n_prs >= 2:
        merge_times[0], merge_times[1] = since, until - timedelta(seconds=1)
    prs = [_build_pr(g, s, t, "MERGED") for s, t in zip(chosen, merge_times, strict=True)]
    if index_lag_fraction > 0:
        lag_s = max(1, int(index_lag.total_seconds()))
        for pr in prs:
            if pr.merged_at is not None and rng.random() < index_lag_fraction:
                pr.indexed_at = pr.merged_at + timedelta(seconds=rng.randint(1, lag_s))

    if outside_window:
        for delta in (timedelta(seconds=-1), timedelta(minutes=-5), timedelta(hours=-2)):
            pr = _build_pr(g, "approved", since + delta, "MERGED")
            pr.scenario = "outside_window"
            prs.append(pr)
        for delta in (timedelta(0), timedelta(seconds=1), timedelta(hours=3)):
            pr = _build_pr(g, "approved", until + delta, "MERGED")
            pr.scenario = "outside_window"
            prs.append(pr)
    n_open = max(2, int(n_prs * open_fraction)) if n_prs else 0
    n_closed = max(1, int(n_prs * closed_fraction)) if n_prs else 0
    for kind, k in (("OPEN", n_open), ("CLOSED", n_closed)):
        for _ in range(k):
            pr = _build_pr(g, "approved", None, kind)
            pr.created_at = since + timedelta(seconds=rng.randint(0, span - 1))
            pr.scenario = "open" if kind == "OPEN" else "closed_unmerged"
            for r in pr.reviews:
                r.submitted_at = pr.created_at + timedelta(minutes=30)
            pr.label_events = [LabelEvent(e.label, e.action, e.actor, pr.created_at) for e in pr.label_events]
            if kind == "CLOSED":
                pr.closed_at = pr.created_at + timedelta(hours=5)
            prs.append(pr)

    prs.sort(key=lambda p: (p.created_at, p.head_oid))
    next_number: dict[str, int] = {}
    for pr in prs:
        n = next_number.get(pr.repo.name, 100)
        pr.number = n
        next_number[pr.repo.name] = n + 1
    state.prs.extend(prs)
    state.touch()
    return state


def scenario_counts(state: GitHubState) -> dict[str, int]:
    out: dict[str, int] = {}
    for pr in state.prs:
        out[pr.scenario] = out.get(pr.scenario, 0) + 1
    return out
