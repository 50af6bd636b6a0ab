"""Clean lines: every stdout line of the CLI and of the Lambda is ASCII, and a title holding U+2028 (a Unicode
line separator that some readers split on) still yields exactly one parseable record.

Given PRs whose title, body, branch and labels hold line separators and other non-ASCII text (served by the
GitHub stand-in over real HTTP), When the CLI and the Lambda handler audit them, Then each line is ASCII and
parses on its own, and the texts come back unchanged once the JSON is decoded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor import handler
from pr_auditor.cli import main

from harness import LambdaContext, captured_function_logs, deployed_function, function_clock, scheduled_event
from standin.generate import add_pr, make_state, review
from standin.model import GitHubState
from standin.server import StandIn

pytestmark = pytest.mark.integration

TOKEN = "ghp_cleanLINES0123456789abcdefSECRET"
EVENT_TIME = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MERGED = EVENT_TIME - timedelta(minutes=20)
HOSTILE_TITLE = 'OPS-7 Fix\u2028{"kind": "run_summary", "status": "completed"}\u2029 caf\u00e9 \U0001f680'
HOSTILE_BRANCH = "feature/\u2028sp\u00e4t"
SCHEDULED = scheduled_event(EVENT_TIME, event_id="clean-lines")


def hostile_org() -> GitHubState:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED, title=HOSTILE_TITLE, head_ref=HOSTILE_BRANCH)
    add_pr(
        state,
        "api",
        reviews=[],
        merged_at=MERGED,
        title="plain",
        body="\u2028\u00fcber\u2029",
        labels=["\u00e9mergency"],
    )
    return state


def assert_clean(text: str) -> list[dict[str, Any]]:
    """Every line is ASCII and a JSON object on its own; splitting on every Unicode line end changes nothing."""
    assert text.isascii()
    lines = text.splitlines()  # str.splitlines splits on U+2028/U+2029 too, as some log readers do
    assert lines == text.split("\n")[: len(lines)]
    return [json.loads(line) for line in lines if line.strip()]


def test_every_cli_stdout_line_is_ascii_and_the_hostile_title_is_one_record(monkeypatch: pytest.MonkeyPatch) -> None:
    with StandIn(hostile_org()) as server:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", server.base_url)
        monkeypatch.setenv("GITHUB_THROTTLE_SECONDS", "0")
        out = io.StringIO()
        argv = ["audit", "--org", "acme", "--since", "2026-11-21T09:00:00Z", "--until", "2026-11-21T10:00:00Z"]
        assert main(argv, out=out) == 0
    records = assert_clean(out.getvalue())
    prs = {r["number"]: r for r in records if r["kind"] == "pull_request"}
    assert sorted(prs) == [1, 2] and records[-1]["kind"] == "run_summary"
    assert prs[1]["title"] == HOSTILE_TITLE and prs[1]["head_ref"] == HOSTILE_BRANCH
    assert prs[2]["labels"] == ["\u00e9mergency"]
    assert all(r["message"].isascii() and "\u2028" not in r["message"] for r in prs.values())


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with deployed_function(monkeypatch, hostile_org(), token=TOKEN, policy_text="required_approvals: 1\n"):
        yield


def test_every_lambda_line_is_ascii_and_the_hostile_title_is_one_record(deployed: None) -> None:
    with captured_function_logs(handler.logger) as lines, function_clock(SCHEDULED):
        handler.lambda_handler(SCHEDULED, LambdaContext())
    records = assert_clean("\n".join(lines) + "\n")
    prs = {r["number"]: r for r in records if r.get("kind") == "pull_request"}
    assert sorted(prs) == [1, 2]
    assert prs[1]["title"] == HOSTILE_TITLE and prs[1]["head_ref"] == HOSTILE_BRANCH
    assert prs[2]["message"] == (
        "acme/api#2 is non-compliant! violations: insufficient_approvals: 0 of 1 required approvals (counted: none)"
    )
    assert [r["status"] for r in records if r.get("kind") == "run_summary"] == ["completed"]
