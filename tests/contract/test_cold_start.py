"""A cold start imports what every invocation needs, and no more: the GitHub client (PyGithub, with its JWT
and cryptography) and Powertools' parameters utility (which brings boto3) are imported by the invocation
that uses them, not by ``import pr_auditor.handler``."""

from __future__ import annotations

import subprocess
import sys

DEFERRED = ("github", "jwt", "cryptography", "requests", "boto3", "aws_lambda_powertools.utilities.parameters")


def run(code: str) -> str:
    """``code`` in a fresh interpreter (this one's), its stdout."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603


def test_importing_the_handler_defers_pygithub_and_boto3() -> None:
    # Given a fresh interpreter
    # When it imports the Lambda's handler module
    loaded = set(run("import sys, pr_auditor.handler; print(' '.join(sorted(sys.modules)))").split())
    # Then none of the deferred libraries was imported
    assert "pr_auditor.handler" in loaded
    assert [name for name in DEFERRED if name in loaded] == []


def test_reading_the_settings_needs_no_github_client() -> None:
    code = (
        "import sys; from pr_auditor.settings import connection_from_env;"
        "connection_from_env({'GITHUB_GRAPHQL_POINTS_PER_MINUTE': '1500'}, max_wait_seconds=1);"
        "print('github' in sys.modules)"
    )
    assert run(code).strip() == "False"
