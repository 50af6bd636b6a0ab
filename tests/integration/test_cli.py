"""`pr-auditor audit` against the stand-in: records on stdout, one-line errors and exit codes for bad input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pr_auditor.aws.state_table import StateTable
from pr_auditor.cli import main

from harness import REGION, aws_environment, create_state_table
from policy_cases import MALFORMED
from standin.generate import generate_org
from standin.git import init_branch, push
from standin.model import GitHubState
from standin.server import StandIn
from template_model import load_template

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)
WINDOW_ARGS = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"]


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubState, StandIn]]:
    state = generate_org(seed=11, n_prs=150, since=SINCE, until=UNTIL, tokens=("cli-token",))
    with StandIn(state) as server:
        monkeypatch.setenv("GITHUB_TOKEN", "cli-token")
        monkeypatch.setenv("GITHUB_API_URL", server.base_url)
        monkeypatch.setenv("GITHUB_THROTTLE_SECONDS", "0")
        yield state, server


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]], str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], capsys.readouterr().err


def test_audit_prints_one_record_per_pr_merged_in_the_window_and_none_outside(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state, _ = github
    (tmp_path / "all-branches.yaml").write_text("branches: ['*']\n")
    policy_everything = ["--policy", str(tmp_path / "all-branches.yaml")]
    code, records, err = run(["audit", "--org", "acme", *WINDOW_ARGS, *policy_everything], capsys)
    assert code == 0
    inside = {(p.repo.full_name, p.number) for p in state.prs if p.merged_at and SINCE <= p.merged_at < UNTIL}
    outside = {(p.repo.full_name, p.number) for p in state.prs if p.merged_at and not SINCE <= p.merged_at < UNTIL}
    assert outside  # the generator puts PRs just before and at the window's edges
    printed = [(r["repository"], r["number"]) for r in records if r["kind"] == "pull_request"]
    assert sorted(printed) == sorted(inside)
    assert records[-1]["kind"] == "run_summary"
    assert "done:" in err  # progress on stderr, never on stdout


@pytest.mark.parametrize(
    ("argv", "env", "code", "message"),
    [
        (
            ["audit", "--org", "nope-org", *WINDOW_ARGS],
            {},
            1,
            "unknown organisation or not visible to this token: nope-org",
        ),
        (
            ["audit", "--org", "acme", *WINDOW_ARGS],
            {"GITHUB_TOKEN": "bad"},
            1,
            "GitHub rejected the token (401 Bad credentials)",
        ),
        (
            ["audit", "--org", "acme", "--since", "2026-11-21", "--until", "2026-11-20"],
            {},
            2,
            "since (2026-11-21) must be before until (2026-11-20)",
        ),
        (
            ["audit", "--org", "acme", "--since", "last tuesday", "--until", "2026-11-20"],
            {},
            2,
            "since: not an ISO-8601",
        ),
        (["audit", "--org", "acme", *WINDOW_ARGS], {"GITHUB_TOKEN": ""}, 2, "GITHUB_TOKEN is not set"),
        (["audit", "--org", "bad org!", *WINDOW_ARGS], {}, 2, "'bad org!' is not a valid GitHub organisation login"),
        (["audit", *WINDOW_ARGS], {}, 2, "the following arguments are required: --org"),
    ],
    ids=["unknown-org", "bad-token", "since-after-until", "unparseable-date", "no-token", "bad-org-name", "no-org"],
)
def test_bad_input_is_one_line_and_non_zero(
    github: tuple[GitHubState, StandIn],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    code: int,
    message: str,
) -> None:
    state, _ = github
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    got, records, err = run(argv, capsys)
    assert got == code
    # a run that started and failed closes with a failed run_summary, as the Lambda's does; bad input has none
    assert [(r["kind"], r["status"]) for r in records] == ([("run_summary", "failed")] if code == 1 else [])
    [line] = [line for line in err.splitlines() if line.startswith("pr-auditor: error:")]
    assert message in line
    if code == 2:
        assert state.count() == 0  # bad input never reaches GitHub


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_policy_file_is_rejected_naming_the_key_before_any_github_request(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    state, _ = github
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    code, records, err = run(["audit", "--org", "acme", *WINDOW_ARGS, "--policy", str(policy)], capsys)
    assert (code, records) == (2, [])
    [line] = err.splitlines()
    assert line.startswith(f"pr-auditor: error: {policy}: ")
    assert re.search(message, line.removeprefix(f"pr-auditor: error: {policy}: "))
    assert state.count() == 0


def test_the_installed_console_script_runs_the_same_audit(github: tuple[GitHubState, StandIn]) -> None:
    script = Path(sys.executable).with_name("pr-auditor")
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(script), "audit", "--org", "acme", *WINDOW_ARGS, "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1]["kind"] == "run_summary"
    assert lines[-1]["counts"]["audited"] == len(lines) - 1
    assert "cli-token" not in done.stdout + done.stderr


def test_backfill_records_every_pr_of_the_period_once_in_chunks(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    state, _ = github
    args = ["backfill", "--org", "acme", "--since", "2026-11-19T12:00:00Z", "--until", "2026-11-21T12:00:00Z"]
    code, records, err = run([*args, "--chunk-hours", "12"], capsys)
    assert code == 0
    summaries = [r for r in records if r["kind"] == "run_summary"]
    assert len(summaries) == 4
    assert all(s["status"] == "completed" for s in summaries)
    printed = [(r["repository"], r["number"]) for r in records if r["kind"] == "pull_request"]
    in_scope_inside = {
        (p.repo.full_name, p.number)
        for p in state.prs
        if p.merged_at
        and datetime(2026, 11, 19, 12, tzinfo=UTC) <= p.merged_at < datetime(2026, 11, 21, 12, tzinfo=UTC)
        and p.base_ref == p.repo.default_branch
    }
    assert sorted(printed) == sorted(in_scope_inside)
    assert "no --state-table" in err


def test_backfill_with_the_state_table_skips_what_the_stack_recorded_and_claims_nothing(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    aws_environment()
    with mock_aws():
        name = create_state_table(load_template()["Resources"]["AuditStateTable"]["Properties"], "cli-state")
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        # Given the stack's function already recorded the first half of the period's changes
        baseline_code, baseline, _ = run(["audit", "--org", "acme", *WINDOW_ARGS], capsys)
        prs = [r for r in baseline if r["kind"] == "pull_request"]
        stack = StateTable(name, client=dynamodb)
        for record in prs[: len(prs) // 2]:
            assert stack.claim(record, notify=False, now=datetime(2026, 11, 21, tzinfo=UTC))
        items_before = dynamodb.scan(TableName=name, Select="COUNT")["Count"]
        # When an operator backfills the same period against the stack's table, twice
        args = ["backfill", "--org", "acme", *WINDOW_ARGS, "--state-table", name]
        first_code, first, first_err = run(args, capsys)
        second_code, second, _ = run(args, capsys)
        items_after = dynamodb.scan(TableName=name, Select="COUNT")["Count"]
    assert (baseline_code, first_code, second_code) == (0, 0, 0)
    assert len(prs) > 100
    # Then it prints only what the stack has not recorded, says how many it skipped, and writes nothing
    recorded_by_stack = {r["record_id"] for r in prs[: len(prs) // 2]}
    printed = [r["record_id"] for r in first if r["kind"] == "pull_request"]
    assert sorted(printed) == sorted({r["record_id"] for r in prs} - recorded_by_stack)
    assert f"{len(recorded_by_stack)} change(s) already recorded by the stack's function were skipped" in first_err
    assert [r["record_id"] for r in second if r["kind"] == "pull_request"] == printed  # nothing was claimed
    assert items_after == items_before == len(recorded_by_stack)


def test_audit_reports_the_pushes_made_in_the_window_with_who_pushed_whatever_the_commit_dates(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a repository whose default branch gets a push before the window, and one inside it whose commit
    # claims to be dated a month before the window
    state, _ = github
    repo = state.orgs["acme"][0]
    clock = [SINCE - timedelta(days=2)]
    state.clock = lambda: clock[0]
    init_branch(state, repo, at=clock[0])
    (before,) = push(state, repo, pusher="alice")
    clock[0] = SINCE + timedelta(hours=3)
    (inside,) = push(state, repo, author="alice", at=SINCE - timedelta(days=30), pusher="mallory")
    # When the CLI audits the window
    code, records, _ = run(["audit", "--org", "acme", *WINDOW_ARGS], capsys)
    # Then the push made in the window is reported with who pushed it and when; the earlier one is not
    assert code == 0
    pushes = [(r["sha"], r["pusher"], r["pushed_at"], r["detected_by"]) for r in records if r["kind"] == "direct_push"]
    assert pushes == [(inside, "mallory", "2026-11-20T03:00:00Z", "activity")]
    assert before not in {r.get("sha") for r in records}
