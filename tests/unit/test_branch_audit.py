"""The branch audit's pure decisions as tables, and its runs over a plain-data fake source (no network)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from pr_auditor.audit.branch_audit import audit_branches
from pr_auditor.audit.ports import BranchSource, MemoryState
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
from pr_auditor.core.branch_rules import (
    claimed_exempt_identity,
    is_exempt_pusher,
    is_rewrite,
    newest_first,
    pull_request_commits,
    unexplained_head,
    weaknesses,
)
from pr_auditor.core.policy import policy_from_mapping

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def commit(oid: str, *parents: str, pulls: Sequence[PullRef] = (), committer: str | None = "olivia") -> Commit:
    return Commit(oid, parents, T0, f"https://github.test/c/{oid}", committer, committer, tuple(pulls))


def merged(number: int, merge_commit: str, base: str = "main") -> PullRef:
    return PullRef(number, "MERGED", base, merge_commit)


# Histories newest first, as GitHub lists them; "o" is the last audited head (not among them).
BROUGHT_CASES = [
    pytest.param([commit("s", "o", pulls=[merged(1, "s")])], {"s": 1}, id="squash-merge"),
    pytest.param(
        [commit("m", "o", "b", pulls=[merged(1, "m")]), commit("b", "a", pulls=[merged(1, "m")]), commit("a", "o")],
        {"m": 1, "b": 1, "a": 1},
        id="merge-commit-brings-its-branch",
    ),
    pytest.param(
        [commit("r2", "r1", pulls=[merged(1, "r2")]), commit("r1", "o", pulls=[merged(1, "r2")])],
        {"r2": 1, "r1": 1},
        id="rebase-merge-chain",
    ),
    pytest.param([commit("d", "o")], {}, id="direct-push"),
    pytest.param(
        [commit("s", "d", pulls=[merged(1, "s")]), commit("d", "o")], {"s": 1}, id="push-under-a-squash-merge"
    ),
    pytest.param(
        [commit("r2", "d", pulls=[merged(1, "r2")]), commit("d", "o", pulls=[merged(2, "x")])],
        {"r2": 1},
        id="rebase-chain-stops-at-another-pr",
    ),
    pytest.param([commit("s", "o", pulls=[merged(1, "s", base="release")])], {}, id="merged-into-another-branch"),
    pytest.param([commit("c", "o", pulls=[PullRef(3, "OPEN", "main", None)])], {}, id="open-pr-only"),
    pytest.param([commit("c", "o", pulls=[merged(1, "s")])], {}, id="a-squashed-prs-original-commit"),
    pytest.param(
        [commit("m", "d", "b", pulls=[merged(1, "m")]), commit("b", "d"), commit("d", "o")],
        {"m": 1, "b": 1},
        id="a-push-merged-into-the-pr-branch-stays-a-push",
    ),
]


@pytest.mark.parametrize(("commits", "expected"), BROUGHT_CASES)
def test_which_commits_a_merged_pr_brought_into_the_branch(commits: list[Commit], expected: dict[str, int]) -> None:
    assert pull_request_commits(commits, "main") == expected


@pytest.mark.parametrize(
    ("comparison", "expected"),
    [
        pytest.param(Comparison("ahead", 3, "o"), False, id="ahead"),
        pytest.param(Comparison("identical", 0, "o"), False, id="identical"),
        pytest.param(Comparison("diverged", 1, "b"), True, id="diverged"),
        pytest.param(Comparison("behind", 0, "n"), True, id="behind"),
        pytest.param(None, True, id="old-head-unknown"),
    ],
)
def test_a_rewrite_is_an_old_head_that_is_no_longer_an_ancestor(comparison: Comparison | None, expected: bool) -> None:
    assert is_rewrite(comparison) is expected


@pytest.mark.parametrize(
    ("pusher", "listed", "expected"),
    [
        pytest.param("release-bot", ["release-bot"], True, id="listed"),
        pytest.param("Release-Bot", ["release-bot"], True, id="case-insensitive"),
        pytest.param("release[bot]", ["release"], True, id="bot-suffix"),
        pytest.param("release[bot]", ["Release[Bot]"], True, id="rest-login-listed"),
        pytest.param("release", ["release[bot]"], False, id="a-user-is-not-the-app"),
        pytest.param("olivia", ["release-bot"], False, id="not-listed"),
        pytest.param(None, ["release-bot"], False, id="pusher-unknown"),
    ],
)
def test_exempt_pushers_are_matched_on_who_pushed(pusher: str | None, listed: list[str], expected: bool) -> None:
    rules = policy_from_mapping({"exempt_pushers": listed}).default
    assert is_exempt_pusher(pusher, rules) is expected


@pytest.mark.parametrize(
    ("committer", "pusher", "expected"),
    [
        pytest.param("release", "mallory", "release", id="forged-bot-identity"),
        pytest.param("release[bot]", "mallory", "release[bot]", id="forged-rest-form"),
        pytest.param("release", "release[bot]", None, id="the-bot-itself"),
        pytest.param("olivia", "mallory", None, id="claims-nobody-exempt"),
        pytest.param("release", None, "release", id="pusher-unknown"),
    ],
)
def test_a_commit_claiming_an_exempt_identity_pushed_by_someone_else_says_whose(
    committer: str, pusher: str | None, expected: str | None
) -> None:
    rules = policy_from_mapping({"exempt_pushers": ["release[bot]"]}).default
    assert claimed_exempt_identity(commit("c", "o", committer=committer), pusher, rules) == expected


@pytest.mark.parametrize(
    ("old", "new", "explained", "expected"),
    [
        pytest.param("a", "a", [], False, id="unchanged"),
        pytest.param("a", "b", ["b"], False, id="explained-by-a-push"),
        pytest.param("a", "c", ["b", "c"], False, id="explained-by-the-last-of-several"),
        pytest.param("a", "b", [], True, id="moved-without-activity"),
        pytest.param("a", "c", ["b"], True, id="moved-past-the-activity"),
    ],
)
def test_a_head_change_no_activity_entry_explains_is_a_finding(
    old: str, new: str, explained: list[str], expected: bool
) -> None:
    assert unexplained_head(old, new, explained) is expected


def test_compare_order_is_turned_into_head_first() -> None:
    assert newest_first(["a", "h", "b"], "h") == ["h", "b", "a"]


STRONG = Protection(required_approvals=2, dismiss_stale_reviews=True, admins_included=True)


@pytest.mark.parametrize(
    ("protection", "policy", "expected"),
    [
        pytest.param(STRONG, {"required_approvals": 2}, [], id="meets-policy"),
        pytest.param(
            Protection(0, True, False, True), {"required_approvals": 2}, ["requires 0 approving"], id="too-few"
        ),
        pytest.param(Protection(2, False, False, True), {"required_approvals": 2}, ["not dismissed"], id="stale-kept"),
        pytest.param(
            Protection(2, False, False, True),
            {"required_approvals": 2, "count_stale_approvals": True},
            [],
            id="stale-ok",
        ),
        pytest.param(Protection(2, True, False, False), {"required_approvals": 2}, ["administrators"], id="admins"),
        pytest.param(
            Protection(2, True, False, True, ("team:sre",)), {"required_approvals": 2}, ["team:sre"], id="bypass"
        ),
        pytest.param(Protection(), {"required_approvals": 0}, [], id="policy-needs-nothing"),
    ],
)
def test_protection_weaker_than_the_policy_says_how(
    protection: Protection, policy: dict[str, object], expected: list[str]
) -> None:
    found = weaknesses(protection, policy_from_mapping(policy).default)
    assert len(found) == len(expected)
    for text, fragment in zip(found, expected, strict=True):
        assert fragment in text


# --- runs over a plain-data fake ----------------------------------------------------------------------------


@dataclass
class FakeSource:
    """GitHub as plain data: repositories, activity per branch, histories (newest first), comparisons,
    commits by SHA, protection. ``activity`` None: the server does not serve it (older GHES)."""

    repos: list[RepoHeads]
    histories: dict[str, list[Commit]] = field(default_factory=dict)  # head oid → history from it
    comparisons: dict[tuple[str, str], Comparison | None] = field(default_factory=dict)
    protections: dict[BranchKey, Protection | Unreadable] = field(default_factory=dict)
    activities: dict[BranchKey, list[Activity]] | None = field(default_factory=dict)
    requests: int = 0

    def repositories(
        self, orgs: tuple[str, ...], *, pushed_since: datetime | None, all_branches: Callable[[str], bool]
    ) -> list[RepoHeads]:
        self.requests += 1
        return [r for r in self.repos if pushed_since is None or (r.pushed_at and r.pushed_at >= pushed_since)]

    def activity(
        self, repository: str, branch: str, *, mark: ActivityMark | None, since: datetime | None = None
    ) -> list[Activity] | None:
        self.requests += 1
        if self.activities is None:
            return None
        entries = self.activities.get((repository, branch), [])
        return [a for a in entries if mark is None or a.id > mark.id]

    def walk(self, walks: Sequence[Walk]) -> dict[BranchKey, Walked]:
        self.requests += 1
        return {(w.repository, w.branch): Walked(tuple(self.histories[w.head][: w.limit]), False) for w in walks}

    def commits(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Commit]:
        self.requests += 1
        known = {c.oid: c for history in self.histories.values() for c in history}
        return {(repo, sha): known[sha] for repo, sha in wanted if sha in known}

    def compare(self, repository: str, base: str, head: str, *, commits: bool = False) -> Comparison | None:
        self.requests += 1
        return self.comparisons.get((base, head))

    def protection(self, branches: Sequence[BranchKey]) -> dict[BranchKey, Protection | Unreadable]:
        self.requests += 1
        return {key: self.protections.get(key, STRONG) for key in branches}


def pushed(entry_id: int, before: str, after: str, kind: str = "push", actor: str = "olivia") -> Activity:
    return Activity(entry_id, "main", kind, before, after, actor, T0 + timedelta(minutes=entry_id))


_: BranchSource = FakeSource([])


def repo(head: str, *, pushed: datetime = T0) -> RepoHeads:
    return RepoHeads("acme/api", pushed, "main", {"main": head, "feature/x": head})


POLICY = policy_from_mapping({"required_approvals": 2})


def run(source: FakeSource, state: MemoryState, now: datetime, run_id: str = "r"):  # type: ignore[no-untyped-def]
    audit = audit_branches(("acme",), source=source, policy=POLICY, state=state, run_id=run_id, now=now)
    audit.commit(state)
    return audit


def test_records_come_first_and_heads_move_only_on_commit() -> None:
    # Given a baseline at "o" and a direct push "d" on top of it
    state = MemoryState()
    run(FakeSource([repo("o")]), state, T0)
    source = FakeSource(
        [repo("d", pushed=T0 + timedelta(hours=1))],
        {"d": [commit("d", "o"), commit("o")]},
        {("o", "d"): Comparison("ahead", 1, "o", ("d",))},
        activities={("acme/api", "main"): [pushed(1, "o", "d")]},
    )
    # When the audit runs but its records are never committed (the caller crashed before claiming them)
    first = audit_branches(("acme",), source=source, policy=POLICY, state=state, run_id="r2", now=T0)
    # Then the next run finds the same push again, with the same record_id
    second = run(source, state, T0 + timedelta(hours=2))
    assert [r["sha"] for r in first.records] == [r["sha"] for r in second.records] == ["d"]
    assert first.records[0]["record_id"] == second.records[0]["record_id"]
    assert state.load("head#acme/api#main")[0]["head"] == "d"  # type: ignore[index]


def test_only_in_scope_branches_are_walked() -> None:
    state = MemoryState()
    audit = run(FakeSource([repo("o")]), state, T0)
    assert audit.branches == 1  # the default branch; feature/x is out of scope by default
    assert state.load("head#acme/api#feature/x") == (None, 0)


def test_a_force_push_is_a_rewrite_by_its_pusher_and_its_new_commit_a_direct_push() -> None:
    state = MemoryState()
    run(FakeSource([repo("o")]), state, T0)
    history = [commit("n", "b"), commit("b")]
    source = FakeSource(
        [repo("n", pushed=T0 + timedelta(hours=1))],
        {"n": history},
        {("o", "n"): Comparison("diverged", 1, "b", ("n",))},
        activities={("acme/api", "main"): [pushed(1, "o", "n", "force_push", actor="mallory")]},
    )
    audit = run(source, state, T0 + timedelta(hours=1))
    assert [(r["kind"], r["pusher"]) for r in audit.records] == [
        ("history_rewrite", "mallory"),
        ("direct_push", "mallory"),
    ]
    assert audit.records[1]["sha"] == "n" and audit.records[0]["comparison"] == "diverged"


def test_without_activity_a_diverged_branch_is_judged_by_the_head_walk_from_compare() -> None:
    state = MemoryState()
    run(FakeSource([repo("o")], activities=None), state, T0)
    history = [commit("n", "b"), commit("b")]
    source = FakeSource(
        [repo("n", pushed=T0 + timedelta(hours=1))],
        {"n": history},
        {("o", "n"): Comparison("diverged", 1, "b", ("n",))},
        activities=None,
    )
    audit = run(source, state, T0 + timedelta(hours=1))
    assert [(r["kind"], r["detected_by"], r["pusher"]) for r in audit.records] == [
        ("history_rewrite", "head_walk", None),
        ("direct_push", "head_walk", None),
    ]
    assert len(audit.notes) == 1 and "activity" in audit.notes[0]


def test_protection_is_read_once_a_day() -> None:
    state = MemoryState()
    source = FakeSource([repo("o")])
    run(source, state, T0)
    source.requests = 0
    run(source, state, T0 + timedelta(hours=23))
    assert source.requests == 2  # the listing and main's activity
    run(source, state, T0 + timedelta(hours=24))
    assert source.requests == 4  # listing + protection: not pushed since the last read, no activity to read
