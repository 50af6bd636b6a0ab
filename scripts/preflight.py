"""``make deploy-check`` (and the first step of ``make deploy``): is everything a deploy needs in place?

    python3 scripts/preflight.py [--config-env ENV] [--guided] [--py313 PATH] [--samconfig F] [--template F]

Runs on any Python 3.11+ with the standard library only, before any virtual environment, SAM or build exists,
so a fresh clone learns what is missing in seconds instead of after a two-minute build. Checks, in this order,
and stops at the first failure with one line naming what is missing and how to set it:

  1. parameters   samconfig.toml [ENV] against template.yaml: placeholders, missing values, ARN shapes
                  (the exact samconfig.toml lines to add are printed; no guided prompt unless --guided)
  2. region       samconfig.toml ``region``, AWS_DEFAULT_REGION, or the profile's region (not AWS_REGION:
                  boto3, which sam runs on, does not read it)
  3. credentials  ``aws sts get-caller-identity`` (or boto3 when it is importable; else the usual sources)
  4. Python 3.13  the function's runtime, for ``sam build`` (scripts/find-python --exact 3.13)
  5. Node/npm     ``make install`` runs ``npm ci``

Exit codes: 0 ready to deploy; 2 something is missing or wrong (nothing was installed, built or deployed).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import ROOT, environment_settings, missing_report, plan, template_sections

NO_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE (a profile from `aws configure` or `aws configure sso`), or"
    " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
STS_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Context:
    """What the checks read: the command line, the environment variables, the samconfig environment."""

    environment: str
    samconfig: Mapping[str, Any]
    template: Path
    guided: bool
    py313: str
    env: Mapping[str, str]
    interactive: bool = False  # stdin is a terminal: sam deploy --guided can ask

    @property
    def settings(self) -> Mapping[str, Any]:
        return environment_settings(self.samconfig, self.environment) or {}

    @property
    def profile(self) -> str | None:
        value = self.settings.get("profile") or self.env.get("AWS_PROFILE") or self.env.get("AWS_DEFAULT_PROFILE")
        return str(value) if value else None


# One check: None when it passes, else the lines to print (the first names what is missing and how to set it).
Check = Callable[[Context], list[str] | None]


# --------------------------------------------------------------------------- 1. parameters
def parameters_are_set(context: Context) -> list[str] | None:
    """Every template parameter without a usable default has a real value, and every value would pass
    CloudFormation's own checks (checked here, before anything is built, rather than at change-set time)."""
    parameters, rules = template_sections(context.template)
    result = plan(parameters, context.samconfig, context.environment, rules)
    if result.errors:
        return [f"make deploy: {line}" for line in result.errors] + ["make deploy: fix samconfig.toml, then rerun"]
    if result.missing and not context.guided:
        return missing_report(result, context.samconfig)
    if result.missing and not context.interactive:
        return [
            f"make deploy: GUIDED=1 needs a terminal (sam deploy --guided asks for {', '.join(result.missing)}):"
            " run it at one, or put the values in samconfig.toml (make deploy-check prints the lines)"
        ]
    return None


# --------------------------------------------------------------------------- 2. region
def _aws_config(context: Context, variable: str, default: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = Path(context.env.get(variable) or Path(context.env.get("HOME", "~")).expanduser() / default)
    with contextlib.suppress(configparser.Error, OSError):
        parser.read(path, encoding="utf-8")
    return parser


def _profile_section(context: Context) -> Mapping[str, str]:
    """The profile's section in ~/.aws/config (``[default]`` or ``[profile NAME]``)."""
    config = _aws_config(context, "AWS_CONFIG_FILE", ".aws/config")
    name = context.profile or "default"
    for section in (f"profile {name}", name):
        if config.has_section(section):
            return dict(config.items(section))
    return {}


def region_of(context: Context) -> str | None:
    """The region sam deploy will use, resolved in its order (boto3's: AWS_DEFAULT_REGION, not AWS_REGION), or
    None."""
    value = (
        context.settings.get("region")
        or context.env.get("AWS_DEFAULT_REGION")
        or _profile_section(context).get("region")
    )
    return str(value) if value else None


def region_is_set(context: Context) -> list[str] | None:
    """sam needs a region before it can upload or create anything; without one it fails after the build."""
    if region_of(context):
        return None
    where = f'or add region = "eu-west-1" under [{context.environment}.deploy.parameters] in samconfig.toml'
    if context.env.get("AWS_REGION"):
        # The AWS CLI v2 and the Lambda runtime read AWS_REGION; boto3, which sam runs on, does not.
        return [
            f"make deploy: no AWS region for sam: AWS_REGION is set, but sam (boto3) reads AWS_DEFAULT_REGION:"
            f" export AWS_DEFAULT_REGION={context.env['AWS_REGION']}, {where}"
        ]
    return [
        f"make deploy: no AWS region: set AWS_DEFAULT_REGION (export AWS_DEFAULT_REGION=eu-west-1), {where},"
        " or aws configure set region eu-west-1"
    ]


# --------------------------------------------------------------------------- 3. credentials
def _aws_cli(context: Context) -> str | None:
    """The AWS CLI, if one runs here (a pyenv shim may exist on PATH for a version without it)."""
    path = shutil.which("aws", path=context.env.get("PATH"))
    if path is None:
        return None
    try:
        probe = subprocess.run(  # noqa: S603 - the AWS CLI found on PATH, fixed arguments
            [path, "--version"], capture_output=True, env=dict(context.env), timeout=STS_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def _configured_source(context: Context) -> str | None:
    """A credential source that is set up (not proven to work): the SDKs' usual chain, read statically."""
    env = context.env
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "AWS_ACCESS_KEY_ID"
    for variable in ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):  # fmt: skip
        if env.get(variable):
            return variable
    profile = context.profile or "default"
    credentials = _aws_config(context, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
    if credentials.has_section(profile) and credentials.has_option(profile, "aws_access_key_id"):
        return f"profile {profile} (~/.aws/credentials)"
    section = _profile_section(context)
    if any(key in section for key in ("sso_session", "sso_start_url", "credential_process", "role_arn")):
        return f"profile {profile} (~/.aws/config)"
    return None


def credentials_work(context: Context) -> list[str] | None:
    """AWS accepts the credentials: asks STS who they belong to (no permission is needed for that call)."""
    region = region_of(context) or "us-east-1"
    cli = _aws_cli(context)
    if cli is not None:
        command = [cli, "sts", "get-caller-identity", "--output", "text", "--query", "Arn", "--region", region]
        if context.profile:
            command += ["--profile", context.profile]
        try:
            answer = subprocess.run(  # noqa: S603 - the AWS CLI, fixed arguments
                command, capture_output=True, text=True, env=dict(context.env), timeout=STS_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return [
                f"make deploy: {NO_CREDENTIALS} (aws sts get-caller-identity did not answer in {STS_TIMEOUT_SECONDS} s)"
            ]
        if answer.returncode == 0:
            print(f"make deploy: deploying as {answer.stdout.strip()} in {region}", file=sys.stderr)
            return None
        reason = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
        return [f"make deploy: {NO_CREDENTIALS} (aws sts get-caller-identity: {reason})"]
    try:
        import boto3  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        source = _configured_source(context)
        if source is None:
            return [f"make deploy: {NO_CREDENTIALS} (none found; install the AWS CLI to check them with STS)"]
        print(f"make deploy: credentials from {source} (not checked: no AWS CLI or boto3 here)", file=sys.stderr)
        return None
    try:
        session = boto3.Session(profile_name=context.profile, region_name=region)
        identity = session.client("sts").get_caller_identity()
    except Exception as error:
        return [f"make deploy: {NO_CREDENTIALS} (sts get-caller-identity: {type(error).__name__})"]
    print(f"make deploy: deploying as {identity['Arn']} in {region}", file=sys.stderr)
    return None


# --------------------------------------------------------------------------- 4. Python 3.13, 5. Node
def python313_is_installed(context: Context) -> list[str] | None:
    """sam build installs the layer with the function's runtime, python3.13, found by scripts/find-python."""
    command = [str(ROOT / "scripts" / "find-python"), "--exact", "3.13", *([context.py313] if context.py313 else [])]
    found = subprocess.run(command, capture_output=True, text=True, env=dict(context.env), check=False)  # noqa: S603
    if found.returncode == 0:
        return None
    return [
        "make deploy: no Python 3.13 (the function's runtime; sam build needs it): install it, or point make at it"
        " with PY313=/path/to/python3.13",
        *(f"  {line}" for line in found.stderr.strip().splitlines()[1:]),
    ]


def node_is_installed(context: Context) -> list[str] | None:
    """make install runs npm ci (GitHub's published API description, which the contract tests read)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool, path=context.env.get("PATH")) is None]
    if not missing:
        return None
    return [
        f"make deploy: no {' or '.join(missing)} on PATH (make install runs npm ci): install Node.js 18 or newer"
        " with npm (Debian: sudo apt-get install nodejs npm; macOS: brew install node)"
    ]


CHECKS: tuple[tuple[str, Check], ...] = (
    ("parameters", parameters_are_set),
    ("region", region_is_set),
    ("credentials", credentials_work),
    ("python3.13", python313_is_installed),
    ("node", node_is_installed),
)


def first_failure(context: Context) -> tuple[str, list[str]] | None:
    """The first check that fails, with its lines, or None when every check passes."""
    for name, check in CHECKS:
        lines = check(context)
        if lines is not None:
            return name, lines
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/preflight.py", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (default: default)")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--py313", default="", help="the python3.13 to build with (make PY313=...)")
    parser.add_argument("--guided", action="store_true", help="missing parameters are asked by sam deploy --guided")
    args = parser.parse_args(argv)
    samconfig = tomllib.loads(args.samconfig.read_text(encoding="utf-8")) if args.samconfig.exists() else {}
    context = Context(
        args.config_env, samconfig, args.template, args.guided, args.py313, dict(os.environ), sys.stdin.isatty()
    )
    failure = first_failure(context)
    if failure is None:
        print(f"make deploy: ready: samconfig.toml [{args.config_env}], region {region_of(context)}", file=sys.stderr)
        return 0
    name, lines = failure
    for line in lines:
        print(line, file=sys.stderr)
    print(f"make deploy: stopped at the {name} check; nothing was installed, built or deployed", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
