"""The deploy path's dry run: ``scripts/deploy.py`` (what ``make deploy`` runs before sam) on samconfig files.

Each case runs the script as ``make deploy`` does, against the real template.yaml, with ``--dry-run``: it
prints the sam command it would run, or refuses with one line per wrong parameter and exit code 2.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

import template_model as tm
from template_model import load_template

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "deploy.py"

OWN_ORG = "globex-platform"
OWN_SECRET = "arn:aws:secretsmanager:eu-central-1:210987654321:secret:pr-auditor/github-token-x1Y2z3"


def dry_run(samconfig: Path, environment: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, arguments from the test
        [sys.executable, str(SCRIPT), "--config-env", environment, "--samconfig", str(samconfig), "--dry-run", *extra],
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
def test_given_the_repository_samconfig_when_an_environment_is_deployed_then_it_prints_the_lines_to_add_and_never_prompts(
    environment: str,
) -> None:
    result = dry_run(ROOT / "samconfig.toml", environment)
    assert result.returncode == 2
    assert result.stdout == "", "no sam command, guided or not"
    assert f"samconfig.toml [{environment}] does not set GitHubOrgs, GitHubTokenSecretArn" in result.stderr
    assert f"    [{environment}.deploy.parameters]" in result.stderr
    assert '        "GitHubOrgs=<your-org>",' in result.stderr
    assert "describe-secret --secret-id pr-auditor/github --query ARN" in result.stderr


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_given_guided_is_asked_for_when_a_parameter_is_missing_then_sam_deploy_guided_asks(environment: str) -> None:
    result = dry_run(ROOT / "samconfig.toml", environment, "--guided")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["deploy", "--guided", "--config-env", environment]


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
        pytest.param("GitHubOrgs=two/words", "GitHubOrgs=two/words:", id="org-outside-the-template-pattern"),
        pytest.param("GitHubOrgs=two words", "GitHubOrgs: the value has a space", id="space-sam-would-cut"),
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


# --------------------------------------------------------------------------- the template, read without PyYAML
def test_given_the_template_when_the_preflight_reads_it_without_pyyaml_then_it_reads_what_pyyaml_reads() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from template_yaml import top_level_sections
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    expected = {name: load_template()[name] for name in ("Parameters", "Rules", "Mappings")}
    assert top_level_sections(text, ("Parameters", "Rules", "Mappings")) == expected


# --------------------------------------------------------------------------- the lines it prints are the fix
def test_given_the_lines_the_refusal_prints_when_filled_in_and_pasted_then_the_environment_deploys_unattended(
    tmp_path: Path,
) -> None:
    # Given the dev environment as shipped, and the lines a refused deploy prints
    refused = dry_run(ROOT / "samconfig.toml", "dev")
    block = [line[4:] for line in refused.stderr.splitlines() if line.startswith("    ")]
    assert block[0] == "[dev.deploy.parameters]"
    # When the markers are replaced by real values and the block replaces the section's overrides
    filled = "\n".join(block[1:]).replace("<your-org>", OWN_ORG)
    filled = filled.replace("<full ARN of the secret pr-auditor/github>", OWN_SECRET)
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(f'version = 0.1\n{block[0]}\nstack_name = "pr-auditor-dev"\n{filled}\n', encoding="utf-8")
    result = dry_run(samconfig, "dev")
    # Then sam deploys it without a prompt, keeping the trial's settings
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["deploy", "--config-env", "dev"]
    assert '"EvidenceLockMode=GOVERNANCE"' in filled and '"EvidenceRetentionDays=1"' in filled


# --------------------------------------------------------------------------- trial mode
def test_given_the_dev_environment_when_read_then_it_is_the_trial_governance_lock_for_one_day() -> None:
    overrides = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))["dev"]["deploy"]["parameters"]
    assert {"EvidenceLockMode=GOVERNANCE", "EvidenceRetentionDays=1"} <= set(overrides["parameter_overrides"])
    for environment in ("default", "prod"):
        config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))[environment]
        assert not any("EvidenceLockMode" in item for item in config["deploy"]["parameters"]["parameter_overrides"])


@pytest.mark.parametrize(
    ("lock", "evidence", "logs", "refusal"),
    [
        pytest.param("GOVERNANCE", "1", "400", None, id="trial-one-day"),
        pytest.param("GOVERNANCE", "7", "731", None, id="trial-shorter-than-the-logs"),
        pytest.param("COMPLIANCE", "731", "731", None, id="evidence-two-years"),
        pytest.param("COMPLIANCE", "1", "400", "rule ShortRetentionIsATrial", id="compliance-for-one-day"),
        pytest.param("COMPLIANCE", "400", "731", "rule EvidenceRetentionCoversLogRetention", id="compliance-short"),
        pytest.param("governance", "1", "400", "EvidenceLockMode=governance: must be one of", id="mode-spelling"),
        pytest.param("GOVERNANCE", "2", "400", "EvidenceRetentionDays=2: must be one of", id="retention-not-offered"),
    ],
)
def test_given_a_lock_mode_and_retention_when_deployed_then_only_a_governance_trial_may_keep_evidence_briefly(
    tmp_path: Path, lock: str, evidence: str, logs: str, refusal: str | None
) -> None:
    items = [
        f"GitHubOrgs={OWN_ORG}",
        f"GitHubTokenSecretArn={OWN_SECRET}",
        f"EvidenceLockMode={lock}",
        f"EvidenceRetentionDays={evidence}",
        f"LogRetentionDays={logs}",
    ]
    result = dry_run(samconfig_with(tmp_path, "[" + ", ".join(f'"{i}"' for i in items) + "]", "dev"), "dev")
    if refusal is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2
        assert refusal in result.stderr
    # and, for allowed values, the tests' model of CloudFormation's rules agrees with the script's
    if refusal is None or refusal.startswith("rule "):
        values = tm.parameter_values(load_template(), dict(item.split("=", 1) for item in items))
        failures = [failure.split(":")[0] for failure in tm.rule_failures(load_template(), values)]
        assert failures == ([] if refusal is None else [refusal.removeprefix("rule ")])


# --------------------------------------------------------------------------- make deploy on a fresh clone
CLONE_FILES = ("Makefile", "samconfig.toml", "template.yaml", "pyproject.toml", "package.json", "package-lock.json",
               "requirements-dev.lock", "scripts", "layer", "src", "events")  # fmt: skip
BUILT = (".venv", ".venv-sam", ".venv-py313", ".venv-uv", ".aws-sam", "node_modules")


def fresh_clone(tmp_path: Path, *overrides: str) -> Path:
    """A copy of the repository's deploy inputs (what a clone has), with parameter overrides added to [default]."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in CLONE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, clone / name)
    if overrides:
        samconfig = clone / "samconfig.toml"
        text = samconfig.read_text(encoding="utf-8")
        anchor = '    "LogRetentionDays=731",\n]'
        assert anchor in text
        added = "".join(f'    "{item}",\n' for item in overrides)
        samconfig.write_text(text.replace(anchor, anchor[:-1] + added + "]", 1), encoding="utf-8")
    return clone


def scrubbed_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No AWS variable, no region, no profile, an empty home: what a stranger's fresh shell has."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PYENV")})
    env.update(extra)
    return env


def make(clone: Path, env: dict[str, str], *targets: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - make on the copy, fixed targets
        ["make", "--no-print-directory", "-C", str(clone), *targets],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("overrides", "extra_env", "stopped_at", "named"),
    [
        pytest.param((), {}, "parameters", '"GitHubOrgs=<your-org>",', id="as-cloned"),
        pytest.param(
            (f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}"), {}, "region",
            "no AWS region: set AWS_DEFAULT_REGION", id="every-parameter-no-region",
        ),
        pytest.param(
            (f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}"), {"AWS_REGION": "eu-west-1"}, "region",
            "AWS_REGION is set, but sam (boto3) reads AWS_DEFAULT_REGION", id="every-parameter-only-aws-region",
        ),
        pytest.param(
            (f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}"), {"AWS_DEFAULT_REGION": "eu-west-1"},
            "credentials", "no AWS credentials: set AWS_PROFILE", id="every-parameter-and-a-region-no-credentials",
        ),
    ],
)  # fmt: skip
def test_given_a_fresh_clone_without_aws_setup_when_make_deploy_runs_then_it_stops_in_seconds_having_built_nothing(
    tmp_path: Path, overrides: tuple[str, ...], extra_env: dict[str, str], stopped_at: str, named: str
) -> None:
    # Given a fresh clone, no AWS credentials, no region (and, in two cases, every parameter filled in)
    clone = fresh_clone(tmp_path, *overrides)
    # When make deploy runs
    result, seconds = make(clone, scrubbed_env(tmp_path, **extra_env), "deploy")
    # Then it fails within the minute, naming what is missing, and has installed and built nothing
    assert result.returncode != 0
    assert seconds < 60
    assert named in result.stderr
    assert f"stopped at the {stopped_at} check; nothing was installed, built or deployed" in result.stderr
    assert [name for name in BUILT if (clone / name).exists()] == []


def test_given_everything_but_python_313_when_the_check_runs_then_it_names_python_313_and_how_to_get_it_on_debian_12(
    tmp_path: Path, sts: str
) -> None:
    # Given real-looking parameters, a region and credentials STS accepts (moto), but no usable python3.13
    clone = fresh_clone(tmp_path, f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}")
    env = scrubbed_env(tmp_path, AWS_DEFAULT_REGION="eu-west-1", AWS_ENDPOINT_URL=sts, **FAKE_KEYS)
    # When make deploy-check runs with PY313 pointing nowhere
    result, _ = make(clone, env, "deploy-check", "PY313=/nonexistent/python3.13")
    # Then it passed the credentials and stopped at Python 3.13, with the Debian 12 way to install it
    assert result.returncode != 0
    assert "deploying as arn:aws:sts::" in result.stderr
    assert "no Python 3.13" in result.stderr
    assert "uv python install 3.13" in result.stderr
    assert "stopped at the python3.13 check" in result.stderr


def test_given_everything_a_deploy_needs_when_the_check_runs_then_it_is_ready_and_has_built_nothing(
    tmp_path: Path, sts: str
) -> None:
    found = subprocess.run([str(ROOT / "scripts" / "find-python"), "--exact", "3.13"], capture_output=True, check=False)  # noqa: S603
    if found.returncode != 0 or shutil.which("node") is None:
        pytest.skip("this machine has no python3.13 or node: the ready path cannot be shown here")
    clone = fresh_clone(tmp_path, f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}")
    env = scrubbed_env(tmp_path, AWS_DEFAULT_REGION="eu-west-1", AWS_ENDPOINT_URL=sts, **FAKE_KEYS)
    result, _ = make(clone, env, "deploy-check")
    assert result.returncode == 0, result.stderr
    assert "ready: samconfig.toml [default], region eu-west-1" in result.stderr
    assert [name for name in BUILT if (clone / name).exists()] == []


FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def sts() -> Iterator[str]:
    """STS on a local moto server: answers get-caller-identity for any key, as AWS does for a valid one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


# --------------------------------------------------------------------------- a value with a space
def test_given_an_unquoted_policy_with_spaces_in_the_list_when_deployed_then_it_is_refused_before_sam_cuts_it(
    tmp_path: Path,
) -> None:
    # Given a policy written as a list item without quotes (sam would deploy only "{required_approvals:")
    items = [f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}", "PolicyDocument={required_approvals: 2}"]
    result = dry_run(samconfig_with(tmp_path, "[" + ", ".join(f'"{i}"' for i in items) + "]"), "prod")
    # Then the deploy is refused, naming the parameter and the quoting that fixes it
    assert result.returncode == 2
    assert "PolicyDocument: the value has a space, and sam would keep only '{required_approvals:'" in result.stderr
    assert "\"PolicyDocument='{required_approvals: 2}'\"" in result.stderr


def test_given_a_quoted_policy_with_spaces_in_the_list_when_deployed_then_sam_deploys_it_unattended(
    tmp_path: Path,
) -> None:
    items = [f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}", "PolicyDocument='{required_approvals: 2}'"]
    result = dry_run(samconfig_with(tmp_path, "[" + ", ".join(f'"{i}"' for i in items) + "]"), "prod")
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- sam build is quiet
def test_given_each_python_function_when_sam_builds_it_then_it_has_a_manifest_that_installs_nothing() -> None:
    # sam build's Python builder prints "requirements.txt file not found" for a CodeUri without one; the
    # function's dependencies belong in the layer (layer/requirements.txt), so the function's file lists none.
    functions = {
        name: resource["Properties"]
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"]["Runtime"].startswith("python")
    }
    assert functions
    for name, properties in functions.items():
        manifest = ROOT / properties["CodeUri"] / "requirements.txt"
        assert manifest.is_file(), f"{name}: sam build would print 'requirements.txt file not found'"
        lines = [line.strip() for line in manifest.read_text(encoding="utf-8").splitlines()]
        assert [line for line in lines if line and not line.startswith("#")] == [], f"{name}: use the layer"


def test_given_guided_without_a_terminal_when_the_check_runs_then_it_stops_instead_of_starting_a_prompt(
    tmp_path: Path,
) -> None:
    # Given the repository's samconfig (no organisation, no secret) and GUIDED=1, in CI (no terminal)
    clone = fresh_clone(tmp_path)
    result, _ = make(clone, scrubbed_env(tmp_path), "deploy", "GUIDED=1")
    # Then it stops at the parameters, saying a guided deploy needs a terminal, having built nothing
    assert result.returncode != 0
    assert "GUIDED=1 needs a terminal (sam deploy --guided asks for GitHubOrgs, GitHubTokenSecretArn)" in result.stderr
    assert [name for name in BUILT if (clone / name).exists()] == []


def test_given_no_site_packages_when_the_preflight_runs_then_it_still_reads_the_template_and_checks_everything(
    tmp_path: Path,
) -> None:
    # Given python -S (the standard library only: no PyYAML, no boto3) and a complete environment but no region
    clone = fresh_clone(tmp_path, f"GitHubOrgs={OWN_ORG}", f"GitHubTokenSecretArn={OWN_SECRET}")
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-S", str(clone / "scripts" / "preflight.py"), "--config-env", "default"],
        capture_output=True,
        text=True,
        env=scrubbed_env(tmp_path),
        check=False,
        timeout=60,
    )
    # Then it passed the parameter checks (template read without PyYAML) and stopped at the region
    assert result.returncode == 2, result.stderr
    assert "ModuleNotFoundError" not in result.stderr
    assert "stopped at the region check" in result.stderr
