"""The CLI's finish: --version, plain help naming the environment and exit codes, readable progress, a
progress bar that log lines do not overwrite, and GITHUB_RETRIES counted at the stand-in."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest

from pr_auditor.cli import main

from standin.generate import generate_org
from standin.model import Fault, GitHubState
from standin.server import StandIn

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)
WINDOW_ARGS = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"]


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHubState, StandIn]]:
    state = generate_org(seed=5, n_prs=40, since=SINCE, until=UNTIL, tokens=("cli-token",))
    with StandIn(state) as server:
        monkeypatch.setenv("GITHUB_TOKEN", "cli-token")
        monkeypatch.setenv("GITHUB_API_URL", server.base_url)
        monkeypatch.setenv("GITHUB_THROTTLE_SECONDS", "0")
        monkeypatch.setenv("GITHUB_BACKOFF_SECONDS", "0")
        yield state, server


def pr_auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "pr_auditor.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_version_prints_the_installed_distributions_version() -> None:
    done = pr_auditor("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"pr-auditor {version('pr-auditor')}"


GITHUB_VARIABLES = (
    "GITHUB_TOKEN",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_APP_PRIVATE_KEY_FILE",
    "GITHUB_API_URL",
    "GITHUB_THROTTLE_SECONDS",
    "GITHUB_RETRIES",
    "GITHUB_BACKOFF_SECONDS",
    "GITHUB_MAX_WAIT_SECONDS",
)
AWS_VARIABLES = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.mark.parametrize(
    ("command", "reads", "ignores", "codes"),
    [
        pytest.param([], (*GITHUB_VARIABLES, "STATE_TABLE", *AWS_VARIABLES), (), ("0  the audit completed", "1  GitHub", "2  bad input"), id="top"),
        pytest.param(["audit"], GITHUB_VARIABLES, ("STATE_TABLE", "AWS_"), ("0  the audit completed", "1  GitHub", "2  bad input"), id="audit"),
        pytest.param(["backfill"], (*GITHUB_VARIABLES, "STATE_TABLE", *AWS_VARIABLES), (), ("0  the backfill completed", "1  GitHub or the state table", "2  bad input"), id="backfill"),
        pytest.param(["verify"], AWS_VARIABLES, ("GITHUB_", "STATE_TABLE"), ("0  the archive is intact", "1  the archive is not intact", "2  bad input"), id="verify"),
        pytest.param(["report"], (*AWS_VARIABLES, "AWS_REGION"), ("GITHUB_", "STATE_TABLE"), ("0  the evidence pack was written", "1  the archive could not be read", "2  bad input"), id="report"),
    ],
)  # fmt: skip
def test_each_commands_help_is_plain_text_naming_its_own_environment_and_exit_codes(
    command: list[str], reads: tuple[str, ...], ignores: tuple[str, ...], codes: tuple[str, ...]
) -> None:
    done = pr_auditor(*command, "--help")
    assert done.returncode == 0
    text = done.stdout
    for name in reads:
        assert name in text
    for prefix in ignores:
        assert prefix not in text, f"{command} --help lists {prefix}, which it never reads"
    assert "exit codes:" in text
    for code in codes:
        assert code in text
    assert "``" not in text  # no reStructuredText markup
    assert ":func:" not in text


def test_every_option_of_every_command_has_help_text() -> None:
    from pr_auditor.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = [
        f"{name} {action.option_strings[0]}"
        for name, parser in subparsers.choices.items()
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert silent == []


def test_progress_lines_are_sentences_not_python_dicts(
    github: tuple[GitHubState, StandIn], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--org", "acme", *WINDOW_ARGS], out=io.StringIO())
    assert code == 0
    err = capsys.readouterr().err
    assert "pr-auditor: auditing acme from 2026-11-20T00:00:00Z to 2026-11-21T00:00:00Z" in err.splitlines()
    assert "{" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_backfill_bar_is_tqdms_and_log_lines_are_printed_above_it_not_over_it(
    github: tuple[GitHubState, StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = github
    # Given stderr is a terminal, and GitHub fails twice mid-backfill (each retry logs a warning)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    state.faults.add(Fault("http_502", times=2, after=3, match="graphql"))
    out = io.StringIO()
    code = main(["backfill", "--org", "acme", *WINDOW_ARGS, "--chunk-hours", "6"], out=out)
    assert code == 0
    screen = terminal.getvalue()
    lines = screen.replace("\r", "\n").splitlines()
    # Then the bar is tqdm's (n/total and the unit), it reached the end, and each warning is a line of its own
    assert any("4/4" in line and "chunk" in line for line in lines)
    warnings = [line for line in lines if "GitHub failed" in line]
    assert len(warnings) == 2
    assert all(line.startswith("pr-auditor: GitHub failed") for line in warnings)  # not glued to the bar
    assert all("/4" not in line for line in warnings)
    assert [json.loads(line)["kind"] for line in out.getvalue().splitlines()].count("run_summary") == 4


@pytest.mark.parametrize("retries", [0, 1, 3], ids=["no-retries", "one-retry", "three-retries"])
@pytest.mark.parametrize(
    "fault", ["http_502", "http_500", "disconnect", "graphql_errors"], ids=lambda f: f.replace("_", "-")
)
def test_github_retries_n_means_n_retries_of_a_failing_request_in_total(
    github: tuple[GitHubState, StandIn],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    retries: int,
    fault: str,
) -> None:
    state, _ = github
    monkeypatch.setenv("GITHUB_RETRIES", str(retries))
    # Given GitHub's GraphQL endpoint fails every request, lastingly
    state.faults.add(Fault(fault, times=1000, match="graphql"))
    code = main(["audit", "--org", "acme", *WINDOW_ARGS], out=io.StringIO())
    # Then the first request (the access check) is sent 1 + N times, and the run fails with exit 1
    assert code == 1
    assert state.count("graphql") == 1 + retries
    assert "pr-auditor: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "org", "message"),
    [
        pytest.param({}, "*", "--org: name the organisations ('*' means every installation", id="star-with-a-token"),
        pytest.param(
            {"GITHUB_APP_ID": "12"}, "acme", "GITHUB_TOKEN and GITHUB_APP_ID are both set", id="token-and-app"
        ),
        pytest.param(
            {"GITHUB_TOKEN": "", "GITHUB_APP_ID": "12"}, "acme", "GITHUB_APP_PRIVATE_KEY must be", id="app-without-key"
        ),
        pytest.param(
            {"GITHUB_TOKEN": "", "GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent/app.pem"},
            "acme",
            "GITHUB_APP_PRIVATE_KEY_FILE: cannot read /nonexistent/app.pem",
            id="key-file-missing",
        ),
    ],
)
def test_credentials_that_cannot_work_are_bad_input_and_never_reach_github(
    github: tuple[GitHubState, StandIn],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    org: str,
    message: str,
) -> None:
    state, _ = github
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["audit", "--org", org, *WINDOW_ARGS], out=io.StringIO())
    assert code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("pr-auditor: error: ")
    assert message in line
    assert state.count() == 0
