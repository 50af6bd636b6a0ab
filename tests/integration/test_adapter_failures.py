"""Failures GitHub (or what stands in front of it) can cause become our errors: one line, no traceback, and a
run that had started closes with a failed run_summary.

Given the GitHub stand-in answering with a non-numeric ``issueCount``, a redirect, or a token holding a
character no token has, When ``pr-auditor audit`` runs, Then it exits non-zero with one ``pr-auditor: error:``
line on stderr, no traceback, and (for a run that started) a failed run_summary on stdout.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pr_auditor.cli import main
from pr_auditor.core.errors import MalformedAnswerError, RedirectedError
from pr_auditor.core.model import Window
from pr_auditor.github import Connection, open_source

from standin.generate import add_pr, make_state, review
from standin.model import Fault, GitHubState
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_failuresTOKEN0123456789abcdef"
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW_ARGS = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"]


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubState]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    add_pr(state, "api", reviews=[review("bob")], merged_at=SINCE + timedelta(hours=3))
    with StandIn(state) as server:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", server.base_url)
        monkeypatch.setenv("GITHUB_THROTTLE_SECONDS", "0")
        monkeypatch.setenv("GITHUB_BACKOFF_SECONDS", "0.01")
        yield state


@pytest.mark.parametrize(
    ("fault", "token", "code", "message"),
    [
        (
            Fault("malformed_count", times=10),
            TOKEN,
            1,
            "malformed answer from GitHub: field 'issueCount' is not a whole number",
        ),
        (
            Fault("redirect", status=301, match="graphql"),
            TOKEN,
            1,
            "GitHub answered with a redirect, which is not followed",
        ),
        (
            Fault("redirect", status=307, location="https://elsewhere.example/api/graphql", match="graphql"),
            TOKEN,
            1,
            "GitHub answered with a redirect, which is not followed; check GITHUB_API_URL",
        ),
        (None, "ghp_\u2603snowman", 2, "GitHub token: contains a character a token never has"),
        (None, "ghp_caf\u00e9", 2, "GitHub token: contains a character a token never has"),
        (None, "ghp_line\nbreak", 2, "GitHub token: contains a character a token never has"),
    ],
    ids=[
        "non-numeric-issue-count",
        "redirect-301",
        "redirect-307",
        "token-non-latin-1",
        "token-non-ascii",
        "token-line-end",
    ],
)
def test_a_failure_from_github_is_one_line_without_traceback(
    github: GitHubState,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: Fault | None,
    token: str,
    code: int,
    message: str,
) -> None:
    state = github
    if fault is not None:
        state.faults.add(fault)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    out = io.StringIO()
    got = main(["audit", "--org", "acme", *WINDOW_ARGS], out=out)
    err = capsys.readouterr().err
    assert got == code
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("pr-auditor: error:")]
    assert message in line
    assert token not in err and "elsewhere.example" not in err
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    if code == 1:  # the run had started: it closes with a failed run_summary naming the error
        [summary] = records
        assert (summary["kind"], summary["status"]) == ("run_summary", "failed")
        assert message in summary["error"]["message"]
    else:  # bad input: nothing reached GitHub
        assert records == [] and state.count() == 0


def test_a_redirect_is_not_retried(github: GitHubState) -> None:
    state = github
    state.faults.add(Fault("redirect", status=302, times=5, match="graphql"))
    connection = Connection(api_url=state_url(state), throttle_seconds=0, retries=2, backoff_seconds=0.01)
    window = Window(SINCE, SINCE + timedelta(days=1))
    with pytest.raises(RedirectedError):
        list(open_source(TOKEN, connection).merged_pull_requests(("acme",), window))
    assert state.count("graphql") == 1


def test_a_non_numeric_issue_count_is_retried_then_reported_as_malformed(github: GitHubState) -> None:
    state = github
    state.faults.add(Fault("malformed_count", times=1))
    connection = Connection(api_url=state_url(state), throttle_seconds=0, retries=1, backoff_seconds=0.01)
    window = Window(SINCE, SINCE + timedelta(days=1))
    # a single bad answer is retried and the window still read
    assert len(list(open_source(TOKEN, connection).merged_pull_requests(("acme",), window))) == 1
    state.faults.add(Fault("malformed_count", times=10))
    with pytest.raises(MalformedAnswerError):
        list(open_source(TOKEN, connection).merged_pull_requests(("acme",), window))


def state_url(state: GitHubState) -> str:
    """The stand-in's REST base, as the fixture exported it."""
    return os.environ["GITHUB_API_URL"]
