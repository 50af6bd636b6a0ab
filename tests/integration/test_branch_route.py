"""The branch audit through the deployed path, in-process: scheduled event → real Lambda handler → GitHub
stand-in (HTTP: branch heads, history, compare, protection) → records in CloudWatch Logs (moto) → the evidence
bucket (moto S3) → the template's metric filters and alarms → one message per finding on the ops queue
(SNS → SQS, moto's own).

Simulated hops, as in test_lambda_route.py: metric filters producing metrics (the template's own patterns are
evaluated on the logged records) and alarm evaluation (``alarms_in_alarm``). See docs/branch-audit.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from pr_auditor import handler
from scheduled_runs import Deployment

from harness import (
    aws_environment,
    deploy,
    function_environment,
    metric_values,
)
from standin.generate import make_state
from standin.git import force_push, history, init_branch, merge_pr, push
from standin.model import BranchRule
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_branchROUTE0123456789abcdefSECRET"
POLICY = 'required_approvals: 1\nexempt_pushers: ["release[bot]"]\n'
FIRST_RUN = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    aws_environment()
    clock = [FIRST_RUN - timedelta(days=60)]
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,), clock=lambda: clock[0])
    repo = state.orgs["acme"][0]
    init_branch(state, repo, at=clock[0])
    repo.branch_rules.append(BranchRule("main", required_approvals=2, dismiss_stale=True, admin_enforced=True))
    with StandIn(state) as server, mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()  # boto3 clients must be created inside this moto context
        route = deploy(token=TOKEN, policy_text=POLICY)
        for key, value in function_environment(route, server.base_url, GITHUB_BACKOFF_SECONDS="0.01").items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])  # the function's clock is the test's
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        yield Deployment(state, route, clock)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()


def test_a_direct_push_backdated_a_month_is_recorded_archived_alarmed_and_sent_to_ops_once(
    world: Deployment,
) -> None:
    # Given a first scheduled run, which takes today's head as its baseline and finds main's protection fine
    first = world.scheduled_run(FIRST_RUN)
    assert first.error is None
    assert first.of_kind("direct_push") == []
    assert [(r["status"], r["verdict"]) for r in first.of_kind("protection")] == [("first_seen", "compliant")]
    assert world.findings() == []
    # When, during the next hour, a PR is squash-merged and an admin pushes a commit dated a month back
    world.at(FIRST_RUN + timedelta(minutes=10))
    merge_pr(world.state, world.repo, style="squash", at=FIRST_RUN + timedelta(minutes=10))
    pushed_at = FIRST_RUN + timedelta(minutes=25)
    world.at(pushed_at)
    (sha,) = push(world.state, world.repo, author="olivia-admin", at=pushed_at - timedelta(days=31))
    second = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the next scheduled run records exactly that commit as a direct push (and the PR as a PR)
    assert second.error is None
    (record,) = second.of_kind("direct_push")
    assert (record["repository"], record["branch"], record["sha"]) == ("acme/api", "main", sha)
    assert record["verdict"] == "non_compliant" and record["violations"][0]["code"] == "no_pull_request"
    assert record["committed_date"] == "2026-10-21T10:25:00Z"  # dated a month back: the head walk finds it anyway
    assert [r["verdict"] for r in second.of_kind("pull_request")] == ["compliant"]
    # And it is in the evidence bucket, read back through the manifests
    archived = [r for r in world.archived() if r.get("kind") == "direct_push"]
    assert [r["record_id"] for r in archived] == [record["record_id"]]
    assert archived[0] == {key: value for key, value in record.items() if key in archived[0]}
    # And one message for it reaches the ops queue, with attributes a subscription can filter on
    (message,) = world.findings()
    assert message["attributes"]["kind"] == "direct_push"
    assert message["attributes"]["verdict"] == "non_compliant"
    assert message["attributes"]["repository"] == "acme/api"
    assert message["alarm"]["record_id"] == record["record_id"] and message["alarm"]["sha"] == sha
    # And the template's filter counts it and its alarm fires (nothing else does)
    assert metric_values(world.route, second.events)["DirectPushes"] == 1
    assert world.firing(second) == {"DirectPushAlarm"}
    # And an hour later, nothing new: the push is recorded once and sent once
    third = world.scheduled_run(FIRST_RUN + timedelta(hours=2))
    assert third.error is None
    assert third.of_kind("direct_push") == []
    assert world.findings() == []
    assert [r["sha"] for r in world.archived() if r.get("kind") == "direct_push"] == [sha]


def test_a_force_push_gives_one_history_rewrite_through_the_handler(world: Deployment) -> None:
    # Given two commits pushed and audited
    base = world.repo.branches["main"]
    world.scheduled_run(FIRST_RUN)
    world.at(FIRST_RUN + timedelta(minutes=5))
    pushed = push(world.state, world.repo, n=2)
    assert sorted(r["sha"] for r in world.scheduled_run(FIRST_RUN + timedelta(hours=1)).of_kind("direct_push")) == (
        sorted(pushed)
    )
    world.findings()
    # When someone force-pushes main back onto the old base with one new commit
    world.at(FIRST_RUN + timedelta(hours=1, minutes=5))
    new_head = force_push(world.state, world.repo, onto=base, n=1)
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=2))
    # Then one history_rewrite names the old and the new head, and the new commit is a direct push
    assert run.error is None
    (rewrite,) = run.of_kind("history_rewrite")
    assert rewrite["old_head"] == pushed[-1] and rewrite["new_head"] == new_head
    assert rewrite["comparison"] == "diverged" and rewrite["violations"][0]["code"] == "force_push"
    assert [r["sha"] for r in run.of_kind("direct_push")] == [new_head]
    # And ops get one message for each, the rewrite's alarm fires, and both are archived
    assert sorted(m["attributes"]["kind"] for m in world.findings()) == ["direct_push", "history_rewrite"]
    assert metric_values(world.route, run.events)["HistoryRewrites"] == 1
    assert world.firing(run) == {"DirectPushAlarm", "HistoryRewriteAlarm"}
    assert rewrite["record_id"] in {r.get("record_id") for r in world.archived()}
    # And the next run takes the new head as given
    assert world.scheduled_run(FIRST_RUN + timedelta(hours=3)).of_kind("history_rewrite") == []


def test_protection_lowered_from_two_reviews_to_none_gives_one_weaker_protection_record(world: Deployment) -> None:
    # Given main protected by two required reviews, first seen by the first run
    world.scheduled_run(FIRST_RUN)
    # When an admin drops the required reviews to none, and the daily protection check comes round
    world.repo.branch_rules[0].required_approvals = 0
    run = world.scheduled_run(FIRST_RUN + timedelta(days=1))
    # Then one protection record says it changed, old → new, and is weaker than the policy
    assert run.error is None
    (record,) = run.of_kind("protection")
    assert record["status"] == "changed" and record["verdict"] == "non_compliant"
    assert record["weaker_than_policy"] is True
    assert (record["previous"]["required_approvals"], record["protection"]["required_approvals"]) == (2, 0)
    assert record["violations"][0]["code"] == "weak_protection"
    # And its alarm fires, ops get one message, and the evidence bucket has it
    assert metric_values(world.route, run.events)["WeakerProtection"] == 1
    assert world.firing(run) == {"WeakerProtectionAlarm"}
    (message,) = world.findings()
    assert message["attributes"]["kind"] == "protection" and message["alarm"]["record_id"] == record["record_id"]
    assert record["record_id"] in {r.get("record_id") for r in world.archived()}
    # And the next day's check, with nothing changed, records nothing
    assert world.scheduled_run(FIRST_RUN + timedelta(days=2)).of_kind("protection") == []


# --- who pushed: GitHub's repository activity, over several scheduled runs ------------------------------------


def test_a_push_forging_the_release_bots_identity_is_non_compliant_and_says_whose_identity_it_claimed(
    world: Deployment,
) -> None:
    # Given a first run, and a policy that exempts the release bot's pushes
    assert world.scheduled_run(FIRST_RUN).error is None
    # When the bot pushes a release commit, and mallory pushes a commit whose identities claim to be the bot
    world.at(FIRST_RUN + timedelta(minutes=10))
    (released,) = push(world.state, world.repo, author="release[bot]", committer="release[bot]", pusher="release[bot]")
    world.at(FIRST_RUN + timedelta(minutes=20))
    (forged,) = push(world.state, world.repo, author="release[bot]", committer="release[bot]", pusher="mallory")
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the bot's own push is exempt, by who pushed it
    assert run.error is None
    by_sha = {r["sha"]: r for r in run.of_kind("direct_push")}
    assert set(by_sha) == {released, forged}
    assert (by_sha[released]["verdict"], by_sha[released]["pusher"]) == ("exempt", "release[bot]")
    # And mallory's is non-compliant: the record names the pusher and the identity the commit claimed
    record = by_sha[forged]
    assert (record["verdict"], record["pusher"], record["detected_by"]) == ("non_compliant", "mallory", "activity")
    assert record["claimed_identity"] == "release[bot]"  # the name git wrote; GitHub links no account to it
    assert "claims to be" in record["violations"][0]["detail"] and "mallory" in record["violations"][0]["detail"]
    assert record["pushed_at"] == "2026-11-21T10:20:00Z"
    # And ops get one message, for the forged push only, and the push alarm fires
    (message,) = world.findings()
    assert message["alarm"]["sha"] == forged
    assert "DirectPushAlarm" in world.firing(run)
    # And the next run has nothing new to say
    assert world.scheduled_run(FIRST_RUN + timedelta(hours=2)).of_kind("direct_push") == []


def test_a_push_undone_within_the_hour_is_still_a_direct_push_and_its_undoing_a_rewrite_by_the_pusher(
    world: Deployment,
) -> None:
    # Given a first run with main at its baseline
    base = world.repo.branches["main"]
    assert world.scheduled_run(FIRST_RUN).error is None
    # When mallory pushes straight to main, then force-pushes main back five minutes later
    world.at(FIRST_RUN + timedelta(minutes=10))
    (undone,) = push(world.state, world.repo, author="mallory", pusher="mallory")
    world.at(FIRST_RUN + timedelta(minutes=15))
    force_push(world.state, world.repo, onto=base, n=0, pusher="mallory")
    assert world.repo.branches["main"] == base  # the next run sees an unchanged head
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the push is a direct push all the same (its commit read by SHA), and the undoing a history rewrite
    assert run.error is None
    (push_record,) = run.of_kind("direct_push")
    assert (push_record["sha"], push_record["pusher"], push_record["verdict"]) == (undone, "mallory", "non_compliant")
    (rewrite,) = run.of_kind("history_rewrite")
    assert (rewrite["old_head"], rewrite["new_head"], rewrite["pusher"]) == (undone, base, "mallory")
    assert rewrite["detected_by"] == "activity" and rewrite["comparison"] == "behind"
    assert run.of_kind("head_change") == []  # the activity explains everything
    # And both reach ops and the evidence bucket, and the next run repeats neither
    assert sorted(m["attributes"]["kind"] for m in world.findings()) == ["direct_push", "history_rewrite"]
    archived = {r.get("record_id") for r in world.archived()}
    assert {push_record["record_id"], rewrite["record_id"]} <= archived
    later = world.scheduled_run(FIRST_RUN + timedelta(hours=2))
    assert later.of_kind("direct_push") == later.of_kind("history_rewrite") == []


def backdated_beside_a_merge(world: Deployment) -> tuple[str, str]:
    """A push dated before the audited head, then a PR branched from that head merged with a merge commit:
    ``git log`` from the merge lists the old head before the backdated push. Returns (old head, push)."""
    old = world.repo.branches["main"]
    world.at(FIRST_RUN + timedelta(minutes=10))
    (backdated,) = push(world.state, world.repo, author="olivia-admin", at=FIRST_RUN - timedelta(days=90))
    world.at(FIRST_RUN + timedelta(minutes=20))
    pr = merge_pr(world.state, world.repo, style="merge", branched_from=old, at=FIRST_RUN + timedelta(minutes=20))
    order = history(world.repo, pr.merge_commit_oid or "")
    assert order.index(old) < order.index(backdated)  # the trap: a walk stopping at the old head misses it
    return old, backdated


def test_a_backdated_commit_beside_a_merge_commit_is_judged(world: Deployment) -> None:
    # Given a first run, then a backdated push and a PR merged with a merge commit beside it
    assert world.scheduled_run(FIRST_RUN).error is None
    _, backdated = backdated_beside_a_merge(world)
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the backdated commit is a direct push (from the activity and compare), the PR is a PR
    assert run.error is None
    assert [(r["sha"], r["detected_by"]) for r in run.of_kind("direct_push")] == [(backdated, "activity")]
    assert [r["verdict"] for r in run.of_kind("pull_request")] == ["compliant"]
    assert run.of_kind("head_change") == []
    # And the next run moves on without a second word about it
    assert world.scheduled_run(FIRST_RUN + timedelta(hours=2)).of_kind("direct_push") == []


def test_an_older_enterprise_server_without_activity_falls_back_to_the_head_walk_and_says_so_once(
    world: Deployment,
) -> None:
    # Given a server that answers 404 for repository activity (an older GitHub Enterprise Server)
    world.state.activity_served = False
    assert world.scheduled_run(FIRST_RUN).error is None
    # When a backdated push lands beside a merge commit
    _, backdated = backdated_beside_a_merge(world)
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the head walk still finds it (commits from compare, not a walk that stops at the old head)
    assert run.error is None
    (record,) = run.of_kind("direct_push")
    assert (record["sha"], record["detected_by"], record["pusher"]) == (backdated, "head_walk", None)
    assert record["pushed_at"] is None
    # And the run summary says once that activity is not served, and no head change is called unexplained
    notes = [note for r in run.of_kind("run_summary") for note in r.get("notes", [])]
    assert len(notes) == 1 and "repository activity" in notes[0]
    assert run.of_kind("head_change") == []
    # And the next run, with nothing new, records nothing
    assert world.scheduled_run(FIRST_RUN + timedelta(hours=2)).of_kind("direct_push") == []


def test_a_head_change_no_activity_entry_explains_is_a_finding_and_its_commits_are_judged(
    world: Deployment,
) -> None:
    # Given a first run
    assert world.scheduled_run(FIRST_RUN).error is None
    # When main moves but GitHub's activity has no entry for it (lagging, or lost)
    world.at(FIRST_RUN + timedelta(minutes=10))
    (sha,) = push(world.state, world.repo)
    world.repo.activity.pop()
    run = world.scheduled_run(FIRST_RUN + timedelta(hours=1))
    # Then the unexplained move is a finding of its own, and the head walk still judges the commit
    (change,) = run.of_kind("head_change")
    assert change["violations"][0]["code"] == "unexplained_head_change" and change["new_head"] == sha
    assert [(r["sha"], r["detected_by"]) for r in run.of_kind("direct_push")] == [(sha, "head_walk")]
    # And ops get a message for each, and the evidence bucket keeps the head change
    assert sorted(m["attributes"]["kind"] for m in world.findings()) == ["direct_push", "head_change"]
    assert change["record_id"] in {r.get("record_id") for r in world.archived()}
