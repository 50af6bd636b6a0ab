"""The deploy path's dry run: ``scripts/deploy.py`` (what ``make deploy`` runs before sam) on samconfig files.

Each case runs the script as ``make deploy`` does, against the real template.yaml, with ``--dry-run``: it
prints the sam command it would run, or refuses with one line per wrong parameter and exit code 2.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "deploy.py"

OWN_ORG = "globex-platform"
OWN_SECRET = "arn:aws:secretsmanager:eu-central-1:210987654321:secret:pr-auditor/github-token-x1Y2z3"


def dry_run(samconfig: Path, environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, arguments from the test
        [sys.executable, str(SCRIPT), "--config-env", environment, "--samconfig", str(samconfig), "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def samconfig_with(tmp_path: Path, overrides: str, environment: str = "prod") -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(
        f'version = 0.1\n[{environment}.deploy.parameters]\nstack_name = "pr-auditor-{environment}"\n'
        f"parameter_overrides = {overrides}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_given_the_repository_samconfig_when_an_environment_is_deployed_then_sam_asks_for_the_org_and_the_secret(
    environment: str,
) -> None:
    result = dry_run(ROOT / "samconfig.toml", environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["deploy", "--guided", "--config-env", environment]
    assert "GitHubOrgs" in result.stderr
    assert "a guided deploy asks for them" in result.stderr


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_given_the_repository_samconfig_when_read_then_no_environment_holds_an_organisation_secret_or_address(
    environment: str,
) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    expected_stack = {"default": "pr-auditor", "dev": "pr-auditor-dev", "prod": "pr-auditor-prod"}[environment]
    assert deploy["stack_name"] == expected_stack
    names = {item.split("=", 1)[0] for item in deploy["parameter_overrides"]}
    assert not names & {"GitHubOrgs", "GitHubTokenSecretArn", "AlarmEmail"}


def test_given_the_placeholders_samconfig_used_to_ship_when_deployed_then_it_is_refused_naming_each_parameter(
    tmp_path: Path,
) -> None:
    old = samconfig_with(
        tmp_path,
        '["GitHubOrgs=acme,acme-labs", '
        '"GitHubTokenSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:pr-auditor/github-token-AbCdEf", '
        '"AlarmEmail=change-management@example.com", "ScheduleMinutes=60"]',
    )
    result = dry_run(old, "prod")
    assert result.returncode == 2
    assert result.stdout == "", "no sam command may run"
    lines = result.stderr.splitlines()
    assert [line.split(" ")[4].split("=")[0] for line in lines[:-1]] == [
        "GitHubOrgs",
        "GitHubTokenSecretArn",
        "AlarmEmail",
    ]
    assert all("a placeholder" in line for line in lines[:-1])
    assert "nothing was deployed" in lines[-1]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        pytest.param("GitHubOrgs=acme-sandbox", "GitHubOrgs=acme-sandbox: a placeholder", id="example-org-variant"),
        pytest.param(f"GitHubOrgs={OWN_ORG},example", "GitHubOrgs=", id="one-example-org-among-real-ones"),
        pytest.param("GitHubOrgs=<your-org>", "fill-in-the-blank", id="angle-bracket-marker"),
        pytest.param("GitHubOrgs=two words", "GitHubOrgs=two words:", id="org-outside-the-template-pattern"),
        pytest.param(
            "GitHubTokenSecretArn=arn:aws:secretsmanager:eu-west-1:210987654321:secret:pr-auditor/github-token",
            "6 characters Secrets Manager appends",
            id="secret-arn-without-its-suffix",
        ),
        pytest.param("AlarmEmail=ops@mail.example.org", "AlarmEmail=ops@mail.example.org: a placeholder", id="email"),
        pytest.param("ScheduleMinutes=7", "ScheduleMinutes=7: must be one of", id="schedule-not-allowed"),
        pytest.param("OverlapMinutes=ninety", "OverlapMinutes=ninety:", id="number-not-a-number"),
        pytest.param("GitHubOrg=typo", "GitHubOrg: not a parameter of template.yaml", id="unknown-parameter"),
        pytest.param(
            "LogRetentionDays=2557",
            "rule EvidenceRetentionCoversLogRetention: EvidenceRetentionDays must be at least LogRetentionDays",
            id="template-rule-evidence-shorter-than-logs",
        ),
    ],
)
def test_given_one_wrong_value_when_deployed_then_the_refusal_names_that_parameter(
    tmp_path: Path, override: str, expected: str
) -> None:
    overrides = {"GitHubOrgs": OWN_ORG, "GitHubTokenSecretArn": OWN_SECRET}
    key, value = override.split("=", 1)
    overrides[key] = value
    items = ", ".join(f'"{k}={v}"' for k, v in overrides.items())
    result = dry_run(samconfig_with(tmp_path, f"[{items}]"), "prod")
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 2, result.stderr


def test_given_real_values_in_a_list_when_deployed_then_sam_deploys_the_environment_unattended(
    tmp_path: Path,
) -> None:
    samconfig = samconfig_with(
        tmp_path, f'["GitHubOrgs={OWN_ORG},globex-labs", "GitHubTokenSecretArn={OWN_SECRET}", "ScheduleMinutes=15"]'
    )
    result = dry_run(samconfig, "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["deploy", "--config-env", "prod"]
    assert result.stderr == ""


def test_given_the_string_a_guided_deploy_saves_when_deployed_again_then_sam_deploys_unattended(
    tmp_path: Path,
) -> None:
    saved = f'"GitHubOrgs=\\"{OWN_ORG}\\" GitHubTokenSecretArn=\\"{OWN_SECRET}\\" PolicyDocument=\\"{{required_approvals: 2}}\\""'
    result = dry_run(samconfig_with(tmp_path, saved), "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["deploy", "--config-env", "prod"]
