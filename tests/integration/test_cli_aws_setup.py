"""Missing AWS credentials or region: every command that reads AWS says so in one plain sentence, with one exit
code (2, bad input), and never prints a botocore class name or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pr_auditor.cli import NO_AWS_CREDENTIALS, NO_AWS_REGION

from standin.generate import generate_org
from standin.server import StandIn

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"]


@pytest.fixture(scope="module")
def github() -> Iterator[str]:
    state = generate_org(seed=7, n_prs=3, since=SINCE, until=SINCE + timedelta(days=1), tokens=("aws-setup-token",))
    with StandIn(state) as server:
        yield server.base_url


def without_aws(tmp_path: Path, github_url: str, **extra: str) -> dict[str, str]:
    """A shell with GitHub set up and nothing of AWS: no keys, no profile, no config files, no instance role."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "missing-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "missing-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        GITHUB_TOKEN="aws-setup-token",
        GITHUB_API_URL=github_url,
        GITHUB_THROTTLE_SECONDS="0",
    )
    env.update(extra)
    return env


COMMANDS = {
    "verify": ["verify", "--bucket", "pr-auditor-evidence"],
    "report": ["report", "--bucket", "pr-auditor-evidence", *WINDOW, "--out", "{tmp}/pack"],
    "backfill": ["backfill", "--org", "acme", *WINDOW, "--state-table", "pr-auditor-audit-state"],
}


REGION = {"AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.mark.parametrize(
    ("name", "region", "sentence"),
    [
        pytest.param("verify", REGION, NO_AWS_CREDENTIALS, id="verify-no-credentials"),
        pytest.param("report", REGION, NO_AWS_CREDENTIALS, id="report-no-credentials"),
        pytest.param("backfill", REGION, NO_AWS_CREDENTIALS, id="backfill-no-credentials"),
        # S3 answers from its global endpoint without a region: the credentials are still what is missing
        pytest.param("verify", {}, NO_AWS_CREDENTIALS, id="verify-no-credentials-no-region"),
        pytest.param("report", {}, NO_AWS_CREDENTIALS, id="report-no-credentials-no-region"),
        pytest.param("backfill", {}, NO_AWS_REGION, id="backfill-no-region"),
    ],
)
def test_given_no_aws_setup_when_a_command_reads_aws_then_it_says_what_to_set_with_exit_code_2(
    tmp_path: Path, github: str, name: str, region: dict[str, str], sentence: str
) -> None:
    # Given GitHub set up, but no AWS credentials (and, in one case, no region)
    env = without_aws(tmp_path, github, **region)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in COMMANDS[name]]
    # When the command runs
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "pr_auditor.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    # Then it exits 2 with one plain sentence naming what to set
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"pr-auditor: error: {sentence}"
    assert "Traceback" not in done.stderr
    assert "Error" not in done.stderr.replace("pr-auditor: error:", ""), "no botocore class name"
    # and nothing claims success: verify and report print nothing, backfill only its failed run's summary
    assert all('"status":"failed"' in line for line in done.stdout.splitlines())
