"""The organisation generator and the small builders."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from standin import SCENARIOS, GitHubState, add_pr, generate_org, make_state, review, scenario_counts

SINCE = datetime(2024, 6, 1, tzinfo=UTC)
UNTIL = datetime(2024, 7, 1, tzinfo=UTC)


def fingerprint(state: GitHubState) -> list[tuple[object, ...]]:
    return [
        (
            p.repo.full_name,
            p.number,
            p.title,
            p.head_oid,
            p.merged_at,
            p.scenario,
            p.author.login if p.author else None,
            tuple((r.author.login if r.author else None, r.state, r.commit_oid) for r in p.reviews),
        )
        for p in state.prs
    ]


def test_deterministic_by_seed() -> None:
    a = generate_org(seed=3, n_prs=300, since=SINCE, until=UNTIL)
    b = generate_org(seed=3, n_prs=300, since=SINCE, until=UNTIL)
    c = generate_org(seed=4, n_prs=300, since=SINCE, until=UNTIL)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_5000_prs_fast_and_window() -> None:
    t0 = time.perf_counter()
    state = generate_org(seed=1, n_prs=5000, since=SINCE, until=UNTIL)
    assert time.perf_counter() - t0 < 2.0
    in_window = [p for p in state.prs if p.merged_at is not None and SINCE <= p.merged_at < UNTIL]
    assert len(in_window) == 5000
    assert min(p.merged_at for p in in_window) == SINCE  # type: ignore[type-var]
    outside = [p for p in state.prs if p.scenario == "outside_window"]
    assert {p.merged_at for p in outside} == {
        SINCE - timedelta(seconds=1),
        SINCE - timedelta(minutes=5),
        SINCE - timedelta(hours=2),
        UNTIL,
        UNTIL + timedelta(seconds=1),
        UNTIL + timedelta(hours=3),
    }
    assert any(p.state == "OPEN" for p in state.prs)
    assert any(p.state == "CLOSED" for p in state.prs)
    assert all(p.merged_at is None for p in state.prs if p.state != "MERGED")
    counts = scenario_counts(state)
    assert set(SCENARIOS) <= set(counts)
    keys = [(p.repo.name, p.number) for p in state.prs]
    assert len(keys) == len(set(keys))


def test_scenario_facts() -> None:
    state = generate_org(seed=5, n_prs=400, since=SINCE, until=UNTIL)
    by = {s: [p for p in state.prs if p.scenario == s] for s in SCENARIOS}
    branches = {r.name: r.default_branch for r in state.orgs["acme"]}
    assert {"master", "develop", "main"} <= set(branches.values())
    assert any(r.archived for r in state.orgs["acme"])
    many = by["many_reviews"][0]
    assert len(many.reviews) >= 120
    assert [r.state for r in many.reviews].index("APPROVED") >= 100
    stale = by["stale_approval"][0]
    assert stale.reviews[0].commit_oid != stale.head_oid
    assert all(p.base_ref != branches[p.repo.name] for p in by["release_branch"])
    after = by["emergency_label_after_merge"][0]
    assert after.label_events[0].at > after.merged_at  # type: ignore[operator]
    at_merge = by["emergency_label"][0]
    assert at_merge.labels[0].lower() == "emergency"
    assert by["dependabot_pr"][0].author is not None and by["dependabot_pr"][0].author.type == "Bot"
    assert by["deleted_reviewer_approval"][0].reviews[0].author is None
    assert by["admin_bypass"][0].review_decision == "REVIEW_REQUIRED"
    non_pusher = by["non_pusher_approval"][0]
    assert not non_pusher.review_author_can_push(non_pusher.reviews[0])
    cr = by["changes_requested"][0]
    assert [r.state for r in cr.reviews] == ["APPROVED", "CHANGES_REQUESTED"]


def test_builders() -> None:
    state = make_state(repos=("app", "web"))
    pr = add_pr(state, "web", reviews=[review("bob"), review("dependabot[bot]", "COMMENTED"), review(None)])
    assert pr.number == 1
    assert pr.repo.name == "web"
    assert [r.commit_oid for r in pr.reviews] == [pr.head_oid] * 3
    assert pr.reviews[1].author is not None and pr.reviews[1].author.type == "Bot"
    assert pr.reviews[1].author.login == "dependabot"
    assert pr.reviews[2].author is None
    assert state.get_pr("acme", "web", 1) is pr
    open_pr = add_pr(state, merged_at=None)
    assert open_pr.state == "OPEN" and open_pr.merge_commit_oid is None


def test_index_lag_option() -> None:
    state = generate_org(seed=2, n_prs=200, since=SINCE, until=UNTIL, index_lag_fraction=0.5)
    lagged = [p for p in state.prs if p.indexed_at is not None]
    assert 50 < len(lagged) < 150
    assert all(p.merged_at is not None and p.merged_at < p.indexed_at for p in lagged)


def test_history_after_the_merge_scenarios() -> None:
    state = generate_org(seed=5, n_prs=400, since=SINCE, until=UNTIL)
    by = {s: [p for p in state.prs if p.scenario == s] for s in SCENARIOS}
    late = by["approved_after_merge"][0]
    assert [r.submitted_at > late.merged_at for r in late.reviews] == [True]  # type: ignore[operator]
    flipped = by["changes_requested_then_approved_after_merge"][0]
    assert [r.state for r in flipped.reviews] == ["APPROVED", "CHANGES_REQUESTED", "APPROVED"]
    assert flipped.reviews[1].author is flipped.reviews[2].author
    assert flipped.reviews[2].submitted_at > flipped.merged_at  # type: ignore[operator]
    after = by["ticket_added_after_merge"][0]
    assert after.title_renames[0].at > after.merged_at and after.body_history[-1].at > after.merged_at  # type: ignore[operator]
    before = by["ticket_added_before_merge"][0]
    assert before.title_renames[0].at < before.merged_at and before.body_history[-1].at < before.merged_at  # type: ignore[operator]
    assert before.body_history[0].text == "No ticket."  # the description it was opened with
